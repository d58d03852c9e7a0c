import AxonCore

// torch.nn.functional: the math of the layers, as functions. Layers hold state and call these.

/// Affine map `x · Wᵀ + b`, as `torch.nn.functional.linear`.
///
/// Shapes: input `[..., in]`, weight `[out, in]`, bias `[out]` -> `[..., out]`.
public func linear(_ input: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    guard let bias, bias.shape == [weight.shape[0]] else {
        let y = matmul(input, transposed: weight)
        return bias.map { y + $0 } ?? y
    }
    return matmul(input, transposed: weight, bias: bias)
}

/// Batch normalisation, as `torch.nn.functional.batch_norm`. In training mode normalises with the batch
/// mean and biased variance over every axis but 1 (channels), and, when running statistics are given,
/// updates them in place with `momentum` (the running variance with the unbiased estimate, as PyTorch).
/// In evaluation mode normalises with the running statistics.
///
/// Shapes: input `[N, C]` or `[N, C, ...]`; statistics, weight and bias `[C]`.
public func batchNorm(_ input: Tensor, runningMean: Buffer? = nil, runningVar: Buffer? = nil,
                      weight: Tensor? = nil, bias: Tensor? = nil, training: Bool, momentum: Double = 0.1,
                      eps: Double = 1e-5) -> Tensor {
    guard input.rank >= 2 else { fatalError("Axon.batchNorm: input needs shape [N, C, ...], got \(input.shape)") }
    let c = input.shape[1]
    var statShape = [Int](repeating: 1, count: input.rank)
    statShape[1] = c
    let axes = (0..<input.rank).filter { $0 != 1 }
    let normalized: Tensor
    if training || runningMean == nil || runningVar == nil {
        let n = axes.reduce(1) { $0 * input.shape[$1] }
        guard n > 1 || !training else {
            fatalError("Axon.batchNorm: expected more than 1 value per channel when training, got input shape \(input.shape)")
        }
        let mean = input.mean(axes: axes, keepDims: true)
        let variance = input.variance(axes: axes, unbiased: false, keepDims: true)
        normalized = (input - mean) / sqrt(variance + eps)
        if training, let runningMean, let runningVar {
            withNoGrad {
                let m = mean.detached().reshaped([c]).converted(to: runningMean.wrappedValue.dtype)
                let v = (variance.detached() * (Double(n) / Double(max(n - 1, 1)))).reshaped([c])
                    .converted(to: runningVar.wrappedValue.dtype)
                runningMean.wrappedValue = runningMean.wrappedValue * (1 - momentum) + m * momentum
                runningVar.wrappedValue = runningVar.wrappedValue * (1 - momentum) + v * momentum
            }
        }
    } else {
        let mean = runningMean!.wrappedValue.reshaped(statShape)
        let variance = runningVar!.wrappedValue.reshaped(statShape)
        normalized = (input - mean) / sqrt(variance + eps)
    }
    var out = normalized
    if let weight { out = out * weight.reshaped(statShape) }
    if let bias { out = out + bias.reshaped(statShape) }
    return out
}

/// Inverted dropout, as `torch.nn.functional.dropout`: in training, zeroes each element with
/// probability `p` (drawn from `generator`) and scales the rest by 1 / (1 - p); otherwise the identity.
public func dropout(_ input: Tensor, p: Double = 0.5, training: Bool = true, generator: Generator = .global) -> Tensor {
    guard p >= 0 && p <= 1 else { fatalError("Axon.dropout: probability must be in [0, 1], got \(p)") }
    if !training || p == 0 { return input }
    if p == 1 { return input * 0 }
    let keep = Tensor.uniform(input.shape, dtype: input.dtype, generator: generator) .>= p
    return input * keep / (1 - p)
}

