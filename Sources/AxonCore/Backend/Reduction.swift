import _AxonKernels

/// Reduces `x` (any strides) into `output` (contiguous, `x`'s rank with reduced axes of size 1).
/// Walks the input row by row; each output element accumulates its inputs in row-major order, on one
/// thread, so results never depend on the thread count.
func reduceKernel<T: AxonFloat>(_ op: ReduceOp, _ x: StridedBuffer, _ output: StridedBuffer, _: T.Type) {
    let initial: T = op == .sum ? 0 : (op == .max ? -T.infinity : T.infinity)
    let dst = output.pointer(T.self), src = x.pointer(T.self)
    dst.update(repeating: initial, count: output.count)
    if x.count == 0 { return }
    if x.isContiguous && reduceContiguous(op, x.shape, src, output.shape, dst) { return }
    let seen = output.broadcast(to: x.shape)  // stride 0 along the reduced axes
    let dx = x.lastStride, d = seen.lastStride
    forEachRow(x.shape, seen, x) { o, xo, _, _, n in
        let s = src + xo
        switch (op, d) {
        case (.sum, 0):
            var acc = dst[o]
            if dx == 1 { for j in 0..<n { acc += s[j] } } else { for j in 0..<n { acc += s[j * dx] } }
            dst[o] = acc
        case (.sum, _):
            if dx == 1 { for j in 0..<n { dst[o + j] += s[j] } } else { for j in 0..<n { dst[o + j] += s[j * dx] } }
        case (.max, _):
            for j in 0..<n {
                let v = s[j * dx], k = o + j * d
                if v > dst[k] || v.isNaN { dst[k] = v }
            }
        case (.min, _):
            for j in 0..<n {
                let v = s[j * dx], k = o + j * d
                if v < dst[k] || v.isNaN { dst[k] = v }
            }
        }
    }
}

/// The common layouts of a contiguous input without stride arrays, in the general path's order: the
/// reduced axes lead (column sums, a bias gradient) or trail (row sums, a total). False for other layouts.
@inline(__always)
private func reduceContiguous<T: AxonFloat>(_ op: ReduceOp, _ shape: [Int], _ src: UnsafeMutablePointer<T>,
                                            _ outShape: [Int], _ dst: UnsafeMutablePointer<T>) -> Bool {
    @inline(__always) func combine(_ acc: inout T, _ v: T) {
        switch op {
        case .sum: acc += v
        case .max: if v > acc || v.isNaN { acc = v }
        case .min: if v < acc || v.isNaN { acc = v }
        }
    }
    let r = shape.count
    var lead = 0
    while lead < r && outShape[lead] == 1 { lead += 1 }
    if outShape[lead...] == shape[lead...] {  // [outer, inner] -> [1, inner]: rows combined elementwise
        let inner = shape[lead...].reduce(1, *), outer = inner == 0 ? 0 : shapeCount(shape) / inner
        for o in 0..<outer {
            let row = src + o * inner
            if op == .sum { for j in 0..<inner { dst[j] += row[j] } } else { for j in 0..<inner { combine(&dst[j], row[j]) } }
        }
        return true
    }
    var kept = r
    while kept > 0 && outShape[kept - 1] == 1 { kept -= 1 }
    if outShape[..<kept] == shape[..<kept] {  // [outer, inner] -> [outer, 1]: each block in order
        let outer = shape[..<kept].reduce(1, *), inner = outer == 0 ? 0 : shapeCount(shape) / outer
        for o in 0..<outer {
            let block = src + o * inner
            var acc = dst[o]
            for j in 0..<inner { combine(&acc, block[j]) }
            dst[o] = acc
        }
        return true
    }
    return false
}

/// Index of the first extreme along `axis` (NaN wins, as PyTorch), into an int64 `output` that has `x`'s
/// rank with that axis of size 1.
func argReduceKernel<T: MovableElement>(_ x: StridedBuffer, axis: Int, largest: Bool, _ output: StridedBuffer, _: T.Type) {
    let src = x.pointer(T.self), dst = output.pointer(Int.self)
    let n = x.shape[axis], step = x.strides[axis]
    var outer = x.shape
    outer[axis] = 1
    let ostrides = contiguousStrides(outer)
    let dlast = x.strides.last ?? 0, olast = ostrides.last ?? 0
    forEachRow(outer, ostrides, x.strides) { o, xo, _, _, len in
        for j in 0..<len {
            let base = xo + j * dlast
            var best = src[base].doubleValue, bi = 0
            for i in 1..<Swift.max(n, 1) {
                let v = src[base + i * step].doubleValue
                if (largest ? v > best : v < best) || (v.isNaN && !best.isNaN) { best = v; bi = i }
            }
            dst[o + j * olast] = bi
        }
    }
}

