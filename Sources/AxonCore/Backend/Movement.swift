// Data movement for any dtype on the CPU: strided copies with conversion, fills, gathers and scatters.

/// An element type the movement kernels convert between, through Double (exact for every float32 and
/// for integers below 2^53).
protocol MovableElement {
    init(converting value: Double)
    var doubleValue: Double { get }
}
extension Float: MovableElement {
    init(converting value: Double) { self = Float(value) }
    var doubleValue: Double { Double(self) }
}
extension Double: MovableElement {
    init(converting value: Double) { self = value }
    var doubleValue: Double { self }
}
extension Int: MovableElement {
    /// Truncates toward zero; NaN becomes 0 and out-of-range values saturate (never a trap: data can
    /// reach this).
    init(converting value: Double) {
        if value.isNaN { self = 0 } else if value >= 9.2e18 { self = .max } else if value <= -9.2e18 { self = .min } else { self = Int(value) }
    }
    var doubleValue: Double { Double(self) }
}
extension Bool: MovableElement {
    init(converting value: Double) { self = value != 0 }
    var doubleValue: Double { self ? 1 : 0 }
}

/// Runs `body` with the Swift type of `dtype`.
@inline(__always)
func withElementType<R>(_ dtype: DType, _ body: (any MovableElement.Type) -> R) -> R {
    switch dtype {
    case .float32: return body(Float.self)
    case .float64: return body(Double.self)
    case .int64: return body(Int.self)
    case .bool: return body(Bool.self)
    }
}

/// Copies `source` into `destination` element by element, same type.
func copyKernel<T>(_ source: StridedBuffer, _ destination: StridedBuffer, _: T.Type) {
    let s = source.pointer(T.self), d = destination.pointer(T.self)
    if source.isContiguous && destination.isContiguous {
        let n = destination.count
        if s == d || n == 0 { return }
        let src = SendablePointer(pointer: s), dst = SendablePointer(pointer: d)
        parallelFor(n, grain: elementwiseGrain * 4) { range in
            (dst.pointer + range.lowerBound).update(from: src.pointer + range.lowerBound, count: range.count)
        }
        return
    }
    let ds = source.lastStride, dd = destination.lastStride
    // The rows split across the threads (a permuted view made contiguous: attention's heads), into a view too where
    // its elements are distinct.
    forEachOutputRow(destination, source, grain: elementwiseGrain * 4) { o, i, _, _, n in
        if dd == 1 && ds == 0 {
            (d + o).update(repeating: s[i], count: n)
        } else if dd == 1 && ds == 1 {
            (d + o).update(from: s + i, count: n)
        } else {
            for j in 0..<n { d[o + j * dd] = s[i + j * ds] }
        }
    }
}

/// Copies with conversion from `S` to `D`.
func convertKernel<S: MovableElement, D: MovableElement>(_ source: StridedBuffer, _ destination: StridedBuffer,
                                                         _: S.Type, _: D.Type) {
    let s = source.pointer(S.self), d = destination.pointer(D.self)
    let ds = source.lastStride, dd = destination.lastStride
    forEachRow(destination.shape, destination, source) { o, i, _, _, n in
        for j in 0..<n { d[o + j * dd] = D(converting: s[i + j * ds].doubleValue) }
    }
}

/// Sets every element of `destination` to `value`.
func fillKernel<T>(_ destination: StridedBuffer, _ value: T) {
    let d = destination.pointer(T.self)
    if destination.isContiguous {
        let dst = SendablePointer(pointer: d)
        parallelFor(destination.count, grain: elementwiseGrain * 4) { range in
            (dst.pointer + range.lowerBound).update(repeating: value, count: range.count)
        }
        return
    }
    let dd = destination.lastStride
    forEachRow(destination.shape, destination, destination) { o, _, _, _, n in
        for j in 0..<n { d[o + j * dd] = value }
    }
}

/// output[i] = x[indices[i]] for a contiguous x.
func gatherKernel<T>(_ x: StridedBuffer, _ indices: StridedBuffer, _ output: StridedBuffer, _: T.Type) {
    let src = SendablePointer(pointer: x.pointer(T.self)), idx = SendablePointer(pointer: indices.pointer(Int.self))
    let out = SendablePointer(pointer: output.pointer(T.self))
    parallelFor(output.count, grain: elementwiseGrain) { range in
        for i in range { (out.pointer + i).initialize(to: src.pointer[idx.pointer[i]]) }
    }
}

/// output = 0, then output[indices[i]] += source[i] in order, on one thread.
func scatterAddKernel<T: AxonFloat>(_ source: StridedBuffer, _ indices: StridedBuffer, _ output: StridedBuffer, _: T.Type) {
    let out = output.pointer(T.self), v = source.pointer(T.self), idx = indices.pointer(Int.self)
    out.update(repeating: 0, count: output.count)
    for k in 0..<indices.count { out[idx[k]] += v[k] }
}

/// Source offsets of a strided walk: output element i (row-major over `shape`) reads from the
/// returned offset, where the input has `strides` per output dimension.
func stridedIndices(shape: [Int], strides: [Int], base: Int = 0) -> [Int] {
    let count = shapeCount(shape)
    var out = [Int](repeating: 0, count: count)
    if count == 0 { return out }
    let last = strides.last ?? 0
    out.withUnsafeMutableBufferPointer { o in
        var k = 0
        forEachRow(shape, strides, strides) { off, _, _, _, n in
            for j in 0..<n { o[k] = base + off + j * last; k += 1 }
        }
    }
    return out
}