/// Rows of `weight` picked by the int64 `input`, as `torch.nn.functional.embedding`. Positions holding
/// `paddingIdx` read their row as it is but send it no gradient, as PyTorch's.
///
/// Shapes: input `[*]` (any shape), weight `[numEmbeddings, embeddingDim]` -> `[*, embeddingDim]`.
public func embedding(_ input: Tensor, _ weight: Tensor, paddingIdx: Int? = nil) -> Tensor {
    guard input.dtype == .int64 else {
        fatalError("Axon.embedding: indices must be int64, got \(input.dtype) with shape \(input.shape)")
    }
    guard weight.rank == 2 else { fatalError("Axon.embedding: weight must be [numEmbeddings, embeddingDim], got \(weight.shape)") }
    let flat = input.reshaped([input.count])
    var rows = weight.indexSelected(axis: 0, indices: flat)
    if let paddingIdx {
        let padding = paddingIdx < 0 ? paddingIdx + weight.shape[0] : paddingIdx
        rows = `where`((flat .!= Double(padding)).unsqueezed(axis: 1), rows, rows.detached())
    }
    return rows.reshaped(input.shape + [weight.shape[1]])
}

/// (x − mean) / √(variance + ε) over `axes`, with the biased variance: the core of layer and group norm.
private func standardized(_ x: Tensor, axes: [Int], eps: Double) -> Tensor {
    let centered = x - x.mean(axes: axes, keepDims: true)
    return centered / sqrt((centered * centered).mean(axes: axes, keepDims: true) + eps)
}

/// The trailing axes a normalisation over `normalizedShape` reduces; stops, naming `op`, when the input
/// does not end in that shape.
private func trailingAxes(_ input: Tensor, _ normalizedShape: [Int], _ op: String) -> [Int] {
    guard !normalizedShape.isEmpty, input.rank >= normalizedShape.count,
          Array(input.shape.suffix(normalizedShape.count)) == normalizedShape else {
        fatalError("Axon.\(op): input shape \(input.shape) does not end in the normalized shape \(normalizedShape)")
    }
    return Array((input.rank - normalizedShape.count)..<input.rank)
}

/// Layer normalisation, as `torch.nn.functional.layer_norm`: each sample is normalised over its trailing
/// `normalizedShape` axes with their mean and biased variance, then scaled by `weight` and shifted by `bias`.
///
/// Shapes: input `[*, normalizedShape]`; weight and bias `normalizedShape`.
public func layerNorm(_ input: Tensor, normalizedShape: [Int], weight: Tensor? = nil, bias: Tensor? = nil,
                      eps: Double = 1e-5) -> Tensor {
    var out = standardized(input, axes: trailingAxes(input, normalizedShape, "layerNorm"), eps: eps)
    if let weight { out = out * weight }
    if let bias { out = out + bias }
    return out
}

/// Root-mean-square normalisation, as `torch.nn.functional.rms_norm`: x / √(mean(x²) + ε) over the trailing
/// `normalizedShape` axes, times `weight`. `eps` defaults to the dtype's machine epsilon, as PyTorch's.
///
/// Shapes: input `[*, normalizedShape]`; weight `normalizedShape`.
public func rmsNorm(_ input: Tensor, normalizedShape: [Int], weight: Tensor? = nil, eps: Double? = nil) -> Tensor {
    let axes = trailingAxes(input, normalizedShape, "rmsNorm")
    let epsilon = eps ?? (input.dtype == .float64 ? Double.ulpOfOne : Double(Float.ulpOfOne))
    let out = input / sqrt((input * input).mean(axes: axes, keepDims: true) + epsilon)
    return weight.map { out * $0 } ?? out
}

/// Group normalisation, as `torch.nn.functional.group_norm`: the channels of each sample are split into
/// `numGroups` groups, each normalised with its own mean and biased variance; then a per-channel affine map.
///
/// Shapes: input `[N, C, *]` with C divisible by `numGroups`; weight and bias `[C]`.
public func groupNorm(_ input: Tensor, numGroups: Int, weight: Tensor? = nil, bias: Tensor? = nil, eps: Double = 1e-5) -> Tensor {
    guard input.rank >= 2, numGroups > 0, input.shape[1] % numGroups == 0 else {
        fatalError("Axon.groupNorm: input \(input.shape) needs shape [N, C, ...] with C divisible by \(numGroups) groups")
    }
    let n = input.shape[0], c = input.shape[1]
    let grouped = input.reshaped([n, numGroups, input.count / max(n * numGroups, 1)])
    var out = standardized(grouped, axes: [2], eps: eps).reshaped(input.shape)
    var channelShape = [Int](repeating: 1, count: input.rank)
    channelShape[1] = c
    if let weight { out = out * weight.reshaped(channelShape) }
    if let bias { out = out + bias.reshaped(channelShape) }
    return out
}
