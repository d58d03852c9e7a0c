/// Primitive reductions.
enum ReduceOp { case sum, max, min }

/// Reduces `x` (shape `shape`) over `axes` into an array of shape `keep` (reduced axes set to 1).
/// Walks the input row by row; each output element accumulates its inputs in row-major order, on one
/// thread, so results never depend on the thread count.
func reduceKernel<T: AxonFloat>(_ op: ReduceOp, _ x: [T], _ shape: [Int], _ keep: [Int]) -> [T] {
    let outCount = shapeCount(keep)
    let initial: T = op == .sum ? 0 : (op == .max ? -T.infinity : T.infinity)
    var out = [T](repeating: initial, count: outCount)
    if x.isEmpty { return out }
    let so = broadcastStrides(keep, to: shape)
    x.withUnsafeBufferPointer { px in
        out.withUnsafeMutableBufferPointer { po in
            let src = px.baseAddress!, dst = po.baseAddress!
            forEachBroadcastRow(shape, so, so) { row, o, _, n, d, _ in
                let s = src + row
                switch (op, d) {
                case (.sum, 0):
                    var acc = dst[o]
                    for j in 0..<n { acc += s[j] }
                    dst[o] = acc
                case (.sum, _):
                    for j in 0..<n { dst[o + j] += s[j] }
                case (.max, _):
                    for j in 0..<n {
                        let v = s[j], k = o + j * d
                        if v > dst[k] || v.isNaN { dst[k] = v }
                    }
                case (.min, _):
                    for j in 0..<n {
                        let v = s[j], k = o + j * d
                        if v < dst[k] || v.isNaN { dst[k] = v }
                    }
                }
            }
        }
    }
    return out
}
