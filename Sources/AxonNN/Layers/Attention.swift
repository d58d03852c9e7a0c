import AxonCore
import Foundation

// Attention as PyTorch defines it: scaled dot-product attention, MultiheadAttention with its packed input
// projection (`in_proj_weight`), and the Transformer encoder and decoder layers and stacks, with PyTorch's
// parameter names so that weights move both ways.

/// softmax(q·kᵀ · scale + mask) · v, as `torch.nn.functional.scaled_dot_product_attention`. A bool
/// `attnMask` marks the positions that take part (PyTorch's convention here; ``MultiheadAttention`` uses the
/// opposite one, as PyTorch's does); a float mask is added to the scores. `isCausal` lets position i attend
/// to positions ≤ i only. `scale` defaults to 1/√E.
///
/// Shapes: query `[..., L, E]`, key `[..., S, E]`, value `[..., S, Ev]` -> `[..., L, Ev]`.
public func scaledDotProductAttention(_ query: Tensor, _ key: Tensor, _ value: Tensor, attnMask: Tensor? = nil,
                                      dropoutP: Double = 0, isCausal: Bool = false, scale: Double? = nil,
                                      training: Bool = true, generator: Generator = .global) -> Tensor {
    attention(query, key, value, bias: attentionBias(query, key, attnMask: attnMask, allowedWhereTrue: true, isCausal: isCausal),
              dropoutP: dropoutP, scale: scale, training: training, generator: generator).output
}

/// The additive mask of an attention: 0 where a position takes part, −∞ where it does not (nil: none).
/// `allowedWhereTrue` says what a bool mask's true means.
func attentionBias(_ query: Tensor, _ key: Tensor, attnMask: Tensor?, allowedWhereTrue: Bool, isCausal: Bool) -> Tensor? {
    let l = query.shape[query.rank - 2], s = key.shape[key.rank - 2]
    var bias: Tensor? = nil
    if isCausal {
        let upper = (0..<l * s).map { $0 % s > $0 / s ? -Double.infinity : 0 }
        bias = Tensor(shape: [l, s], doubles: upper, dtype: query.dtype)
    }
    if let attnMask {
        let additive: Tensor
        if attnMask.dtype == .bool {
            let blocked = allowedWhereTrue ? logicalNot(attnMask) : attnMask
            additive = `where`(blocked, Tensor.full([], -.infinity, dtype: query.dtype), Tensor.zeros([], dtype: query.dtype))
        } else {
            additive = attnMask.converted(to: query.dtype)
        }
        bias = bias.map { $0 + additive } ?? additive
    }
    return bias
}

/// Attention with an additive bias: the output and the attention weights.
func attention(_ q: Tensor, _ k: Tensor, _ v: Tensor, bias: Tensor?, dropoutP: Double, scale: Double?, training: Bool,
               generator: Generator) -> (output: Tensor, weights: Tensor) {
    guard q.rank >= 2, k.rank == q.rank, v.rank == q.rank, q.shape.last == k.shape.last,
          k.shape[k.rank - 2] == v.shape[v.rank - 2] else {
        fatalError("Axon.scaledDotProductAttention: query \(q.shape), key \(k.shape) and value \(v.shape) need shapes [..., L, E], [..., S, E], [..., S, Ev]")
    }
    // softmax(q·kᵀ · scale + bias) as one recorded op: the scaled and masked scores are not kept for backward.
    var weights = scaledSoftmax(matmul(q, k.transposed(-2, -1)), scale: scale ?? 1 / Double(q.shape[q.rank - 1]).squareRoot(),
                                bias: bias)
    if dropoutP > 0 && training { weights = dropout(weights, p: dropoutP, training: true, generator: generator) }
    return (matmul(weights, v), weights)
}

/// Elementwise logical not of a bool tensor.
func logicalNot(_ mask: Tensor) -> Tensor { mask .== 0 }

