import AxonCore
import Foundation

/// A model description that cannot be read or built: the message names the layer and the value.
public struct ModelSpecError: Error, CustomStringConvertible, Sendable {
    /// What was wrong.
    public let description: String
    /// An error with a message.
    public init(_ description: String) { self.description = description }
}

/// A model description: the input shape (without the batch axis) and the layers in order. Presets
/// (`logistic`, `mlp:...`, `lenet`) are spelled as descriptions too, and checkpoints carry theirs in
/// their metadata, so `eval`, `predict` and `summary` rebuild the architecture from the file alone.
///
/// JSON: `{"input": [2], "layers": [{"type": "linear", "out": 8}, {"type": "tanh"}, {"type": "linear", "out": 2}]}`;
/// types: linear (out), conv2d (out, kernel, stride, padding), maxpool / avgpool (kernel, stride), flatten,
/// relu, leaky-relu (slope), tanh, sigmoid, gelu, step, dropout (p), batchnorm; and for sequences of token ids
/// (`--data text:`, input `[context]`): embedding (out; the vocabulary is the data's), lstm / gru (out, layers,
/// bidirectional), transformer-encoder (heads, ff, layers, causal: set it for a language model), layernorm;
/// linear then maps the last axis.
public struct ModelSpec: Codable, Equatable, Sendable {
    /// One layer: its type and the settings that type reads.
    public struct LayerSpec: Codable, Equatable, Sendable {
        public var type: String
        public var out: Int?
        public var kernel: Int?
        public var stride: Int?
        public var padding: Int?
        public var p: Double?
        public var slope: Double?
        /// Sequence layers: stacked layers, heads, feed-forward width, both directions, causal attention.
        public var layers: Int?
        public var heads: Int?
        public var ff: Int?
        public var bidirectional: Bool?
        public var causal: Bool?

        /// A layer of `type` with the settings given.
        public init(type: String, out: Int? = nil, kernel: Int? = nil, stride: Int? = nil, padding: Int? = nil, p: Double? = nil,
                    slope: Double? = nil, layers: Int? = nil, heads: Int? = nil, ff: Int? = nil, bidirectional: Bool? = nil,
                    causal: Bool? = nil) {
            self.type = type
            self.out = out
            self.kernel = kernel
            self.stride = stride
            self.padding = padding
            self.p = p
            self.slope = slope
            self.layers = layers
            self.heads = heads
            self.ff = ff
            self.bidirectional = bidirectional
            self.causal = causal
        }
    }

    /// Shape of one example, without the batch axis.
    public var input: [Int]
    /// The layers, in order.
    public var layers: [LayerSpec]

    /// A description from its parts.
    public init(input: [Int], layers: [LayerSpec]) {
        self.input = input
        self.layers = layers
    }

    /// Decodes a JSON description; errors say what is missing or of the wrong type.
    public init(json data: Data, source: String) throws {
        do {
            self = try JSONDecoder().decode(ModelSpec.self, from: data)
        } catch {
            throw ModelSpecError("\(source): not a model description (\(Self.describe(error)))")
        }
    }

    /// The activations a preset can use.
    public static let activations = Activation.allCases.map(\.rawValue)

