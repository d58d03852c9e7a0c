import AxonCore

/// Batch normalisation over the channel axis (1) of `[N, C]` or `[N, C, L]` input (BatchNorm1d) or
/// `[N, C, H, W]` input (BatchNorm2d), with running statistics for evaluation mode.
public class BatchNorm: Module, Layer, InPlaceLayer {
    /// Scale `[C]` (nil without `affine`).
    public let weight: Tensor?
    /// Shift `[C]` (nil without `affine`).
    public let bias: Tensor?
    /// Running mean `[C]`, updated in training mode.
    @Buffer public var runningMean: Tensor
    /// Running (unbiased) variance `[C]`, updated in training mode.
    @Buffer public var runningVar: Tensor
    /// Number of training batches seen (int64 scalar), as PyTorch.
    @Buffer public var numBatchesTracked: Tensor
    /// Weight of the newest batch in the running statistics.
    public let momentum: Double
    /// Added to the variance for stability.
    public let eps: Double
    let expectedRanks: Set<Int>
    /// Sums an array element-wise over the ranks of a distributed job, making the statistics in training those of
    /// every rank's batch together (PyTorch's `SyncBatchNorm`); nil (the default) keeps each rank's own, as
    /// PyTorch's `BatchNorm` under `DistributedDataParallel`. `DistributedDataParallel(syncBatchNorm: true)` sets it.
    public var crossReplicaSum: ((inout [Double]) -> Void)?

    init(_ numFeatures: Int, eps: Double, momentum: Double, affine: Bool, ranks: Set<Int>) {
        guard numFeatures > 0 else { fatalError("Axon.BatchNorm: numFeatures must be positive, got \(numFeatures)") }
        guard momentum >= 0 && momentum <= 1 else { fatalError("Axon.BatchNorm: momentum must be in [0, 1], got \(momentum)") }
        weight = affine ? Tensor.ones([numFeatures]).requiringGrad() : nil
        bias = affine ? Tensor.zeros([numFeatures]).requiringGrad() : nil
        runningMean = Tensor.zeros([numFeatures])
        runningVar = Tensor.ones([numFeatures])
        numBatchesTracked = Tensor(shape: [], scalars: [0] as [Int])
        self.momentum = momentum
        self.eps = eps
        expectedRanks = ranks
    }

    /// Normalises the batch (training) or with the running statistics (evaluation).
    public func callAsFunction(_ input: Tensor) -> Tensor { traced(normalize(input, overwriting: false), from: input) }

    /// The same, written over `x` when nothing is recorded (a `Sequential` evaluated without gradients).
    func applyInPlace(_ x: Tensor) { _ = normalize(x, overwriting: true) }

    /// The layer followed by 2x2 max pooling with stride 2 (and a ReLU, with `relu`) as one op, the same values and
    /// gradients (a `Sequential`'s): in training, on float32 [N, C, H, W] input of at least 2x2, not synchronised;
    /// nil otherwise.
    func pooled(_ input: Tensor, relu: Bool) -> Tensor? {
        guard isTraining, crossReplicaSum == nil, input.rank == 4, input.dtype == .float32, input.shape[2] >= 2,
              input.shape[3] >= 2 else { return nil }
        return normalize(input, overwriting: false, maxPool2x2: relu)
    }

    private func normalize(_ input: Tensor, overwriting: Bool, maxPool2x2 relu: Bool? = nil) -> Tensor {
        guard expectedRanks.contains(input.rank), input.shape[1] == runningMean.shape[0] else {
            fatalError("Axon.\(type(of: self)): expected input of rank \(expectedRanks.sorted()) with \(runningMean.shape[0]) channels, got shape \(input.shape)")
        }
        if isTraining {
            numBatchesTracked = Tensor(shape: [], scalars: [numBatchesTracked.intScalars[0] + 1] as [Int])
        }
        return batchNorm(input, runningMean: _runningMean, runningVar: _runningVar, weight: weight, bias: bias,
                         training: isTraining, momentum: momentum, eps: eps, overwriting: overwriting,
                         crossReplicaSum: crossReplicaSum, maxPool2x2: relu)
    }

    /// The layer and its configuration, as printed in a model description.
    public override var layerDescription: String {
        "\(type(of: self))(\(runningMean.shape[0]), eps: \(eps), momentum: \(momentum), affine: \(weight != nil))"
    }
}

/// Batch normalisation of `[N, C]` or `[N, C, L]` input, as `torch.nn.BatchNorm1d`.
public final class BatchNorm1d: BatchNorm {
    /// Normalises `numFeatures` channels.
    public init(_ numFeatures: Int, eps: Double = 1e-5, momentum: Double = 0.1, affine: Bool = true) {
        super.init(numFeatures, eps: eps, momentum: momentum, affine: affine, ranks: [2, 3])
    }
}

/// Batch normalisation of `[N, C, H, W]` input, as `torch.nn.BatchNorm2d`.
public final class BatchNorm2d: BatchNorm {
    /// Normalises `numFeatures` channels.
    public init(_ numFeatures: Int, eps: Double = 1e-5, momentum: Double = 0.1, affine: Bool = true) {
        super.init(numFeatures, eps: eps, momentum: momentum, affine: affine, ranks: [4])
    }
}

/// Dropout, as `torch.nn.Dropout`: active in training mode, the identity in evaluation mode. Masks are
/// drawn from `generator`, so a seeded generator makes them reproducible.
public final class Dropout: Module, Layer {
    /// Probability of zeroing an element.
    public let p: Double
    let generator: Generator
    /// Dropout with probability `p`.
    public init(_ p: Double = 0.5, generator: Generator = .global) {
        guard p >= 0 && p <= 1 else { fatalError("Axon.Dropout: probability must be in [0, 1], got \(p)") }
        self.p = p
        self.generator = generator
    }
    /// Applies dropout in training mode.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        traced(dropout(input, p: p, training: isTraining, generator: generator), from: input)
    }
    /// The layer and its configuration, as printed in a model description.
    public override var layerDescription: String { "Dropout(p: \(p))" }
}

