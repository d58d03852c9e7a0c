// Matrix products. The primitive is a batched product of [B, M, K] by [B, K, N]; `matmul` reduces
// PyTorch's cases (vectors, 2-D, broadcast batch dimensions) to it.

extension Tensor {
    /// Non-recording batched product of 3-D tensors, each operand optionally transposed in its last two axes.
    static func bmmRaw(_ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false) -> Tensor {
        let batch = a.shape[0]
        let m = transA ? a.shape[2] : a.shape[1], k = transA ? a.shape[1] : a.shape[2]
        let n = transB ? b.shape[1] : b.shape[2]
        return productRaw(a, b, batch: batch, m: m, n: n, k: k, transA: transA, transB: transB, shape: [batch, m, n])
    }

    /// Non-recording product of the operands' elements read as `batch` matrices of the given sizes
    /// (their shapes are not consulted), into a tensor of `shape`.
    static func productRaw(_ a: Tensor, _ b: Tensor, batch: Int = 1, m: Int, n: Int, k: Int,
                           transA: Bool = false, transB: Bool = false, shape: [Int]) -> Tensor {
        switch (a.storage, b.storage) {
        case (.float32(let x), .float32(let y)):
            return Tensor(shape: shape, storage: .float32(batchedMatmul(x, y, batch: batch, m: m, n: n, k: k, transA: transA, transB: transB)))
        case (.float64(let x), .float64(let y)):
            return Tensor(shape: shape, storage: .float64(batchedMatmul(x, y, batch: batch, m: m, n: n, k: k, transA: transA, transB: transB)))
        default:
            axonFail("matmul", "needs floating-point tensors of one dtype, got \(a.dtype) and \(b.dtype)")
        }
    }

    /// The batched-product primitive: a x op(b) for [B, M, K] and [B, K, N] (or [B, N, K] when
    /// `transB`, read transposed in place) -> [B, M, N].
    static func bmm(_ a: Tensor, _ b: Tensor, transB: Bool = false) -> Tensor {
        let out = bmmRaw(a, b, transB: transB)
        return record("matmul", [a, b], out) { g in
            if transB {  // C = A·Bᵀ: dA = G·B, dB = Gᵀ·A
                return [a.requiresGrad ? bmmRaw(g, b) : nil, b.requiresGrad ? bmmRaw(g, a, transA: true) : nil]
            }
            // C = A·B: dA = G·Bᵀ, dB = Aᵀ·G
            return [a.requiresGrad ? bmmRaw(g, b, transB: true) : nil, b.requiresGrad ? bmmRaw(a, g, transA: true) : nil]
        }
    }
}

/// Matrix product with PyTorch's `matmul` semantics: 1-D x 1-D is a dot product; 2-D x 2-D a matrix
/// product; a 1-D operand is treated as a row (left) or column (right) vector and that dimension is
/// removed; leading (batch) dimensions broadcast.
///
/// Shapes: `[..., M, K] x [..., K, N] -> [..., M, N]`.
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
    guard a.rank >= 1, b.rank >= 1 else {
        axonFail("matmul", "both operands need at least one dimension, got shapes \(a.shape) and \(b.shape)")
    }
    let (a, b) = Tensor.promoted(a, b)
    let ka = a.shape[a.rank - 1], kb = b.rank == 1 ? b.shape[0] : b.shape[b.rank - 2]
    guard ka == kb else {
        axonFail("matmul", "shapes \(a.shape) and \(b.shape) cannot be multiplied (\(ka) != \(kb))")
    }
    if a.rank == 1 && b.rank == 1 {
        return matmul(a.reshaped([1, ka]), b.reshaped([ka, 1])).reshaped([])
    }
    if a.rank == 1 {
        return matmul(a.unsqueezed(axis: 0), b).squeezed(axis: -2)
    }
    if b.rank == 1 {
        return matmul(a, b.unsqueezed(axis: 1)).squeezed(axis: -1)
    }
    let m = a.shape[a.rank - 2], n = b.shape[b.rank - 1]
    if b.rank == 2 {
        // [..., M, K] x [K, N]: one big product over all leading rows.
        let lead = Array(a.shape.dropLast(2))
        let rows = lead.reduce(m, *)
        let out = Tensor.bmm(a.reshaped([1, rows, ka]), b.reshaped([1, ka, n]))
        return out.reshaped(lead + [m, n])
    }
    let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
    let batch = broadcastShapes(batchA, batchB, op: "matmul")
    let count = batch.reduce(1, *)
    let ea = a.broadcasted(to: batch + [m, ka]).reshaped([count, m, ka])
    let eb = b.broadcasted(to: batch + [ka, n]).reshaped([count, ka, n])
    return Tensor.bmm(ea, eb).reshaped(batch + [m, n])
}

