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
/// One custom op, two passes over the data each way: the forward pass sums each channel (its values and
/// squares, shifted by the channel's first value so that a large mean does not cancel the variance, in
/// float64) and then writes (x − mean)·rstd·w + b per channel; the backward pass sums g and g·(x − mean) per
/// channel and then writes dx = A·g + B·(x − mean) + C per channel, which is rstd·w·(g − mean(g) − x̂·mean(g·x̂)) in training
/// and rstd·w·g in evaluation. In training (unsynchronised) both run channel block by channel block, so that the second reads
/// values the first has just brought into the core's cache (a batch-64 28x28 map of 32 channels, 6.4 MB, is past L2;
/// a channel of it is not). When the backward pass is recorded (second derivatives), the same derivative is built
/// from differentiable ops.
///
/// Shapes: input `[N, C]` or `[N, C, ...]`; statistics, weight and bias `[C]`.
public func batchNorm(_ input: Tensor, runningMean: Buffer? = nil, runningVar: Buffer? = nil,
                      weight: Tensor? = nil, bias: Tensor? = nil, training: Bool, momentum: Double = 0.1,
                      eps: Double = 1e-5) -> Tensor {
    batchNorm(input, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias, training: training,
              momentum: momentum, eps: eps, overwriting: false)
}

