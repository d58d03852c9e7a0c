// Data movement for any dtype: every movement op is a gather through an index map, which keeps the
// dtype switch in one place.

extension Storage {
    /// Elements at `indices`, in that order.
    func gathered(_ indices: [Int]) -> Storage {
        func pick<T>(_ a: [T]) -> [T] {
            a.withUnsafeBufferPointer { src in
                indices.withUnsafeBufferPointer { idx in
                    makeArray(idx.count) { out, range in
                        for i in range { (out + i).initialize(to: src[idx[i]]) }
                    }
                }
            }
        }
        switch self {
        case .float32(let a): return .float32(pick(a))
        case .float64(let a): return .float64(pick(a))
        case .int64(let a): return .int64(pick(a))
        }
    }

    /// Rows `rows` of a row-major buffer with `rowSize` elements per row, copied whole.
    func gatheredRows(_ rows: [Int], rowSize: Int) -> Storage {
        func pick<T>(_ a: [T]) -> [T] {
            a.withUnsafeBufferPointer { src in
                [T](unsafeUninitializedCapacity: rows.count * rowSize) { out, initialized in
                    for (i, r) in rows.enumerated() {
                        (out.baseAddress! + i * rowSize).initialize(from: src.baseAddress! + r * rowSize, count: rowSize)
                    }
                    initialized = rows.count * rowSize
                }
            }
        }
        switch self {
        case .float32(let a): return .float32(pick(a))
        case .float64(let a): return .float64(pick(a))
        case .int64(let a): return .int64(pick(a))
        }
    }

    /// Concatenation of storages of one dtype, in order.
    static func joined(_ parts: [Storage], dtype: DType) -> Storage {
        switch dtype {
        case .float32: return .float32(parts.flatMap { if case .float32(let a) = $0 { return a }; return [] })
        case .float64: return .float64(parts.flatMap { if case .float64(let a) = $0 { return a }; return [] })
        case .int64: return .int64(parts.flatMap { if case .int64(let a) = $0 { return a }; return [] })
        }
    }
}

/// Source offsets of a strided walk: output element i (row-major over `shape`) reads from the
/// returned offset, where the input has `strides` per output dimension.
func stridedIndices(shape: [Int], strides: [Int], base: Int = 0) -> [Int] {
    let count = shapeCount(shape)
    var out = [Int](repeating: 0, count: count)
    if count == 0 { return out }
    out.withUnsafeMutableBufferPointer { o in
        forEachBroadcastRow(shape, strides, strides) { row, off, _, n, d, _ in
            for j in 0..<n { o[row + j] = base + off + j * d }
        }
    }
    return out
}
