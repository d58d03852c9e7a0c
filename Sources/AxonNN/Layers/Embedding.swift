import AxonCore

/// A lookup table of learned vectors, as `torch.nn.Embedding`: token ids in, their rows of `weight` out.
/// Initialised from N(0, 1), with the `paddingIdx` row zero; that row gets no gradient.
///
/// Shapes: input int64 `[*]` -> `[*, embeddingDim]`; weight `[numEmbeddings, embeddingDim]`.
public final class Embedding: Module, Layer {
    /// The table `[numEmbeddings, embeddingDim]`.
    public let weight: Tensor
    /// Number of rows (the vocabulary size).
    public let numEmbeddings: Int
    /// Length of each vector.
    public let embeddingDim: Int
    /// The row that stands for padding (non-negative), if any.
    public let paddingIdx: Int?

    /// A table of `numEmbeddings` vectors of `embeddingDim` values.
    public init(_ numEmbeddings: Int, _ embeddingDim: Int, paddingIdx: Int? = nil, generator: Generator = .global) {
        self.paddingIdx = Self.checked(paddingIdx, numEmbeddings, embeddingDim)
        self.numEmbeddings = numEmbeddings
        self.embeddingDim = embeddingDim
        weight = Tensor.zeros([numEmbeddings, embeddingDim]).requiringGrad()
        super.init()
        Init.normal(weight, generator: generator)
        if let p = self.paddingIdx { withNoGrad { weight.sliced(axis: 0, p..<p + 1).fillInPlace(0) } }
    }

    /// A table holding `embeddings` (copied), as `torch.nn.Embedding.from_pretrained`; `freeze` keeps it
    /// out of training (no gradient).
    public static func fromPretrained(_ embeddings: Tensor, freeze: Bool = true, paddingIdx: Int? = nil) -> Embedding {
        guard embeddings.rank == 2 else {
            fatalError("Axon.Embedding.fromPretrained: embeddings must be [numEmbeddings, embeddingDim], got \(embeddings.shape)")
        }
        let e = Embedding(embeddings.shape[0], embeddings.shape[1], paddingIdx: paddingIdx)
        e.weight.assign(embeddings)
        e.weight.requiresGrad = !freeze
        return e
    }

    private static func checked(_ paddingIdx: Int?, _ rows: Int, _ dim: Int) -> Int? {
        guard rows > 0 && dim > 0 else { fatalError("Axon.Embedding: sizes must be positive, got \(rows), \(dim)") }
        guard let p = paddingIdx else { return nil }
        guard p >= -rows && p < rows else { fatalError("Axon.Embedding: paddingIdx \(p) is out of range for \(rows) embeddings") }
        return p < 0 ? p + rows : p
    }

    /// The vectors of the ids in `input`.
    public func callAsFunction(_ input: Tensor) -> Tensor { traced(embedding(input, weight, paddingIdx: paddingIdx), from: input) }

    /// The layer and its configuration, as printed in a model description.
    public override var layerDescription: String {
        "Embedding(\(numEmbeddings), \(embeddingDim)\(paddingIdx.map { ", paddingIdx: \($0)" } ?? ""))"
    }
}