/// ``batchNorm(_:runningMean:runningVar:weight:bias:training:momentum:eps:)``; with `overwriting`, when nothing is
/// recorded and the input is contiguous, the result is written over the input (`BatchNorm` in a `Sequential`
/// evaluated without gradients, on a fresh tensor no one else holds).
///
/// With `crossReplicaSum` (synchronised batch norm in distributed training, as PyTorch's `SyncBatchNorm`), the
/// statistics are those of the batches of every rank together: the closure sums an array element-wise over the
/// ranks, and is called twice in the forward pass (counts and sums, then squared deviations) and once in the
/// backward pass (Σg and Σg·(x − mean)). The weight's and bias's gradients stay this rank's, for the gradient
/// averaging to combine.
///
/// With `maxPool2x2` (a `Sequential`'s batch norm followed by 2x2 max pooling, and by a ReLU when `relu`), the op
/// returns `maxPool2d(batchNorm(x), 2)` (rectified), and its backward pass takes that output's gradient: the
/// normalised tensor is pooled plane by plane as it is made and never written whole, and the pooled gradient is spread
/// back over the windows a block of channels at a time inside the backward passes, never into a full-size tensor. The
/// same values and gradients as the separate ops. Float32 [N, C, H, W] input in training (batch statistics), not
/// synchronised.
func batchNorm(_ input: Tensor, runningMean: Buffer?, runningVar: Buffer?, weight: Tensor?, bias: Tensor?, training: Bool,
               momentum: Double, eps: Double, overwriting: Bool, crossReplicaSum: ((inout [Double]) -> Void)? = nil,
               maxPool2x2 relu: Bool? = nil) -> Tensor {
    guard input.rank >= 2 else { fatalError("Axon.batchNorm: input needs shape [N, C, ...], got \(input.shape)") }
    let c = input.shape[1]
    for (name, t) in [("weight", weight), ("bias", bias), ("runningMean", runningMean?.wrappedValue),
                      ("runningVar", runningVar?.wrappedValue)] {
        if let t, t.shape != [c] { fatalError("Axon.batchNorm: \(name) \(t.shape) must be [\(c)] for input \(input.shape)") }
    }
    guard input.dtype == .float32 || input.dtype == .float64 else {
        fatalError("Axon.batchNorm: input must be float32 or float64, got \(input.dtype) with shape \(input.shape)")
    }
    var statShape = [Int](repeating: 1, count: input.rank)
    statShape[1] = c
    let axes = (0..<input.rank).filter { $0 != 1 }
    let n = c == 0 ? 0 : input.count / c
    let useBatch = training || runningMean == nil || runningVar == nil
    let sync = useBatch ? crossReplicaSum : nil
    var total = Double(n)  // values per channel in the statistics (every rank's, when synchronised)
    if training && n <= 1 {
        fatalError("Axon.batchNorm: expected more than 1 value per channel when training, got input shape \(input.shape)")
    }
    // Per channel: the mean and 1/√(var + ε) used, and the batch variance (for the running statistics).
    var mean = [Double](repeating: 0, count: c), rstd = mean, batchVariance = mean
    if !useBatch {
        mean = runningMean!.wrappedValue.doubleScalars
        rstd = runningVar!.wrappedValue.doubleScalars.map { 1 / ($0 + eps).squareRoot() }
    }
    let w = weight?.doubleScalars, b = bias?.doubleScalars
    let inputs = [input] + [weight, bias].compactMap { $0 }
    // Pooled in the op: the output's shape, and the windows' winners when a backward pass may come.
    var pooledShape: [Int]?, winners: PoolWindowCodes?
    if relu != nil {
        guard input.rank == 4, input.dtype == .float32, useBatch, sync == nil, input.shape[2] >= 2, input.shape[3] >= 2 else {
            fatalError("Axon.batchNorm: pooling inside the op needs float32 [N, C, H >= 2, W >= 2] input in training, unsynchronised; got \(input.dtype) \(input.shape)")
        }
        pooledShape = [input.shape[0], c, input.shape[2] / 2, input.shape[3] / 2]
        if GradMode.isEnabled && inputs.contains(where: \.requiresGrad) { winners = PoolWindowCodes(shape: input.shape) }
    }
    let out = customOp(relu == nil ? "batch_norm" : "batch_norm_max_pool2d", inputs: inputs, forward: { v in
        let x = v[0].contiguous()
        let inPlace = overwriting && !GradMode.isEnabled && x === v[0]
        if useBatch {
            // Shifted by each channel's first value: Σ(x − k) and Σ(x − k)².
            let first = x.count == 0 ? [Double](repeating: 0, count: c)
                : x[0].reshaped([c, x.count / (x.shape[0] * c)])[0..<c, 0..<1].doubleScalars
            if sync == nil {
                // A channel's mean, variance and 1/√(var + ε) from its two sums.
                let count = Double(n)
                func statistics(_ ch: Int, _ d: Double, _ q: Double) -> (mean: Double, variance: Double, rstd: Double) {
                    let m = d / count, variance = max(q / count - m * m, 0)
                    return (first[ch] + m, variance, 1 / (variance + eps).squareRoot())
                }
                // Each channel's sums and then its output, while its values are in cache.
                let pool = pooledShape.map {
                    ChannelPooling(into: Tensor.empty($0, dtype: .float32), codes: winners, relu: relu!)
                }
                let (d, q, y) = channelSumsThenAffine(x, x, shiftA: first, shiftB: first, withB: false, into: inPlace ? x : nil,
                                                      pool: pool) {
                    ch, d, q in
                    let (m, _, r) = statistics(ch, d, q)
                    return ChannelAffineMap(shiftA: m, alpha: r * (w?[ch] ?? 1), gamma: b?[ch] ?? 0)
                }
                for ch in 0..<c { (mean[ch], batchVariance[ch], rstd[ch]) = statistics(ch, d[ch], q[ch]) }
                return y
            }
            let (d, q) = channelSums(x, x, shiftA: first, shiftB: first)
            if let sync {
                // Every rank's values: the count and sums give the mean; then each rank's squared deviations
                // from that mean, Σ(x − k)² − 2(m − k)Σ(x − k) + n(m − k)² with m − k the mean's distance from the shift.
                var sums = (0..<c).map { first[$0] * Double(n) + d[$0] } + [Double(n)]
                sync(&sums)
                total = sums[c]
                for ch in 0..<c { mean[ch] = sums[ch] / total }
                var squares = (0..<c).map { ch -> Double in
                    let m = mean[ch] - first[ch]
                    return max(q[ch] - 2 * m * d[ch] + Double(n) * m * m, 0)
                }
                sync(&squares)
                for ch in 0..<c {
                    batchVariance[ch] = squares[ch] / total
                    rstd[ch] = 1 / (batchVariance[ch] + eps).squareRoot()
                }
            }
        }
        return channelAffine(x, shiftA: mean, alpha: (0..<c).map { rstd[$0] * (w?[$0] ?? 1) }, gamma: b ?? [Double](repeating: 0, count: c),
                             into: inPlace ? x : nil)
    }, backward: { pooledGradient, v, output in
        // The gradient of the normalised tensor (spread back over the pooling windows when pooled in the op).
        var g = pooledGradient
        if GradMode.isEnabled {  // recorded: the derivative from differentiable ops
            if sync != nil { axonFail("batchNorm", "synchronised batch norm has no recorded (second) derivative, input \(input.shape)") }
            if let relu {
                g = maxPool2x2Adjoint(pooledGradient, rectified: relu ? output : nil, indices: winners!.positions(), shape: input.shape)
            }
            let m = Tensor(shape: statShape, scalars: mean).converted(to: v[0].dtype)
            let r = Tensor(shape: statShape, scalars: rstd).converted(to: v[0].dtype)
            var centered = v[0] - m, scale = r
            if useBatch {  // mean and rstd depend on x: recompute them from it
                centered = v[0] - v[0].mean(axes: axes, keepDims: true)
                scale = 1 / sqrt((centered * centered).mean(axes: axes, keepDims: true) + eps)
            }
            let y = centered * scale, gy = weight.map { _ in g * v[1].reshaped(statShape) } ?? g
            let dx = useBatch ? scale * (gy - gy.mean(axes: axes, keepDims: true) - y * (gy * y).mean(axes: axes, keepDims: true))
                : scale * gy
            return [dx] + (weight.map { [(g * y).sum(axes: axes).converted(to: $0.dtype)] } ?? [])
                + (bias.map { [g.sum(axes: axes).converted(to: $0.dtype)] } ?? [])
        }
        let grad = g.contiguous(), x = v[0].contiguous()
        let k = (0..<c).map { rstd[$0] * (w?[$0] ?? 1) }
        let (mu, r, count) = (mean, rstd, total)
        // In training, channel ch's dx = A·g + B·(x − mean) + C from Σg and Σg·x̂ over all its values (every rank's
        // when synchronised).
        func gradientMap(_ ch: Int, _ sg: Double, _ sgx: Double) -> ChannelAffineMap {
            let meanG = sg / count, meanGXhat = sgx / count
            return ChannelAffineMap(shiftB: mu[ch], alpha: k[ch], beta: -k[ch] * r[ch] * meanGXhat, gamma: -k[ch] * meanG)
        }
        let sumG: [Double], sumGC: [Double], dx: Tensor  // Σg, Σg·(x − mean), and x's gradient
        if useBatch && sync == nil {
            // Each channel's sums and then its gradient, while its values are in cache.
            let pool = relu.map { ChannelPooling(gradient: grad, pooled: output, codes: winners!, relu: $0) }
            (sumG, sumGC, dx) = channelSumsThenAffine(grad, x, shiftB: mu, withB: true, pool: pool) { ch, sg, sgc in
                gradientMap(ch, sg, sgc * r[ch])
            }
        } else {
            (sumG, sumGC) = channelSums(grad, x, shiftB: mean)
            if useBatch {
                var both = sumG + (0..<c).map { sumGC[$0] * rstd[$0] }  // over every rank's values
                sync?(&both)
                let maps = (0..<c).map { gradientMap($0, both[$0], both[c + $0]) }
                dx = channelAffine(grad, x, shiftB: mean, alpha: k, beta: maps.map { $0.beta ?? 0 }, gamma: maps.map(\.gamma))
            } else {
                dx = channelAffine(grad, alpha: k, gamma: [Double](repeating: 0, count: c))
            }
        }
        let sumGXhat = (0..<c).map { sumGC[$0] * rstd[$0] }
        return [dx] + (weight.map { [Tensor(shape: [c], doubles: sumGXhat, dtype: $0.dtype)] } ?? [])
            + (bias.map { [Tensor(shape: [c], doubles: sumG, dtype: $0.dtype)] } ?? [])
    })
    if training, let runningMean, let runningVar {
        let unbiased = total / (total - 1)
        let rm = runningMean.wrappedValue.doubleScalars
        let rv = runningVar.wrappedValue.doubleScalars
        runningMean.wrappedValue = Tensor(shape: [c], doubles: (0..<c).map { rm[$0] * (1 - momentum) + mean[$0] * momentum },
                                          dtype: runningMean.wrappedValue.dtype)
        runningVar.wrappedValue = Tensor(shape: [c], doubles: (0..<c).map { rv[$0] * (1 - momentum) + batchVariance[$0] * unbiased * momentum },
                                         dtype: runningVar.wrappedValue.dtype)
    }
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

/// (x − mean) / √(variance + ε) over the trailing `axes`, with the biased variance, then times `weight` and plus
/// `bias` (each shaped like those axes, when given): the core of layer and group norm.
///
/// One custom op over rows of the trailing axes: the forward pass makes two passes over each row (the mean,
/// then the variance of the centred values, accumulated in float64) and writes the output; the derivative is
/// rstd·(g' − mean(g') − x̂·mean(g'·x̂)) with g' = g·weight, in one more pass, and the affine gradients are column
/// sums. float32 rows run batch norm's vectorised passes (`layerNormRows`: each row one channel's plane, its sums
/// in float32 lanes shifted by its first value and their totals in float64, as PyTorch sums in float32 lanes).
/// Composed of recorded ops instead, a layer norm of the Transformer's size was a dozen broadcast kernels and
/// reductions forward and back. When the backward pass is recorded (second derivatives), the same
/// derivative is built from differentiable ops.
private func standardized(_ x: Tensor, axes: [Int], eps: Double, weight: Tensor? = nil, bias: Tensor? = nil) -> Tensor {
    guard axes == Array((x.rank - axes.count)..<x.rank) else { fatalError("Axon.standardized: axes \(axes) must be trailing for \(x.shape)") }
    let trailing = Array(x.shape.suffix(axes.count)), leading = Array(0..<(x.rank - axes.count))
    for (name, t) in [("weight", weight), ("bias", bias)] {
        if let t, t.shape != trailing { fatalError("Axon.layerNorm: \(name) \(t.shape) must have the normalized shape \(trailing)") }
    }
    let width = trailing.reduce(1, *), rows = width == 0 ? 0 : x.count / width
    var rstd: [Double] = [], kept: Tensor? = nil  // x̂, when an affine map follows
    let inputs = [x] + [weight, bias].compactMap { $0 }
    return customOp("layer_norm", inputs: inputs, forward: { v in
        let input = v[0].contiguous(), out = Tensor.empty(input.shape, dtype: input.dtype)
        rstd = [Double](repeating: 0, count: rows)
        let w = weight.map { _ in v[1].converted(to: input.dtype).contiguous() }
        let b = bias.map { _ in v[v.count - 1].converted(to: input.dtype).contiguous() }
        let xhat = w == nil && b == nil ? out : Tensor.empty(input.shape, dtype: input.dtype)
        if input.dtype == .float64 {
            normalizeRows(input, xhat, out, w, b, rows, width, eps, &rstd, Double.self)
        } else {
            normalizeRows(input, xhat, out, w, b, rows, width, eps, &rstd, Float.self)
        }
        if xhat !== out { kept = xhat }
        return out
    }, backward: { g, v, out in
        let w = weight.map { _ in v[1] }
        if GradMode.isEnabled {  // recorded: the derivative from differentiable ops
            let centered = v[0] - v[0].mean(axes: axes, keepDims: true)
            let r = 1 / sqrt((centered * centered).mean(axes: axes, keepDims: true) + eps)
            let y = centered * r, gy = w.map { g * $0 } ?? g
            let dx = r * (gy - gy.mean(axes: axes, keepDims: true) - y * (gy * y).mean(axes: axes, keepDims: true))
            return [dx] + (weight.map { [(g * y).sum(axes: leading).converted(to: $0.dtype)] } ?? [])
                + (bias.map { [g.sum(axes: leading).converted(to: $0.dtype)] } ?? [])
        }
        let xhat = kept ?? out
        let grad = g.contiguous(), dx = Tensor.empty(grad.shape, dtype: grad.dtype)
        let scale = w.map { $0.converted(to: grad.dtype).contiguous() }
        if grad.dtype == .float64 {
            normalizeRowsBackward(grad, scale, xhat, dx, rows, width, rstd, Double.self)
        } else {
            normalizeRowsBackward(grad, scale, xhat, dx, rows, width, rstd, Float.self)
        }
        let flat = grad.reshaped([rows, width])
        return [dx] + (weight.map { [(flat * xhat.reshaped([rows, width])).sum(axes: [0]).reshaped(trailing).converted(to: $0.dtype)] } ?? [])
            + (bias.map { [flat.sum(axes: [0]).reshaped(trailing).converted(to: $0.dtype)] } ?? [])
    })
}

/// The first element of a tensor's view (its storage at its offset) as `T`, for the row loops of this module.
@inline(__always) func pointer<T>(_ x: Tensor, _: T.Type) -> UnsafeMutablePointer<T> { x.buffer.pointer(T.self) + x.storageOffset }

/// x̂ of each row of `width` elements (contiguous) into `xhat`, x̂·w + b into `out` (which may be `xhat` when
/// there is no affine map), and each row's 1/√(var + ε).
private func normalizeRows<T: BinaryFloatingPoint>(_ x: Tensor, _ xhat: Tensor, _ out: Tensor, _ weight: Tensor?, _ bias: Tensor?,
                                                    _ rows: Int, _ width: Int, _ eps: Double, _ rstd: inout [Double], _: T.Type) {
    let px = pointer(x, T.self), ph = pointer(xhat, T.self), po = pointer(out, T.self)
    let pw = weight.map { pointer($0, T.self) }, pb = bias.map { pointer($0, T.self) }
    rstd.withUnsafeMutableBufferPointer { rstd in
        parallelFor(rows, grain: rowGrain(width)) { range in
            if T.self == Float.self {  // vectorised in C, with batch norm's passes (in float32 lanes)
                let at = range.lowerBound * width
                return layerNormRows(px + at, xhat: ph + at, out: po + at, weight: pw, bias: pb, rows: range.count, width: width,
                                     eps: eps, rstd: rstd.baseAddress! + range.lowerBound)
            }
            for r in range {
                let row = px + r * width, h = ph + r * width, o = po + r * width
                var sum = 0.0
                for j in 0..<width { sum += Double(row[j]) }
                let mean = sum / Double(width)
                var squares = 0.0
                for j in 0..<width { let c = Double(row[j]) - mean; squares += c * c }
                let s = 1 / (squares / Double(width) + eps).squareRoot()
                rstd[r] = s
                for j in 0..<width { h[j] = T((Double(row[j]) - mean) * s) }
                if let pw { for j in 0..<width { o[j] = h[j] * pw[j] } } else if o != h { for j in 0..<width { o[j] = h[j] } }
                if let pb { for j in 0..<width { o[j] += pb[j] } }
            }
        }
    }
}

/// Rows of `width` values per task of a row-by-row normalisation: about an eighth of the elementwise grain. Each row
/// is computed the same way on any thread, so the bits do not depend on the thread count.
private func rowGrain(_ width: Int) -> Int { max(1, elementwiseGrain / 8 / max(width, 1)) }

/// dx = rstd·(g' − mean(g') − x̂·mean(g'·x̂)) per row, with g' = g·weight (contiguous, of g's dtype), or g without it.
private func normalizeRowsBackward<T: BinaryFloatingPoint>(_ g: Tensor, _ weight: Tensor?, _ xhat: Tensor, _ dx: Tensor, _ rows: Int,
                                                            _ width: Int, _ rstd: [Double], _: T.Type) {
    let inC = T.self == Float.self  // vectorised in C, with batch norm's passes (in float32 lanes), g' made there
    let gy = inC ? g : weight.map { (g * $0).contiguous() } ?? g
    let pg = pointer(gy, T.self), py = pointer(xhat, T.self), pd = pointer(dx, T.self), pw = weight.map { pointer($0, T.self) }
    rstd.withUnsafeBufferPointer { rstd in
        parallelFor(rows, grain: rowGrain(width)) { range in
            if inC {
                let at = range.lowerBound * width
                return layerNormRowsBackward(pg + at, weight: pw, xhat: py + at, dx: pd + at, rows: range.count, width: width,
                                             rstd: rstd.baseAddress! + range.lowerBound)
            }
            for r in range {
                let gr = pg + r * width, yr = py + r * width, dr = pd + r * width
                var sumG = 0.0, sumGY = 0.0
                for j in 0..<width { sumG += Double(gr[j]); sumGY += Double(gr[j]) * Double(yr[j]) }
                let meanG = sumG / Double(width), meanGY = sumGY / Double(width), s = rstd[r]
                for j in 0..<width { dr[j] = T(s * (Double(gr[j]) - meanG - Double(yr[j]) * meanGY)) }
            }
        }
    }
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
    standardized(input, axes: trailingAxes(input, normalizedShape, "layerNorm"), eps: eps, weight: weight, bias: bias)
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

/// 1-D convolution of `[N, C, L]` input with `weight` `[O, C / groups, K]`, as `torch.nn.functional.conv1d`:
/// a 2-D convolution of height 1.
///
/// Shapes: input `[N, C, L]` -> `[N, O, (L + 2p − d(K − 1) − 1) / s + 1]`.
public func conv1d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                   dilation: Int = 1, groups: Int = 1) -> Tensor {
    guard input.rank == 3, weight.rank == 3 else {
        fatalError("Axon.conv1d: needs input [N, C, L] and weight [O, C, K], got \(input.shape) and \(weight.shape)")
    }
    let out = conv2d(input.unsqueezed(axis: 2), weight: weight.unsqueezed(axis: 2), bias: bias, stride: (1, stride),
                     padding: (0, padding), dilation: (1, dilation), groups: groups)
    return out.squeezed(axis: 2)
}

/// 1-D max pooling of `[N, C, L]` input, as `torch.nn.functional.max_pool1d` (`stride` defaults to the window).
public func maxPool1d(_ input: Tensor, _ kernelSize: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
    guard input.rank == 3 else { fatalError("Axon.maxPool1d: needs input [N, C, L], got \(input.shape)") }
    return maxPool2d(input.unsqueezed(axis: 2), kernelSize: (1, kernelSize), stride: (1, stride ?? kernelSize),
                     padding: (0, padding)).squeezed(axis: 2)
}

/// 1-D average pooling of `[N, C, L]` input, as `torch.nn.functional.avg_pool1d` (zero padding counts).
public func avgPool1d(_ input: Tensor, _ kernelSize: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
    guard input.rank == 3 else { fatalError("Axon.avgPool1d: needs input [N, C, L], got \(input.shape)") }
    return avgPool2d(input.unsqueezed(axis: 2), kernelSize: (1, kernelSize), stride: (1, stride ?? kernelSize),
                     padding: (0, padding)).squeezed(axis: 2)
}

/// Adaptive average pooling to `outputSize`, as `torch.nn.functional.adaptive_avg_pool2d`: output cell i
/// along an axis of length L averages input positions ⌊iL / n⌋ ..< ⌈(i + 1)L / n⌉. A window mean is
/// separable, so rows are averaged, then columns.
public func adaptiveAvgPool2d(_ input: Tensor, outputSize: (Int, Int)) -> Tensor {
    guard input.rank == 4, outputSize.0 > 0, outputSize.1 > 0 else {
        fatalError("Axon.adaptiveAvgPool2d: needs input [N, C, H, W] and a positive output size, got \(input.shape) and \(outputSize)")
    }
    func pooled(_ x: Tensor, axis: Int, _ n: Int) -> Tensor {
        let length = x.shape[axis]
        if length % n == 0 {  // equal windows: one reshape and mean
            var shape = x.shape
            shape.replaceSubrange(axis...axis, with: [n, length / n])
            return x.reshaped(shape).mean(axes: [axis + 1])
        }
        return concat((0..<n).map { i in
            let start = i * length / n, end = ((i + 1) * length + n - 1) / n
            return x.sliced(axis: axis, start..<end).mean(axes: [axis], keepDims: true)
        }, axis: axis)
    }
    return pooled(pooled(input, axis: 2, outputSize.0), axis: 3, outputSize.1)
}

/// Nearest-neighbour resizing of the spatial axes (after N and C) to `size`, or by `scaleFactor`, as
/// `torch.nn.functional.interpolate(mode="nearest")`: output position i reads input ⌊i · in / out⌋ (with a
/// scale factor, ⌊i / scale⌋).
public func upsampleNearest(_ input: Tensor, size: [Int]? = nil, scaleFactor: Double? = nil) -> Tensor {
    let spatial = input.rank - 2
    guard spatial >= 1, (size == nil) != (scaleFactor == nil), size.map({ $0.count == spatial && $0.allSatisfy { $0 > 0 } }) ?? true,
          scaleFactor.map({ $0 > 0 }) ?? true else {
        fatalError("Axon.upsampleNearest: needs input [N, C, ...] and either \(max(spatial, 1)) positive sizes or a positive scale factor, "
                   + "got input \(input.shape), size \(String(describing: size)), scaleFactor \(String(describing: scaleFactor))")
    }
    var out = input
    for k in 0..<spatial {
        let axis = 2 + k, length = input.shape[axis]
        let target = size?[k] ?? Int((Double(length) * scaleFactor!).rounded(.down))
        guard target > 0 else { fatalError("Axon.upsampleNearest: scale factor \(scaleFactor!) empties axis \(axis) of \(input.shape)") }
        let sources = (0..<target).map { i -> Int in
            let s = scaleFactor.map { Int((Double(i) / $0).rounded(.down)) } ?? i * length / target
            return Swift.min(s, length - 1)
        }
        if sources != Array(0..<length) { out = out.indexSelected(axis: axis, indices: Tensor(shape: [target], scalars: sources)) }
    }
    return out
}

/// Constant padding, as `torch.nn.functional.pad(mode="constant")`: `pad` lists (before, after) pairs from the
/// last axis backwards; negative amounts crop.
public func pad(_ input: Tensor, _ pad: [Int], value: Double = 0) -> Tensor {
    guard pad.count % 2 == 0, pad.count / 2 <= input.rank else {
        fatalError("Axon.pad: needs (before, after) pairs for at most \(input.rank) axes, got \(pad) for shape \(input.shape)")
    }
    var out = input
    for k in 0..<pad.count / 2 {
        let axis = input.rank - 1 - k, before = pad[2 * k], after = pad[2 * k + 1]
        let length = out.shape[axis]
        guard length + before + after >= 0 else { fatalError("Axon.pad: padding \(pad) crops axis \(axis) of \(input.shape) below zero") }
        out = out.sliced(axis: axis, Swift.max(-before, 0)..<length - Swift.max(-after, 0))
        var parts: [Tensor] = []
        for amount in [before, after] where amount > 0 {
            var shape = out.shape
            shape[axis] = amount
            parts.append(Tensor.full(shape, value, dtype: out.dtype))
        }
        if before > 0 || after > 0 {
            let left = before > 0 ? [parts.removeFirst()] : []
            out = concat(left + [out] + parts, axis: axis)
        }
    }
    return out
}

/// Cosine of the angle between `x1` and `x2` along `dim`, as `torch.nn.functional.cosine_similarity`: each
/// is divided by its norm (at least `eps`), then the products summed.
public func cosineSimilarity(_ x1: Tensor, _ x2: Tensor, dim: Int = 1, eps: Double = 1e-8) -> Tensor {
    let norm1 = maximum(sqrt((x1 * x1).sum(axes: [dim], keepDims: true)), Tensor.full([], eps, dtype: x1.dtype))
    let norm2 = maximum(sqrt((x2 * x2).sum(axes: [dim], keepDims: true)), Tensor.full([], eps, dtype: x2.dtype))
    return ((x1 / norm1) * (x2 / norm2)).sum(axes: [dim])
}

/// One-hot encoding of int64 class indices `[N]` as float32 `[N, classes]`.
public func oneHot(_ labels: Tensor, classes: Int) -> Tensor {
    guard labels.dtype == .int64, labels.rank == 1 else {
        fatalError("Axon.oneHot: expects int64 labels [N], got \(labels.dtype) \(labels.shape)")
    }
    var v = [Float](repeating: 0, count: labels.count * classes)
    for (i, c) in labels.intScalars.enumerated() {
        // Labels from outside are checked before they get here (TensorDataset.checkClassIndices, a DataError).
        guard c >= 0 && c < classes else { fatalError("Axon.oneHot: label \(c) is out of range for \(classes) classes") }
        v[i * classes + c] = 1
    }
    return Tensor(shape: [labels.count, classes], scalars: v)
}
