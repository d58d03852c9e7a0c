import AxonCore

/// How a loss combines per-element values, as PyTorch's `reduction`.
public enum Reduction: String, Sendable {
    /// The mean over elements (PyTorch's default).
    case mean
    /// The sum over elements.
    case sum
    /// No reduction: one value per element (or per sample for class losses).
    case none
    /// The sum divided by the batch size (the first axis): `klDiv`'s mathematically proper reduction
    /// (PyTorch's `'batchmean'`).
    case batchMean
}

extension Tensor {
    func reduced(_ reduction: Reduction) -> Tensor {
        switch reduction {
        case .mean: return mean()
        case .sum: return sum()
        case .none: return self
        case .batchMean: return sum() / Double(Swift.max(rank == 0 ? 1 : shape[0], 1))
        }
    }
}

private func checkSameShape(_ op: String, _ input: Tensor, _ target: Tensor) {
    guard input.shape == target.shape else {
        fatalError("Axon.\(op): input shape \(input.shape) and target shape \(target.shape) differ")
    }
}

/// Mean squared error, (input - target)², reduced.
public func mseLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    checkSameShape("mseLoss", input, target)
    if reduction != .none && input.dtype.isFloatingPoint && target.dtype.isFloatingPoint {
        return squaredError(input, target, mean: reduction == .mean)
    }
    let d = input - target
    return (d * d).reduced(reduction)
}

/// Σ (a − b)², divided by the element count when `mean`, as one custom op. Fused because a small network's
/// step is dominated by per-operation overhead (the Playground-size benchmark trains on it): one recorded
/// node whose forward is three backend calls (the difference, its dot product with itself, the division)
/// and whose derivative is one pass, (2/n · g) · (a − b) in PyTorch's order, instead of four recorded nodes
/// (`axon-bench --micro`, AMD EPYC Zen 5, one thread: forward and backward of a [10, 1] loss in 2.9-3.0 µs
/// this way, 4.8-5.0 µs with tensor operations inside the same custom op). A custom op outside the core can
/// call the backend's primitives directly, as this one does.
func squaredError(_ input: Tensor, _ target: Tensor, mean: Bool) -> Tensor {
    let n = input.count
    let scale = mean ? 1 / Double(max(n, 1)) : 1
    var difference: Tensor? = nil
    return customOp("mseLoss", inputs: [input, target], forward: { x in
        guard x[0].dtype == x[1].dtype else {  // mixed dtypes promote, through the composite form
            let d = x[0] - x[1]
            difference = d
            let s = (d * d).sum()
            return mean ? s / Double(max(n, 1)) : s
        }
        let backend = Backends.current
        let d = Tensor.empty(x[0].shape, dtype: x[0].dtype), s = Tensor.empty([], dtype: x[0].dtype)
        backend.binary(.sub, x[0].strided, x[1].strided, into: d.strided)
        // Σd² as the product [1, n]·[n, 1] of d with itself: summed in index order for small inputs.
        backend.matmul(StridedBuffer(contiguous: d.buffer, shape: [1, n]), StridedBuffer(contiguous: d.buffer, shape: [n, 1]),
                       transposeA: false, transposeB: false, into: StridedBuffer(contiguous: s.buffer, shape: [1, 1]),
                       accumulate: false)
        if mean { backend.binary(.div, s.strided, Tensor.full([], Double(max(n, 1)), dtype: s.dtype).strided, into: s.strided) }
        difference = d
        return s
    }, backward: { g, x, _ in
        // Recorded backward (second derivatives) recomputes the difference as a differentiable op.
        if GradMode.isEnabled && (x[0].requiresGrad || x[1].requiresGrad) {
            let da = (g * (2 * scale)) * (x[0] - x[1])
            return [x[0].requiresGrad ? da : nil, x[1].requiresGrad ? -da : nil]
        }
        // The same arithmetic, (g · 2/n) · d, as two backend calls (without the broadcasting bookkeeping).
        let d = difference!, backend = Backends.current
        let gs = Tensor.empty([], dtype: d.dtype), da = Tensor.empty(d.shape, dtype: d.dtype)
        backend.binary(.mul, g.strided, Tensor.full([], 2 * scale, dtype: d.dtype).strided, into: gs.strided)
        backend.binary(.mul, gs.strided.broadcast(to: d.shape), d.strided, into: da.strided)
        return [x[0].requiresGrad ? da : nil, x[1].requiresGrad ? -da : nil]
    })
}

