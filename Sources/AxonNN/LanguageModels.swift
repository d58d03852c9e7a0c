import AxonCore
import Foundation

/// A character-level language model: token ids `[B, T]` in, next-token logits `[B, T, vocabSize]` out.
public protocol LanguageModel: Layer {
    /// Number of tokens the model predicts over.
    var vocabSize: Int { get }
    /// The logits of the next token at every position of `tokens` (int64 `[B, T]`).
    func callAsFunction(_ tokens: Tensor) -> Tensor
}

/// An embedding, a stacked LSTM and a linear read-out: the classic character-level language model. Parameter
/// names (`embedding.weight`, `lstm.weight_ih_l0`, `head.weight`) are those of the same PyTorch module written
/// with these attribute names, so weights move both ways.
public final class CharLSTM: Module, LanguageModel {
    /// Token vectors.
    public let embedding: Embedding
    /// The recurrence.
    public let lstm: LSTM
    /// Logits from the hidden state.
    public let head: Linear

    /// A model over `vocabSize` tokens.
    public init(vocabSize: Int, embeddingDim: Int = 64, hiddenSize: Int = 256, numLayers: Int = 2, dropout: Double = 0,
                generator: Generator = .global) {
        embedding = Embedding(vocabSize, embeddingDim, generator: generator)
        lstm = LSTM(embeddingDim, hiddenSize, numLayers: numLayers, batchFirst: true, dropout: dropout, generator: generator)
        head = Linear(hiddenSize, vocabSize, generator: generator)
    }

    /// Number of tokens.
    public var vocabSize: Int { embedding.numEmbeddings }

    /// Next-token logits `[B, T, vocabSize]`.
    public func callAsFunction(_ tokens: Tensor) -> Tensor { head(lstm(embedding(tokens)).0) }
}

/// A decoder-only Transformer over characters: token and learned position embeddings, causal pre-norm encoder
/// layers, a final layer norm and a linear read-out (GPT's shape, small).
public final class CharTransformer: Module, LanguageModel {
    /// Token vectors.
    public let embedding: Embedding
    /// Position vectors.
    public let position: LearnedPositionalEmbedding
    /// Causal self-attention layers.
    public let encoder: TransformerEncoder
    /// The final norm.
    public let norm: LayerNorm
    /// Logits from the last layer.
    public let head: Linear

    /// A model over `vocabSize` tokens and contexts of at most `contextLength`.
    public init(vocabSize: Int, contextLength: Int, dModel: Int = 128, nhead: Int = 4, numLayers: Int = 4, dimFeedforward: Int = 512,
                dropout: Double = 0, generator: Generator = .global) {
        embedding = Embedding(vocabSize, dModel, generator: generator)
        position = LearnedPositionalEmbedding(maxLen: contextLength, dModel: dModel, generator: generator)
        encoder = TransformerEncoder(TransformerEncoderLayer(dModel: dModel, nhead: nhead, dimFeedforward: dimFeedforward, dropout: dropout,
                                                             activation: .gelu, batchFirst: true, normFirst: true, generator: generator),
                                     numLayers: numLayers)
        norm = LayerNorm(dModel)
        head = Linear(dModel, vocabSize, generator: generator)
    }

    /// Number of tokens.
    public var vocabSize: Int { embedding.numEmbeddings }
    /// The longest context the position table covers.
    public var contextLength: Int { position.embedding.numEmbeddings }

    /// Next-token logits `[B, T, vocabSize]`, each position seeing only itself and earlier ones.
    public func callAsFunction(_ tokens: Tensor) -> Tensor {
        head(norm(encoder(position(embedding(tokens)), isCausal: true)))
    }
}