/// `a · bᵀ + bias` for `a` of shape [..., M, K], a matrix `b` of shape [N, K] read transposed in place
/// (no copy) and an optional `bias` of shape [N] added to every row: the product behind a linear layer,
/// `x · Wᵀ + b`, as one operation (`torch.addmm`): the bias seeds the product's accumulators, and the
/// backward pass computes the three gradients directly.
///
/// Shapes: `[..., M, K] x [N, K] (+ [N]) -> [..., M, N]`.
public func matmul(_ a: Tensor, transposed b: Tensor, bias: Tensor? = nil) -> Tensor {
    guard a.rank >= 1, b.rank == 2 else {
        axonFail("matmul", "transposed operand must be a matrix and the other at least 1-D, got shapes \(a.shape) and \(b.shape)")
    }
    let (a, b) = Tensor.promoted(a, b)
    let k = a.shape[a.rank - 1], n = b.shape[0]
    guard b.shape[1] == k else {
        axonFail("matmul", "shapes \(a.shape) and \(b.shape) (transposed) cannot be multiplied (\(k) != \(b.shape[1]))")
    }
    let lead = Array(a.shape.dropLast())
    let rows = lead.reduce(1, *)
    guard let bias else {
        return Tensor.bmm(a.reshaped([1, rows, k]), b.reshaped([1, n, k]), transB: true).reshaped(lead + [n])
    }
    guard bias.shape == [n] else {
        axonFail("matmul", "bias of shape \(bias.shape) does not match the product's \(n) columns (shapes \(a.shape) and \(b.shape))")
    }
    return Tensor.addmm(a.reshaped([rows, k]), b, bias.converted(to: a.dtype)).reshaped(lead + [n])
}

extension Tensor {
    /// Σ over rows of a [rows, columns] gradient, row by row (the order `sum(axes: [0])` uses), without the
    /// general reduction's bookkeeping: the bias gradient of every linear layer, every step.
    static func columnSums(_ g: Tensor, rows: Int, columns: Int) -> Tensor {
        func sums<T: AxonFloat>(_ v: [T]) -> [T] {
            var out = [T](repeating: 0, count: columns)
            v.withUnsafeBufferPointer { pv in
                out.withUnsafeMutableBufferPointer { po in
                    for r in 0..<rows {
                        let row = pv.baseAddress! + r * columns
                        for j in 0..<columns { po[j] += row[j] }
                    }
                }
            }
            return out
        }
        switch g.storage {
        case .float32(let v): return Tensor(shape: [columns], storage: .float32(sums(v)))
        case .float64(let v): return Tensor(shape: [columns], storage: .float64(sums(v)))
        case .int64: axonFail("matmul", "internal: integer gradient")
        }
    }

    /// The fused linear primitive: x [R, K] · wᵀ ([N, K]) + bias [N] -> [R, N].
    static func addmm(_ x: Tensor, _ w: Tensor, _ bias: Tensor) -> Tensor {
        let rows = x.shape[0], k = x.shape[1], n = w.shape[0]
        func forward<T: AxonFloat>(_ xs: [T], _ ws: [T], _ bs: [T]) -> [T] {
            [T](unsafeUninitializedCapacity: rows * n) { buffer, initialized in
                let c = buffer.baseAddress!
                bs.withUnsafeBufferPointer { pb in
                    for r in 0..<rows { (c + r * n).initialize(from: pb.baseAddress!, count: n) }
                }
                if rows * n > 0 {
                    xs.withUnsafeBufferPointer { px in
                        ws.withUnsafeBufferPointer { pw in
                            T.gemm(m: rows, n: n, k: k, a: MatrixView(base: px.baseAddress!, rowStride: k, columnStride: 1),
                                   b: MatrixView(base: pw.baseAddress!, rowStride: 1, columnStride: k), c: c, ldc: n, accumulate: true)
                        }
                    }
                }
                initialized = rows * n
            }
        }
        let out: Tensor
        switch (x.storage, w.storage, bias.storage) {
        case (.float32(let a), .float32(let b), .float32(let c)): out = Tensor(shape: [rows, n], storage: .float32(forward(a, b, c)))
        case (.float64(let a), .float64(let b), .float64(let c)): out = Tensor(shape: [rows, n], storage: .float64(forward(a, b, c)))
        default: axonFail("matmul", "needs floating-point tensors of one dtype, got \(x.dtype), \(w.dtype) and \(bias.dtype)")
        }
        return record("addmm", [x, w, bias], out) { g in
            [x.requiresGrad ? productRaw(g, w, m: rows, n: k, k: n, shape: [rows, k]) : nil,  // dX = G·W
             w.requiresGrad ? productRaw(g, x, m: n, n: k, k: rows, transA: true, shape: [n, k]) : nil,  // dW = Gᵀ·X
                    bias.requiresGrad ? columnSums(g, rows: rows, columns: n) : nil]
        }
    }
}

extension Tensor {
    /// Matrix product with another tensor (see ``matmul(_:_:)``).
    public func matmul(_ other: Tensor) -> Tensor { Axon_matmul(self, other) }
}

@inline(__always) func Axon_matmul(_ a: Tensor, _ b: Tensor) -> Tensor { matmul(a, b) }

infix operator •: MultiplicationPrecedence
/// Matrix product, `a • b` (see ``matmul(_:_:)``).
public func • (a: Tensor, b: Tensor) -> Tensor { matmul(a, b) }
