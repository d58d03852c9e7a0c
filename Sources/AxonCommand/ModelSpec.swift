import Axon
import Foundation

/// An error in what the user asked for: printed as one line, exit status 1.
struct UserError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
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
struct ModelSpec: Codable, Equatable {
    struct LayerSpec: Codable, Equatable {
        var type: String
        var out: Int?
        var kernel: Int?
        var stride: Int?
        var padding: Int?
        var p: Double?
        var slope: Double?
        /// Sequence layers: stacked layers, heads, feed-forward width, both directions, causal attention.
        var layers: Int?
        var heads: Int?
        var ff: Int?
        var bidirectional: Bool?
        var causal: Bool?
    }

    var input: [Int]
    var layers: [LayerSpec]

    static let activations = ["relu", "tanh", "sigmoid", "leaky-relu", "gelu", "step", "linear"]

    /// Parses `logistic`, `mlp:784,256,128,10`, `lenet`, or a path to a JSON description.
    static func parse(_ text: String, inputShape: [Int], classes: Int, activation: String) throws -> ModelSpec {
        guard activations.contains(activation) else {
            throw UserError("unknown activation '\(activation)' (choose from \(activations.joined(separator: ", ")))")
        }
        let features = inputShape.reduce(1, *)
        let flatten: [LayerSpec] = inputShape.count > 1 ? [LayerSpec(type: "flatten")] : []
        if text == "logistic" {
            return ModelSpec(input: inputShape, layers: flatten + [LayerSpec(type: "linear", out: classes)])
        }
        if text.hasPrefix("mlp:") {
            let parts = text.dropFirst(4).split(separator: ",", omittingEmptySubsequences: false)
            let sizes = parts.compactMap { Int($0) }
            guard sizes.count == parts.count, sizes.count >= 2, sizes.allSatisfy({ $0 > 0 }) else {
                throw UserError("model '\(text)': expected mlp:IN,HIDDEN,...,OUT with positive integers")
            }
            guard sizes.first == features else {
                throw UserError("model '\(text)' expects \(sizes[0]) inputs but the data has \(features) features per example")
            }
            guard sizes.last == classes else {
                throw UserError("model '\(text)' has \(sizes.last!) outputs but the task needs \(classes)")
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
                throw UserError("model 'lenet' needs image input [channels, height, width] of at least 14x14, got \(inputShape)")
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
            throw UserError("unknown model '\(text)' (use logistic, mlp:IN,...,OUT, lenet, or a JSON description file)")
        }
        guard let data = FileManager.default.contents(atPath: text) else { throw UserError("\(text): no such file") }
        let spec: ModelSpec
        do {
            spec = try JSONDecoder().decode(ModelSpec.self, from: data)
        } catch {
            throw UserError("\(text): not a model description (\(Self.describe(error)))")
        }
        guard spec.input == inputShape || spec.input.reduce(1, *) == features && spec.input.count == 1 && inputShape.count == 1 else {
            throw UserError("\(text): model input \(spec.input) does not fit the data's examples of shape \(inputShape)")
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

    /// Builds the network, checking each layer against the shape flowing into it; `vocabulary` sizes an
    /// embedding layer.
    func build(vocabulary: Int? = nil) throws -> Sequential {
        var shape = input
        var sequence = false  // whether the shape is [time, features] (after an embedding)
        var built: [any Layer] = []
        for (i, l) in layers.enumerated() {
            let at = "layer \(i) (\(l.type))"
            func need(_ v: Int?, _ name: String) throws -> Int {
                guard let v, v > 0 else { throw UserError("\(at): needs a positive '\(name)'") }
                return v
            }
            switch l.type {
            case "linear":
                guard shape.count == 1 || (shape.count == 2 && sequence) else {
                    throw UserError("\(at): needs flat input, got \(shape) (add a flatten layer)")
                }
                let out = try need(l.out, "out")
                built.append(Linear(shape[shape.count - 1], out)); shape[shape.count - 1] = out
            case "embedding":
                guard shape.count == 1, let vocabulary else { throw UserError("\(at): needs token ids (text data), got input \(shape)") }
                let out = try need(l.out, "out")
                built.append(Embedding(vocabulary, out)); shape = [shape[0], out]; sequence = true
            case "lstm", "gru":
                guard shape.count == 2, sequence else { throw UserError("\(at): needs a sequence [time, features] (after an embedding), got \(shape)") }
                let out = try need(l.out, "out"), stacked = l.layers ?? 1, both = l.bidirectional ?? false
                guard stacked > 0 else { throw UserError("\(at): layers must be positive, got \(stacked)") }
                let net: RecurrentNet = l.type == "lstm"
                    ? LSTM(shape[1], out, numLayers: stacked, bidirectional: both, batchFirst: true)
                    : GRU(shape[1], out, numLayers: stacked, bidirectional: both, batchFirst: true)
                built.append(SequenceLayer(net)); shape = [shape[0], out * (both ? 2 : 1)]
            case "transformer-encoder":
                guard shape.count == 2, sequence else { throw UserError("\(at): needs a sequence [time, features] (after an embedding), got \(shape)") }
                let heads = l.heads ?? 4, ff = l.ff ?? 4 * shape[1], stacked = l.layers ?? 1
                guard heads > 0, shape[1] % heads == 0, ff > 0, stacked > 0 else {
                    throw UserError("\(at): heads \(heads) must divide the width \(shape[1]), and ff and layers must be positive")
                }
                if let p = l.p, !(p >= 0 && p < 1) { throw UserError("\(at): p must be in [0, 1), got \(p)") }
                let layer = TransformerEncoderLayer(dModel: shape[1], nhead: heads, dimFeedforward: ff, dropout: l.p ?? 0, batchFirst: true,
                                                    normFirst: true)
                built.append(SequenceLayer(TransformerEncoder(layer, numLayers: stacked), causal: l.causal ?? false))
            case "layernorm":
                built.append(LayerNorm(shape[shape.count - 1]))
            case "conv2d":
                guard shape.count == 3 else { throw UserError("\(at): needs [channels, height, width] input, got \(shape)") }
                let out = try need(l.out, "out"), k = try need(l.kernel, "kernel"), s = l.stride ?? 1, p = l.padding ?? 0
                let h = (shape[1] + 2 * p - k) / s + 1, w = (shape[2] + 2 * p - k) / s + 1
                guard h > 0, w > 0, s > 0, p >= 0 else { throw UserError("\(at): kernel \(k) does not fit input \(shape)") }
                built.append(Conv2d(shape[0], out, kernelSize: k, stride: s, padding: p)); shape = [out, h, w]
            case "maxpool", "avgpool":
                guard shape.count == 3 else { throw UserError("\(at): needs [channels, height, width] input, got \(shape)") }
                let k = try need(l.kernel, "kernel"), s = l.stride ?? k
                guard k <= shape[1], k <= shape[2], s > 0 else { throw UserError("\(at): kernel \(k) does not fit input \(shape)") }
                built.append(l.type == "maxpool" ? MaxPool2d(k, stride: s) as any Layer : AvgPool2d(k, stride: s))
                shape = [shape[0], (shape[1] - k) / s + 1, (shape[2] - k) / s + 1]
            case "flatten": built.append(Flatten()); shape = [shape.reduce(1, *)]
            case "relu": built.append(ReLU())
            case "leaky-relu": built.append(LeakyReLU(negativeSlope: l.slope ?? 0.01))
            case "tanh": built.append(Tanh())
            case "sigmoid": built.append(Sigmoid())
            case "gelu": built.append(GELU())
            case "step": built.append(Step())
            case "linear-activation", "identity": built.append(Identity())
            case "dropout":
                let p = l.p ?? 0.5
                guard p >= 0 && p < 1 else { throw UserError("\(at): p must be in [0, 1), got \(p)") }
                built.append(Dropout(p))
            case "batchnorm":
                switch shape.count {
                case 1: built.append(BatchNorm1d(shape[0]))
                case 3: built.append(BatchNorm2d(shape[0]))
                default: throw UserError("\(at): needs [features] or [channels, height, width] input, got \(shape)")
                }
            default:
                throw UserError("\(at): unknown layer type '\(l.type)'")
            }
        }
        guard !built.isEmpty else { throw UserError("the model has no layers") }
        return Sequential(layers: built)
    }

    /// Whether the description reads token ids (its first layer is an embedding).
    var readsTokens: Bool { layers.first?.type == "embedding" }

    /// Shape of one output (without the batch axis).
    var outputFeatures: Int? {
        layers.last(where: { $0.type == "linear" })?.out
    }

    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}

/// A recurrent net or Transformer stack as a layer of a described model: its output sequence only (the final
/// states are dropped), batch first; a Transformer with `causal` lets each position see earlier ones only.
final class SequenceLayer: Module, Layer {
    let net: Module
    let causal: Bool

    init(_ net: Module, causal: Bool = false) {
        self.net = net
        self.causal = causal
    }

    func callAsFunction(_ input: Tensor) -> Tensor {
        switch net {
        case let lstm as LSTM: return lstm(input).0
        case let gru as GRU: return gru(input).0
        case let encoder as TransformerEncoder: return encoder(input, isCausal: causal)
        default: fatalError("Axon.SequenceLayer: \(type(of: net)) is not a sequence layer")
        }
    }

    override var layerDescription: String { "\(type(of: net))\(causal ? " (causal)" : "")" }
}

/// A described model (``ModelSpec``) that reads token ids, as a language model.
final class DescribedLanguageModel: Module, LanguageModel {
    let net: Sequential
    let vocabSize: Int

    init(_ net: Sequential, vocabSize: Int) {
        self.net = net
        self.vocabSize = vocabSize
    }

    func callAsFunction(_ tokens: Tensor) -> Tensor { net(tokens) }
}