/// Continues `prompt` (token ids) by `length` tokens: each step feeds the last `context` tokens (all when nil),
/// divides the last position's logits by `temperature` and samples, from the `topK` most likely tokens when
/// given. Temperature 0 takes the most likely token (greedy). The same generator state gives the same text.
public func generate(_ model: some LanguageModel, prompt: [Int], length: Int, context: Int? = nil, temperature: Double = 1,
                     topK: Int? = nil, generator: Generator = .global) -> [Int] {
    guard !prompt.isEmpty, length >= 0, temperature >= 0, topK.map({ $0 > 0 }) ?? true else {
        fatalError("Axon.generate: needs a non-empty prompt, length >= 0, temperature >= 0 and topK > 0, got \(prompt.count) tokens, "
                   + "\(length), \(temperature), \(String(describing: topK))")
    }
    let wasTraining = model.isTraining
    model.eval()
    defer { if wasTraining { model.train() } }
    var tokens = prompt
    withNoGrad {
        for _ in 0..<length {
            let window = Array(tokens.suffix(context ?? tokens.count))
            let logits = model(Tensor(shape: [1, window.count], scalars: window))
            let last = logits.sliced(axis: 1, window.count - 1..<window.count).doubleScalars
            tokens.append(sample(last, temperature: temperature, topK: topK, generator: generator))
        }
    }
    return Array(tokens.dropFirst(prompt.count))
}

/// One token drawn from `logits` (see ``generate(_:prompt:length:context:temperature:topK:generator:)``).
func sample(_ logits: [Double], temperature: Double, topK: Int?, generator: Generator) -> Int {
    let best = logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!
    if temperature == 0 { return best }
    var candidates = Array(logits.indices)
    if let topK, topK < candidates.count {
        candidates = Array(candidates.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }.prefix(topK))
    }
    let top = candidates.map { logits[$0] / temperature }.max()!
    let weights = candidates.map { Foundation.exp(logits[$0] / temperature - top) }
    var u = generator.nextUniform() * weights.reduce(0, +)
    for (i, w) in zip(candidates, weights) {
        u -= w
        if u < 0 { return i }
    }
    return candidates.last!
}

/// The architecture of a character language model, as a checkpoint of `axon train --data text:` records it.
public struct LanguageModelSpec: Codable, Sendable, Equatable {
    /// `char-lstm`, `char-transformer`, or `described` (a JSON model description, in `description`).
    public var kind: String
    /// Tokens the model reads and predicts.
    public var vocabSize: Int
    /// Tokens per training window (the Transformer's positional table).
    public var context: Int
    /// The described model, for kind `described`.
    public var description: ModelSpec?

    /// The kinds a checkpoint may name.
    public static let kinds = ["char-lstm", "char-transformer", "described"]

    /// A description of a language model.
    public init(kind: String, vocabSize: Int, context: Int, description: ModelSpec? = nil) {
        self.kind = kind
        self.vocabSize = vocabSize
        self.context = context
        self.description = description
    }

    /// The model, with fresh weights; a description from a file is checked first (sizes within bounds).
    public func build() throws -> any LanguageModel {
        guard Self.kinds.contains(kind) else { throw ModelSpecError("unknown language model '\(kind)' (one of \(Self.kinds.joined(separator: ", ")))") }
        guard (1...(1 << 16)).contains(context) else { throw ModelSpecError("context \(context) is out of range (1...65536)") }
        guard (1...(1 << 16)).contains(vocabSize) else { throw ModelSpecError("vocabulary size \(vocabSize) is out of range (1...65536)") }
        switch kind {
        case "char-lstm": return CharLSTM(vocabSize: vocabSize, embeddingDim: 64, hiddenSize: 256, numLayers: 2)
        case "char-transformer":
            return CharTransformer(vocabSize: vocabSize, contextLength: context, dModel: 128, nhead: 4, numLayers: 4, dimFeedforward: 512)
        default:
            guard let description, description.readsTokens else { throw ModelSpecError("a described language model must start with an embedding layer") }
            let net = try description.build(vocabulary: vocabSize)
            guard description.outputFeatures == vocabSize else {
                throw ModelSpecError("the model's last linear layer has \(description.outputFeatures.map(String.init) ?? "no") outputs; a language model needs \(vocabSize) (the vocabulary)")
            }
            return DescribedLanguageModel(net, vocabSize: vocabSize)
        }
    }
}