/// Kullback-Leibler divergence of `target` from `input`, as `torch.nn.functional.kl_div`: `input` holds
/// log-probabilities, `target` probabilities (log-probabilities with `logTarget`); pointwise
/// target · (log target − input), 0 where target is 0. `.batchMean` gives the true divergence per sample.
public func klDiv(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean, logTarget: Bool = false) -> Tensor {
    checkSameShape("klDiv", input, target)
    if logTarget { return (exp(target) * (target - input)).reduced(reduction) }
    let positive = target .> 0
    let xlogx = `where`(positive, target * log(`where`(positive, target, Tensor.ones(like: target))), Tensor.zeros(like: target))
    return (xlogx - target * input).reduced(reduction)
}

/// Smooth L1 loss, as `torch.nn.functional.smooth_l1_loss`: 0.5 d² / beta where |d| < beta, else |d| − 0.5 beta,
/// with d = input − target (plain L1 when beta is 0).
public func smoothL1Loss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean, beta: Double = 1) -> Tensor {
    checkSameShape("smoothL1Loss", input, target)
    guard beta >= 0 else { fatalError("Axon.smoothL1Loss: beta must be non-negative, got \(beta)") }
    let d = input - target, a = abs(d)
    if beta == 0 { return a.reduced(reduction) }
    return `where`(a .< beta, 0.5 * d * d / beta, a - 0.5 * beta).reduced(reduction)
}

/// Mean absolute error, |input - target|, reduced.
public func l1Loss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    checkSameShape("l1Loss", input, target)
    return abs(input - target).reduced(reduction)
}

/// Huber loss: 0.5 d² where |d| < delta, else delta (|d| - 0.5 delta), with d = input - target.
public func huberLoss(_ input: Tensor, _ target: Tensor, delta: Double = 1, reduction: Reduction = .mean) -> Tensor {
    checkSameShape("huberLoss", input, target)
    guard delta > 0 else { fatalError("Axon.huberLoss: delta must be positive, got \(delta)") }
    let d = input - target, a = abs(d)
    return Tensor.where(a .< delta, 0.5 * d * d, delta * (a - 0.5 * delta)).reduced(reduction)
}

/// Binary cross-entropy on probabilities in [0, 1]: -(t log p + (1 - t) log(1 - p)). Each log is clamped
/// at -100, as PyTorch, so p = 0 or 1 gives a finite loss.
public func binaryCrossEntropy(_ input: Tensor, _ target: Tensor, weight: Tensor? = nil,
                               reduction: Reduction = .mean) -> Tensor {
    checkSameShape("binaryCrossEntropy", input, target)
    let logP = clamp(log(input), min: -100), log1mP = clamp(log(1 - input), min: -100)
    var loss = -(target * logP + (1 - target) * log1mP)
    if let weight { loss = loss * weight }
    return loss.reduced(reduction)
}

/// Binary cross-entropy on logits, computed stably as max(x, 0) - x t + log(1 + e^-|x|): no overflow
/// for logits of magnitude 1e4. `posWeight` weights the positive term, as PyTorch.
public func binaryCrossEntropyWithLogits(_ input: Tensor, _ target: Tensor, posWeight: Tensor? = nil,
                                         reduction: Reduction = .mean) -> Tensor {
    checkSameShape("binaryCrossEntropyWithLogits", input, target)
    let softplusNeg = relu(-input) + log1p(exp(-abs(input)))  // log(1 + e^-x), stable
    let loss: Tensor
    if let posWeight {
        // (1 - t) x + (1 + (w - 1) t) log(1 + e^-x)
        loss = (1 - target) * input + (1 + (posWeight - 1) * target) * softplusNeg
    } else {
        loss = (1 - target) * input + softplusNeg
    }
    return loss.reduced(reduction)
}

