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
