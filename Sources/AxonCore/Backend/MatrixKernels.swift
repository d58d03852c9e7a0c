extension AxonFloat {
    /// C = A·B (or C += A·B, or with `bias`, C = bias + A·B, the bias in every row; with `relu`, then C = relu(C)) for
    /// this element type: the packed GEMM for Float, the reference loop for Double (float64 exists for checking, not
    /// speed).
    static func gemm(m: Int, n: Int, k: Int, a: MatrixView<Self>, b: MatrixView<Self>,
                     c: UnsafeMutablePointer<Self>, ldc: Int, accumulate: Bool, bias: UnsafePointer<Self>? = nil,
                     relu: Bool = false) {
        if Self.self == Float.self {
            GEMM.sgemm(m: m, n: n, k: k,
                       a: unsafeBitCast(a, to: MatrixView<Float>.self), b: unsafeBitCast(b, to: MatrixView<Float>.self),
                       c: UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), ldc: ldc, accumulate: accumulate,
                       bias: bias.map { UnsafeRawPointer($0).assumingMemoryBound(to: Float.self) }, relu: relu)
        } else {
            if let bias, !accumulate { for i in 0..<m { (c + i * ldc).update(from: bias, count: n) } }
            GEMM.reference(m: m, n: n, k: k, a: a, b: b, c: c, ldc: ldc, accumulate: accumulate || bias != nil)
            if relu {
                for i in 0..<m { for j in 0..<n { c[i * ldc + j] = applyUnary(.relu, c[i * ldc + j]) } }
            }
        }
    }
}

/// The (batch, row, column) strides of a matrix or batch operand, transposed when asked.
@inline(__always)
func matrixStrides(_ v: StridedBuffer, transposed: Bool) -> (batch: Int, row: Int, column: Int) {
    let r = v.shape.count
    let batch: Int, row: Int, column: Int
    if let st = v.explicitStrides {
        (batch, row, column) = (r == 3 ? st[0] : 0, st[r - 2], st[r - 1])
    } else {  // row-major: no strides array to build
        (batch, row, column) = (r == 3 ? v.shape[1] * v.shape[2] : 0, v.shape[r - 1], 1)
    }
    return transposed ? (batch, column, row) : (batch, row, column)
}

/// Batched matrix product over strided operands: for each batch i, C[i] = op(A[i])·op(B[i]) (or +=), with
/// the transposes and any strides handled by GEMM's packing and C contiguous.
func batchedMatmul<T: AxonFloat>(_ a: StridedBuffer, _ b: StridedBuffer, transposeA: Bool, transposeB: Bool,
                                 _ c: StridedBuffer, accumulate: Bool, bias: UnsafePointer<T>? = nil, relu: Bool = false,
                                 _: T.Type) {
    let r = c.shape.count
    let batch = r == 3 ? c.shape[0] : 1, m = c.shape[r - 2], n = c.shape[r - 1]
    let k = transposeA ? a.shape[a.shape.count - 2] : a.shape[a.shape.count - 1]
    if batch * m * n == 0 { return }
    let sa = matrixStrides(a, transposed: transposeA), sb = matrixStrides(b, transposed: transposeB)
    let pa = a.pointer(T.self), pb = b.pointer(T.self), pc = c.pointer(T.self)
    func multiply(_ i: Int) {
        let av = MatrixView(base: UnsafePointer(pa + i * sa.batch), rowStride: sa.row, columnStride: sa.column)
        let bv = MatrixView(base: UnsafePointer(pb + i * sb.batch), rowStride: sb.row, columnStride: sb.column)
        T.gemm(m: m, n: n, k: k, a: av, b: bv, c: pc + i * m * n, ldc: n, accumulate: accumulate, bias: bias, relu: relu)
    }
    if splitsByMatrix(batch: batch, work: m * n * k) {
        runTasks(batch, multiply)
    } else {
        for i in 0..<batch { multiply(i) }
    }
}

/// Whether a batch of `batch` products of `work` multiply-adds each runs one product per task, side by side (each
/// product then runs inline on its thread), rather than one after another, each split across the threads. For
/// batches of small products, as attention's heads (a Transformer LM layer's scores: 128 products of 64 x 32 x 64):
/// split, each was a round of the pool for a few microseconds of work. A product's values do not depend on the thread
/// that computes it.
func splitsByMatrix(batch: Int, work: Int) -> Bool {
    let threads = Threading.threadCount
    return threads > 1 && batch >= threads && work <= 1 << 20 && batch * work >= GEMM.parallelWork
}
