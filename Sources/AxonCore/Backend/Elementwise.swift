import _AxonKernels
import RealModule

/// Float element types the kernels are written for (Float and Double).
protocol AxonFloat: Real, BinaryFloatingPoint {}
extension Float: AxonFloat {}
extension Double: AxonFloat {}

/// A float buffer seen as `Float` (callers check `T.self == Float.self`), for the C kernels.
@inline(__always) func floats<T>(_ p: UnsafePointer<T>) -> UnsafePointer<Float> {
    UnsafeRawPointer(p).assumingMemoryBound(to: Float.self)
}
@inline(__always) func floats<T>(_ p: UnsafeMutablePointer<T>) -> UnsafePointer<Float> {
    UnsafeRawPointer(p).assumingMemoryBound(to: Float.self)
}
@inline(__always) func mutableFloats<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
}

/// Elements per task below which an elementwise loop stays on one thread.
package let elementwiseGrain = 1 << 15

/// One element of a unary op. float32 sigmoid, tanh, erf and GELU come from the C kernels (transcendental.c), which
/// give the same bits one element at a time as in their vector loops. exp stays the C library's (within half an ulp,
/// where the vector exp is within 2): softmax's gradients in float32 need that to match PyTorch at rel 1e-4.
@inline(__always)
func applyUnary<T: AxonFloat>(_ op: UnaryOp, _ x: T) -> T {
    switch op {
    case .exp: return T.exp(x)
    case .log: return T.log(x)
    case .log1p: return T.log(onePlus: x)
    case .sqrt: return x.squareRoot()
    case .sin: return T.sin(x)
    case .tanh: return T.self == Float.self ? T(axon_tanh_f32_one(Float(x))) : T.tanh(x)
    case .sigmoid:
        if T.self == Float.self { return T(axon_sigmoid_f32_one(Float(x))) }
        // Written so that neither branch overflows: exp of a non-positive number only.
        if x >= 0 { return 1 / (1 + T.exp(-x)) }
        let e = T.exp(x)
        return e / (1 + e)
    case .relu: return x <= 0 ? 0 : x  // NaN stays NaN (as PyTorch), -0 becomes 0
    case .erf: return T.self == Float.self ? T(axon_erf_f32_one(Float(x))) : T.erf(x)
    case .sign: return x > 0 ? 1 : (x < 0 ? -1 : 0)
    case .step: return x > 0 ? 1 : 0
    case .gelu:
        if T.self == Float.self { return T(axon_gelu_f32_one(Float(x))) }
        return 0.5 * x * (1 + T.erf(x / T(2).squareRoot()))  // the composed form's order
    }
}

@inline(__always)
func applyBinary<T: AxonFloat>(_ op: BinaryOp, _ a: T, _ b: T) -> T {
    switch op {
    case .add: return a + b
    case .sub: return a - b
    case .mul: return a * b
    case .div: return a / b
    case .maximum: return a.isNaN || b.isNaN ? .nan : Swift.max(a, b)
    case .pow:
        // Integral exponents are defined for negative bases too (as PyTorch's pow).
        if b == b.rounded(), Swift.abs(b) < 1_000_000 { return T.pow(a, Int(b)) }
        return T.pow(a, b)
    case .eq, .ne, .lt, .le, .gt, .ge: return applyComparison(op, a, b) ? 1 : 0
    case .reluBackward: return b <= 0 ? 0 : a  // as PyTorch's threshold_backward (passes at NaN)
    case .tanhBackward: return a * (1 - b * b)
    case .sigmoidBackward: return a * (1 - b) * b
    case .geluBackward:
        if T.self == Float.self { return T(axon_gelu_backward_f32_one(Float(a), Float(b))) }
        let cdf = 0.5 * (1 + T.erf(b / T(2).squareRoot())), pdf = T.exp(-0.5 * b * b) / (2 * T.pi).squareRoot()
        return a * (cdf + b * pdf)
    }
}


/// A comparison's truth (NaN compares false except for `ne`, as IEEE and PyTorch).
@inline(__always)
func applyComparison<T: Comparable>(_ op: BinaryOp, _ a: T, _ b: T) -> Bool {
    switch op {
    case .eq: return a == b
    case .ne: return a != b
    case .lt: return a < b
    case .le: return a <= b
    case .gt: return a > b
    case .ge: return a >= b
    default: return false
    }
}

