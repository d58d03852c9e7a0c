// Shape and indexing operations. Primitives: reshaped, permuted, broadcasted, sliced, concatenated,
// indexSelected, gathered; the others (transpose, squeeze, stack, split, ...) are compositions.

extension Tensor {
    /// Same elements with a new shape; one dimension may be -1 and is inferred.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var target = newShape
        let unknown = newShape.indices.filter { newShape[$0] == -1 }
        guard unknown.count <= 1, newShape.allSatisfy({ $0 >= -1 }) else {
            axonFail("reshape", "invalid target shape \(newShape) for input of shape \(shape)")
        }
        if let u = unknown.first {
            let known = newShape.filter { $0 != -1 }.reduce(1, *)
            guard known > 0, count % known == 0 else {
                axonFail("reshape", "cannot reshape tensor of shape \(shape) (\(count) elements) into \(newShape)")
            }
            target[u] = count / known
        }
        guard shapeCount(target) == count else {
            axonFail("reshape", "cannot reshape tensor of shape \(shape) (\(count) elements) into \(newShape)")
        }
        if target == shape { return self }
        let out = Tensor(shape: target, storage: storage)
        return Tensor.record("reshape", [self], out) { [shape] g in [g.reshaped(shape)] }
    }

    /// Flattens dimensions `start...end` into one, as `torch.flatten(x, start, end)`.
    public func flattened(from start: Int = 0, to end: Int = -1) -> Tensor {
        if rank == 0 { return reshaped([1]) }
        let s = normalizeAxis(start, rank: rank, op: "flatten"), e = normalizeAxis(end, rank: rank, op: "flatten")
        guard s <= e else { axonFail("flatten", "start axis \(start) is after end axis \(end) for shape \(shape)") }
        let merged = shape[s...e].reduce(1, *)
        return reshaped(Array(shape[..<s]) + [merged] + Array(shape[(e + 1)...]))
    }

    /// Reorders dimensions: output dimension i is input dimension `dims[i]`.
    public func permuted(_ dims: [Int]) -> Tensor {
        let d = dims.map { normalizeAxis($0, rank: rank, op: "permute") }
        guard d.count == rank, Set(d).count == rank else {
            axonFail("permute", "dims \(dims) are not a permutation of the \(rank) axes of shape \(shape)")
        }
        if d == Array(0..<rank) { return self }
        let strides = contiguousStrides(shape)
        let outShape = d.map { shape[$0] }
        let out = Tensor(shape: outShape, storage: storage.gathered(stridedIndices(shape: outShape, strides: d.map { strides[$0] })))
        var inverse = [Int](repeating: 0, count: rank)
        for (i, a) in d.enumerated() { inverse[a] = i }
        return Tensor.record("permute", [self], out) { g in [g.permuted(inverse)] }
    }

    /// Swaps two dimensions.
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        if rank < 2 { return self }
        var d = Array(0..<rank)
        d.swapAt(normalizeAxis(a, rank: rank, op: "transpose"), normalizeAxis(b, rank: rank, op: "transpose"))
        return permuted(d)
    }

    /// The transpose of a matrix (last two dimensions swapped).
    public var T: Tensor { transposed() }

    /// Removes size-1 dimensions (only `axis` when given).
    public func squeezed(axis: Int? = nil) -> Tensor {
        if let axis {
            let a = normalizeAxis(axis, rank: rank, op: "squeeze")
            guard shape[a] == 1 else { return self }
            var s = shape; s.remove(at: a)
            return reshaped(s)
        }
        return reshaped(shape.filter { $0 != 1 })
    }

    /// Inserts a size-1 dimension at `axis` (which may equal the rank, or be negative as in PyTorch).
    public func unsqueezed(axis: Int) -> Tensor {
        let a = axis < 0 ? axis + rank + 1 : axis
        guard a >= 0 && a <= rank else { axonFail("unsqueeze", "axis \(axis) is out of range for shape \(shape)") }
        var s = shape; s.insert(1, at: a)
        return reshaped(s)
    }

    /// Broadcasts to `target` (NumPy rules), materialising the copies; as `torch.expand`.
    public func broadcasted(to target: [Int]) -> Tensor {
        if target == shape { return self }
        guard broadcastShapes(shape, target, op: "expand") == target else {
            axonFail("expand", "shape \(shape) cannot be broadcast to \(target)")
        }
        let out: Tensor
        switch storage {
        case .float32(let a): out = Tensor(shape: target, storage: .float32(broadcastCopy(a, shape, to: target)))
        case .float64(let a): out = Tensor(shape: target, storage: .float64(broadcastCopy(a, shape, to: target)))
        case .int64(let a): out = Tensor(shape: target, storage: .int64(broadcastCopy(a, shape, to: target)))
        }
        return Tensor.record("expand", [self], out) { [shape] g in [g.summed(toShape: shape)] }
    }
    /// Same as ``broadcasted(to:)``, PyTorch's name.
    public func expanded(to target: [Int]) -> Tensor { broadcasted(to: target) }

    /// Elements `range` along `axis` (a view in PyTorch; a copy here).
    public func sliced(axis: Int = 0, _ range: Range<Int>) -> Tensor {
        let a = normalizeAxis(axis, rank: rank, op: "slice")
        guard range.lowerBound >= 0, range.upperBound <= shape[a] else {
            axonFail("slice", "range \(range) is out of bounds for axis \(axis) of size \(shape[a]) (shape \(shape))")
        }
        if range.count == shape[a] { return self }
        var outShape = shape
        outShape[a] = range.count
        let strides = contiguousStrides(shape)
        let idx = stridedIndices(shape: outShape, strides: strides, base: range.lowerBound * strides[a])
        let out = Tensor(shape: outShape, storage: storage.gathered(idx))
        return Tensor.record("slice", [self], out) { [shape, dtype] g in
            // The gradient goes back into zeros of the input's shape (the indices are distinct).
            [Tensor.scatterAdd(g, indices: idx, shape: shape, dtype: dtype)]
        }
    }

    /// Rows `range` along the first axis, `x[a..<b]`.
    public subscript(_ range: Range<Int>) -> Tensor { sliced(axis: 0, range) }

    /// Ranges on the leading axes, `x[0..<2, 1..<3]`.
    public subscript(_ first: Range<Int>, _ rest: Range<Int>...) -> Tensor {
        var t = sliced(axis: 0, first)
        for (i, r) in rest.enumerated() { t = t.sliced(axis: i + 1, r) }
        return t
    }

    /// Element `index` along the first axis, with that axis removed (`x[i]`).
    public subscript(_ index: Int) -> Tensor {
        guard rank > 0 else { axonFail("index", "cannot index a scalar tensor") }
        let i = index < 0 ? index + shape[0] : index
        guard i >= 0 && i < shape[0] else { axonFail("index", "index \(index) is out of bounds for axis 0 of size \(shape[0])") }
        return sliced(axis: 0, i..<(i + 1)).squeezed(axis: 0)
    }

    /// Splits into pieces of the given sizes along `axis`.
    public func split(sizes: [Int], axis: Int = 0) -> [Tensor] {
        let a = normalizeAxis(axis, rank: rank, op: "split")
        guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == shape[a] else {
            axonFail("split", "sizes \(sizes) do not add up to \(shape[a]) (axis \(axis) of shape \(shape))")
        }
        var start = 0
        return sizes.map { s in defer { start += s }; return sliced(axis: a, start..<(start + s)) }
    }

    /// Splits into pieces of `size` along `axis` (the last may be smaller), as `torch.split(x, size)`.
    public func split(size: Int, axis: Int = 0) -> [Tensor] {
        guard size > 0 else { axonFail("split", "size must be positive, got \(size)") }
        let n = shape[normalizeAxis(axis, rank: rank, op: "split")]
        return split(sizes: stride(from: 0, to: n, by: size).map { Swift.min(size, n - $0) }, axis: axis)
    }

    /// Splits into `chunks` nearly equal pieces along `axis`, as `torch.chunk`.
    public func chunked(_ chunks: Int, axis: Int = 0) -> [Tensor] {
        guard chunks > 0 else { axonFail("chunk", "chunks must be positive, got \(chunks)") }
        let n = shape[normalizeAxis(axis, rank: rank, op: "chunk")]
        return split(size: Swift.max(1, (n + chunks - 1) / chunks), axis: axis)
    }

    /// Selects entries along `axis` by an int64 index tensor (1-D), as `torch.index_select`.
    public func indexSelected(axis: Int, indices: Tensor) -> Tensor {
        let a = normalizeAxis(axis, rank: rank, op: "indexSelect")
        guard indices.dtype == .int64, indices.rank <= 1 else {
            axonFail("indexSelect", "indices must be a 1-D int64 tensor, got \(indices.dtype) with shape \(indices.shape)")
        }
        let ids = indices.i64, n = shape[a]
        for i in ids where i < 0 || i >= n {
            axonFail("indexSelect", "index \(i) is out of bounds for axis \(axis) of size \(n) (shape \(shape))")
        }
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        var outShape = shape; outShape[a] = ids.count
        if outer == 1 && !requiresGrad {
            // Selecting whole rows (a batch from a dataset): copy them, no index map needed.
            return Tensor(shape: outShape, storage: storage.gatheredRows(ids, rowSize: inner))
        }
        var idx = [Int](); idx.reserveCapacity(outer * ids.count * inner)
        for o in 0..<outer { for i in ids { for k in 0..<inner { idx.append((o * n + i) * inner + k) } } }
        let out = Tensor(shape: outShape, storage: storage.gathered(idx))
        return Tensor.record("indexSelect", [self], out) { [shape, dtype] g in
            [Tensor.scatterAdd(g, indices: idx, shape: shape, dtype: dtype)]
        }
    }

    /// Gathers along `axis` with an int64 index tensor of the same rank, as `torch.gather`:
    /// `out[i][j][k] = self[index[i][j][k]][j][k]` for axis 0, and so on.
    public func gathered(axis: Int, indices: Tensor) -> Tensor {
        let a = normalizeAxis(axis, rank: rank, op: "gather")
        guard indices.dtype == .int64, indices.rank == rank else {
            axonFail("gather", "indices must be an int64 tensor of rank \(rank), got \(indices.dtype) with shape \(indices.shape)")
        }
        for d in 0..<rank where d != a && indices.shape[d] > shape[d] {
            axonFail("gather", "index shape \(indices.shape) exceeds input shape \(shape) at dimension \(d)")
        }
        let ids = indices.i64, strides = contiguousStrides(shape), outShape = indices.shape
        let base = stridedIndices(shape: outShape, strides: strides.enumerated().map { $0.offset == a ? 0 : $0.element })
        var idx = base
        for k in 0..<ids.count {
            let i = ids[k]
            guard i >= 0 && i < shape[a] else {
                axonFail("gather", "index \(i) is out of bounds for axis \(axis) of size \(shape[a])")
            }
            idx[k] += i * strides[a]
        }
        let out = Tensor(shape: outShape, storage: storage.gathered(idx))
        return Tensor.record("gather", [self], out) { [shape, dtype] g in
            [Tensor.scatterAdd(g, indices: idx, shape: shape, dtype: dtype)]
        }
    }

    /// Zeros of `shape` with `source[k]` added at flat position `indices[k]` (the adjoint of a gather),
    /// in order, on one thread (so repeated indices always sum the same way).
    static func scatterAdd(_ source: Tensor, indices: [Int], shape: [Int], dtype: DType) -> Tensor {
        func scatter<T: AxonFloat>(_ values: [T]) -> [T] {
            var full = [T](repeating: 0, count: shapeCount(shape))
            full.withUnsafeMutableBufferPointer { out in
                values.withUnsafeBufferPointer { v in
                    indices.withUnsafeBufferPointer { idx in
                        for k in 0..<idx.count { out[idx[k]] += v[k] }
                    }
                }
            }
            return full
        }
        switch source.converted(to: dtype).storage {
        case .float32(let v): return Tensor(shape: shape, storage: .float32(scatter(v)))
        case .float64(let v): return Tensor(shape: shape, storage: .float64(scatter(v)))
        case .int64: axonFail("scatterAdd", "gradients are floating point, got int64")
        }
    }
}

