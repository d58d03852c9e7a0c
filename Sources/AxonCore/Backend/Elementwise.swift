import _AxonKernels
import RealModule

/// Float element types the kernels are written for (Float and Double).
protocol AxonFloat: Real, BinaryFloatingPoint {}
extension Float: AxonFloat {}
extension Double: AxonFloat {}

/// Primitive one-input operations; derivative rules are in Tensor+Elementwise.swift.
enum UnaryOp {
    case neg, exp, log, log1p, sqrt, abs, sin, cos, tanh, sigmoid, relu, erf, sign, step
}

/// Primitive two-input operations (with broadcasting).
enum BinaryOp {
    case add, sub, mul, div, maximum, minimum, pow
    case eq, ne, lt, le, gt, ge
    /// Derivative rules fused into one pass, as `(g, y)` with y the activation's output (same shapes):
    /// g where y > 0 (ReLU), g(1 - y²) (tanh), g(1 - y)y (sigmoid, PyTorch's order).
    case reluBackward, tanhBackward, sigmoidBackward
}

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
let elementwiseGrain = 1 << 15

/// Builds an array of `count` elements by filling disjoint ranges in parallel.
@inline(__always)
func makeArray<T>(_ count: Int, grain: Int = elementwiseGrain,
                  _ fill: (UnsafeMutablePointer<T>, Range<Int>) -> Void) -> [T] {
    [T](unsafeUninitializedCapacity: count) { buffer, initialized in
        let out = SendablePointer(pointer: buffer.baseAddress ?? UnsafeMutablePointer<T>.allocate(capacity: 0))
        if count > 0 { parallelFor(count, grain: grain) { range in fill(out.pointer, range) } }
        initialized = count
    }
}

@inline(__always)
func applyUnary<T: AxonFloat>(_ op: UnaryOp, _ x: T) -> T {
    switch op {
    case .neg: return -x
    case .exp: return T.exp(x)
    case .log: return T.log(x)
    case .log1p: return T.log(onePlus: x)
    case .sqrt: return x.squareRoot()
    case .abs: return Swift.abs(x)
    case .sin: return T.sin(x)
    case .cos: return T.cos(x)
    case .tanh: return T.self == Float.self ? fastTanh(x) : T.tanh(x)
    case .sigmoid:
        // Written so that neither branch overflows: exp of a non-positive number only.
        if x >= 0 { return 1 / (1 + T.exp(-x)) }
        let e = T.exp(x)
        return e / (1 + e)
    case .relu: return x > 0 ? x : 0
    case .erf: return T.erf(x)
    case .sign: return x > 0 ? 1 : (x < 0 ? -1 : 0)
    case .step: return x > 0 ? 1 : 0
    }
}

/// float32 tanh from one exp: the odd Taylor polynomial to x¹³ below 0.3, ±1 beyond 9 (tanh rounds to 1
/// in float32 there), else 1 − 2/(e^{2|x|} + 1) with the sign put back. At most 2.5 float32 ulps from the
/// exact value (checked over [-12, 12] against float64), and cheaper than the C library's tanhf, which
/// was 13% of a Playground-size training step.
@inline(__always)
func fastTanh<T: AxonFloat>(_ x: T) -> T {
    let a = Swift.abs(x)
    if a < 0.3 {
        let x2 = x * x
        let c13: T = 21844 / 6081075, c11: T = -1382 / 155925, c9: T = 62 / 2835, c7: T = -17 / 315
        let c5: T = 2 / 15, c3: T = -1 / 3
        var p = c11 + x2 * c13
        p = c9 + x2 * p
        p = c7 + x2 * p
        p = c5 + x2 * p
        p = c3 + x2 * p
        return x + x * (x2 * p)
    }
    if a > 9 { return x > 0 ? 1 : -1 }
    let t = 1 - 2 / (T.exp(2 * a) + 1)  // NaN passes through
    return x < 0 ? -t : t
}

@inline(__always)
func applyBinary<T: AxonFloat>(_ op: BinaryOp, _ a: T, _ b: T) -> T {
    switch op {
    case .add: return a + b
    case .sub: return a - b
    case .mul: return a * b
    case .div: return a / b
    case .maximum: return a.isNaN || b.isNaN ? .nan : Swift.max(a, b)
    case .minimum: return a.isNaN || b.isNaN ? .nan : Swift.min(a, b)
    case .pow:
        // Integral exponents are defined for negative bases too (as PyTorch's pow).
        if b == b.rounded(), Swift.abs(b) < 1_000_000 { return T.pow(a, Int(b)) }
        return T.pow(a, b)
    case .eq: return a == b ? 1 : 0
    case .ne: return a != b ? 1 : 0
    case .lt: return a < b ? 1 : 0
    case .le: return a <= b ? 1 : 0
    case .gt: return a > b ? 1 : 0
    case .ge: return a >= b ? 1 : 0
    case .reluBackward: return b > 0 ? a : 0
    case .tanhBackward: return a * (1 - b * b)
    case .sigmoidBackward: return a * (1 - b) * b
    }
}