/// Walks `shape` in rows of its last dimension. For each row it passes the start offset of up to four
/// operands (views with `shape`, each with its own strides: contiguous, transposed, sliced or broadcast
/// with stride 0) and the row length; the strides along the row are the operands' ``StridedBuffer/lastStride``.
/// The strides are read into stack memory, so a walk allocates nothing.
@inline(__always)
func forEachRow(_ shape: [Int], _ v0: StridedBuffer, _ v1: StridedBuffer, _ v2: StridedBuffer? = nil,
                _ v3: StridedBuffer? = nil, rows: Range<Int>? = nil,
                _ body: (_ o0: Int, _ o1: Int, _ o2: Int, _ o3: Int, _ n: Int) -> Void) {
    let r = shape.count
    withUnsafeTemporaryAllocation(of: Int.self, capacity: 4 * r + 1) { buffer in
        let p = buffer.baseAddress!
        v0.writeStrides(to: p)
        v1.writeStrides(to: p + r)
        (v2 ?? v0).writeStrides(to: p + 2 * r)  // an absent operand walks with v0's strides; the body ignores it
        (v3 ?? v0).writeStrides(to: p + 3 * r)
        forEachRow(shape, p, p + r, p + 2 * r, p + 3 * r, rows: rows, body)
    }
}

/// The same walk, for an op that writes `output` (`v0`): its rows are split across the threads in ranges of about
/// `grain` elements, each row written by one thread (a slice of an LSTM's packed states' gradient, accumulated, ran on
/// one thread while the others waited). An output whose elements are not all distinct memory (a broadcast view), or
/// whose buffer an operand reads too, is walked in one piece, in order.
func forEachOutputRow(_ output: StridedBuffer, _ v1: StridedBuffer, _ v2: StridedBuffer? = nil, grain: Int,
                      _ body: (_ o0: Int, _ o1: Int, _ o2: Int, _ o3: Int, _ n: Int) -> Void) {
    let shared = v1.buffer === output.buffer || v2.map { $0.buffer === output.buffer } ?? false
    if !shared, output.hasDistinctElements, let n = output.shape.last, n > 0 {
        parallelFor(output.count / n, grain: Swift.max(1, grain / n)) { rows in
            forEachRow(output.shape, output, v1, v2, rows: rows, body)
        }
    } else {
        forEachRow(output.shape, output, v1, v2, rows: nil, body)
    }
}

extension StridedBuffer {
    /// Whether no two elements of the view are the same memory (contiguous, a slice, a permutation): taken by their
    /// strides' size, every dimension of more than one element steps past all the offsets the smaller ones reach.
    /// (The dimensions are taken in that order by repeated search, without allocating: a walk allocates nothing.)
    var hasDistinctElements: Bool {
        guard let strides = explicitStrides else { return true }
        var reach = 0, last = 0
        while true {
            var next = Int.max, size = 0, ties = 0
            for (n, s) in zip(shape, strides) where n > 1 {
                let s = Swift.abs(s)
                if s == 0 { return false }
                if s > last && s < next { next = s; size = n; ties = 1 } else if s == next { ties += 1 }
            }
            if next == Int.max { return true }
            if ties > 1 || next <= reach { return false }
            reach += (size - 1) * next
            last = next
        }
    }
}

/// The same walk over stride arrays (two operands).
func forEachRow(_ shape: [Int], _ s0: [Int], _ s1: [Int], _ body: (_ o0: Int, _ o1: Int, _ o2: Int, _ o3: Int, _ n: Int) -> Void) {
    let r = shape.count
    withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * r + 1) { buffer in
        let p = buffer.baseAddress!
        for i in 0..<r { p[i] = s0[i]; p[r + i] = s1[i] }
        forEachRow(shape, p, p + r, p, p, rows: nil, body)
    }
}

