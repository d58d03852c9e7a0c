import RealModule

/// The reference backend: every primitive as the plainest loop over its definition, on one thread, with no
/// packing, chunking, vector code or fused paths. It is what the fast backend is checked against (select
/// it with `AXON_BACKEND=reference`, or `Backends.current = ReferenceBackend.shared`), and the model for a
/// new backend: docs/BACKENDS.md.
public final class ReferenceBackend: Backend {
    /// The one instance.
    public static let shared = ReferenceBackend()
    /// `reference`.
    public let name = "reference"
    /// Host memory.
    public let device = Device.cpu

    // MARK: Memory

    public func copy(_ source: StridedBuffer, into destination: StridedBuffer) {
        let so = elementOffsets(source), d = elementOffsets(destination)
        withElementType(source.dtype) { s in
            withElementType(destination.dtype) { t in convert(source, so, destination, d, s, t) }
        }
    }

    private func convert<S: MovableElement, D: MovableElement>(_ source: StridedBuffer, _ so: [Int], _ destination: StridedBuffer,
                                                               _ d: [Int], _: S.Type, _: D.Type) {
        let s = source.buffer.pointer(S.self), t = destination.buffer.pointer(D.self)
        for i in 0..<d.count { t[d[i]] = D(converting: s[so[i]].doubleValue) }
    }

    public func fill(_ destination: StridedBuffer, with value: Double) {
        let d = elementOffsets(destination)
        withElementType(destination.dtype) { t in
            func run<D: MovableElement>(_: D.Type) {
                let p = destination.buffer.pointer(D.self), v = D(converting: value)
                for o in d { p[o] = v }
            }
            run(t)
        }
    }

    public func fillRandom(_ destination: StridedBuffer, _ distribution: RandomDistribution, generator: Generator) {
        fillRandomKernel(destination, distribution, generator: generator)
    }

    // MARK: Elementwise

    public func unary(_ op: UnaryOp, _ x: StridedBuffer, into output: StridedBuffer) {
        func run<T: AxonFloat>(_: T.Type) {
            let xs = elementOffsets(x), os = elementOffsets(output)
            let s = x.buffer.pointer(T.self), o = output.buffer.pointer(T.self)
            for i in 0..<os.count { o[os[i]] = op == .tanh ? T.tanh(s[xs[i]]) : applyUnary(op, s[xs[i]]) }
        }
        floatType(x.dtype, "\(op)", run, run)
    }

