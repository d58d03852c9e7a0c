// Reductions. `sum` and `max`/`min` are primitives; mean, variance, logsumexp, softmax and logSoftmax
// are composed from them (and so need no derivative rule of their own).

extension Tensor {
    /// Normalised, sorted, duplicate-free reduction axes (`nil` means all).
    func reductionAxes(_ axes: [Int]?, op: String) -> [Int] {
        guard let axes else { return Array(0..<rank) }
        if axes.count == 1 { return [normalizeAxis(axes[0], rank: rank, op: op)] }
        let normalized = axes.map { normalizeAxis($0, rank: rank, op: op) }
        guard Set(normalized).count == normalized.count else {
            axonFail(op, "repeated axis in \(axes) for shape \(shape)")
        }
        return normalized.sorted()
    }

    /// The shape with reduced axes set to 1, and the shape with them removed.
    func reducedShapes(_ axes: [Int]) -> (keep: [Int], drop: [Int]) {
        var keep = shape
        for a in axes { keep[a] = 1 }
        let drop = shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
        return (keep, drop)
    }

    /// The reduction's result, with the normalised axes and the kept-dimensions shape (which the
    /// derivative rules need). int64 and bool sums give int64, as PyTorch's.
    func reduce(_ op: ReduceOp, _ name: String, axes: [Int]?, keepDims: Bool) -> (out: Tensor, axes: [Int], keep: [Int]) {
        let ax = reductionAxes(axes, op: name)
        let (keep, drop) = reducedShapes(ax)
        if op != .sum && count == 0 { axonFail(name, "cannot reduce an empty tensor of shape \(shape)") }
        let out = Tensor.empty(keepDims ? keep : drop, dtype: dtype == .bool ? .int64 : dtype)
        Backends.current.reduce(op, strided, into: StridedBuffer(contiguous: out.buffer, shape: keep))
        return (out, ax, keep)
    }

    /// Sum over `axes` (all when nil); `keepDims` keeps reduced axes with size 1.
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let (out, _, keep) = reduce(.sum, "sum", axes: axes, keepDims: keepDims)
        guard out.dtype.isFloatingPoint else { return out }
        return Tensor.record("sum", [self], out, saving: [], traced: ["axes": .ints(reductionAxes(axes, op: "sum")), "keepDims": .int(keepDims ? 1 : 0)]) {
            [shape] g in [g.reshaped(keep).broadcasted(to: shape)]
        }
    }
    /// Sum over one axis.
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }

    /// Mean over `axes` (all when nil).
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, op: "mean")
        let n = ax.reduce(1) { $0 * shape[$1] }
        return sum(axes: ax, keepDims: keepDims) / Double(n)
    }
    /// Mean over one axis.
    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }

    /// Maximum over `axes` (all when nil). The gradient goes to the maximal elements, split evenly
    /// among ties (as `torch.amax`).
    public func max(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor { extremum(.max, "max", axes, keepDims) }
    /// Maximum over one axis (values; see ``argmax(axis:keepDims:)`` for the indices).
    public func max(axis: Int, keepDims: Bool = false) -> Tensor { max(axes: [axis], keepDims: keepDims) }
    /// Minimum over `axes` (all when nil), `-max(-x)`: a composite (gradient as ``max(axes:keepDims:)``).
    public func min(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        if !dtype.isFloatingPoint { return extremum(.min, "min", axes, keepDims) }
        return -(-self).max(axes: axes, keepDims: keepDims)
    }
    /// Minimum over one axis.
    public func min(axis: Int, keepDims: Bool = false) -> Tensor { min(axes: [axis], keepDims: keepDims) }

    private func extremum(_ op: ReduceOp, _ name: String, _ axes: [Int]?, _ keepDims: Bool) -> Tensor {
        let (out, ax, keep) = reduce(op, name, axes: axes, keepDims: keepDims)
        guard out.dtype.isFloatingPoint else { return out }
        return Tensor.record(name, [self], out, savingOutput: true, traced: ["axes": .ints(ax), "keepDims": .int(keepDims ? 1 : 0)]) { [unowned out] g in
            let mask = (self.detached() .== out.detached().reshaped(keep)).converted(to: out.dtype)
            let share = mask / mask.sum(axes: ax, keepDims: true)
            return [g.reshaped(keep) * share]
        }
    }

    /// Index of the maximum along `axis` (first on ties), as int64; over the flattened tensor when nil.
    public func argmax(axis: Int? = nil, keepDims: Bool = false) -> Tensor { argExtremum(axis, keepDims, greater: true) }
    /// Index of the minimum along `axis` (first on ties), as int64; over the flattened tensor when nil.
    public func argmin(axis: Int? = nil, keepDims: Bool = false) -> Tensor { argExtremum(axis, keepDims, greater: false) }

    private func argExtremum(_ axis: Int?, _ keepDims: Bool, greater: Bool) -> Tensor {
        let name = greater ? "argmax" : "argmin"
        guard let axis else {
            return reshaped([count]).argExtremum(0, false, greater: greater).reshaped(keepDims ? shape.map { _ in 1 } : [])
        }
        let a = normalizeAxis(axis, rank: rank, op: name)
        guard shape[a] > 0 else { axonFail(name, "axis \(axis) of shape \(shape) is empty") }
        var keep = shape
        keep[a] = 1
        let out = Tensor.empty(keep, dtype: .int64)
        Backends.current.argReduce(strided, axis: a, largest: greater, into: out.strided)
        return keepDims ? out : out.squeezed(axis: a)
    }

    /// Variance over `axes` (all when nil); `unbiased` divides by n - 1 (PyTorch's default), else by n.
    public func variance(axes: [Int]? = nil, unbiased: Bool = true, keepDims: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, op: "variance")
        let n = ax.reduce(1) { $0 * shape[$1] }
        let centered = self - mean(axes: ax, keepDims: true)
        return (centered * centered).sum(axes: ax, keepDims: keepDims) / Double(Swift.max(unbiased ? n - 1 : n, 1))
    }

    /// log(sum(exp(x))) over `axes`, computed as m + log(sum(exp(x - m))) with m the (detached) maximum,
    /// so that inputs of magnitude 1e4 neither overflow nor lose the result.
    public func logSumExp(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, op: "logsumexp")
        var m = max(axes: ax, keepDims: true).detachedUnlessTraced()
        // An all -inf slice would give inf - inf; use 0 there, as PyTorch does.
        m = AxonCore.`where`(Axon_abs(m) .== Double.infinity, m.scalarLike(0), m)
        let s = Axon_log(Axon_exp(self - m).sum(axes: ax, keepDims: true)) + m
        return keepDims ? s : s.reshaped(reducedShapes(ax).drop)
    }
    /// logsumexp over one axis.
    public func logSumExp(axis: Int, keepDims: Bool = false) -> Tensor { logSumExp(axes: [axis], keepDims: keepDims) }
}

