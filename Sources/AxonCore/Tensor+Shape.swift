// Shape and indexing operations. Views (they share the buffer, as in PyTorch): `reshaped` when the
// strides allow it, `permuted`, `broadcasted`, `sliced`, `unfolded`, and what is composed from them
// (transpose, squeeze, unsqueeze, narrow, split, chunk, indexing). Copies: `indexSelected`, `gathered`,
// `concat`. Each is a primitive with a derivative rule that sends the gradient back to its base.

extension Tensor {
    /// A view of the same buffer with another layout, recorded with `backward` (nil: not differentiable).
    func view(_ name: String, shape: [Int], strides: [Int]?, offset: Int, traced: @autoclosure () -> [String: TracedAttribute] = [:],
              backward: ((Tensor) -> Tensor)?) -> Tensor {
        let out = Tensor(buffer: buffer, shape: shape, strides: strides, offset: offset)
        guard let backward else { return out }
        return Tensor.record(name, [self], out, saving: [], traced: traced()) { g in [backward(g)] }
    }

    /// The strides of a view of this tensor with `target`'s shape over the same elements in row-major
    /// order, or nil when no such view exists (the reshape must then copy). Works group by group: each
    /// run of input axes that are contiguous with each other can be split or merged freely.
    func viewStrides(for target: [Int]) -> [Int]? {
        let strides = self.strides
        if isContiguous || count == 0 { return contiguousStrides(target) }
        // Drop size-1 axes; they constrain nothing.
        let dims = shape.indices.filter { shape[$0] != 1 }
        var out = [Int](repeating: 0, count: target.count)
        var ti = 0
        var di = 0
        while di < dims.count || ti < target.count {
            // Skip target axes of size 1 (any stride).
            if ti < target.count && target[ti] == 1 { out[ti] = 1; ti += 1; continue }
            guard di < dims.count, ti < target.count else { return nil }
            // Take the longest run of input axes that are contiguous with each other.
            var chunkSize = shape[dims[di]]
            var end = di
            while end + 1 < dims.count && strides[dims[end]] == strides[dims[end + 1]] * shape[dims[end + 1]] {
                end += 1
                chunkSize *= shape[dims[end]]
            }
            // Fill target axes until they cover the run exactly.
            var covered = 1
            let innermost = strides[dims[end]]
            var group: [Int] = []
            while covered < chunkSize && ti < target.count {
                group.append(ti)
                covered *= target[ti]
                ti += 1
            }
            while ti < target.count && target[ti] == 1 { group.append(ti); ti += 1 }
            guard covered == chunkSize else { return nil }
            var s = innermost
            for t in group.reversed() {
                out[t] = s
                s *= target[t]
            }
            di = end + 1
        }
        return out
    }

