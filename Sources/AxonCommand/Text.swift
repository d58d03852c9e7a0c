import ArgumentParser
import Axon
import Foundation

/// A character language model and its tokenizer, rebuilt from a checkpoint written by `axon train --data text:`
/// (``Checkpoint/loadModel(_:)``).
struct LoadedLanguageModel {
    let spec: LanguageModelSpec
    let model: any LanguageModel
    let tokenizer: ByteTokenizer

    static func load(_ path: String) throws -> LoadedLanguageModel {
        let trained = try Checkpoint.loadModel(path)
        // loadModel gives all three for a language model, and builds it as one.
        guard let spec = trained.languageModel, let tokenizer = trained.tokenizer, let model = trained.model as? any LanguageModel else {
            throw UserError("\(path): no language model in its metadata (was it written by axon train --data text:...?)")
        }
        model.train()
        return LoadedLanguageModel(spec: spec, model: model, tokenizer: tokenizer)
    }
}

extension Train {
    /// `axon train --data text:PATH`: a character language model on a file or a directory of text. Validation is
    /// the end of the text (`--validation-split`, 5% by default); the report and the checkpoint's metrics give
    /// the loss and bits per character, and the checkpoint records the architecture and the vocabulary.
    func trainLanguageModel(path: String) throws {
        let resumed = try resume.map { try LoadedLanguageModel.load($0) }
        let corpus: [UInt8]
        do { corpus = try TextCorpus.load(path) } catch let error as DataError { throw UserError(error.description) }
        let tokenizer: ByteTokenizer, tokens: [Int]
        do {
            tokenizer = try resumed?.tokenizer ?? ByteTokenizer(fitting: corpus)
            tokens = try tokenizer.encode(limit.map { Array(corpus.prefix($0)) } ?? corpus)
        } catch let error as DataError { throw UserError("\(path): \(error.description)") }
        let spec: LanguageModelSpec
        if let resumed {
            spec = resumed.spec
        } else if model == "char-lstm" || model == "char-transformer" {
            spec = LanguageModelSpec(kind: model, vocabSize: tokenizer.count, context: context)
        } else if model.hasSuffix(".json") {
            let description = try ModelSpec.parse(model, inputShape: [context], classes: tokenizer.count, activation: activation)
            spec = LanguageModelSpec(kind: "described", vocabSize: tokenizer.count, context: context, description: description)
        } else {
            throw UserError("text data trains char-lstm, char-transformer or a JSON model description (--model), got '\(model)'")
        }
        let (train, validation): (TextDataset, TextDataset)
        do {
            (train, validation) = try TextDataset.split(tokens, context: spec.context, validationFraction: validationSplit > 0 ? validationSplit : 0.05)
        } catch let error as DataError { throw UserError("\(path): \(error.description)") }
        let net = try spec.build()
        let opt = try makeOptimizer(net.parameters())
        let trainLoader = loader(train, batchSize: batchSize, shuffle: true, seed: seed)
        let validationLoader = loader(validation, batchSize: batchSize, shuffle: false)
        let vocab = tokenizer.count
        let trainer = Trainer(model: try trained(net, examples: train.count), optimizer: opt, loss: { crossEntropy($0.reshaped([$0.count / vocab, vocab]), $1.reshaped([$1.count])) },
                              metrics: [.bitsPerToken], scheduler: try makeSchedule(opt))
        // Written straight to the file descriptor, as the progress lines are (print's buffer would reorder them).
        FileHandle.standardOutput.write(Data(("text: \(corpus.count) bytes, vocabulary \(vocab), \(train.tokens.count) training and \(validation.tokens.count) validation tokens, "
              + "context \(spec.context), model \(spec.kind) (\(net.parameterCount) parameters)\n").utf8))
        let metadata = CheckpointMetadata.describing(spec, tokenizer: tokenizer)
        let metricsPath = try fit(trainer, net, trainLoader, validationLoader, metadata: metadata)
        if let last = trainer.history.last, let loss = last["val_loss"], let bpc = last["val_bpc"] {
            print(String(format: "validation loss %.4f, %.3f bits per character", loss, bpc))
        }
        print("metrics: \(metricsPath)")
        if let output { print("checkpoint: \(output) (training state: \(Checkpoint.trainingStatePath(for: output)))") }
    }
}

/// `axon generate`: continues a prompt with a character language model trained by `axon train --data text:`.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Continue a prompt with a trained character language model.")

    @Option(name: .long, help: "Checkpoint written by axon train --data text:PATH.")
    var checkpoint: String
    @Option(name: .long, help: "The text to continue.")
    var prompt: String = "\n"
    @Option(name: .long, help: "Characters (bytes) to generate.")
    var length: Int = 200
    @Option(name: .long, help: "Sampling temperature (0: always the most likely character).")
    var temperature: Double = 0.8
    @Option(name: .long, help: "Sample among the K most likely characters only.")
    var topK: Int?
    @Option(name: .long, help: "Seed of the sampling: the same seed gives the same text.")
    var seed: UInt64 = 0

    func validate() throws {
        guard length >= 0 else { throw ValidationError("--length must be non-negative, got \(length)") }
        guard temperature >= 0 else { throw ValidationError("--temperature must be non-negative, got \(temperature)") }
        if let topK, topK < 1 { throw ValidationError("--top-k must be at least 1, got \(topK)") }
        guard !prompt.isEmpty else { throw ValidationError("--prompt must not be empty") }
    }

    func run() throws {
        let loaded = try LoadedLanguageModel.load(checkpoint)
        let ids: [Int]
        do { ids = try loaded.tokenizer.encode(prompt) } catch let error as DataError { throw UserError("--prompt: \(error.description)") }
        let continuation = generate(loaded.model, prompt: ids, length: length, context: loaded.spec.context, temperature: temperature,
                                    topK: topK, generator: Generator(seed: seed))
        print(prompt + (try loaded.tokenizer.decode(continuation)))
    }
}