extension Tensor {
    /// x - max(x) along `axis` with the maximum detached (softmax is shift-invariant, so the gradient is
    /// unchanged) and an all -inf slice shifted by 0.
    func shiftedByMax(axis: Int) -> Tensor {
        var m = max(axes: [axis], keepDims: true).detachedUnlessTraced()
        m = AxonCore.`where`(Axon_abs(m) .== Double.infinity, m.scalarLike(0), m)
        return self - m
    }
}

/// Softmax along `axis`: e^(x - m) / sum(e^(x - m)) with m the maximum, stable for inputs of magnitude 1e4.
public func softmax(_ x: Tensor, axis: Int = -1) -> Tensor {
    if x.rank >= 1, normalizeAxis(axis, rank: x.rank, op: "softmax") == x.rank - 1, x.dtype.isFloatingPoint {
        return x.softmaxLastAxis(log: false)
    }
    let e = exp(x.shiftedByMax(axis: axis))
    return e / e.sum(axis: axis, keepDims: true)
}

/// Log-softmax along `axis`: (x - m) - log(sum(e^(x - m))), as PyTorch computes it: the maximum is
/// never added back, so no precision is lost to its magnitude (inputs of 1e4 in float32).
public func logSoftmax(_ x: Tensor, axis: Int = -1) -> Tensor {
    if x.rank >= 1, normalizeAxis(axis, rank: x.rank, op: "logSoftmax") == x.rank - 1, x.dtype.isFloatingPoint {
        return x.softmaxLastAxis(log: true)
    }
    let shifted = x.shiftedByMax(axis: axis)
    return shifted - log(exp(shifted).sum(axis: axis, keepDims: true))
}

extension Tensor {
    /// softmax or logSoftmax over the last axis as one primitive (the same arithmetic as the composed form,
    /// in one pass per row); the derivative is y·(g − Σ g·y), or g − softmax·Σg for logSoftmax, also one
    /// pass. Fused for speed: every cross-entropy step runs logSoftmax, and the composed form records six
    /// nodes and their temporaries (it was part of the change that took MLP training on one thread from
    /// 1.07x to 1.72x PyTorch's speed); every attention runs softmax.
    func softmaxLastAxis(log: Bool) -> Tensor { softmaxLastAxis(log: log, recordedOn: nil, scale: 1) }

    /// The same, of logits that are `source · scale` plus a constant (attention's masked scores): recorded on
    /// `source`, with the derivative times `scale`, so that the logits are not kept until backward.
    func softmaxLastAxis(log: Bool, recordedOn source: Tensor?, scale: Double) -> Tensor {
        let x = contiguous()
        let out = Tensor.empty(shape, dtype: dtype)
        Backends.current.softmax(x.strided, log: log, into: out.strided)
        return Tensor.record(log ? "logSoftmax" : "softmax", [source ?? x], out, saving: [], savingOutput: true) { [unowned out] g in
            let dx: Tensor
            if GradMode.isEnabled && (g.requiresGrad || out.requiresGrad) {
                // Recorded backward (second derivatives): the same rule as differentiable ops.
                dx = log ? g - Axon_exp(out) * g.sum(axis: -1, keepDims: true) : out * (g - (g * out).sum(axis: -1, keepDims: true))
            } else {
                let gc = g.converted(to: out.dtype).contiguous()
                dx = Tensor.empty(out.shape, dtype: out.dtype)
                Backends.current.softmaxBackward(gc.strided, out.strided, log: log, into: dx.strided)
            }
            return [scale == 1 ? dx : dx * scale]
        }
    }
}

