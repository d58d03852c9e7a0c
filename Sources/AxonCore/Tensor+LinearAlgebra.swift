// Matrix products. The primitive multiplies matrices [M, K]·[K, N] or batches [B, M, K]·[B, K, N] with any
// strides; `matmul` reduces PyTorch's cases (vectors, 2-D, broadcast batch dimensions) to it, and `addmm`
// is the fused linear layer.

extension Tensor {
    /// Non-recording product op(a)·op(b) of matrices [M, K]·[K, N] or batches [B, M, K]·[B, K, N] (either
    /// operand may be transposed in its last two axes, through GEMM's flags: no copy), into a new tensor or,
    /// with `seed`, added into it.
    static func product(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false,
                        accumulatingInto seed: Tensor? = nil) -> Tensor {
        guard a.dtype == b.dtype, a.dtype.isFloatingPoint else {
            axonFail("matmul", "needs floating-point tensors of one dtype, got \(a.dtype) and \(b.dtype)")
        }
        let r = a.rank
        let m = transposeA ? a.shape[r - 1] : a.shape[r - 2], n = transposeB ? b.shape[b.rank - 2] : b.shape[b.rank - 1]
        let out = seed ?? Tensor.empty(r == 3 ? [a.shape[0], m, n] : [m, n], dtype: a.dtype)
        Backends.current.matmul(a.strided, b.strided, transposeA: transposeA, transposeB: transposeB, into: out.strided,
                                accumulate: seed != nil)
        return out
    }