/// Layer normalisation over the trailing `normalizedShape` axes, as `torch.nn.LayerNorm`, with an optional
/// elementwise affine map (weight 1, bias 0 at first).
public final class LayerNorm: Module, Layer {
    /// Scale, shaped `normalizedShape` (nil without `elementwiseAffine`).
    public let weight: Tensor?
    /// Shift, shaped `normalizedShape` (nil without `elementwiseAffine` or `bias`).
    public let bias: Tensor?
    /// The trailing shape normalised over.
    public let normalizedShape: [Int]
    /// Added to the variance for stability.
    public let eps: Double

    /// Normalises over the trailing `normalizedShape`.
    public init(_ normalizedShape: [Int], eps: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true) {
        guard !normalizedShape.isEmpty, normalizedShape.allSatisfy({ $0 > 0 }) else {
            fatalError("Axon.LayerNorm: normalizedShape must be non-empty and positive, got \(normalizedShape)")
        }
        self.normalizedShape = normalizedShape
        self.eps = eps
        weight = elementwiseAffine ? Tensor.ones(normalizedShape).requiringGrad() : nil
        self.bias = elementwiseAffine && bias ? Tensor.zeros(normalizedShape).requiringGrad() : nil
    }

    /// Normalises over the last axis of `normalizedShape` features.
    public convenience init(_ normalizedShape: Int, eps: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true) {
        self.init([normalizedShape], eps: eps, elementwiseAffine: elementwiseAffine, bias: bias)
    }

    /// Applies the layer.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        traced(layerNorm(input, normalizedShape: normalizedShape, weight: weight, bias: bias, eps: eps), from: input)
    }

    /// The layer and its configuration, as printed in a model description.
    public override var layerDescription: String {
        "LayerNorm(\(normalizedShape), eps: \(eps), elementwiseAffine: \(weight != nil), bias: \(bias != nil))"
    }
}

/// Root-mean-square normalisation over the trailing `normalizedShape` axes, as `torch.nn.RMSNorm`.
/// `eps` nil means the dtype's machine epsilon, as PyTorch's.
public final class RMSNorm: Module, Layer {
    /// Scale, shaped `normalizedShape` (nil without `elementwiseAffine`).
    public let weight: Tensor?
    /// The trailing shape normalised over.
    public let normalizedShape: [Int]
    /// Added to the mean square (nil: the dtype's epsilon).
    public let eps: Double?

    /// Normalises over the trailing `normalizedShape`.
    public init(_ normalizedShape: [Int], eps: Double? = nil, elementwiseAffine: Bool = true) {
        guard !normalizedShape.isEmpty, normalizedShape.allSatisfy({ $0 > 0 }) else {
            fatalError("Axon.RMSNorm: normalizedShape must be non-empty and positive, got \(normalizedShape)")
        }
        self.normalizedShape = normalizedShape
        self.eps = eps
        weight = elementwiseAffine ? Tensor.ones(normalizedShape).requiringGrad() : nil
    }

    /// Normalises over the last axis of `normalizedShape` features.
    public convenience init(_ normalizedShape: Int, eps: Double? = nil, elementwiseAffine: Bool = true) {
        self.init([normalizedShape], eps: eps, elementwiseAffine: elementwiseAffine)
    }

    /// Applies the layer.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        traced(rmsNorm(input, normalizedShape: normalizedShape, weight: weight, eps: eps), from: input)
    }

    /// The layer and its configuration, as printed in a model description.
    public override var layerDescription: String {
        "RMSNorm(\(normalizedShape), eps: \(eps.map { "\($0)" } ?? "nil"), elementwiseAffine: \(weight != nil))"
    }
}

/// Group normalisation, as `torch.nn.GroupNorm`: the channels are split into `numGroups` groups normalised
/// separately, then a per-channel affine map (weight 1, bias 0 at first).
public final class GroupNorm: Module, Layer {
    /// Scale `[numChannels]` (nil without `affine`).
    public let weight: Tensor?
    /// Shift `[numChannels]` (nil without `affine`).
    public let bias: Tensor?
    /// Number of groups.
    public let numGroups: Int
    /// Number of channels (axis 1 of the input).
    public let numChannels: Int
    /// Added to the variance for stability.
    public let eps: Double

    /// `numChannels` channels in `numGroups` groups (which must divide it).
    public init(_ numGroups: Int, _ numChannels: Int, eps: Double = 1e-5, affine: Bool = true) {
        guard numGroups > 0, numChannels > 0, numChannels % numGroups == 0 else {
            fatalError("Axon.GroupNorm: numChannels \(numChannels) must be a positive multiple of numGroups \(numGroups)")
        }
        self.numGroups = numGroups
        self.numChannels = numChannels
        self.eps = eps
        weight = affine ? Tensor.ones([numChannels]).requiringGrad() : nil
        bias = affine ? Tensor.zeros([numChannels]).requiringGrad() : nil
    }

    /// Applies the layer.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        guard input.rank >= 2, input.shape[1] == numChannels else {
            fatalError("Axon.GroupNorm: expected input [N, \(numChannels), ...], got \(input.shape)")
        }
        return traced(groupNorm(input, numGroups: numGroups, weight: weight, bias: bias, eps: eps), from: input)
    }

    /// The layer and its configuration, as printed in a model description.
    public override var layerDescription: String {
        "GroupNorm(\(numGroups), \(numChannels), eps: \(eps), affine: \(weight != nil))"
    }
}