/// Cross-entropy of logits [N, C] (N ≥ 1) against class indices (each in 0..<C), the mean or the sum over the batch, as
/// one recorded op: `nllLoss(logSoftmax(logits, axis: 1), target)` with the same arithmetic, forward and backward, so
/// the same bits. The composed form records six nodes (log-softmax, the gather, a reshape, the negation, the sum, the
/// division) and the index tensor: for a batch of 64 over 10 classes (`axon-bench --micro`, Zen 4) its forward took
/// 7.8 µs and forward and backward 13.4, on every training step's serial path; the op takes 4.2 and 8.0. Its derivative
/// is log-softmax's, g − exp(log p)·Σg per row, of g holding −ḡ/N (−ḡ for the sum) at each label, as the composed
/// backward builds it.
package func logSoftmaxCrossEntropy(_ logits: Tensor, labels: [Int], mean: Bool) -> Tensor {
    let rows = labels.count, classes = logits.rank == 2 ? logits.shape[1] : 0
    guard logits.rank == 2, logits.shape[0] == rows, rows > 0, logits.dtype.isFloatingPoint,
          labels.allSatisfy({ $0 >= 0 && $0 < classes }) else {
        axonFail("crossEntropy", "needs float logits [N, C] with N ≥ 1 and N labels in 0..<C, got logits \(logits.dtype) "
                 + "\(logits.shape) and \(rows) labels")
    }
    let x = logits.contiguous()
    let logp = Tensor.empty(x.shape, dtype: x.dtype), loss = Tensor.empty([], dtype: x.dtype)
    Backends.current.softmax(x.strided, log: true, into: logp.strided)
    func forward<T: AxonFloat>(_: T.Type) {
        let p = logp.strided.pointer(T.self)
        var total: T = 0  // the sum's order: sample by sample
        for (i, label) in labels.enumerated() { total += -p[i * classes + label] }
        loss.strided.pointer(T.self)[0] = mean ? total / T(rows) : total
    }
    if x.dtype == .float64 { forward(Double.self) } else { forward(Float.self) }
    // The derivative needs log p only, which the op keeps (as PyTorch's log-softmax keeps its output): the logits may
    // change in place before backward. The recorded backward needs them as they were.
    let version = x.buffer.version
    return Tensor.record("crossEntropy", [x], loss, saving: []) { g in
        if GradMode.isEnabled && (g.requiresGrad || x.requiresGrad) {
            // Recorded backward (second derivatives): (softmax(x) − one-hot)·ḡ/N with differentiable ops.
            guard x.buffer.version == version else {
                axonFail("backward", "crossEntropy's recorded backward needs its logits (shape \(x.shape)) as they were, but "
                         + "they were modified in place afterwards; change a clone() instead")
            }
            let oneHot = Tensor(shape: [rows, classes], doubles: (0..<(rows * classes)).map { labels[$0 / classes] == $0 % classes ? 1 : 0 },
                                dtype: x.dtype)
            return [(softmax(x, axis: -1) - oneHot) * (mean ? g / Double(rows) : g)]
        }
        // The composed backward's G: zeros with (ḡ/N)·(−1) added at each label, then log-softmax's derivative.
        let seeded = Tensor.zeros([rows, classes], dtype: x.dtype)
        func seed<T: AxonFloat>(_: T.Type) {
            let upstream = T(g.item), v = (mean ? upstream / T(rows) : upstream) * -1
            let gp = seeded.strided.pointer(T.self)
            for (i, label) in labels.enumerated() { gp[i * classes + label] += v }
        }
        if x.dtype == .float64 { seed(Double.self) } else { seed(Float.self) }
        Backends.current.softmaxBackward(seeded.strided, logp.strided, log: true, into: seeded.strided)
        return [seeded]
    }
}

/// softmax(x · scale + bias) over the last axis: attention's weights from its raw scores. Recorded as one op on
/// `x`, whose derivative needs only the output, so the scaled and the masked scores are not kept until backward
/// (two [batch, heads, L, S] tensors per attention layer). The same operations as the composed form, so the same
/// values. A bias that needs a gradient, or an export trace (which writes the ops one by one), takes the composed
/// form.
package func scaledSoftmax(_ x: Tensor, scale: Double, bias: Tensor?) -> Tensor {
    func composed() -> Tensor {
        let scaled = x * scale
        return softmax(bias.map { scaled + $0 } ?? scaled, axis: -1)
    }
    guard x.rank >= 1, x.dtype.isFloatingPoint, !ExportTrace.isActive, bias?.requiresGrad != true else { return composed() }
    let logits = withNoGrad { () -> Tensor in
        let scaled = x * scale
        return bias.map { scaled + $0 } ?? scaled
    }
    guard logits.shape == x.shape, logits.dtype == x.dtype else { return composed() }
    return logits.softmaxLastAxis(log: false, recordedOn: x, scale: scale)
}