    /// The product primitive: a·b for matrices [M, K]·[K, N] -> [M, N] or batches [B, M, K]·[B, K, N] ->
    /// [B, M, N], any strides.
    static func bmm(_ a: Tensor, _ b: Tensor) -> Tensor {
        let out = product(a, b)
        return record("matmul", [a, b], out) { g in
            if GradMode.isEnabled && (g.requiresGrad || a.requiresGrad && b.requiresGrad) {
                // Recorded backward (second derivatives): the same products, as differentiable ops.
                return [a.requiresGrad ? bmm(g, b.mT) : nil, b.requiresGrad ? bmm(a.mT, g) : nil]
            }
            // C = A·B: dA = G·Bᵀ, dB = Aᵀ·G.
            return [a.requiresGrad ? product(g, b, transposeB: true) : nil, b.requiresGrad ? product(a, g, transposeA: true) : nil]
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
        // [..., M, K] x [K, N]: one product over all leading rows (b may be any view, e.g. a transpose).
        if a.rank == 2 { return Tensor.bmm(a, b) }
        let lead = Array(a.shape.dropLast(2))
        let rows = lead.reduce(m, *)
        return Tensor.bmm(a.reshaped([rows, ka]), b).reshaped(lead + [m, n])
    }
    let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
    let batch = broadcastShapes(batchA, batchB, op: "matmul")
    let count = batch.reduce(1, *)
    // Broadcast batches are stride-0 views; the reshape keeps them views when the batch axes merge.
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
    matmul(a, transposed: b, bias: bias, relu: false)
}

/// `relu(matmul(a, transposed: b, bias: bias))` as one op, the same values and gradients: a linear layer and the ReLU
/// after it (in a `Sequential`), each thread rectifying its own blocks of the product as it finishes them.
package func matmulReLU(_ a: Tensor, transposed b: Tensor, bias: Tensor) -> Tensor {
    matmul(a, transposed: b, bias: bias, relu: true)
}

private func matmul(_ a: Tensor, transposed b: Tensor, bias: Tensor?, relu rectified: Bool) -> Tensor {
    guard a.rank >= 1, b.rank == 2 else {
        axonFail("matmul", "transposed operand must be a matrix and the other at least 1-D, got shapes \(a.shape) and \(b.shape)")
    }
    let (a, b) = Tensor.promoted(a, b)
    let k = a.shape[a.rank - 1], n = b.shape[0]
    guard b.shape[1] == k else {
        axonFail("matmul", "shapes \(a.shape) and \(b.shape) (transposed) cannot be multiplied (\(k) != \(b.shape[1]))")
    }
    guard let bias else {
        let y = AxonCore.matmul(a, b.T)
        return rectified ? relu(y) : y
    }
    guard bias.rank == 1 && bias.shape[0] == n else {
        axonFail("matmul", "bias of shape \(bias.shape) does not match the product's \(n) columns (shapes \(a.shape) and \(b.shape))")
    }
    // A layer's usual input, a matrix, needs no reshapes.
    if a.rank == 2 { return Tensor.addmm(a, b, bias.converted(to: a.dtype), relu: rectified) }
    let lead = Array(a.shape.dropLast())
    return Tensor.addmm(a.reshaped([lead.reduce(1, *), k]), b, bias.converted(to: a.dtype), relu: rectified).reshaped(lead + [n])
}

extension Tensor {
    /// The fused linear primitive x [R, K] · wᵀ ([N, K]) + bias [N] -> [R, N] (`torch.addmm`), and with `relu` the ReLU
    /// of it. Fused for speed: the bias seeds the product's accumulators (each thread writes it into its own block of
    /// the output as it starts on it: no pass over the output of its own), the ReLU is applied by each thread to the
    /// blocks it finishes, and the backward pass computes the three gradients directly (of ReLU's derivative first,
    /// with `relu`); MLP training on one thread went from 1.07x to 1.72x
    /// PyTorch's speed with this and the other fused ops of that change. The bias gradient is the column
    /// sum of G, row by row (the order `sum(axes: [0])` uses).
    static func addmm(_ x: Tensor, _ w: Tensor, _ bias: Tensor, relu: Bool = false) -> Tensor {
        let rows = x.shape[0], n = w.shape[0]
        guard x.dtype == w.dtype, x.dtype.isFloatingPoint else {
            axonFail("matmul", "needs floating-point tensors of one dtype, got \(x.dtype) and \(w.dtype)")
        }
        let out = Tensor.empty([rows, n], dtype: x.dtype)
        if relu {
            Backends.current.matmulReLU(x.strided, w.strided, transposeA: false, transposeB: true, bias: bias.strided,
                                        into: out.strided)
        } else {
            Backends.current.matmul(x.strided, w.strided, transposeA: false, transposeB: true, bias: bias.strided,
                                    into: out.strided)
        }
        return record(relu ? "addmmReLU" : "addmm", [x, w, bias], out, savingOutput: relu) { [unowned out] gradient in
            let g = relu ? fusedDerivative(.reluBackward, "relu_backward", gradient, out) {
                `where`(out .<= 0, gradient.scalarLike(0), gradient)
            } : gradient
            if GradMode.isEnabled && (g.requiresGrad || x.requiresGrad && w.requiresGrad) {
                // Recorded backward: the same rule as differentiable ops.
                return [x.requiresGrad ? AxonCore.matmul(g, w) : nil, w.requiresGrad ? AxonCore.matmul(g.T, x) : nil,
                        bias.requiresGrad ? g.sum(axes: [0]) : nil]
            }
            if x.requiresGrad && w.requiresGrad && sideBySide(pieces: 2, work: rows * n * x.shape[1]) {
                // dX and dW are the same number of multiply-adds: one thread each, in one round of the pool. (Only
                // here: the closures and their captured results cost allocations a small layer's step notices.)
                var dx: Tensor?, dw: Tensor?, db: Tensor?
                concurrently([{ dx = product(g, w); if bias.requiresGrad { db = columnSums(g) } },
                              { dw = product(g, x, transposeA: true) }])
                return [dx, dw, db]
            }
            return [x.requiresGrad ? product(g, w) : nil,  // dX = G·W
                    w.requiresGrad ? product(g, x, transposeA: true) : nil,  // dW = Gᵀ·X
                    bias.requiresGrad ? columnSums(g) : nil]
        }
    }
}

/// `b` itself, or a copy of it with the same values whose rows are not a multiple of 32 floats apart, so that the
/// float32 GEMM reads it in place as the right-hand operand of products of `rows` rows instead of packing it (see
/// `GEMM.readsBInPlace`: rows 4 KiB apart, or any multiple of 128 bytes in products of many rows, would fall in a
/// few L1 sets). For an operand used in many products, such as an LSTM's hidden weights in each step of its backward
/// pass: the GEMM packed all of them at every step. The products' values are the same (the same kernel sums the same
/// products in the same order).
package func readableInPlace(_ b: Tensor, rows: Int) -> Tensor {
    guard b.rank == 2, b.dtype == .float32, b.shape[1] >= 64 else { return b }
    let view = b.strided, strides = view.strides
    if GEMM.readsBInPlace(MatrixView(base: UnsafePointer(view.pointer(Float.self)), rowStride: strides[0],
                                     columnStride: strides[1]), rows: rows) { return b }
    let padded = Tensor.empty([b.shape[0], b.shape[1] + 16], dtype: b.dtype)
    let inside = padded.narrowed(axis: 1, start: 0, length: b.shape[1])
    Backends.current.copy(view, into: inside.strided)
    return inside
}

extension Tensor {
    /// Σ over the rows of a matrix, row by row (the order `sum(axes: [0])` uses) without the general
    /// reduction's bookkeeping: the bias gradient of every linear layer, every step.
    static func columnSums(_ g: Tensor) -> Tensor {
        let n = g.shape[1]
        let out = Tensor.empty([n], dtype: g.dtype)
        Backends.current.reduce(.sum, g.strided, into: StridedBuffer(contiguous: out.buffer, shape: [1, n]))
        return out
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