    public func binary(_ op: BinaryOp, _ a: StridedBuffer, _ b: StridedBuffer, into output: StridedBuffer) {
        let ao = elementOffsets(a), bo = elementOffsets(b), oo = elementOffsets(output)
        if op.isComparison {
            let o = output.buffer.pointer(Bool.self)
            withElementType(a.dtype) { t in
                func run<T: MovableElement>(_: T.Type) {
                    let x = a.buffer.pointer(T.self), y = b.buffer.pointer(T.self)
                    for i in 0..<oo.count { o[oo[i]] = applyComparison(op, x[ao[i]].doubleValue, y[bo[i]].doubleValue) }
                }
                run(t)
            }
            return
        }
        func run<T: AxonFloat>(_: T.Type) {
            let x = a.buffer.pointer(T.self), y = b.buffer.pointer(T.self), o = output.buffer.pointer(T.self)
            for i in 0..<oo.count { o[oo[i]] = applyBinary(op, x[ao[i]], y[bo[i]]) }
        }
        switch a.dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        case .int64, .bool: integerBinary(op, a, b, output, backend: self)
        }
    }

    public func select(_ condition: StridedBuffer, _ a: StridedBuffer, _ b: StridedBuffer, into output: StridedBuffer) {
        let co = elementOffsets(condition), ao = elementOffsets(a), bo = elementOffsets(b), oo = elementOffsets(output)
        let m = condition.buffer.pointer(Bool.self)
        withElementType(a.dtype) { t in
            func run<T: MovableElement>(_: T.Type) {
                let x = a.buffer.pointer(T.self), y = b.buffer.pointer(T.self), o = output.buffer.pointer(T.self)
                for i in 0..<oo.count { o[oo[i]] = m[co[i]] ? x[ao[i]] : y[bo[i]] }
            }
            run(t)
        }
    }

    public func axpby(_ y: StridedBuffer, _ x: StridedBuffer, alpha: Double, beta: Double) {
        let yo = elementOffsets(y), xo = elementOffsets(x)
        func run<T: AxonFloat>(_: T.Type) {
            let py = y.buffer.pointer(T.self), px = x.buffer.pointer(T.self)
            let a = T(alpha), b = T(beta)
            for i in 0..<yo.count { py[yo[i]] = b == 1 ? py[yo[i]] + a * px[xo[i]] : py[yo[i]] * b + a * px[xo[i]] }
        }
        floatType(y.dtype, "addInPlace", run, run)
    }

    public func axpbyProduct(_ y: StridedBuffer, _ a: StridedBuffer, _ b: StridedBuffer, alpha: Double, beta: Double) {
        let yo = elementOffsets(y), ao = elementOffsets(a), bo = elementOffsets(b)
        func run<T: AxonFloat>(_: T.Type) {
            let py = y.buffer.pointer(T.self), pa = a.buffer.pointer(T.self), pb = b.buffer.pointer(T.self)
            let al = T(alpha), be = T(beta)
            for i in 0..<yo.count { py[yo[i]] = py[yo[i]] * be + al * (pa[ao[i]] * pb[bo[i]]) }
        }
        floatType(y.dtype, "addProductInPlace", run, run)
    }

    // MARK: Reductions

    public func reduce(_ op: ReduceOp, _ x: StridedBuffer, into output: StridedBuffer) {
        func run<T: AxonFloat>(_: T.Type) {
            let xo = elementOffsets(x), to = elementOffsets(output.broadcast(to: x.shape))
            let s = x.buffer.pointer(T.self), d = output.buffer.pointer(T.self)
            let initial: T = op == .sum ? 0 : (op == .max ? -T.infinity : T.infinity)
            for o in elementOffsets(output) { d[o] = initial }
            for i in 0..<xo.count {
                let v = s[xo[i]], k = to[i]
                switch op {
                case .sum: d[k] += v
                case .max: if v > d[k] || v.isNaN { d[k] = v }
                case .min: if v < d[k] || v.isNaN { d[k] = v }
                }
            }
        }
        switch x.dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        case .int64, .bool: integerReduce(op, x, output, backend: self)
        }
    }

    public func argReduce(_ x: StridedBuffer, axis: Int, largest: Bool, into output: StridedBuffer) {
        withElementType(x.dtype) { argReduceKernel(x, axis: axis, largest: largest, output, $0) }
    }

    public func softmax(_ x: StridedBuffer, log: Bool, into output: StridedBuffer) {
        func run<T: AxonFloat>(_: T.Type) { softmaxKernel(x, output, log: log, T.self) }
        floatType(x.dtype, log ? "logSoftmax" : "softmax", run, run)
    }

    public func softmaxBackward(_ gradient: StridedBuffer, _ y: StridedBuffer, log: Bool, into output: StridedBuffer) {
        func run<T: AxonFloat>(_: T.Type) { softmaxBackwardKernel(gradient, y, output, log: log, T.self) }
        floatType(y.dtype, log ? "logSoftmax" : "softmax", run, run)
    }

    // MARK: Linear algebra

    public func matmul(_ a: StridedBuffer, _ b: StridedBuffer, transposeA: Bool, transposeB: Bool, into output: StridedBuffer,
                       accumulate: Bool) {
        func run<T: AxonFloat>(_: T.Type) {
            let r = output.shape.count
            let batch = r == 3 ? output.shape[0] : 1, m = output.shape[r - 2], n = output.shape[r - 1]
            let k = transposeA ? a.shape[a.shape.count - 2] : a.shape[a.shape.count - 1]
            let sa = matrixStrides(a, transposed: transposeA), sb = matrixStrides(b, transposed: transposeB)
            let pa = a.pointer(T.self), pb = b.pointer(T.self), pc = output.pointer(T.self)
            for z in 0..<batch {
                for i in 0..<m {
                    for j in 0..<n {
                        var s: T = accumulate ? pc[(z * m + i) * n + j] : 0
                        for p in 0..<k {
                            s += pa[z * sa.batch + i * sa.row + p * sa.column] * pb[z * sb.batch + p * sb.row + j * sb.column]
                        }
                        pc[(z * m + i) * n + j] = s
                    }
                }
            }
        }
        floatType(a.dtype, "matmul", run, run)
    }

    // MARK: Convolution and pooling

    public func conv2d(_ x: StridedBuffer, _ weight: StridedBuffer, _ bias: StridedBuffer?, _ g: Conv2dGeometry,
                       into output: StridedBuffer, keepColumns: Bool) -> TensorBuffer? {
        func run<T: AxonFloat>(_: T.Type) {
            let px = x.pointer(T.self), pw = weight.pointer(T.self), po = output.pointer(T.self)
            let pb = bias?.pointer(T.self), o = weight.shape[0]
            for n in 0..<g.batch {
                for oc in 0..<o {
                    for i in 0..<g.outH {
                        for j in 0..<g.outW {
                            var s: T = pb?[oc] ?? 0
                            forEachTap(g, i, j) { c, kh, kw, ih, iw in
                                s += px[((n * g.channels + c) * g.height + ih) * g.width + iw]
                                    * pw[((oc * g.channels + c) * g.kernelH + kh) * g.kernelW + kw]
                            }
                            po[((n * o + oc) * g.outH + i) * g.outW + j] = s
                        }
                    }
                }
            }
        }
        floatType(x.dtype, "conv2d", run, run)
        return nil
    }

    public func conv2dBackward(_ gradient: StridedBuffer, _ x: StridedBuffer, _ weight: StridedBuffer, _ g: Conv2dGeometry,
                               saved: TensorBuffer?, input: StridedBuffer?, weightGradient: StridedBuffer?,
                               biasGradient: StridedBuffer?) {
        func run<T: AxonFloat>(_: T.Type) {
            let pg = gradient.pointer(T.self), px = x.pointer(T.self), pw = weight.pointer(T.self), o = weight.shape[0]
            let dx = input?.pointer(T.self), dw = weightGradient?.pointer(T.self), db = biasGradient?.pointer(T.self)
            dx?.update(repeating: 0, count: x.count)
            dw?.update(repeating: 0, count: weight.count)
            db?.update(repeating: 0, count: o)
            for n in 0..<g.batch {
                for oc in 0..<o {
                    for i in 0..<g.outH {
                        for j in 0..<g.outW {
                            let gv = pg[((n * o + oc) * g.outH + i) * g.outW + j]
                            db?[oc] += gv
                            forEachTap(g, i, j) { c, kh, kw, ih, iw in
                                let xi = ((n * g.channels + c) * g.height + ih) * g.width + iw
                                let wi = ((oc * g.channels + c) * g.kernelH + kh) * g.kernelW + kw
                                dx?[xi] += gv * pw[wi]
                                dw?[wi] += gv * px[xi]
                            }
                        }
                    }
                }
            }
        }
        floatType(x.dtype, "conv2d", run, run)
    }

    public func maxPool2d(_ x: StridedBuffer, _ g: Conv2dGeometry, into output: StridedBuffer, indices: StridedBuffer?) {
        func run<T: AxonFloat>(_: T.Type) {
            let px = x.pointer(T.self), po = output.pointer(T.self), pi = indices?.pointer(Int.self)
            for plane in 0..<(g.batch * g.channels) {
                for i in 0..<g.outH {
                    for j in 0..<g.outW {
                        var best = -T.infinity, at = -1
                        forEachWindowTap(g, i, j) { _, _, ih, iw in
                            let k = (plane * g.height + ih) * g.width + iw, v = px[k]
                            // The first maximum, and NaN wherever it appears (PyTorch's rule).
                            if at < 0 || !(v <= best) && !best.isNaN { best = v; at = k }
                        }
                        let o = (plane * g.outH + i) * g.outW + j
                        po[o] = best
                        pi?[o] = at
                    }
                }
            }
        }
        floatType(x.dtype, "maxPool2d", run, run)
    }

    public func avgPool2d(_ x: StridedBuffer, _ g: Conv2dGeometry, into output: StridedBuffer) {
        func run<T: AxonFloat>(_: T.Type) {
            let px = x.pointer(T.self), po = output.pointer(T.self)
            for plane in 0..<(g.batch * g.channels) {
                for i in 0..<g.outH {
                    for j in 0..<g.outW {
                        var s: T = 0
                        forEachWindowTap(g, i, j) { _, _, ih, iw in s += px[(plane * g.height + ih) * g.width + iw] }
                        po[(plane * g.outH + i) * g.outW + j] = s / T(averageDivisor(g, i, j))
                    }
                }
            }
        }
        floatType(x.dtype, "avgPool2d", run, run)
    }

    public func avgPool2dBackward(_ gradient: StridedBuffer, _ g: Conv2dGeometry, into output: StridedBuffer) {
        func run<T: AxonFloat>(_: T.Type) {
            let pg = gradient.pointer(T.self), po = output.pointer(T.self)
            po.update(repeating: 0, count: output.count)
            for plane in 0..<(g.batch * g.channels) {
                for i in 0..<g.outH {
                    for j in 0..<g.outW {
                        let share = pg[(plane * g.outH + i) * g.outW + j] / T(averageDivisor(g, i, j))
                        forEachWindowTap(g, i, j) { _, _, ih, iw in po[(plane * g.height + ih) * g.width + iw] += share }
                    }
                }
            }
        }
        floatType(gradient.dtype, "avgPool2d", run, run)
    }

    // MARK: Indexing

    public func gather(_ x: StridedBuffer, indices: StridedBuffer, into output: StridedBuffer) {
        let xo = elementOffsets(x), idx = indices.pointer(Int.self)
        withElementType(x.dtype) { t in
            func run<T: MovableElement>(_: T.Type) {
                let s = x.buffer.pointer(T.self), o = output.pointer(T.self)
                for i in 0..<output.count { o[i] = s[xo[idx[i]]] }
            }
            run(t)
        }
    }

    public func scatterAdd(_ source: StridedBuffer, indices: StridedBuffer, into output: StridedBuffer) {
        func run<T: AxonFloat>(_: T.Type) { scatterAddKernel(source, indices, output, T.self) }
        floatType(source.dtype, "scatterAdd", run, run)
    }
}

