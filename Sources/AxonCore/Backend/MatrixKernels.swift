extension AxonFloat {
    /// C = A·B (or C += A·B) for this element type: the packed GEMM for Float, the reference loop for
    /// Double (float64 exists for checking, not speed).
    static func gemm(m: Int, n: Int, k: Int, a: MatrixView<Self>, b: MatrixView<Self>,
                     c: UnsafeMutablePointer<Self>, ldc: Int, accumulate: Bool) {
        if Self.self == Float.self {
            GEMM.sgemm(m: m, n: n, k: k,
                       a: unsafeBitCast(a, to: MatrixView<Float>.self), b: unsafeBitCast(b, to: MatrixView<Float>.self),
                       c: UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), ldc: ldc, accumulate: accumulate)
        } else {
            GEMM.reference(m: m, n: n, k: k, a: a, b: b, c: c, ldc: ldc, accumulate: accumulate)
        }
    }
}

/// Batched matrix product of row-major buffers: for each batch, C[M,N] = op(A)·op(B), where op
/// transposes when asked (A stored [M,K] or, transposed, [K,M]; B stored [K,N] or [N,K]).
func batchedMatmul<T: AxonFloat>(_ a: [T], _ b: [T], batch: Int, m: Int, n: Int, k: Int,
                                 transA: Bool, transB: Bool) -> [T] {
    [T](unsafeUninitializedCapacity: batch * m * n) { buffer, initialized in
        let c = buffer.baseAddress!
        if batch * m * n > 0 {
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    for i in 0..<batch {
                        let av = MatrixView(base: pa.baseAddress! + i * m * k, rowStride: transA ? 1 : k,
                                            columnStride: transA ? m : 1)
                        let bv = MatrixView(base: pb.baseAddress! + i * k * n, rowStride: transB ? 1 : n,
                                            columnStride: transB ? k : 1)
                        T.gemm(m: m, n: n, k: k, a: av, b: bv, c: c + i * m * n, ldc: n, accumulate: false)
                    }
                }
            }
        }
        initialized = batch * m * n
    }
}