/// Multi-head attention, as `torch.nn.MultiheadAttention`: the query, key and value are projected by the packed
/// `in_proj_weight` `[3E, E]` (and `in_proj_bias`), split into `numHeads` heads, attended, joined and projected
/// by `out_proj`. Masks follow PyTorch's module: a bool `attnMask` (`[L, S]` or `[B · heads, L, S]`) or
/// `keyPaddingMask` (`[B, S]`) is true where a position must NOT be attended; float masks are added.
///
/// `let (y, weights) = mha(q, k, v, attnMask: m, keyPaddingMask: p, needWeights: true)`; the weights are averaged
/// over heads (`[B, L, S]`) unless `averageAttnWeights` is false (`[B, heads, L, S]`).
public final class MultiheadAttention: Module {
    /// The packed query, key and value projections `[3E, E]`.
    public let inProjWeight: Tensor
    /// Their biases `[3E]`, or nil.
    public let inProjBias: Tensor?
    /// The output projection.
    public let outProj: Linear
    /// Model width E.
    public let embedDim: Int
    /// Number of heads (dividing E).
    public let numHeads: Int
    /// Dropout on the attention weights, in training mode.
    public let dropout: Double
    /// Whether inputs are `[batch, sequence, E]` (else `[sequence, batch, E]`).
    public let batchFirst: Bool
    let generator: Generator

    /// Attention of width `embedDim` with `numHeads` heads.
    public init(_ embedDim: Int, _ numHeads: Int, dropout: Double = 0, bias: Bool = true, batchFirst: Bool = false,
                generator: Generator = .global) {
        guard embedDim > 0, numHeads > 0, embedDim % numHeads == 0 else {
            fatalError("Axon.MultiheadAttention: embedDim \(embedDim) must be a positive multiple of numHeads \(numHeads)")
        }
        self.embedDim = embedDim
        self.numHeads = numHeads
        self.dropout = dropout
        self.batchFirst = batchFirst
        self.generator = generator
        // PyTorch's initialisation: Xavier-uniform packed projection, zero biases.
        inProjWeight = Tensor.zeros([3 * embedDim, embedDim]).requiringGrad()
        inProjBias = bias ? Tensor.zeros([3 * embedDim]).requiringGrad() : nil
        outProj = Linear(embedDim, embedDim, bias: bias, generator: generator)
        super.init()
        Init.xavierUniform(inProjWeight, generator: generator)
        if let b = outProj.bias { Init.zeros(b) }
    }

    /// Attends from `query` to `key`/`value`; returns the output and, with `needWeights`, the attention weights.
    public func callAsFunction(_ query: Tensor, _ key: Tensor, _ value: Tensor, attnMask: Tensor? = nil, keyPaddingMask: Tensor? = nil,
                               needWeights: Bool = true, averageAttnWeights: Bool = true, isCausal: Bool = false) -> (Tensor, Tensor?) {
        let q = batchFirst ? query : query.transposed(0, 1), k = batchFirst ? key : key.transposed(0, 1)
        let v = batchFirst ? value : value.transposed(0, 1)
        guard q.rank == 3, k.rank == 3, v.rank == 3, q.shape[2] == embedDim, k.shape[2] == embedDim, v.shape[2] == embedDim,
              k.shape[0] == q.shape[0], v.shape[0] == q.shape[0], k.shape[1] == v.shape[1] else {
            fatalError("Axon.MultiheadAttention: query \(query.shape), key \(key.shape) and value \(value.shape) must be "
                       + "\(batchFirst ? "[batch, length, \(embedDim)]" : "[length, batch, \(embedDim)]") with matching key and value")
        }
        let b = q.shape[0], l = q.shape[1], s = k.shape[1], e = embedDim, h = numHeads, d = e / h
        let w = inProjWeight.chunked(3, axis: 0), bias = inProjBias?.chunked(3, axis: 0)
        // [B, n, E] -> [B, H, n, d]. The key bias is left out: it adds q_i · b_k to every score of row i, which
        // the softmax over keys cancels exactly, so its exact gradient is 0 (adding it would only give that zero
        // as float32 rounding noise). It stays a parameter, as PyTorch's.
        func heads(_ x: Tensor, _ i: Int, _ n: Int) -> Tensor {
            linear(x, weight: w[i], bias: i == 1 ? nil : bias?[i]).reshaped([b, n, h, d]).transposed(1, 2)
        }
        // The masks as one additive bias broadcast to [B, H, L, S].
        var additive = attentionBias(q, k, attnMask: attnMask.map { $0.rank == 3 ? $0.reshaped([b, h, l, s]) : $0 },
                                     allowedWhereTrue: false, isCausal: isCausal)
        if let keyPaddingMask {
            guard keyPaddingMask.shape == [b, s] else {
                fatalError("Axon.MultiheadAttention: keyPaddingMask must be [\(b), \(s)], got \(keyPaddingMask.shape)")
            }
            let padding = keyPaddingMask.dtype == .bool
                ? `where`(keyPaddingMask, Tensor.full([], -.infinity, dtype: q.dtype), Tensor.zeros([], dtype: q.dtype))
                : keyPaddingMask.converted(to: q.dtype)
            let p = padding.reshaped([b, 1, 1, s])
            additive = additive.map { $0 + p } ?? p
        }
        let (out, weights) = attention(heads(q, 0, l), heads(k, 1, s), heads(v, 2, s), bias: additive, dropoutP: dropout, scale: nil,
                                       training: isTraining, generator: generator)
        var y = outProj(out.transposed(1, 2).reshaped([b, l, e]))
        if !batchFirst { y = y.transposed(0, 1) }
        guard needWeights else { return (y, nil) }
        return (y, averageAttnWeights ? weights.mean(axes: [1]) : weights)
    }