/// The walk itself, over the rows `part` (by their place in the walk's order; nil: all of them), so that a walk can be
/// split across threads.
@inline(__always)
private func forEachRow(_ shape: [Int], _ s0: UnsafePointer<Int>, _ s1: UnsafePointer<Int>, _ s2: UnsafePointer<Int>,
                        _ s3: UnsafePointer<Int>, rows part: Range<Int>?,
                        _ body: (_ o0: Int, _ o1: Int, _ o2: Int, _ o3: Int, _ n: Int) -> Void) {
    let r = shape.count
    if r == 0 { body(0, 0, 0, 0, 1); return }
    let n = shape[r - 1]
    let rows = shapeCount(shape) / Swift.max(n, 1)
    if n == 0 || rows == 0 { return }
    if rows == 1 { body(0, 0, 0, 0, n); return }
    withUnsafeTemporaryAllocation(of: Int.self, capacity: r) { index in
        index.initialize(repeating: 0)
        var o0 = 0, o1 = 0, o2 = 0, o3 = 0
        let part = part ?? 0..<rows
        var first = part.lowerBound  // its index and offsets
        for d in stride(from: r - 2, through: 0, by: -1) where first > 0 {
            index[d] = first % shape[d]
            first /= shape[d]
            o0 += index[d] * s0[d]; o1 += index[d] * s1[d]; o2 += index[d] * s2[d]; o3 += index[d] * s3[d]
        }
        for _ in part {
            body(o0, o1, o2, o3, n)
            var d = r - 2
            while d >= 0 {
                index[d] += 1
                o0 += s0[d]; o1 += s1[d]; o2 += s2[d]; o3 += s3[d]
                if index[d] < shape[d] { break }
                o0 -= s0[d] * shape[d]; o1 -= s1[d] * shape[d]; o2 -= s2[d] * shape[d]; o3 -= s3[d] * shape[d]
                index[d] = 0
                d -= 1
            }
        }
    }
}

extension StridedBuffer {
    /// The stride of the last dimension (0 for a scalar), without building the strides array.
    @inline(__always) var lastStride: Int { explicitStrides?.last ?? (shape.isEmpty ? 0 : 1) }

    /// Writes the strides (`shape.count` of them) to `p`: the explicit ones, or row-major ones computed here.
    @inline(__always) func writeStrides(to p: UnsafeMutablePointer<Int>) {
        if let st = explicitStrides {
            for i in 0..<st.count { p[i] = st[i] }
            return
        }
        var step = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            p[i] = step
            step *= shape[i]
        }
    }
}

/// Whether every stride is 0 (one element seen everywhere).
@inline(__always) func isScalarBroadcast(_ v: StridedBuffer) -> Bool {
    v.explicitStrides.map { $0.allSatisfy { $0 == 0 } } ?? (v.count == 1)
}

/// output = op(x), elementwise, for float types; the output may be x itself.
func unaryKernel<T: AxonFloat>(_ op: UnaryOp, _ x: StridedBuffer, _ output: StridedBuffer, _: T.Type) {
    let s = x.pointer(T.self), o = output.pointer(T.self)
    let vector = T.self == Float.self ? floatVectorKernel(op) : nil
    if x.isContiguous && output.isContiguous {
        let src = SendablePointer(pointer: s), dst = SendablePointer(pointer: o)
        parallelFor(output.count, grain: op == .relu ? elementwiseGrain : elementwiseGrain / 8) { range in
            let s = src.pointer + range.lowerBound, out = dst.pointer + range.lowerBound
            if let vector { return vector(floats(s), mutableFloats(out), range.count) }
            for i in 0..<range.count { out[i] = applyUnary(op, s[i]) }
        }
        return
    }
    let dx = x.lastStride, dout = output.lastStride
    forEachRow(output.shape, output, x) { oo, xo, _, _, n in
        if let vector, dx == 1, dout == 1 { return vector(floats(s + xo), mutableFloats(o + oo), n) }  // rows of a view
        for j in 0..<n { o[oo + j * dout] = applyUnary(op, s[xo + j * dx]) }
    }
}