/// Joins tensors along `axis`; all other dimensions must match.
public func concat(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
    guard let first = tensors.first else { axonFail("concat", "needs at least one tensor") }
    let a = normalizeAxis(axis, rank: first.rank, op: "concat")
    let dtype = tensors.contains { $0.dtype == .float64 } ? DType.float64 : first.dtype
    let parts = tensors.map { $0.converted(to: dtype) }
    for t in parts {
        guard t.rank == first.rank, (0..<first.rank).allSatisfy({ $0 == a || t.shape[$0] == first.shape[$0] }) else {
            axonFail("concat", "shapes \(tensors.map(\.shape)) do not match outside axis \(axis)")
        }
    }
    if parts.count == 1 { return parts[0] }
    let outer = first.shape[..<a].reduce(1, *), inner = first.shape[(a + 1)...].reduce(1, *)
    let sizes = parts.map { $0.shape[a] }
    // Interleave rows: for each outer index, each part's (size * inner) block in turn.
    let joined = Storage.joined(parts.map(\.storage), dtype: dtype)
    let total = sizes.reduce(0, +) * inner
    var starts = [0]
    for p in parts { starts.append(starts.last! + p.count) }
    var idx = [Int](); idx.reserveCapacity(outer * total)
    for o in 0..<outer {
        for (k, s) in sizes.enumerated() {
            let base = starts[k] + o * s * inner
            for j in 0..<(s * inner) { idx.append(base + j) }
        }
    }
    var outShape = first.shape
    outShape[a] = sizes.reduce(0, +)
    let out = Tensor(shape: outShape, storage: joined.gathered(idx))
    guard dtype.isFloatingPoint else { return out }
    return Tensor.record("concat", parts, out) { g in
        var start = 0
        return sizes.map { s in defer { start += s }; return g.sliced(axis: a, start..<(start + s)) }
    }
}

/// Stacks tensors of one shape along a new axis.
public func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
    guard let first = tensors.first else { axonFail("stack", "needs at least one tensor") }
    guard tensors.allSatisfy({ $0.shape == first.shape }) else {
        axonFail("stack", "all tensors must have one shape, got \(tensors.map(\.shape))")
    }
    return concat(tensors.map { $0.unsqueezed(axis: axis) }, axis: axis)
}