    /// The layer and its configuration, as printed in a model description.
    public override var layerDescription: String { "MultiheadAttention(\(embedDim), \(numHeads), batchFirst: \(batchFirst))" }
}

/// The activation of a Transformer layer's feed-forward block.
public enum TransformerActivation: String, Sendable {
    case relu, gelu
    func callAsFunction(_ x: Tensor) -> Tensor { self == .relu ? AxonCore.relu(x) : AxonCore.gelu(x) }
}

/// The configuration every Transformer layer shares (to build copies for a stack).
struct TransformerLayerConfiguration {
    let dModel: Int, nhead: Int, dimFeedforward: Int, dropout: Double, activation: TransformerActivation
    let layerNormEps: Double, batchFirst: Bool, normFirst: Bool, bias: Bool
}

/// A Transformer encoder layer, as `torch.nn.TransformerEncoderLayer`: self-attention and a feed-forward block,
/// each with a residual connection and layer norm (after each block, or before with `normFirst`).
public final class TransformerEncoderLayer: Module, Layer {
    /// Self-attention.
    public let selfAttn: MultiheadAttention
    /// Feed-forward layers.
    public let linear1: Linear, dropout: Dropout, linear2: Linear
    /// Layer norms of the attention and feed-forward blocks.
    public let norm1: LayerNorm, norm2: LayerNorm
    /// Dropouts on the blocks' outputs.
    public let dropout1: Dropout, dropout2: Dropout
    let config: TransformerLayerConfiguration

    /// A layer of width `dModel` with `nhead` heads.
    public init(dModel: Int, nhead: Int, dimFeedforward: Int = 2048, dropout: Double = 0.1, activation: TransformerActivation = .relu,
                layerNormEps: Double = 1e-5, batchFirst: Bool = false, normFirst: Bool = false, bias: Bool = true,
                generator: Generator = .global) {
        config = TransformerLayerConfiguration(dModel: dModel, nhead: nhead, dimFeedforward: dimFeedforward, dropout: dropout,
                                               activation: activation, layerNormEps: layerNormEps, batchFirst: batchFirst,
                                               normFirst: normFirst, bias: bias)
        selfAttn = MultiheadAttention(dModel, nhead, dropout: dropout, bias: bias, batchFirst: batchFirst, generator: generator)
        linear1 = Linear(dModel, dimFeedforward, bias: bias, generator: generator)
        self.dropout = Dropout(dropout, generator: generator)
        linear2 = Linear(dimFeedforward, dModel, bias: bias, generator: generator)
        norm1 = LayerNorm(dModel, eps: layerNormEps, bias: bias)
        norm2 = LayerNorm(dModel, eps: layerNormEps, bias: bias)
        dropout1 = Dropout(dropout, generator: generator)
        dropout2 = Dropout(dropout, generator: generator)
    }