    /// Parses `logistic`, `mlp:784,256,128,10`, `lenet`, or a path to a JSON description.
    public static func parse(_ text: String, inputShape: [Int], classes: Int, activation: String) throws -> ModelSpec {
        guard activations.contains(activation) else {
            throw ModelSpecError("unknown activation '\(activation)' (choose from \(activations.joined(separator: ", ")))")
        }
        guard !inputShape.isEmpty, inputShape.allSatisfy({ $0 > 0 }), let features = values(inputShape) else {
            throw ModelSpecError("input shape \(inputShape) must be positive sizes holding at most \(maxSize) values")
        }
        let flatten: [LayerSpec] = inputShape.count > 1 ? [LayerSpec(type: "flatten")] : []
        if text == "logistic" {
            return ModelSpec(input: inputShape, layers: flatten + [LayerSpec(type: "linear", out: classes)])
        }
        if text.hasPrefix("mlp:") {
            let parts = text.dropFirst(4).split(separator: ",", omittingEmptySubsequences: false)
            let sizes = parts.compactMap { Int($0) }
            guard sizes.count == parts.count, sizes.count >= 2, sizes.allSatisfy({ $0 > 0 }) else {
                throw ModelSpecError("model '\(text)': expected mlp:IN,HIDDEN,...,OUT with positive integers")
            }
            guard sizes.first == features else {
                throw ModelSpecError("model '\(text)' expects \(sizes[0]) inputs but the data has \(features) features per example")
            }
            guard sizes.last == classes else {
                throw ModelSpecError("model '\(text)' has \(sizes.last!) outputs but the task needs \(classes)")
            }
            var layers = flatten
            for (i, s) in sizes.dropFirst().enumerated() {
                layers.append(LayerSpec(type: "linear", out: s))
                if i < sizes.count - 2 && activation != "linear" { layers.append(LayerSpec(type: activation)) }
            }
            return ModelSpec(input: inputShape, layers: layers)
        }
        if text == "lenet" {
            guard inputShape.count == 3, inputShape[1] >= 14, inputShape[2] >= 14 else {
                throw ModelSpecError("model 'lenet' needs image input [channels, height, width] of at least 14x14, got \(inputShape)")
            }
            let act = activation == "linear" ? "relu" : activation
            return ModelSpec(input: inputShape, layers: [
                LayerSpec(type: "conv2d", out: 6, kernel: 3), LayerSpec(type: act), LayerSpec(type: "maxpool", kernel: 2),
                LayerSpec(type: "conv2d", out: 16, kernel: 3), LayerSpec(type: act), LayerSpec(type: "maxpool", kernel: 2),
                LayerSpec(type: "flatten"), LayerSpec(type: "linear", out: 120), LayerSpec(type: act),
                LayerSpec(type: "linear", out: 84), LayerSpec(type: act), LayerSpec(type: "linear", out: classes),
            ])
        }
        guard text.hasSuffix(".json") || FileManager.default.fileExists(atPath: text) else {
            throw ModelSpecError("unknown model '\(text)' (use logistic, mlp:IN,...,OUT, lenet, or a JSON description file)")
        }
        guard let data = FileManager.default.contents(atPath: text) else { throw ModelSpecError("\(text): no such file") }
        let spec = try ModelSpec(json: data, source: text)
        guard spec.input == inputShape || spec.input.reduce(1, *) == features && spec.input.count == 1 && inputShape.count == 1 else {
            throw ModelSpecError("\(text): model input \(spec.input) does not fit the data's examples of shape \(inputShape)")
        }
        return spec
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing key '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return "wrong type at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.dataCorrupted(let c): return c.debugDescription
        default: return "\(error)"
        }
    }

    /// Most parameters a described model may hold: 2^28, 1 GiB of float32. Descriptions come from files and
    /// checkpoints, so `build` checks this before it allocates anything.
    public static let maxParameters = 1 << 28
    /// Largest value of any one size (an axis of the input, `out`, `kernel`, `ff`, a vocabulary, ...), and
    /// largest number of values per example flowing between layers: 2^24.
    public static let maxSize = 1 << 24

    /// The number of values in `shape`, or nil above ``maxSize`` (each product is checked, so nothing overflows).
    static func values(_ shape: [Int]) -> Int? {
        var values = 1
        for v in shape {
            let (product, overflow) = values.multipliedReportingOverflow(by: v)
            guard !overflow, product <= maxSize else { return nil }
            values = product
        }
        return values
    }

    /// Builds the network, checking each layer against the shape flowing into it; `vocabulary` sizes an
    /// embedding layer. Every size is checked against ``maxSize`` and the parameter count against
    /// `maxParameters` (default ``maxParameters``) before any weight is allocated.
    public func build(vocabulary: Int? = nil, maxParameters: Int = ModelSpec.maxParameters) throws -> Sequential {
        func bounded(_ v: Int, _ what: String) throws -> Int {
            guard v > 0 && v <= Self.maxSize else { throw ModelSpecError("\(what) \(v) is outside 1-\(Self.maxSize)") }
            return v
        }
        guard !input.isEmpty, input.count <= 3 else { throw ModelSpecError("input \(input) must have 1 to 3 axes") }
        for v in input { _ = try bounded(v, "input size") }
        if let vocabulary { _ = try bounded(vocabulary, "vocabulary") }
        var shape = input
        // Values per example between layers: at most maxSize (checked with each product, so nothing overflows).
        func checkValues(_ at: String) throws {
            guard Self.values(shape) != nil else {
                throw ModelSpecError("\(at): \(shape) holds more than \(Self.maxSize) values per example")
            }
        }
        try checkValues("input")
        var sequence = false  // whether the shape is [time, features] (after an embedding)
        var makers: [() -> any Layer] = []  // run only once the whole description is checked
        var parameters = 0
        for (i, l) in layers.enumerated() {
            let at = "layer \(i) (\(l.type))"
            func need(_ v: Int?, _ name: String) throws -> Int {
                guard let v, v > 0 else { throw ModelSpecError("\(at): needs a positive '\(name)'") }
                return try bounded(v, "\(at): \(name)")
            }
            func optional(_ v: Int?, _ name: String, default d: Int) throws -> Int { try v.map { try need($0, name) } ?? d }
            func addParameters(_ n: Int) throws {
                parameters += n  // each term is below 2^52 (sizes are at most 2^24): no overflow before this check
                guard parameters <= maxParameters else {
                    throw ModelSpecError("\(at): the model would hold more than \(maxParameters) parameters")
                }
            }
            let last = shape[shape.count - 1]
            switch l.type {
            case "linear":
                guard shape.count == 1 || (shape.count == 2 && sequence) else {
                    throw ModelSpecError("\(at): needs flat input, got \(shape) (add a flatten layer)")
                }
                let out = try need(l.out, "out")
                try addParameters(last * out + out)
                makers.append { Linear(last, out) }; shape[shape.count - 1] = out
            case "embedding":
                // Token ids exist only at the input: after any layer the values are float32.
                guard i == 0, shape.count == 1, let vocabulary else {
                    throw ModelSpecError("\(at): needs token ids (text data), as the first layer; got \(i == 0 ? "input" : "the output of layer \(i - 1),") \(shape)")
                }
                let out = try need(l.out, "out")
                try addParameters(vocabulary * out)
                makers.append { Embedding(vocabulary, out) }; shape = [shape[0], out]; sequence = true
            case "lstm", "gru":
                guard shape.count == 2, sequence else { throw ModelSpecError("\(at): needs a sequence [time, features] (after an embedding), got \(shape)") }
                let out = try need(l.out, "out"), stacked = try optional(l.layers, "layers", default: 1), both = l.bidirectional ?? false
                let gates = l.type == "lstm" ? 4 : 3, directions = both ? 2 : 1
                for layer in 0..<stacked {
                    try addParameters(directions * gates * out * ((layer == 0 ? last : out * directions) + out + 2))
                }
                let lstm = l.type == "lstm"
                makers.append {
                    SequenceLayer(lstm ? LSTM(last, out, numLayers: stacked, bidirectional: both, batchFirst: true)
                                       : GRU(last, out, numLayers: stacked, bidirectional: both, batchFirst: true))
                }
                shape = [shape[0], try bounded(out * directions, "\(at): output width")]
            case "transformer-encoder":
                guard shape.count == 2, sequence else { throw ModelSpecError("\(at): needs a sequence [time, features] (after an embedding), got \(shape)") }
                let heads = try optional(l.heads, "heads", default: 4), ff = try optional(l.ff, "ff", default: min(4 * last, Self.maxSize))
                let stacked = try optional(l.layers, "layers", default: 1)
                guard last % heads == 0 else { throw ModelSpecError("\(at): heads \(heads) must divide the width \(last)") }
                if let p = l.p, !(p >= 0 && p < 1) { throw ModelSpecError("\(at): p must be in [0, 1), got \(p)") }
                for _ in 0..<stacked { try addParameters(4 * last * last + 2 * last * ff + ff + 9 * last) }
                let dropout = l.p ?? 0, causal = l.causal ?? false
                makers.append {
                    let layer = TransformerEncoderLayer(dModel: last, nhead: heads, dimFeedforward: ff, dropout: dropout, batchFirst: true,
                                                        normFirst: true)
                    return SequenceLayer(TransformerEncoder(layer, numLayers: stacked), causal: causal)
                }
            case "layernorm":
                try addParameters(2 * last)
                makers.append { LayerNorm(last) }
            case "conv2d":
                guard shape.count == 3 else { throw ModelSpecError("\(at): needs [channels, height, width] input, got \(shape)") }
                let out = try need(l.out, "out"), k = try need(l.kernel, "kernel"), s = try optional(l.stride, "stride", default: 1)
                let p = try l.padding.map { $0 == 0 ? 0 : try need($0, "padding") } ?? 0
                let h = (shape[1] + 2 * p - k) / s + 1, w = (shape[2] + 2 * p - k) / s + 1
                guard shape[1] + 2 * p >= k, shape[2] + 2 * p >= k else { throw ModelSpecError("\(at): kernel \(k) does not fit input \(shape)") }
                try addParameters(try bounded(shape[0] * k * k, "\(at): inputs per output") * out + out)
                let channels = shape[0]
                makers.append { Conv2d(channels, out, kernelSize: k, stride: s, padding: p) }; shape = [out, h, w]
            case "maxpool", "avgpool":
                guard shape.count == 3 else { throw ModelSpecError("\(at): needs [channels, height, width] input, got \(shape)") }
                let k = try need(l.kernel, "kernel"), s = try optional(l.stride, "stride", default: k)
                guard k <= shape[1], k <= shape[2] else { throw ModelSpecError("\(at): kernel \(k) does not fit input \(shape)") }
                let max = l.type == "maxpool"
                makers.append { max ? MaxPool2d(k, stride: s) as any Layer : AvgPool2d(k, stride: s) }
                shape = [shape[0], (shape[1] - k) / s + 1, (shape[2] - k) / s + 1]
            case "flatten": makers.append { Flatten() }; shape = [shape.reduce(1, *)]
            case "linear-activation", "identity": makers.append { Identity() }
            case let type where Activation(name: type) != nil:  // "linear" is the layer, matched above
                let slope = l.slope ?? 0.01
                guard slope.isFinite else { throw ModelSpecError("\(at): slope must be finite, got \(slope)") }
                makers.append { Activation(name: type)!.layer(slope: slope) }
            case "dropout":
                let p = l.p ?? 0.5
                guard p >= 0 && p < 1 else { throw ModelSpecError("\(at): p must be in [0, 1), got \(p)") }
                makers.append { Dropout(p) }
            case "batchnorm":
                let channels = shape[0]
                switch shape.count {
                case 1: makers.append { BatchNorm1d(channels) }
                case 3: makers.append { BatchNorm2d(channels) }
                default: throw ModelSpecError("\(at): needs [features] or [channels, height, width] input, got \(shape)")
                }
                try addParameters(2 * channels)
            default:
                throw ModelSpecError("\(at): unknown layer type '\(l.type.prefix(64))'")
            }
            try checkValues(at)
        }
        guard !makers.isEmpty else { throw ModelSpecError("the model has no layers") }
        return Sequential(layers: makers.map { $0() })
    }

    /// Whether the description reads token ids (its first layer is an embedding).
    public var readsTokens: Bool { layers.first?.type == "embedding" }

    /// Shape of one output (without the batch axis).
    public var outputFeatures: Int? {
        layers.last(where: { $0.type == "linear" })?.out
    }

    /// The description as JSON (sorted keys).
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}