/// Softmax over the last axis, row by row, with m the row's maximum (0 when it is infinite): e^(x − m) / Σ e^(x − m),
/// or with `log`, (x − m) − log Σ e^(x − m); the same arithmetic as the composed forms. Rows run in parallel
/// (each row's result does not depend on the split).
func softmaxKernel<T: AxonFloat>(_ x: StridedBuffer, _ output: StridedBuffer, log: Bool, _: T.Type) {
    let n = x.shape.last ?? 1, rows = n == 0 ? 0 : x.count / n
    let src = SendablePointer(pointer: x.pointer(T.self)), dst = SendablePointer(pointer: output.pointer(T.self))
    // float32 runs the same arithmetic in C (vectorised; the same bits), which writes a row's exponentials before it
    // reads the row again: where the output does not overlap the input (the Swift loop below allows it).
    let inC = T.self == Float.self && (src.pointer + x.count <= dst.pointer || dst.pointer + output.count <= src.pointer)
    parallelFor(rows, grain: Swift.max(1, elementwiseGrain / 8 / Swift.max(n, 1))) { range in
        if inC {
            return axon_softmax_rows_f32(floats(src.pointer + range.lowerBound * n), mutableFloats(dst.pointer + range.lowerBound * n),
                                         range.count, n, log ? 1 : 0)
        }
        for r in range {
            let xr = src.pointer + r * n, yr = dst.pointer + r * n
            var m = -T.infinity
            for j in 0..<n where xr[j] > m || xr[j].isNaN { m = xr[j] }
            if Swift.abs(m) == .infinity { m = 0 }
            var s: T = 0
            if log {
                for j in 0..<n { s += softmaxExp(xr[j] - m) }
                let l = T.log(s)
                for j in 0..<n { yr[j] = (xr[j] - m) - l }
            } else {  // the sum in float64 (the output's error is then the division's and exp's alone), in 8 partial sums
                var sums = SIMD8<Double>()
                for j in 0..<n { let e = softmaxExp(xr[j] - m); yr[j] = e; sums[j % 8] += Double(e) }
                s = T(((sums[0] + sums[1]) + (sums[2] + sums[3])) + ((sums[4] + sums[5]) + (sums[6] + sums[7])))
                for j in 0..<n { yr[j] = yr[j] / s }
            }
        }
    }
}

/// exp as the float32 rows in C compute it (`axon_softmax_exp_f32_one`: glibc's expf, on every platform), so that the
/// loop above gives their bits; float64's own exp.
@inline(__always) private func softmaxExp<T: AxonFloat>(_ x: T) -> T {
    T.self == Float.self ? unsafeBitCast(axon_softmax_exp_f32_one(unsafeBitCast(x, to: Float.self)), to: T.self) : T.exp(x)
}

/// Per row: g − exp(y)·Σg (log-softmax) or y·(g − Σ g·y) (softmax).
func softmaxBackwardKernel<T: AxonFloat>(_ g: StridedBuffer, _ y: StridedBuffer, _ output: StridedBuffer, log: Bool, _: T.Type) {
    let n = y.shape.last ?? 1, rows = n == 0 ? 0 : y.count / n
    let pg = SendablePointer(pointer: g.pointer(T.self)), py = SendablePointer(pointer: y.pointer(T.self))
    let po = SendablePointer(pointer: output.pointer(T.self))
    parallelFor(rows, grain: Swift.max(1, elementwiseGrain / 8 / Swift.max(n, 1))) { range in
        if T.self == Float.self && log {
            return axon_log_softmax_backward_rows_f32(floats(pg.pointer + range.lowerBound * n), floats(py.pointer + range.lowerBound * n),
                                                      mutableFloats(po.pointer + range.lowerBound * n), range.count, n)
        }
        for r in range {
            let gr = pg.pointer + r * n, yr = py.pointer + r * n, out = po.pointer + r * n
            var s: T = 0
            if log {
                for j in 0..<n { s += gr[j] }
                for j in 0..<n { out[j] = gr[j] - T.exp(yr[j]) * s }
            } else {  // Σ g·y in float64: it cancels against g
                var sum = 0.0
                for j in 0..<n { sum += Double(gr[j]) * Double(yr[j]) }
                s = T(sum)
                for j in 0..<n { out[j] = yr[j] * (gr[j] - s) }
            }
        }
    }
}