    /// Encodes `src`; masks as ``MultiheadAttention``'s.
    public func callAsFunction(_ src: Tensor, srcMask: Tensor? = nil, srcKeyPaddingMask: Tensor? = nil, isCausal: Bool = false) -> Tensor {
        func attend(_ x: Tensor) -> Tensor {
            dropout1(selfAttn(x, x, x, attnMask: srcMask, keyPaddingMask: srcKeyPaddingMask, needWeights: false, isCausal: isCausal).0)
        }
        func feedForward(_ x: Tensor) -> Tensor { dropout2(linear2(dropout(config.activation(linear1(x))))) }
        // Without masks, an export writes the layer's own form; with them, the ops inside.
        func exported(_ y: Tensor) -> Tensor { srcMask == nil && srcKeyPaddingMask == nil && !isCausal ? traced(y, from: src) : traced(y) }
        if config.normFirst {
            let x = src + attend(norm1(src))
            return exported(x + feedForward(norm2(x)))
        }
        let x = norm1(src + attend(src))
        return exported(norm2(x + feedForward(x)))
    }

    /// Encodes `input` without masks (so the layer chains in ``Sequential``).
    public func callAsFunction(_ input: Tensor) -> Tensor { callAsFunction(input, srcMask: nil) }

    /// Whether each block's layer norm comes before it (else after its residual sum).
    public var normFirst: Bool { config.normFirst }
    /// The feed-forward block's activation.
    public var activation: TransformerActivation { config.activation }

    /// The layer and its configuration, as printed in a model description.
    public override var layerDescription: String {
        "TransformerEncoderLayer(dModel: \(config.dModel), nhead: \(config.nhead), dimFeedforward: \(config.dimFeedforward), normFirst: \(config.normFirst))"
    }
}

/// A Transformer decoder layer, as `torch.nn.TransformerDecoderLayer`: self-attention, attention to the encoder's
/// `memory`, and a feed-forward block, each with a residual connection and layer norm.
public final class TransformerDecoderLayer: Module {
    /// Self-attention, and attention to the memory.
    public let selfAttn: MultiheadAttention, multiheadAttn: MultiheadAttention
    /// Feed-forward layers.
    public let linear1: Linear, dropout: Dropout, linear2: Linear
    /// Layer norms of the three blocks.
    public let norm1: LayerNorm, norm2: LayerNorm, norm3: LayerNorm
    /// Dropouts on the blocks' outputs.
    public let dropout1: Dropout, dropout2: Dropout, dropout3: Dropout
    let config: TransformerLayerConfiguration

    /// A layer of width `dModel` with `nhead` heads.
    public init(dModel: Int, nhead: Int, dimFeedforward: Int = 2048, dropout: Double = 0.1, activation: TransformerActivation = .relu,
                layerNormEps: Double = 1e-5, batchFirst: Bool = false, normFirst: Bool = false, bias: Bool = true,
                generator: Generator = .global) {
        config = TransformerLayerConfiguration(dModel: dModel, nhead: nhead, dimFeedforward: dimFeedforward, dropout: dropout,
                                               activation: activation, layerNormEps: layerNormEps, batchFirst: batchFirst,
                                               normFirst: normFirst, bias: bias)
        selfAttn = MultiheadAttention(dModel, nhead, dropout: dropout, bias: bias, batchFirst: batchFirst, generator: generator)
        multiheadAttn = MultiheadAttention(dModel, nhead, dropout: dropout, bias: bias, batchFirst: batchFirst, generator: generator)
        linear1 = Linear(dModel, dimFeedforward, bias: bias, generator: generator)
        self.dropout = Dropout(dropout, generator: generator)
        linear2 = Linear(dimFeedforward, dModel, bias: bias, generator: generator)
        norm1 = LayerNorm(dModel, eps: layerNormEps, bias: bias)
        norm2 = LayerNorm(dModel, eps: layerNormEps, bias: bias)
        norm3 = LayerNorm(dModel, eps: layerNormEps, bias: bias)
        dropout1 = Dropout(dropout, generator: generator)
        dropout2 = Dropout(dropout, generator: generator)
        dropout3 = Dropout(dropout, generator: generator)
    }