    /// Same elements with a new shape; one dimension may be -1 and is inferred. A view when the strides
    /// allow it (always for a contiguous tensor), else a copy, as `torch.reshape`.
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
        // A contiguous source keeps row-major strides (nil); another takes the strides of its groups of
        // axes, or is copied when the target splits no group cleanly.
        let layout = isContiguous ? nil : viewStrides(for: target)
        let source = isContiguous || layout != nil ? self : contiguous()
        return source.view("reshape", shape: target, strides: layout, offset: source.storageOffset) {
            [shape] g in g.reshaped(shape)
        }
    }

    /// Flattens dimensions `start...end` into one, as `torch.flatten(x, start, end)`.
    public func flattened(from start: Int = 0, to end: Int = -1) -> Tensor {
        if rank == 0 { return reshaped([1]) }
        let s = normalizeAxis(start, rank: rank, op: "flatten"), e = normalizeAxis(end, rank: rank, op: "flatten")
        guard s <= e else { axonFail("flatten", "start axis \(start) is after end axis \(end) for shape \(shape)") }
        let merged = shape[s...e].reduce(1, *)
        return reshaped(Array(shape[..<s]) + [merged] + Array(shape[(e + 1)...]))
    }

    /// Reorders dimensions (a view): output dimension i is input dimension `dims[i]`.
    public func permuted(_ dims: [Int]) -> Tensor {
        let d = dims.map { normalizeAxis($0, rank: rank, op: "permute") }
        guard d.count == rank, Set(d).count == rank else {
            axonFail("permute", "dims \(dims) are not a permutation of the \(rank) axes of shape \(shape)")
        }
        if d == Array(0..<rank) { return self }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, a) in d.enumerated() { inverse[a] = i }
        let strides = self.strides
        return view("permute", shape: d.map { shape[$0] }, strides: d.map { strides[$0] }, offset: storageOffset, traced: ["perm": .ints(d)]) {
            g in g.permuted(inverse)
        }
    }

    /// Swaps two dimensions (a view).
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        if rank < 2 { return self }
        var d = Array(0..<rank)
        d.swapAt(normalizeAxis(a, rank: rank, op: "transpose"), normalizeAxis(b, rank: rank, op: "transpose"))
        return permuted(d)
    }

    /// The transpose of a matrix, or all axes reversed for other ranks (PyTorch's `.T`), a view.
    public var T: Tensor { rank < 2 ? self : permuted(Array((0..<rank).reversed())) }
    /// The last two axes swapped (PyTorch's `.mT`), a view.
    public var mT: Tensor {
        guard rank >= 2 else { axonFail("mT", "needs at least two dimensions, got shape \(shape)") }
        return transposed(-2, -1)
    }

    /// Removes size-1 dimensions (only `axis` when given), a view.
    public func squeezed(axis: Int? = nil) -> Tensor {
        if let axis {
            let a = normalizeAxis(axis, rank: rank, op: "squeeze")
            guard shape[a] == 1 else { return self }
            var s = shape; s.remove(at: a)
            return reshaped(s)
        }
        return reshaped(shape.filter { $0 != 1 })
    }

    /// Inserts a size-1 dimension at `axis` (which may equal the rank, or be negative as in PyTorch), a view.
    public func unsqueezed(axis: Int) -> Tensor {
        let a = axis < 0 ? axis + rank + 1 : axis
        guard a >= 0 && a <= rank else { axonFail("unsqueeze", "axis \(axis) is out of range for shape \(shape)") }
        var s = shape; s.insert(1, at: a)
        return reshaped(s)
    }

    /// Broadcasts to `target` (NumPy rules) as a view with stride 0 along the new and expanded axes, as
    /// `torch.expand`. Write to it only through a copy: its elements alias each other.
    public func broadcasted(to target: [Int]) -> Tensor {
        if target == shape { return self }
        guard broadcastShapes(shape, target, op: "expand") == target else {
            axonFail("expand", "shape \(shape) cannot be broadcast to \(target)")
        }
        let v = strided.broadcast(to: target)
        return view("expand", shape: target, strides: v.strides, offset: storageOffset) { [shape] g in g.summed(toShape: shape) }
    }
    /// Same as ``broadcasted(to:)``, PyTorch's name.
    public func expanded(to target: [Int]) -> Tensor { broadcasted(to: target) }

    /// Elements `range` along `axis`, a view (`x[:, a:b]`).
    public func sliced(axis: Int = 0, _ range: Range<Int>) -> Tensor {
        let a = normalizeAxis(axis, rank: rank, op: "slice")
        guard range.lowerBound >= 0, range.upperBound <= shape[a] else {
            axonFail("slice", "range \(range) is out of bounds for axis \(axis) of size \(shape[a]) (shape \(shape))")
        }
        if range.count == shape[a] { return self }
        var outShape = shape
        outShape[a] = range.count
        // A slice of a contiguous tensor along its first non-unit axis is contiguous too (no strides array).
        let layout = isContiguous && shape[..<a].allSatisfy({ $0 == 1 }) ? nil : strides
        let out = view("slice", shape: outShape, strides: layout, offset: storageOffset + range.lowerBound * (layout ?? strides)[a],
                       traced: ["axis": .int(a), "range": .ints([range.lowerBound, range.upperBound])]) {
            [shape, dtype] g in
            // The gradient goes into zeros of the base's shape, through the same slice.
            if GradMode.isEnabled && g.requiresGrad {
                return Tensor.padded(g, axis: a, before: range.lowerBound, after: shape[a] - range.upperBound)
            }
            let full = Tensor.zeros(shape, dtype: dtype)
            full.sliced(axis: a, range).assign(g)
            return full
        }
        // The backward pass may instead add the gradient into this region of the base's gradient (see GradFn).
        out.gradFn?.regionOfInput = { base in withNoGrad { base.sliced(axis: a, range) } }
        return out
    }

    /// `length` elements from `start` along `axis`, a view (`torch.narrow`).
    public func narrowed(axis: Int, start: Int, length: Int) -> Tensor {
        let a = normalizeAxis(axis, rank: rank, op: "narrow")
        let s = start < 0 ? start + shape[a] : start
        guard length >= 0, s >= 0, s + length <= shape[a] else {
            axonFail("narrow", "start \(start) and length \(length) are out of bounds for axis \(axis) of size \(shape[a]) (shape \(shape))")
        }
        return sliced(axis: a, s..<(s + length))
    }

    /// Every window of `size` elements along `axis`, `step` apart, as a new last dimension: a view
    /// (`torch.Tensor.unfold`). Shape: `axis` becomes (n - size) / step + 1, and `size` is appended.
    public func unfolded(axis: Int, size: Int, step: Int) -> Tensor {
        let a = normalizeAxis(axis, rank: Swift.max(rank, 1), op: "unfold")
        let n = rank == 0 ? 1 : shape[a]
        guard size >= 0, step > 0, size <= n else {
            axonFail("unfold", "size \(size) and step \(step) do not fit axis \(axis) of size \(n) (shape \(shape))")
        }
        if rank == 0 { return reshaped([1]).unfolded(axis: 0, size: size, step: step) }
        let strides = self.strides
        var outShape = shape, outStrides = strides
        outShape[a] = (n - size) / step + 1
        outStrides[a] = strides[a] * step
        outShape.append(size)
        outStrides.append(strides[a])
        let windows = outShape[a]
        return view("unfold", shape: outShape, strides: outStrides, offset: storageOffset) { [shape] g in
            // Windows may overlap: add each window's gradient back into its span, in order.
            var parts: [Tensor] = []
            for w in 0..<windows {
                let piece = g.sliced(axis: a, w..<(w + 1)).squeezed(axis: a).movedAxis(from: -1, to: a)
                parts.append(Tensor.padded(piece, axis: a, before: w * step, after: shape[a] - w * step - size))
            }
            return parts.dropFirst().reduce(parts.first ?? Tensor.zeros(shape, dtype: g.dtype), +)
        }
    }

    /// Moves one axis to another position (the others keep their order), a view.
    func movedAxis(from source: Int, to destination: Int) -> Tensor {
        let s = normalizeAxis(source, rank: rank, op: "movedim"), d = normalizeAxis(destination, rank: rank, op: "movedim")
        var order = Array(0..<rank).filter { $0 != s }
        order.insert(s, at: d)
        return permuted(order)
    }

    /// Zeros of `before` and `after` elements around `x` along `axis` (the adjoint of a slice).
    static func padded(_ x: Tensor, axis: Int, before: Int, after: Int) -> Tensor {
        if before == 0 && after == 0 { return x }
        var parts: [Tensor] = []
        var s = x.shape
        if before > 0 { s[axis] = before; parts.append(Tensor.zeros(s, dtype: x.dtype)) }
        parts.append(x)
        if after > 0 { s[axis] = after; parts.append(Tensor.zeros(s, dtype: x.dtype)) }
        return concat(parts, axis: axis)
    }

    /// Rows `range` along the first axis, `x[a..<b]` (a view).
    public subscript(_ range: Range<Int>) -> Tensor { sliced(axis: 0, range) }

    /// Ranges on the leading axes, `x[0..<2, 1..<3]` (a view).
    public subscript(_ first: Range<Int>, _ rest: Range<Int>...) -> Tensor {
        var t = sliced(axis: 0, first)
        for (i, r) in rest.enumerated() { t = t.sliced(axis: i + 1, r) }
        return t
    }

    /// Element `index` along the first axis, with that axis removed (`x[i]`, a view).
    public subscript(_ index: Int) -> Tensor {
        guard rank > 0 else { axonFail("index", "cannot index a scalar tensor") }
        let i = index < 0 ? index + shape[0] : index
        guard i >= 0 && i < shape[0] else { axonFail("index", "index \(index) is out of bounds for axis 0 of size \(shape[0])") }
        return sliced(axis: 0, i..<(i + 1)).squeezed(axis: 0)
    }

    /// Splits into pieces of the given sizes along `axis` (views).
    public func split(sizes: [Int], axis: Int = 0) -> [Tensor] {
        let a = normalizeAxis(axis, rank: rank, op: "split")
        guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == shape[a] else {
            axonFail("split", "sizes \(sizes) do not add up to \(shape[a]) (axis \(axis) of shape \(shape))")
        }
        var start = 0
        return sizes.map { s in defer { start += s }; return sliced(axis: a, start..<(start + s)) }
    }

    /// Splits into pieces of `size` along `axis` (the last may be smaller), as `torch.split(x, size)` (views).
    public func split(size: Int, axis: Int = 0) -> [Tensor] {
        guard size > 0 else { axonFail("split", "size must be positive, got \(size)") }
        let n = shape[normalizeAxis(axis, rank: rank, op: "split")]
        return split(sizes: stride(from: 0, to: n, by: size).map { Swift.min(size, n - $0) }, axis: axis)
    }

    /// Splits into `chunks` nearly equal pieces along `axis`, as `torch.chunk` (views).
    public func chunked(_ chunks: Int, axis: Int = 0) -> [Tensor] {
        guard chunks > 0 else { axonFail("chunk", "chunks must be positive, got \(chunks)") }
        let n = shape[normalizeAxis(axis, rank: rank, op: "chunk")]
        return split(size: Swift.max(1, (n + chunks - 1) / chunks), axis: axis)
    }

    /// Selects entries along `axis` by an int64 index tensor (1-D), as `torch.index_select` (a copy).
    public func indexSelected(axis: Int, indices: Tensor) -> Tensor {
        let a = normalizeAxis(axis, rank: rank, op: "indexSelect")
        guard indices.dtype == .int64, indices.rank <= 1 else {
            axonFail("indexSelect", "indices must be a 1-D int64 tensor, got \(indices.dtype) with shape \(indices.shape)")
        }
        let ids = indices.intScalars, n = shape[a]
        for i in ids where i < 0 || i >= n {
            axonFail("indexSelect", "index \(i) is out of bounds for axis \(axis) of size \(n) (shape \(shape))")
        }
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        var outShape = shape; outShape[a] = ids.count
        if outer == 1 && inner >= 64 && !(requiresGrad && GradMode.isEnabled) {
            // Whole rows (a batch from a dataset): one strided copy per row, no index map.
            let out = Tensor.empty(outShape, dtype: dtype)
            let strides = self.strides
            let rowShape = Array(shape[(a + 1)...]), rowStrides = Array(strides[(a + 1)...])
            let outStrides = contiguousStrides(rowShape)
            let backend = Backends.current
            for (i, r) in ids.enumerated() {
                backend.copy(StridedBuffer(buffer: buffer, shape: rowShape, strides: rowStrides, offset: storageOffset + r * strides[a]),
                             into: StridedBuffer(buffer: out.buffer, shape: rowShape, strides: outStrides, offset: i * inner))
            }
            return out
        }
        if outer * inner == 1 {
            return gatheredFlat(indices.reshaped([ids.count]).contiguous(), shape: outShape, name: "indexSelect")
        }
        var idx = [Int](); idx.reserveCapacity(outer * ids.count * inner)
        for o in 0..<outer { for i in ids { for k in 0..<inner { idx.append((o * n + i) * inner + k) } } }
        return gatheredFlat(Tensor(shape: [idx.count], scalars: idx), shape: outShape, name: "indexSelect")
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
        let ids = indices.intScalars, strides = contiguousStrides(shape), outShape = indices.shape
        var idx = stridedIndices(shape: outShape, strides: strides.enumerated().map { $0.offset == a ? 0 : $0.element })
        for k in 0..<ids.count {
            let i = ids[k]
            guard i >= 0 && i < shape[a] else {
                axonFail("gather", "index \(i) is out of bounds for axis \(axis) of size \(shape[a])")
            }
            idx[k] += i * strides[a]
        }
        return gatheredFlat(Tensor(shape: [idx.count], scalars: idx), shape: outShape, name: "gather")
    }

    /// The elements at the flat row-major positions in `index` (int64), with `shape`: the movement primitive behind
    /// indexSelect and gather. Its derivative is ``scatteredFlat(_:shape:)``.
    func gatheredFlat(_ index: Tensor, shape outShape: [Int], name: String) -> Tensor {
        let source = contiguous()
        let out = Tensor.empty(outShape, dtype: dtype)
        Backends.current.gather(source.strided, indices: index.strided, into: out.strided)
        return Tensor.record(name, [source], out, saving: [], traced: ["index": .tensor(index)]) { [shape] g in [g.scatteredFlat(index, shape: shape)] }
    }

    /// Zeros of `shape` with this tensor's element k added at flat position `indices[k]`, in order, on one
    /// thread (so repeated indices always sum the same way): the adjoint of a gather, differentiable (its
    /// own derivative is the gather).
    func scatteredFlat(_ indices: Tensor, shape outShape: [Int], poolWindows: Conv2dGeometry? = nil) -> Tensor {
        let source = contiguous()
        let out = Tensor.empty(outShape, dtype: dtype)
        if let poolWindows {  // max pooling's adjoint: the same sums, through the backend's pooling kernel
            Backends.current.maxPool2dBackward(source.strided, indices: indices.strided, poolWindows, into: out.strided)
        } else {
            Backends.current.scatterAdd(source.strided, indices: indices.strided, into: out.strided)
        }
        return Tensor.record("scatterAdd", [source], out, saving: []) { g in
            [g.gatheredFlat(indices, shape: source.shape, name: "gather")]
        }
    }
}