/// A recurrent net or Transformer stack as a layer of a described model: its output sequence only (the final
/// states are dropped), batch first; a Transformer with `causal` lets each position see earlier ones only.
public final class SequenceLayer: Module, Layer {
    /// The wrapped net.
    public let net: Module
    /// Whether each position sees earlier ones only (Transformer).
    public let causal: Bool

    /// Wraps an LSTM, a GRU or a Transformer encoder.
    public init(_ net: Module, causal: Bool = false) {
        self.net = net
        self.causal = causal
    }

    /// The net's output sequence for a batch-first input.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        switch net {
        case let lstm as LSTM: return lstm(input).0
        case let gru as GRU: return gru(input).0
        case let encoder as TransformerEncoder: return encoder(input, isCausal: causal)
        default: fatalError("Axon.SequenceLayer: \(type(of: net)) is not a sequence layer")
        }
    }

    override public var layerDescription: String { "\(type(of: net))\(causal ? " (causal)" : "")" }
}

/// A described model (``ModelSpec``) that reads token ids, as a language model.
public final class DescribedLanguageModel: Module, LanguageModel {
    /// The layers, from token ids to logits.
    public let net: Sequential
    /// Number of tokens the model predicts over.
    public let vocabSize: Int

    /// A language model over a vocabulary of `vocabSize` tokens.
    public init(_ net: Sequential, vocabSize: Int) {
        self.net = net
        self.vocabSize = vocabSize
    }

    /// Logits for each position of each sequence of token ids.
    public func callAsFunction(_ tokens: Tensor) -> Tensor { net(tokens) }
}