    /// Decodes `tgt` attending to `memory`; masks as ``MultiheadAttention``'s.
    public func callAsFunction(_ tgt: Tensor, _ memory: Tensor, tgtMask: Tensor? = nil, memoryMask: Tensor? = nil,
                               tgtKeyPaddingMask: Tensor? = nil, memoryKeyPaddingMask: Tensor? = nil, tgtIsCausal: Bool = false,
                               memoryIsCausal: Bool = false) -> Tensor {
        func attendSelf(_ x: Tensor) -> Tensor {
            dropout1(selfAttn(x, x, x, attnMask: tgtMask, keyPaddingMask: tgtKeyPaddingMask, needWeights: false, isCausal: tgtIsCausal).0)
        }
        func attendMemory(_ x: Tensor) -> Tensor {
            dropout2(multiheadAttn(x, memory, memory, attnMask: memoryMask, keyPaddingMask: memoryKeyPaddingMask, needWeights: false,
                                   isCausal: memoryIsCausal).0)
        }
        func feedForward(_ x: Tensor) -> Tensor { dropout3(linear2(dropout(config.activation(linear1(x))))) }
        if config.normFirst {
            var x = tgt + attendSelf(norm1(tgt))
            x = x + attendMemory(norm2(x))
            return traced(x + feedForward(norm3(x)))
        }
        var x = norm1(tgt + attendSelf(tgt))
        x = norm2(x + attendMemory(x))
        return traced(norm3(x + feedForward(x)))
    }

    /// The layer and its configuration, as printed in a model description.
    public override var layerDescription: String {
        "TransformerDecoderLayer(dModel: \(config.dModel), nhead: \(config.nhead), dimFeedforward: \(config.dimFeedforward), normFirst: \(config.normFirst))"
    }
}

/// `count` fresh layers from `make`, each holding `layer`'s weights (PyTorch's stacks deep-copy their layer).
private func copies<L: Module>(of layer: L, _ count: Int, _ owner: String, make: () -> L) -> [L] {
    guard count > 0 else { fatalError("Axon.\(owner): numLayers must be positive, got \(count)") }
    let weights = layer.stateDict()
    return (0..<count).map { _ in
        let copy = make()
        try! copy.loadStateDict(weights)  // the same architecture: the names and shapes cannot mismatch
        return copy
    }
}

/// A stack of encoder layers, as `torch.nn.TransformerEncoder`: `numLayers` copies of `encoderLayer` (same
/// configuration and starting weights, as PyTorch's deep copies), then an optional final norm.
public final class TransformerEncoder: Module, Layer {
    /// The layers (`layers.0`, `layers.1`, ...).
    public let layers: [TransformerEncoderLayer]
    /// The final norm, or nil.
    public let norm: LayerNorm?

    /// `numLayers` copies of `encoderLayer`.
    public init(_ encoderLayer: TransformerEncoderLayer, numLayers: Int, norm: LayerNorm? = nil) {
        let c = encoderLayer.config
        layers = copies(of: encoderLayer, numLayers, "TransformerEncoder") {
            TransformerEncoderLayer(dModel: c.dModel, nhead: c.nhead, dimFeedforward: c.dimFeedforward, dropout: c.dropout,
                                    activation: c.activation, layerNormEps: c.layerNormEps, batchFirst: c.batchFirst,
                                    normFirst: c.normFirst, bias: c.bias)
        }
        self.norm = norm
    }

    /// Encodes `src` through every layer; masks as ``MultiheadAttention``'s.
    public func callAsFunction(_ src: Tensor, mask: Tensor? = nil, srcKeyPaddingMask: Tensor? = nil, isCausal: Bool = false) -> Tensor {
        var x = src
        for layer in layers { x = layer(x, srcMask: mask, srcKeyPaddingMask: srcKeyPaddingMask, isCausal: isCausal) }
        let y = norm.map { $0(x) } ?? x
        return mask == nil && srcKeyPaddingMask == nil && !isCausal ? traced(y, from: src) : traced(y)
    }

    /// Encodes `input` without masks.
    public func callAsFunction(_ input: Tensor) -> Tensor { callAsFunction(input, mask: nil) }
}

