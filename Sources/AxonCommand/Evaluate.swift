import ArgumentParser
import Axon
import Foundation

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Evaluate a checkpoint: loss, metrics and a confusion matrix.")

    @Option(name: .long, help: "Checkpoint written by axon train.")
    var checkpoint: String
    @OptionGroup var dataOptions: DataOptions
    @Option(name: .long, help: "Seed of a built-in dataset (the one used in training gives the same test split).")
    var seed: UInt64 = 0

    func run() throws {
        if dataOptions.data.hasPrefix("text:") { return try evaluateLanguageModel(path: String(dataOptions.data.dropFirst(5))) }
        let loaded = try LoadedModel.load(checkpoint)
        let data = try LoadedData.load(dataOptions.data, label: dataOptions.label, regression: !loaded.isClassification,
                                       samples: dataOptions.samples, noise: dataOptions.noise, seed: seed,
                                       classNames: loaded.classNames, standardizer: loaded.standardizer)
        try loaded.check(data)
        let set = data.test ?? data.train
        let result = loaded.trained.evaluate(prepared: set)
        print("examples \(set.count)")
        for (k, v) in result.sorted(by: { $0.key < $1.key }) { print(String(format: "%@ %.4f", k, v)) }
        guard loaded.isClassification else { return }
        let outputs = loaded.trained.predict(prepared: set.inputs)
        let classes = outputs.shape[1]
        let labels = set.targets.intScalars  // in 0..<classes: checked with the data (loaded.check)
        var matrix = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        for (t, p) in zip(labels, outputs.argmax(axis: 1).intScalars) { matrix[t][p] += 1 }
        let names = loaded.classNames ?? (0..<classes).map(String.init)
        let width = max(6, (matrix.flatMap { $0 }.max() ?? 0).description.count + 1)
        print("confusion matrix (rows: true class, columns: predicted)")
        print(String(repeating: " ", count: 14) + (0..<classes).map { String($0).leftPad(width) }.joined())
        for (i, row) in matrix.enumerated() {
            print(String("\(i) \(names[i])".prefix(13)).rightPad(14) + row.map { String($0).leftPad(width) }.joined())
        }
    }
}

extension Eval {
    /// A language model on a text: its loss and bits per character over the text's consecutive windows.
    func evaluateLanguageModel(path: String) throws {
        let trained = try Checkpoint.loadModel(checkpoint)
        guard let spec = trained.languageModel, let tokenizer = trained.tokenizer else {
            throw UserError("\(checkpoint): is not a language model; text data evaluates one trained by axon train --data text:")
        }
        let windows: TextDataset
        do {
            let tokens = try tokenizer.encode(try TextCorpus.load(path))
            windows = try TextDataset(tokens: tokens, context: spec.context, randomOffset: false)
        } catch let error as DataError { throw UserError("\(path): \(error.description)") }
        let result = trained.evaluate(prepared: windows)
        print("windows \(windows.count) of \(spec.context) tokens")
        for (k, v) in result.sorted(by: { $0.key < $1.key }) { print(String(format: "%@ %.4f", k, v)) }
    }
}

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Predict one row per input example, as CSV on standard output.")

    @Option(name: .long, help: "Checkpoint written by axon train.")
    var checkpoint: String?
    @Option(name: .long, help: "An ONNX model instead of a checkpoint: prints its output values, one CSV row per input row.")
    var onnx: String?
    @Option(name: .long, help: "Input: csv:PATH with a header row (a label column, if named with --label, is ignored).")
    var data: String
    @Option(name: .long, help: "Label column to ignore, if the file has one.")
    var label: String?

    func validate() throws {
        guard (checkpoint == nil) != (onnx == nil) else { throw ValidationError("give either --checkpoint PATH or --onnx PATH") }
    }

    func run() throws {
        if let onnx { return try PredictONNX.run(model: onnx, data: data, label: label) }
        let loaded = try LoadedModel.load(checkpoint!)  // validate() requires one of the two
        guard data.hasPrefix("csv:") else { throw UserError("predict reads csv:PATH, got '\(data)'") }
        let input = try LoadedData.load(data, label: label, regression: !loaded.isClassification, samples: 0, noise: 0, seed: 0,
                                        classNames: loaded.classNames, standardizer: loaded.standardizer, requireLabels: false)
        try loaded.check(input)
        let outputs = loaded.trained.predict(prepared: input.train.inputs)
        var lines: [String] = []
        if loaded.isClassification {
            let classes = outputs.shape[1]
            let names = loaded.classNames ?? (0..<classes).map(String.init)
            lines.append((["prediction"] + names.map { "p_\($0)" }).map(csvField).joined(separator: ","))
            let p = softmax(outputs, axis: 1).scalars
            for (i, c) in outputs.argmax(axis: 1).intScalars.enumerated() {
                lines.append(([csvField(names[c])] + (0..<classes).map { String(format: "%.6f", p[i * classes + $0]) }).joined(separator: ","))
            }
        } else {
            lines.append("prediction")
            lines += outputs.scalars.map { String($0) }
        }
        print(lines.joined(separator: "\n"))
    }
}

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a model's layers, output shapes and parameter counts.")

    @Option(name: .long, help: "Checkpoint written by axon train.")
    var checkpoint: String?
    @Option(name: .long, help: "Model description (preset or JSON file), with --input-shape and --classes.")
    var model: String?
    @Option(name: .long, help: "Shape of one example, e.g. 784 or 1,28,28.")
    var inputShape: String = "2"
    @Option(name: .long, help: "Number of outputs for presets.")
    var classes: Int = 2
    @Option(name: .long, help: "Hidden activation for presets.")
    var activation: String = "relu"

    func run() throws {
        let spec: ModelSpec
        let net: Sequential
        if let checkpoint {
            let loaded = try LoadedModel.load(checkpoint)
            spec = loaded.spec
            net = loaded.model
            if let epoch = loaded.metadata["epoch"] { print("checkpoint \(checkpoint), epoch \(epoch)") }
        } else if let model {
            let parts = inputShape.split(separator: ",", omittingEmptySubsequences: false)
            let sizes = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !sizes.isEmpty, sizes.count == parts.count, sizes.allSatisfy({ $0 > 0 }) else {
                throw UserError("--input-shape must be positive integers separated by commas, got '\(inputShape)'")
            }
            spec = try ModelSpec.parse(model, inputShape: sizes, classes: classes, activation: activation)
            net = try spec.build()
        } else {
            throw UserError("give --checkpoint PATH or --model DESCRIPTION")
        }
        print(net.summary(inputShape: [1] + spec.input))
    }
}

func csvField(_ s: String) -> String {
    s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
    func rightPad(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