/// The C loop of a float32 unary op, where there is one: branch-free ReLU, and the vectorised sigmoid, tanh, erf and
/// GELU (which give ``applyUnary``'s bits).
func floatVectorKernel(_ op: UnaryOp) -> ((UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void)? {
    switch op {
    case .relu: return { axon_relu_f32($0, $1, $2) }
    case .sigmoid: return { axon_sigmoid_f32($0, $1, $2) }
    case .tanh: return { axon_tanh_f32($0, $1, $2) }
    case .erf: return { axon_erf_f32($0, $1, $2) }
    case .gelu: return { axon_gelu_f32($0, $1, $2) }
    default: return nil
    }
}

/// output = op(a, b) for float types, a and b broadcast to output's shape through their strides.
func binaryKernel<T: AxonFloat>(_ op: BinaryOp, _ a: StridedBuffer, _ b: StridedBuffer, _ output: StridedBuffer, _: T.Type) {
    let x = a.pointer(T.self), y = b.pointer(T.self), o = output.pointer(T.self)
    let count = output.count
    if count == 0 { return }
    let px = SendablePointer(pointer: x), py = SendablePointer(pointer: y), po = SendablePointer(pointer: o)
    if output.isContiguous && a.isContiguous && b.isContiguous {
        parallelFor(count, grain: elementwiseGrain) { range in
            let at = range.lowerBound
            binaryLoop(op, px.pointer + at, py.pointer + at, po.pointer + at, range.count)
        }
        return
    }
    if output.isContiguous && a.isContiguous && isScalarBroadcast(b) {
        let s = y[0]
        parallelFor(count, grain: elementwiseGrain) { range in
            let x = px.pointer, o = po.pointer
            switch op {
            case .add: for i in range { o[i] = x[i] + s }
            case .mul: for i in range { o[i] = x[i] * s }
            default: for i in range { o[i] = applyBinary(op, x[i], s) }
            }
        }
        return
    }
    if output.isContiguous && isScalarBroadcast(a) && b.isContiguous {
        let s = x[0]
        parallelFor(count, grain: elementwiseGrain) { range in
            let y = py.pointer, o = po.pointer
            for i in range { o[i] = applyBinary(op, s, y[i]) }
        }
        return
    }
    let da = a.lastStride, db = b.lastStride, dout = output.lastStride
    forEachRow(output.shape, output, a, b) { oo, ao, bo, _, n in
        // Rows contiguous in every operand (a row-wise broadcast such as x·w over the last axis, or a slice):
        // the contiguous loop, vectorised, row by row.
        if dout == 1 && da == 1 && db == 1 { return binaryLoop(op, x + ao, y + bo, o + oo, n) }
        for j in 0..<n { o[oo + j * dout] = applyBinary(op, x[ao + j * da], y[bo + j * db]) }
    }
}

/// o[i] = op(x[i], y[i]) for i in 0..<n, contiguous: the loop chosen once per call (the arithmetic ops and
/// the activations' derivatives vectorise; ReLU's and GELU's float32 derivatives are C loops), applyBinary's bits.
@inline(__always)
private func binaryLoop<T: AxonFloat>(_ op: BinaryOp, _ x: UnsafeMutablePointer<T>, _ y: UnsafeMutablePointer<T>,
                                      _ o: UnsafeMutablePointer<T>, _ n: Int) {
    switch op {
    case .add: for i in 0..<n { o[i] = x[i] + y[i] }
    case .sub: for i in 0..<n { o[i] = x[i] - y[i] }
    case .mul: for i in 0..<n { o[i] = x[i] * y[i] }
    case .div: for i in 0..<n { o[i] = x[i] / y[i] }
    case .reluBackward:
        if T.self == Float.self {  // branch-free C loop
            axon_relu_backward_f32(floats(x), floats(y), mutableFloats(o), n)
        } else {
            for i in 0..<n { o[i] = y[i] <= 0 ? 0 : x[i] }
        }
    case .tanhBackward: for i in 0..<n { o[i] = x[i] * (1 - y[i] * y[i]) }
    case .geluBackward where T.self == Float.self:  // the vectorised C loop, applyBinary's bits
        axon_gelu_backward_f32(floats(x), floats(y), mutableFloats(o), n)
    default: for i in 0..<n { o[i] = applyBinary(op, x[i], y[i]) }
    }
}

/// output (bool) = a op b, for any comparable element type, broadcast through strides.
func compareKernel<T: Comparable>(_ op: BinaryOp, _ a: StridedBuffer, _ b: StridedBuffer, _ output: StridedBuffer, _: T.Type) {
    let x = a.pointer(T.self), y = b.pointer(T.self), o = output.pointer(Bool.self)
    let da = a.lastStride, db = b.lastStride, dout = output.lastStride
    forEachRow(output.shape, output, a, b) { oo, ao, bo, _, n in
        for j in 0..<n { o[oo + j * dout] = applyComparison(op, x[ao + j * da], y[bo + j * db]) }
    }
}

/// output = condition ? a : b, for any element type, broadcast through strides.
func selectKernel<T>(_ condition: StridedBuffer, _ a: StridedBuffer, _ b: StridedBuffer, _ output: StridedBuffer, _: T.Type) {
    let m = condition.pointer(Bool.self), x = a.pointer(T.self), y = b.pointer(T.self), o = output.pointer(T.self)
    let dm = condition.lastStride, da = a.lastStride, db = b.lastStride, dout = output.lastStride
    forEachRow(output.shape, output, condition, a, b) { oo, mo, ao, bo, n in
        for j in 0..<n { (o + oo + j * dout).initialize(to: m[mo + j * dm] ? x[ao + j * da] : y[bo + j * db]) }
    }
}

/// y ← beta·y + alpha·x (beta = 1 skips the multiply, so the common `add_` rounds as PyTorch's).
func axpbyKernel<T: AxonFloat>(_ y: StridedBuffer, _ x: StridedBuffer, _ alpha: T, _ beta: T) {
    let py = y.pointer(T.self), px = x.pointer(T.self)
    if y.isContiguous && x.isContiguous {
        let out = SendablePointer(pointer: py), src = SendablePointer(pointer: px)
        parallelFor(y.count, grain: elementwiseGrain) { range in
            let y = out.pointer, x = src.pointer
            if beta == 1 {
                for i in range { y[i] += alpha * x[i] }
            } else {
                for i in range { y[i] = y[i] * beta + alpha * x[i] }
            }
        }
        return
    }
    let dy = y.lastStride, dx = x.lastStride
    forEachOutputRow(y, x, grain: elementwiseGrain) { yo, xo, _, _, n in
        for j in 0..<n {
            let k = yo + j * dy
            py[k] = beta == 1 ? py[k] + alpha * px[xo + j * dx] : py[k] * beta + alpha * px[xo + j * dx]
        }
    }
}

/// y ← beta·y + alpha·a·b.
func axpbyProductKernel<T: AxonFloat>(_ y: StridedBuffer, _ a: StridedBuffer, _ b: StridedBuffer, _ alpha: T, _ beta: T) {
    let py = y.pointer(T.self), pa = a.pointer(T.self), pb = b.pointer(T.self)
    if y.isContiguous && a.isContiguous && b.isContiguous {
        let out = SendablePointer(pointer: py), sa = SendablePointer(pointer: pa), sb = SendablePointer(pointer: pb)
        parallelFor(y.count, grain: elementwiseGrain) { range in
            let y = out.pointer, a = sa.pointer, b = sb.pointer
            for i in range { y[i] = y[i] * beta + alpha * (a[i] * b[i]) }
        }
        return
    }
    let dy = y.lastStride, da = a.lastStride, db = b.lastStride
    forEachOutputRow(y, a, b, grain: elementwiseGrain) { yo, ao, bo, _, n in
        for j in 0..<n {
            let k = yo + j * dy
            py[k] = py[k] * beta + alpha * (pa[ao + j * da] * pb[bo + j * db])
        }
    }
}

/// The broadcast result shape of two shapes (NumPy rules); stops with a message naming `op` otherwise.
func broadcastShapes(_ a: [Int], _ b: [Int], op: String) -> [Int] {
    if a == b { return a }
    let r = max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
        let da = i - (r - a.count) >= 0 ? a[i - (r - a.count)] : 1
        let db = i - (r - b.count) >= 0 ? b[i - (r - b.count)] : 1
        if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else {
            axonFail(op, "shapes \(a) and \(b) cannot be broadcast together (dimension \(i): \(da) vs \(db))")
        }
    }
    return out
}