/// Negative log-likelihood of log-probabilities `[N, C]` at integer class indices `[N]`.
/// Samples whose target equals `ignoreIndex` contribute nothing (and are not counted by `.mean`).
public func nllLoss(_ input: Tensor, _ target: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                    reduction: Reduction = .mean) -> Tensor {
    let (picked, w) = pickedLogProbabilities("nllLoss", input, target, weight: weight, ignoreIndex: ignoreIndex)
    guard let w else { return (-picked).reduced(reduction) }
    let losses = -picked * w
    switch reduction {
    case .mean: return losses.sum() / w.sum()
    case .sum, .batchMean: return losses.reduced(reduction)
    case .none: return losses
    }
}

/// The class indices of an int64 target [N] for input [N, C], each in 0..<C or `ignoreIndex` (a programmer error
/// otherwise: stops with the op's name and the shapes or the label).
private func classLabels(_ op: String, _ input: Tensor, _ target: Tensor, ignoreIndex: Int) -> [Int] {
    guard input.rank == 2, target.rank == 1, target.shape[0] == input.shape[0], target.dtype == .int64 else {
        fatalError("Axon.\(op): expects input [N, C] and int64 target [N], got \(input.shape) and \(target.dtype) \(target.shape)")
    }
    let classes = input.shape[1]
    let labels = target.intScalars
    for l in labels where l != ignoreIndex && (l < 0 || l >= classes) {
        fatalError("Axon.\(op): target \(l) is out of range for \(classes) classes")
    }
    return labels
}

/// log p[n, target[n]] for each sample, and each sample's weight (0 where ignored); nil weights when
/// there is no class weight and no sample is ignored (every weight 1: fewer operations to record).
private func pickedLogProbabilities(_ op: String, _ input: Tensor, _ target: Tensor, weight: Tensor?,
                                    ignoreIndex: Int) -> (Tensor, Tensor?) {
    let labels = classLabels(op, input, target, ignoreIndex: ignoreIndex)
    let safe = Tensor(shape: [labels.count, 1], scalars: labels.map { $0 == ignoreIndex ? 0 : $0 })
    let picked = input.gathered(axis: 1, indices: safe).reshaped([labels.count])
    if weight == nil && !labels.contains(ignoreIndex) { return (picked, nil) }
    let keep = Tensor(shape: [labels.count], doubles: labels.map { $0 == ignoreIndex ? 0 : 1 }, dtype: input.dtype)
    let w = weight.map { keep * $0.indexSelected(axis: 0, indices: safe.reshaped([labels.count])) } ?? keep
    return (picked, w)
}