/// A stack of decoder layers, as `torch.nn.TransformerDecoder`: `numLayers` copies of `decoderLayer`, then an
/// optional final norm.
public final class TransformerDecoder: Module {
    /// The layers (`layers.0`, `layers.1`, ...).
    public let layers: [TransformerDecoderLayer]
    /// The final norm, or nil.
    public let norm: LayerNorm?

    /// `numLayers` copies of `decoderLayer`.
    public init(_ decoderLayer: TransformerDecoderLayer, numLayers: Int, norm: LayerNorm? = nil) {
        let c = decoderLayer.config
        layers = copies(of: decoderLayer, numLayers, "TransformerDecoder") {
            TransformerDecoderLayer(dModel: c.dModel, nhead: c.nhead, dimFeedforward: c.dimFeedforward, dropout: c.dropout,
                                    activation: c.activation, layerNormEps: c.layerNormEps, batchFirst: c.batchFirst,
                                    normFirst: c.normFirst, bias: c.bias)
        }
        self.norm = norm
    }

    /// Decodes `tgt` attending to `memory` through every layer; masks as ``MultiheadAttention``'s.
    public func callAsFunction(_ tgt: Tensor, _ memory: Tensor, tgtMask: Tensor? = nil, memoryMask: Tensor? = nil,
                               tgtKeyPaddingMask: Tensor? = nil, memoryKeyPaddingMask: Tensor? = nil, tgtIsCausal: Bool = false) -> Tensor {
        var x = tgt
        for layer in layers {
            x = layer(x, memory, tgtMask: tgtMask, memoryMask: memoryMask, tgtKeyPaddingMask: tgtKeyPaddingMask,
                      memoryKeyPaddingMask: memoryKeyPaddingMask, tgtIsCausal: tgtIsCausal)
        }
        return traced(norm.map { $0(x) } ?? x)
    }
}

/// Fixed sinusoidal position encodings added to `[B, T, dModel]` input (Vaswani et al. 2017):
/// PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i + 1) = cos(p / 10000^(2i/d)). The table is a buffer (`pe`).
public final class SinusoidalPositionalEncoding: Module, Layer {
    /// The table `[maxLen, dModel]`.
    @Buffer public var pe: Tensor

    /// Encodings for positions below `maxLen`.
    public init(dModel: Int, maxLen: Int = 5000) {
        guard dModel > 0, maxLen > 0 else { fatalError("Axon.SinusoidalPositionalEncoding: dModel and maxLen must be positive") }
        var table = [Double](repeating: 0, count: maxLen * dModel)
        for p in 0..<maxLen {
            for i in 0..<dModel {
                let angle = Double(p) / Foundation.pow(10000, Double(i - i % 2) / Double(dModel))
                table[p * dModel + i] = i % 2 == 0 ? Foundation.sin(angle) : Foundation.cos(angle)
            }
        }
        pe = Tensor(shape: [maxLen, dModel], doubles: table, dtype: .float32)
    }

    /// `input` `[B, T, dModel]` plus the encodings of positions 0..<T.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        guard input.rank == 3, input.shape[2] == pe.shape[1], input.shape[1] <= pe.shape[0] else {
            fatalError("Axon.SinusoidalPositionalEncoding: input must be [batch, ≤ \(pe.shape[0]), \(pe.shape[1])], got \(input.shape)")
        }
        return traced(input + pe.sliced(axis: 0, 0..<input.shape[1]).converted(to: input.dtype), from: input)
    }
}

/// Learned position embeddings added to `[B, T, dModel]` input (as GPT-2's): an ``Embedding`` of positions.
public final class LearnedPositionalEmbedding: Module, Layer {
    /// The position table.
    public let embedding: Embedding

    /// Positions below `maxLen`.
    public init(maxLen: Int, dModel: Int, generator: Generator = .global) {
        embedding = Embedding(maxLen, dModel, generator: generator)
    }

    /// `input` plus the embeddings of positions 0..<T.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        guard input.rank == 3, input.shape[1] <= embedding.numEmbeddings else {
            fatalError("Axon.LearnedPositionalEmbedding: input must be [batch, ≤ \(embedding.numEmbeddings), dModel], got \(input.shape)")
        }
        return traced(input + embedding(Tensor(shape: [input.shape[1]], scalars: Array(0..<input.shape[1]))), from: input)
    }
}