/// Runs `f32` or `f64` by a float dtype; stops naming `op` for others.
@inline(__always)
private func floatType(_ dtype: DType, _ op: String, _ f32: (Float.Type) -> Void, _ f64: (Double.Type) -> Void) {
    switch dtype {
    case .float32: f32(Float.self)
    case .float64: f64(Double.self)
    default: axonFail(op, "needs a floating-point tensor, got \(dtype)")
    }
}

/// The buffer offset of every element of `view`, in row-major order of its shape.
func elementOffsets(_ view: StridedBuffer) -> [Int] {
    stridedIndices(shape: view.shape, strides: view.strides, base: view.offset)
}

/// Calls `body(kh, kw, ih, iw)` for every tap of window (i, j) that falls inside the image.
@inline(__always)
private func forEachWindowTap(_ g: Conv2dGeometry, _ i: Int, _ j: Int, _ body: (Int, Int, Int, Int) -> Void) {
    for kh in 0..<g.kernelH {
        let ih = i * g.strideH - g.padH + kh * g.dilationH
        if ih < 0 || ih >= g.height { continue }
        for kw in 0..<g.kernelW {
            let iw = j * g.strideW - g.padW + kw * g.dilationW
            if iw < 0 || iw >= g.width { continue }
            body(kh, kw, ih, iw)
        }
    }
}

/// Calls `body(c, kh, kw, ih, iw)` for every in-image kernel tap of output position (i, j), channel by channel.
@inline(__always)
private func forEachTap(_ g: Conv2dGeometry, _ i: Int, _ j: Int, _ body: (Int, Int, Int, Int, Int) -> Void) {
    for c in 0..<g.channels { forEachWindowTap(g, i, j) { kh, kw, ih, iw in body(c, kh, kw, ih, iw) } }
}

/// PyTorch's average-pooling divisor with count_include_pad: the window clipped to the padded image.
private func averageDivisor(_ g: Conv2dGeometry, _ i: Int, _ j: Int) -> Int {
    let h0 = i * g.strideH - g.padH, w0 = j * g.strideW - g.padW
    let h1 = min(h0 + g.kernelH, g.height + g.padH), w1 = min(w0 + g.kernelW, g.width + g.padW)
    return (h1 - h0) * (w1 - w0)
}