/// Cross-entropy of logits `[N, C]` against integer class indices `[N]` (int64) or class probabilities
/// `[N, C]` (float), as `torch.nn.functional.cross_entropy`; `labelSmoothing` mixes the target with the
/// uniform distribution. Computed through logSoftmax: finite for logits of magnitude 1e4.
public func crossEntropy(_ input: Tensor, _ target: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                         labelSmoothing: Double = 0, reduction: Reduction = .mean) -> Tensor {
    guard labelSmoothing >= 0 && labelSmoothing <= 1 else {
        fatalError("Axon.crossEntropy: labelSmoothing must be in [0, 1], got \(labelSmoothing)")
    }
    if input.rank > 2 {  // [N, C, d1, ...]: the class axis moved last, every position a sample
        let c = input.shape[1], spatial = Array(input.shape.dropFirst(2))
        let toLast = [0] + Array(2..<input.rank) + [1]
        let flatInput = input.permuted(toLast).reshaped([input.count / max(c, 1), c])
        let flatTarget = target.dtype.isFloatingPoint ? target.permuted(toLast).reshaped([target.count / max(c, 1), c])
                                                      : target.reshaped([target.count])
        guard target.dtype.isFloatingPoint ? target.shape == input.shape : target.shape == [input.shape[0]] + spatial else {
            fatalError("Axon.crossEntropy: target shape \(target.shape) does not fit input \(input.shape)")
        }
        let losses = crossEntropy(flatInput, flatTarget, weight: weight, ignoreIndex: ignoreIndex, labelSmoothing: labelSmoothing,
                                  reduction: reduction == .batchMean ? .sum : reduction)
        switch reduction {
        case .none: return losses.reshaped([input.shape[0]] + spatial)
        case .batchMean: return losses / Double(max(input.shape[0], 1))
        case .mean, .sum: return losses
        }
    }
    guard input.rank == 2 else { fatalError("Axon.crossEntropy: expects logits [N, C] or [N, C, d1, ...], got shape \(input.shape)") }
    // Class indices without weights, smoothing or ignored samples, averaged or summed: one fused op (not while an
    // export is traced, which writes the ops one by one).
    if !target.dtype.isFloatingPoint, weight == nil, labelSmoothing == 0, reduction == .mean || reduction == .sum,
       input.dtype.isFloatingPoint, input.shape[0] > 0, !ExportTrace.isActive {
        let labels = classLabels("crossEntropy", input, target, ignoreIndex: ignoreIndex)
        if !labels.contains(ignoreIndex) { return logSoftmaxCrossEntropy(input, labels: labels, mean: reduction == .mean) }
    }
    let classes = Double(input.shape[1])
    let logp = logSoftmax(input, axis: 1)
    if target.dtype.isFloatingPoint {
        checkSameShape("crossEntropy", input, target)
        var t = target
        if labelSmoothing > 0 { t = t * (1 - labelSmoothing) + labelSmoothing / classes }
        var perClass = -(t * logp)
        if let weight { perClass = perClass * weight }
        let losses = perClass.sum(axis: 1)
        return losses.reduced(reduction)
    }
    let (picked, pickedWeights) = pickedLogProbabilities("crossEntropy", logp, target, weight: weight, ignoreIndex: ignoreIndex)
    if pickedWeights == nil && labelSmoothing == 0 { return (-picked).reduced(reduction) }
    let w = pickedWeights ?? Tensor.ones(like: picked)
    var losses = -picked * w
    if labelSmoothing > 0 {
        // (1 - eps) * nll + eps * mean over classes of -log p (weighted per class when given).
        let smooth = (weight.map { -(logp * $0) } ?? -logp).sum(axis: 1) / classes
        let keep = w.detached() .> 0
        losses = losses * (1 - labelSmoothing) + smooth * keep * labelSmoothing
    }
    switch reduction {
    case .mean: return losses.sum() / w.sum()
    case .sum, .batchMean: return losses.reduced(reduction)
    case .none: return losses
    }
}

/// The losses by name, for settings that arrive as text (the command's `--loss`, the Playground's settings).
public enum LossKind: String, CaseIterable, Sendable {
    case crossEntropy = "cross-entropy", mse, l1, huber

    /// The loss called `name` ("cross-entropy", "mse", "l1", "huber"), or nil.
    public init?(name: String) { self.init(rawValue: name) }

    /// The names, for messages.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// loss(output, target). For classes: cross-entropy on the logits against class indices (with a single output,
    /// binary cross-entropy on the logit against 0/1 targets); mse, l1 and huber compare the softmax with one-hot
    /// targets. For real targets (regression) the loss compares the values; cross-entropy has none and gives nil.
    public func function(classification: Bool) -> ((Tensor, Tensor) -> Tensor)? {
        let compare: (Tensor, Tensor) -> Tensor
        switch self {
        case .crossEntropy:
            guard classification else { return nil }
            return { $0.shape[$0.rank - 1] == 1 ? binaryCrossEntropyWithLogits($0, $1) : AxonNN.crossEntropy($0, $1) }
        case .mse: compare = { mseLoss($0, $1) }
        case .l1: compare = { l1Loss($0, $1) }
        case .huber: compare = { huberLoss($0, $1) }
        }
        guard classification else { return compare }
        return { compare(softmax($0, axis: 1), oneHot($1, classes: $0.shape[1])) }
    }
}