func unaryKernel<T: AxonFloat>(_ op: UnaryOp, _ x: [T]) -> [T] {
    x.withUnsafeBufferPointer { src in
        let s = src.baseAddress!
        return makeArray(x.count, grain: op == .neg || op == .relu || op == .abs ? elementwiseGrain : elementwiseGrain / 8) { out, range in
            switch op {  // one loop per op so each inner loop is a single specialised body
            case .neg: for i in range { out[i] = -s[i] }
            case .relu:
                if T.self == Float.self {  // branch-free C loop
                    axon_relu_f32(floats(s + range.lowerBound), mutableFloats(out + range.lowerBound), range.count)
                } else {
                    for i in range { out[i] = s[i] > 0 ? s[i] : 0 }
                }
            case .abs: for i in range { out[i] = Swift.abs(s[i]) }
            default: for i in range { out[i] = applyUnary(op, s[i]) }
            }
        }
    }
}

/// Broadcast strides of a shape against an output shape (0 where the input is broadcast).
func broadcastStrides(_ shape: [Int], to out: [Int]) -> [Int] {
    let strides = contiguousStrides(shape)
    let offset = out.count - shape.count
    return (0..<out.count).map { i in
        let j = i - offset
        if j < 0 || shape[j] == 1 { return 0 }
        return strides[j]
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

/// Walks the output in rows of its last dimension, giving each row's output offset and the offsets
/// of up to two broadcast inputs, with their strides along the row.
@inline(__always)
func forEachBroadcastRow(_ out: [Int], _ sa: [Int], _ sb: [Int],
                         _ body: (_ o: Int, _ a: Int, _ b: Int, _ n: Int, _ da: Int, _ db: Int) -> Void) {
    let r = out.count
    if r == 0 { body(0, 0, 0, 1, 0, 0); return }
    let n = out[r - 1]
    let rows = shapeCount(out) / max(n, 1)
    if n == 0 || rows == 0 { return }
    var index = [Int](repeating: 0, count: r)
    var oa = 0, ob = 0
    for row in 0..<rows {
        body(row * n, oa, ob, n, sa[r - 1], sb[r - 1])
        var d = r - 2
        while d >= 0 {
            index[d] += 1
            oa += sa[d]; ob += sb[d]
            if index[d] < out[d] { break }
            oa -= sa[d] * out[d]; ob -= sb[d] * out[d]
            index[d] = 0
            d -= 1
        }
    }
}

func binaryKernel<T: AxonFloat>(_ op: BinaryOp, _ a: [T], _ aShape: [Int], _ b: [T], _ bShape: [Int],
                                _ out: [Int]) -> [T] {
    let count = shapeCount(out)
    return a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            let x = pa.baseAddress!, y = pb.baseAddress!
            if aShape == bShape {
                return makeArray(count) { o, range in
                    switch op {
                    case .add: for i in range { o[i] = x[i] + y[i] }
                    case .sub: for i in range { o[i] = x[i] - y[i] }
                    case .mul: for i in range { o[i] = x[i] * y[i] }
                    case .div: for i in range { o[i] = x[i] / y[i] }
                    case .reluBackward:
                        if T.self == Float.self {  // branch-free C loop
                            axon_relu_backward_f32(floats(x + range.lowerBound), floats(y + range.lowerBound),
                                                   mutableFloats(o + range.lowerBound), range.count)
                        } else {
                            for i in range { o[i] = y[i] > 0 ? x[i] : 0 }
                        }
                    case .tanhBackward: for i in range { o[i] = x[i] * (1 - y[i] * y[i]) }
                    default: for i in range { o[i] = applyBinary(op, x[i], y[i]) }
                    }
                }
            }
            if b.count == 1 {
                let s = y[0]
                return makeArray(count) { o, range in
                    switch op {
                    case .add: for i in range { o[i] = x[i] + s }
                    case .mul: for i in range { o[i] = x[i] * s }
                    default: for i in range { o[i] = applyBinary(op, x[i], s) }
                    }
                }
            }
            if a.count == 1 {
                let s = x[0]
                return makeArray(count) { o, range in
                    for i in range { o[i] = applyBinary(op, s, y[i]) }
                }
            }
            let sa = broadcastStrides(aShape, to: out), sb = broadcastStrides(bShape, to: out)
            return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                let o = buffer.baseAddress!
                forEachBroadcastRow(out, sa, sb) { oo, ao, bo, n, da, db in
                    for j in 0..<n { o[oo + j] = applyBinary(op, x[ao + j * da], y[bo + j * db]) }
                }
                initialized = count
            }
        }
    }
}

/// Copies a tensor's elements broadcast to `out` (materialised expand).
func broadcastCopy<T>(_ a: [T], _ aShape: [Int], to out: [Int]) -> [T] {
    let count = shapeCount(out)
    if aShape == out { return a }
    let sa = broadcastStrides(aShape, to: out)
    return a.withUnsafeBufferPointer { pa in
        let x = pa.baseAddress!
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            let o = buffer.baseAddress!
            forEachBroadcastRow(out, sa, sa) { oo, ao, _, n, da, _ in
                if da == 0 {
                    (o + oo).initialize(repeating: x[ao], count: n)
                } else {
                    for j in 0..<n { (o + oo + j).initialize(to: x[ao + j]) }
                }
            }
            initialized = count
        }
    }
}