/// Joins tensors along `axis`; all other dimensions must match.
public func concat(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
    guard let first = tensors.first else { axonFail("concat", "needs at least one tensor") }
    let a = normalizeAxis(axis, rank: first.rank, op: "concat")
    let dtype = tensors.map(\.dtype).reduce(first.dtype, Tensor.promotedType)
    let parts = tensors.map { $0.converted(to: dtype) }
    for t in parts {
        guard t.rank == first.rank, (0..<first.rank).allSatisfy({ $0 == a || t.shape[$0] == first.shape[$0] }) else {
            axonFail("concat", "shapes \(tensors.map(\.shape)) do not match outside axis \(axis)")
        }
    }
    if parts.count == 1 { return parts[0] }
    let sizes = parts.map { $0.shape[a] }
    var outShape = first.shape
    outShape[a] = sizes.reduce(0, +)
    let out = Tensor.empty(outShape, dtype: dtype)
    // Each part is copied into its slice of the output (a strided copy, no index map).
    let outStrides = contiguousStrides(outShape)
    var start = 0
    for (p, s) in zip(parts, sizes) {
        let slot = Tensor(buffer: out.buffer, shape: p.shape, strides: outStrides, offset: start * outStrides[a])
        Backends.current.copy(p.strided, into: slot.strided)
        start += s
    }
    guard dtype.isFloatingPoint else { return out }
    return Tensor.record("concat", parts, out, saving: [], traced: ["axis": .int(a)]) { g in
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
