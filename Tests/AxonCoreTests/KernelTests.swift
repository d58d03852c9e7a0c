import Foundation
import XCTest
import _AxonKernels
@testable import AxonCore

/// The fast paths against the plain reference paths, on random shapes with edge sizes.
final class KernelTests: XCTestCase {
    let g = Generator(seed: 3)

    func randomFloats(_ n: Int) -> [Float] { (0..<n).map { _ in Float(g.nextUniform() * 2 - 1) } }

    /// A GEMM entry point: (m, n, k, A, B, C, ldc, accumulate).
    typealias GEMMPath = (Int, Int, Int, MatrixView<Float>, MatrixView<Float>, UnsafeMutablePointer<Float>, Int, Bool) -> Void

    /// Runs `fast` and the reference on random (m, n, k) operands, optionally transposed; returns (fast, reference).
    func run(_ fast: GEMMPath, m: Int, n: Int, k: Int, transA: Bool, transB: Bool, accumulate: Bool) -> ([Float], [Float]) {
        let a = randomFloats(m * k), b = randomFloats(k * n), c0 = randomFloats(m * n)
        var fastC = c0, slowC = c0
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                let av = MatrixView(base: pa.baseAddress!, rowStride: transA ? 1 : k, columnStride: transA ? m : 1)
                let bv = MatrixView(base: pb.baseAddress!, rowStride: transB ? 1 : n, columnStride: transB ? k : 1)
                fastC.withUnsafeMutableBufferPointer { fast(m, n, k, av, bv, $0.baseAddress!, n, accumulate) }
                slowC.withUnsafeMutableBufferPointer {
                    GEMM.reference(m: m, n: n, k: k, a: av, b: bv, c: $0.baseAddress!, ldc: n, accumulate: accumulate)
                }
            }
        }
        return (fastC, slowC)
    }

    /// Runs the packed GEMM with `variant` and the reference; returns the largest difference.
    func compare(m: Int, n: Int, k: Int, transA: Bool, transB: Bool, accumulate: Bool,
                 variant: axon_sgemm_variant) -> Float {
        let (fast, slow) = run({ GEMM.packed(m: $0, n: $1, k: $2, a: $3, b: $4, c: $5, ldc: $6, accumulate: $7, variant: variant) },
                               m: m, n: n, k: k, transA: transA, transB: transB, accumulate: accumulate)
        // Each element sums k products of magnitude <= 1: compare with a tolerance scaled by k.
        return zip(fast, slow).map { Swift.abs($0 - $1) }.max() ?? 0
    }

    func testEveryMicroKernelVariantMatchesTheReference() {
        let variants = GEMM.variants
        XCTAssertGreaterThanOrEqual(variants.count, 1)
        XCTAssertEqual(String(cString: variants.last!.name), "generic")
        // Edges: 1, primes, non-multiples of MR/NR/MC/KC, and sizes crossing the K block (KC = 512).
        // A row-major A is read in place, except with k = 1024 (rows 4 KiB apart: packed).
        let shapes = [(1, 1, 1), (1, 7, 3), (5, 1, 9), (7, 13, 31), (6, 64, 8), (13, 97, 41), (97, 31, 127),
                      (64, 130, 67), (101, 67, 521), (37, 129, 1030), (200, 5, 600), (11, 70, 1024)]
        for v in variants {
            for (m, n, k) in shapes {
                for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                    for acc in [false, true] {
                        let err = compare(m: m, n: n, k: k, transA: ta, transB: tb, accumulate: acc, variant: v)
                        XCTAssertLessThan(err, 1e-5 * Float(k) + 1e-5,
                                          "\(String(cString: v.name)) m=\(m) n=\(n) k=\(k) tA=\(ta) tB=\(tb) acc=\(acc)")
                    }
                }
            }
        }
        print("GEMM variants tested: \(variants.map { String(cString: $0.name) })")
    }

    /// A row-major A read in place by the micro-kernel gives the same bits as the same values packed (A stored
    /// transposed), with every variant, on edge slivers (m = 1, 4, 5, 6, 11) and across the K block.
    func testReadingAInPlaceMatchesPackingBitwise() {
        for v in GEMM.variants {
            for (m, n, k) in [(1, 17, 5), (4, 64, 33), (5, 70, 9), (6, 16, 600), (11, 130, 1030)] {
                let values = randomFloats(m * k), b = randomFloats(k * n), c0 = randomFloats(m * n)
                let transposed = (0..<(k * m)).map { values[($0 % m) * k + $0 / m] }  // [k, m]: A stored transposed
                for acc in [false, true] {
                    var inPlace = c0, packed = c0
                    values.withUnsafeBufferPointer { pa in
                        transposed.withUnsafeBufferPointer { pt in
                            b.withUnsafeBufferPointer { pb in
                                let bv = MatrixView(base: pb.baseAddress!, rowStride: n, columnStride: 1)
                                let rowMajor = MatrixView(base: pa.baseAddress!, rowStride: k, columnStride: 1)
                                let columnMajor = MatrixView(base: pt.baseAddress!, rowStride: 1, columnStride: m)
                                XCTAssertTrue(GEMM.readsAInPlace(rowMajor))
                                if m > 1 { XCTAssertFalse(GEMM.readsAInPlace(columnMajor)) }  // one row: both layouts
                                inPlace.withUnsafeMutableBufferPointer {
                                    GEMM.packed(m: m, n: n, k: k, a: rowMajor, b: bv, c: $0.baseAddress!, ldc: n,
                                                accumulate: acc, variant: v)
                                }
                                packed.withUnsafeMutableBufferPointer {
                                    GEMM.packed(m: m, n: n, k: k, a: columnMajor, b: bv, c: $0.baseAddress!, ldc: n,
                                                accumulate: acc, variant: v)
                                }
                            }
                        }
                    }
                    XCTAssertEqual(inPlace, packed, "\(String(cString: v.name)) m=\(m) n=\(n) k=\(k) acc=\(acc)")
                }
            }
        }
    }

    /// x·Wᵀ with W taller than x runs as (W·xᵀ)ᵀ: the same bits as the direct product (same products, same order,
    /// the same start when accumulating), on 1 and 2 threads, and within the reference's rounding.
    func testSwappedProductMatchesTheDirectOneBitwise() {
        let saved = Threading.threadCount
        defer { Threading.threadCount = saved }
        // An LSTM step's h·W_hhᵀ (one K block: accumulated by adding the transposed product onto C), a K block of
        // exactly KC, and several K blocks.
        // On 2 and 3 threads xᵀ is fewer slivers than threads: every task packs it itself (LeNet's 64 x 400 · (120 x 400)ᵀ).
        for (m, n, k) in [(64, 256, 784), (16, 40, 101), (21, 130, 600), (32, 1024, 256), (19, 70, 512), (64, 120, 400)] {
            let x = randomFloats(m * k), w = randomFloats(n * k), c0 = randomFloats(m * n)
            for acc in [false, true] {
                var direct = c0, swapped1 = c0, swapped2 = c0, swapped3 = c0, reference = c0
                x.withUnsafeBufferPointer { px in
                    w.withUnsafeBufferPointer { pw in
                        let av = MatrixView(base: px.baseAddress!, rowStride: k, columnStride: 1)
                        let bv = MatrixView(base: pw.baseAddress!, rowStride: 1, columnStride: k)  // Wᵀ
                        XCTAssertTrue(GEMM.swapsOperands(m: m, n: n, k: k, a: av, b: bv, ldc: n), "\(m)x\(n)x\(k)")
                        direct.withUnsafeMutableBufferPointer {
                            GEMM.packed(m: m, n: n, k: k, a: av, b: bv, c: $0.baseAddress!, ldc: n, accumulate: acc,
                                        variant: GEMM.bestVariant)
                        }
                        Threading.threadCount = 1
                        swapped1.withUnsafeMutableBufferPointer {
                            GEMM.sgemm(m: m, n: n, k: k, a: av, b: bv, c: $0.baseAddress!, ldc: n, accumulate: acc)
                        }
                        Threading.threadCount = 2
                        swapped2.withUnsafeMutableBufferPointer {
                            GEMM.sgemm(m: m, n: n, k: k, a: av, b: bv, c: $0.baseAddress!, ldc: n, accumulate: acc)
                        }
                        Threading.threadCount = 3
                        swapped3.withUnsafeMutableBufferPointer {
                            GEMM.sgemm(m: m, n: n, k: k, a: av, b: bv, c: $0.baseAddress!, ldc: n, accumulate: acc)
                        }
                        reference.withUnsafeMutableBufferPointer {
                            GEMM.reference(m: m, n: n, k: k, a: av, b: bv, c: $0.baseAddress!, ldc: n, accumulate: acc)
                        }
                    }
                }
                XCTAssertEqual(swapped1, direct, "\(m)x\(n)x\(k) acc=\(acc)")
                XCTAssertEqual(swapped2, direct, "\(m)x\(n)x\(k) acc=\(acc), 2 threads")
                XCTAssertEqual(swapped3, direct, "\(m)x\(n)x\(k) acc=\(acc), 3 threads")
                let err = zip(swapped1, reference).map { Swift.abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(err, 1e-5 * Float(k) + 1e-5, "\(m)x\(n)x\(k) acc=\(acc)")
            }
        }
        // Not swapped: W no taller than x, a row stride other than N, or too few rows.
        let p = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        defer { p.deallocate() }
        let x = MatrixView(base: UnsafePointer(p), rowStride: 784, columnStride: 1)
        let wt = MatrixView(base: UnsafePointer(p), rowStride: 1, columnStride: 784)
        XCTAssertFalse(GEMM.swapsOperands(m: 256, n: 64, k: 784, a: x, b: wt, ldc: 64))
        XCTAssertFalse(GEMM.swapsOperands(m: 64, n: 256, k: 784, a: x, b: wt, ldc: 300))
        XCTAssertFalse(GEMM.swapsOperands(m: 8, n: 256, k: 784, a: x, b: wt, ldc: 256))
    }

    /// A batch of small products (attention's heads) runs one product per task on several threads: the bits of the
    /// products run one after another on one thread, with strided, transposed and broadcast operands, and the
    /// reference's values within rounding.
    func testBatchedProductsSplitByMatrixKeepTheirBits() {
        let saved = Threading.threadCount
        defer { Threading.threadCount = saved }
        let g = Generator(seed: 5)
        let q = Tensor.randn([4, 64, 8, 32], generator: g).transposed(1, 2)  // [B, H, L, d] viewed from [B, L, H, d]
        let k = Tensor.randn([4, 8, 64, 32], generator: g), v = Tensor.randn([64, 40], generator: g)
        let products: [(String, () -> Tensor)] = [
            ("q·kᵀ", { matmul(q, k.transposed(-2, -1)) }),
            ("(q·kᵀ)·v, v broadcast", { matmul(matmul(q, k.transposed(-2, -1)), v.unsqueezed(axis: 0)) }),
        ]
        for (name, product) in products {
            Threading.threadCount = 1
            XCTAssertFalse(splitsByMatrix(batch: 32, work: 64 * 64 * 32))
            let one = product().scalars
            let reference = Backends.with(ReferenceBackend.shared) { product().scalars }
            XCTAssertLessThan(zip(one, reference).map { Swift.abs($0 - $1) }.max()!, 1e-4, name)
            for threads in [2, 3] {
                Threading.threadCount = threads
                XCTAssertTrue(splitsByMatrix(batch: 32, work: 64 * 64 * 32))
                XCTAssertEqual(product().scalars, one, "\(name), \(threads) threads")
            }
        }
    }

    /// A strided view copied into a new contiguous tensor, its rows split across the threads, has every element where
    /// the view has it: permuted, sliced and broadcast sources, on 1, 2 and 3 threads, walks that start mid-way through
    /// every axis.
    func testStridedCopiesSplitAcrossThreadsPutEveryElementInPlace() {
        let saved = Threading.threadCount
        defer { Threading.threadCount = saved }
        let base = Tensor(shape: [16, 64, 16, 33], doubles: (0..<(16 * 64 * 16 * 33)).map(Double.init), dtype: .float32)
        let views: [(String, Tensor, (Int, Int, Int, Int) -> Int)] = [
            ("permuted", base.transposed(1, 2).sliced(axis: 3, 0..<32), { i, j, k, l in ((i * 64 + k) * 16 + j) * 33 + l }),
            ("sliced", base.sliced(axis: 3, 1..<33), { i, j, k, l in ((i * 64 + j) * 16 + k) * 33 + l + 1 }),
            ("broadcast", base.sliced(axis: 1, 5..<6).broadcasted(to: [16, 64, 16, 33]), { i, _, k, l in ((i * 64 + 5) * 16 + k) * 33 + l }),
        ]
        for (name, view, source) in views {
            let shape = view.shape
            var expected = [Float]()
            expected.reserveCapacity(view.count)
            for i in 0..<shape[0] { for j in 0..<shape[1] { for k in 0..<shape[2] { for l in 0..<shape[3] {
                expected.append(Float(source(i, j, k, l)))
            } } } }
            for threads in [1, 2, 3] {
                Threading.threadCount = threads
                XCTAssertEqual(view.contiguous().scalars, expected, "\(name), \(threads) threads")
            }
        }
    }

    /// Writes into views, their rows split across the threads where the view's elements are all distinct memory:
    /// y += x and y += a·b into a slice and a permuted view of a larger tensor, and one scaling the view, give on 2 and 3
    /// threads the bits of 1 thread and the elementwise results; which views count as distinct.
    func testWritesIntoViewsSplitAcrossThreadsKeepTheirBits() {
        let saved = Threading.threadCount
        defer { Threading.threadCount = saved }
        let x = Tensor.randn([40, 30, 64], generator: g), y = Tensor.randn([40, 30, 64], generator: g)
        let start = Tensor.randn([40, 30, 128], generator: g)
        func run(_ threads: Int) -> [Float] {
            Threading.threadCount = threads
            let states = start.clone()
            states.sliced(axis: 2, 64..<128).addInPlace(x)  // 76,800 elements: several tasks
            states.sliced(axis: 2, 0..<64).transposed(0, 1).addProductInPlace(x.transposed(0, 1), y.transposed(0, 1),
                                                                              alpha: 0.5)
            states.sliced(axis: 2, 32..<96).addInPlace(x.transposed(0, 1).contiguous().transposed(0, 1),
                                                       scalingSelfBy: 2)
            return states.scalars
        }
        let one = run(1)
        var expected = start.scalars, xs = x.scalars, ys = y.scalars
        for r in 0..<1200 {
            for j in 0..<64 { expected[r * 128 + 64 + j] += xs[r * 64 + j] }
            for j in 0..<64 { expected[r * 128 + j] += 0.5 * (xs[r * 64 + j] * ys[r * 64 + j]) }
            for j in 0..<64 { expected[r * 128 + 32 + j] = expected[r * 128 + 32 + j] * 2 + xs[r * 64 + j] }
        }
        XCTAssertLessThan(zip(one, expected).map { Swift.abs($0 - $1) }.max()!, 1e-5)
        XCTAssertEqual(run(2), one)
        XCTAssertEqual(run(3), one)
        let t = Tensor.zeros([4, 5, 6])
        XCTAssertTrue(t.strided.hasDistinctElements)
        XCTAssertTrue(t.sliced(axis: 2, 1..<4).strided.hasDistinctElements)
        XCTAssertTrue(t.transposed(0, 2).strided.hasDistinctElements)
        XCTAssertTrue(t.sliced(axis: 1, 2..<3).strided.hasDistinctElements)
        XCTAssertFalse(t.sliced(axis: 1, 2..<3).broadcasted(to: [4, 5, 6]).strided.hasDistinctElements)
        func view(_ shape: [Int], _ strides: [Int]) -> Bool {
            StridedBuffer(buffer: t.strided.buffer, shape: shape, strides: strides, offset: 0).hasDistinctElements
        }
        XCTAssertFalse(view([3, 4], [2, 1]))  // rows that overlap
        XCTAssertFalse(view([2, 2], [1, 1]))  // two dimensions with one stride
        XCTAssertTrue(view([2, 1, 3], [3, 0, 1]))  // a stride 0 over one element
        XCTAssertTrue(view([3, 2], [-2, 1]))  // a flipped dimension
        XCTAssertTrue(view([5, 4], [1, 5]))  // column-major
    }

    /// C = bias + A·B (a linear layer, the bias in every row) gives the bits of copying the bias into every row and
    /// accumulating, on 1, 2 and 3 threads: products computed transposed (x·Wᵀ with W taller than x), direct ones
    /// with and without a transposed B, several K blocks, small products, and K = 0.
    func testBiasSeededProductMatchesCopyThenAccumulateBitwise() {
        let saved = Threading.threadCount
        defer { Threading.threadCount = saved }
        for (m, n, k, transB) in [(64, 256, 784, true), (16, 40, 101, true), (21, 130, 600, true), (64, 128, 256, true),
                                  (100, 70, 300, false), (192, 400, 520, false), (7, 200, 1100, false), (3, 4, 5, true),
                                  (5, 9, 0, false)] {
            let a = randomFloats(m * k), b = randomFloats(k * n), bias = randomFloats(n)
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    let av = MatrixView(base: pa.baseAddress!, rowStride: k, columnStride: 1)
                    let bv = MatrixView(base: pb.baseAddress!, rowStride: transB ? 1 : n, columnStride: transB ? k : 1)
                    var expected = [Float](repeating: 0, count: m * n)
                    for i in 0..<m { for j in 0..<n { expected[i * n + j] = bias[j] } }
                    Threading.threadCount = 1
                    expected.withUnsafeMutableBufferPointer {
                        GEMM.sgemm(m: m, n: n, k: k, a: av, b: bv, c: $0.baseAddress!, ldc: n, accumulate: true)
                    }
                    for threads in [1, 2, 3] {
                        Threading.threadCount = threads
                        var seeded = [Float](repeating: .nan, count: m * n)
                        seeded.withUnsafeMutableBufferPointer { c in
                            bias.withUnsafeBufferPointer {
                                GEMM.sgemm(m: m, n: n, k: k, a: av, b: bv, c: c.baseAddress!, ldc: n, accumulate: false,
                                           bias: $0.baseAddress!)
                            }
                        }
                        XCTAssertEqual(seeded, expected, "\(m)x\(n)x\(k) transB \(transB), \(threads) threads")
                    }
                }
            }
        }
    }

    /// A last sliver of at most a quarter of the widest kernel's columns runs through the narrowest kernel: its columns
    /// have the bits they have when the same product is computed wider (every sliver full width), on 1 and 2 threads,
    /// with A packed (transposed, as a weight gradient's Gᵀ) and read in place.
    func testNarrowLastSliverMatchesTheFullWidthTileBitwise() {
        let saved = Threading.threadCount
        defer { Threading.threadCount = saved }
        let nr = Int(GEMM.bestVariant.nr)
        for (m, k, n, transA) in [(256, 64, 784, true), (64, 100, 2 * nr + 6, false), (13, 600, nr + 16, true)] {
            let wide = (n + nr - 1) / nr * nr + nr  // the same columns and more, no narrow last sliver
            let a = randomFloats(m * k), bWide = randomFloats(k * wide)
            var bNarrow = [Float](repeating: 0, count: k * n)
            for p in 0..<k { for j in 0..<n { bNarrow[p * n + j] = bWide[p * wide + j] } }
            for threads in [1, 2] {
                Threading.threadCount = threads
                var cNarrow = [Float](repeating: .nan, count: m * n), cWide = [Float](repeating: .nan, count: m * wide)
                a.withUnsafeBufferPointer { pa in
                    let av = MatrixView(base: pa.baseAddress!, rowStride: transA ? 1 : k, columnStride: transA ? m : 1)
                    bNarrow.withUnsafeBufferPointer { pb in
                        GEMM.sgemm(m: m, n: n, k: k, a: av, b: MatrixView(base: pb.baseAddress!, rowStride: n, columnStride: 1),
                                   c: &cNarrow, ldc: n, accumulate: false)
                    }
                    bWide.withUnsafeBufferPointer { pb in
                        GEMM.sgemm(m: m, n: wide, k: k, a: av, b: MatrixView(base: pb.baseAddress!, rowStride: wide, columnStride: 1),
                                   c: &cWide, ldc: wide, accumulate: false)
                    }
                }
                for i in 0..<m {
                    XCTAssertEqual(Array(cNarrow[(i * n)..<(i * n + n)]), Array(cWide[(i * wide)..<(i * wide + n)]),
                                   "\(m)x\(n)x\(k) row \(i), \(threads) threads")
                }
            }
        }
    }

    /// Every fast micro-kernel computes each element with the same operations, so a product's tile choice
    /// (``GEMM/variant(columns:)``: the narrowest tile that holds 1-16 columns, AVX-512's 6x32 for 17-32, the widest
    /// beyond) never changes its bits: all of them on 17-32 columns, A packed and read in place, across the K block,
    /// accumulating or not.
    func testFastVariantsGiveTheSameBits() {
        let fast = Array(GEMM.variants.dropLast())
        XCTAssertEqual(GEMM.variant(columns: 10).nr, GEMM.narrowVariant.nr)
        XCTAssertEqual(GEMM.variant(columns: 32).nr, GEMM.midVariant.nr)
        XCTAssertEqual(GEMM.variant(columns: 33).nr, GEMM.bestVariant.nr)
        XCTAssertLessThanOrEqual(Int(GEMM.midVariant.nr), GEMM.narrowColumns)
        if String(cString: GEMM.bestVariant.name) == "avx512" { XCTAssertEqual(String(cString: GEMM.variant(columns: 17).name), "avx512-32") }
        for (m, n, k, transA) in [(64, 32, 32, false), (13, 17, 520, false), (6, 31, 9, true), (50, 24, 1024, false)] {
            let a = randomFloats(m * k), b = randomFloats(k * n), c0 = randomFloats(m * n)
            for accumulate in [false, true] {
                var results: [[UInt32]] = []
                for v in fast {
                    var c = c0
                    a.withUnsafeBufferPointer { pa in
                        b.withUnsafeBufferPointer { pb in
                            let av = MatrixView(base: pa.baseAddress!, rowStride: transA ? 1 : k, columnStride: transA ? m : 1)
                            GEMM.packed(m: m, n: n, k: k, a: av, b: MatrixView(base: pb.baseAddress!, rowStride: n, columnStride: 1),
                                        c: &c, ldc: n, accumulate: accumulate, variant: v)
                        }
                    }
                    results.append(c.map(\.bitPattern))
                }
                for (v, r) in zip(fast, results) {
                    XCTAssertEqual(r, results[0], "\(String(cString: v.name)) against \(String(cString: fast[0].name)): "
                                   + "\(m)x\(n)x\(k), A transposed \(transA), accumulate \(accumulate)")
                }
            }
        }
    }

    /// The small-product path (no packing) gives the reference's values exactly, for every layout.
    func testSmallProductsMatchTheReferenceBitwise() {
        for (m, n, k) in [(1, 1, 1), (10, 8, 2), (10, 1, 8), (7, 13, 5), (3, 16, 16)] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                for acc in [false, true] {
                    let (fast, slow) = run({ GEMM.small(m: $0, n: $1, k: $2, a: $3, b: $4, c: $5, ldc: $6, accumulate: $7) },
                                           m: m, n: n, k: k, transA: ta, transB: tb, accumulate: acc)
                    XCTAssertEqual(fast, slow, "m=\(m) n=\(n) k=\(k) tA=\(ta) tB=\(tb) acc=\(acc)")
                }
            }
        }
    }

    /// Reductions of a contiguous input (the fast paths for leading and trailing axes) give exactly what the
    /// strided walk gives for the same values seen through a non-contiguous view.
    func testContiguousReductionsMatchTheStridedWalkBitwise() {
        let shape = [5, 7, 3]
        let values = randomFloats(5 * 7 * 3)
        let x = Tensor(shape: shape, scalars: values)
        // The same values inside a wider buffer: the view is not contiguous, so the general walk runs.
        let wide = Tensor.zeros([5, 7, 4])
        wide.narrowed(axis: 2, start: 0, length: 3).assign(x)
        let view = wide.narrowed(axis: 2, start: 0, length: 3)
        XCTAssertTrue(x.isContiguous)
        XCTAssertFalse(view.isContiguous)
        for outShape in [[1, 7, 3], [1, 1, 3], [1, 1, 1], [5, 1, 1], [5, 7, 1], [1, 7, 1], [5, 1, 3], [5, 7, 3]] {
            for op in [ReduceOp.sum, .max, .min] {
                let fast = Tensor.empty(outShape), walked = Tensor.empty(outShape)
                CPUBackend.shared.reduce(op, x.strided, into: fast.strided)
                CPUBackend.shared.reduce(op, view.strided, into: walked.strided)
                XCTAssertEqual(fast.scalars, walked.scalars, "\(op) to \(outShape)")
            }
        }
    }

    /// Binary ops over rows that are contiguous in every operand (a broadcast over the last axis, a sliced view) give
    /// the bits of the element-by-element walk, for every op, with NaN, ±0 and infinities among the values.
    func testContiguousRowsOfBinaryOpsMatchTheElementWalkBitwise() {
        var values = randomFloats(6 * 40).map { $0 * 3 }
        values[3] = .nan; values[50] = -0.0; values[51] = 0; values[90] = .infinity; values[91] = -.infinity
        let x = Tensor(shape: [6, 40], scalars: values)
        let w = Tensor(shape: [40], scalars: randomFloats(40).map { $0 + 0.5 })
        let wide = Tensor.zeros([6, 41])
        wide.narrowed(axis: 1, start: 0, length: 40).assign(x)
        let view = wide.narrowed(axis: 1, start: 0, length: 40)  // rows contiguous, the whole not
        let ops: [BinaryOp] = [.add, .sub, .mul, .div, .maximum, .pow, .reluBackward, .tanhBackward, .sigmoidBackward, .geluBackward]
        for op in ops {
            for (a, b) in [(x.strided, w.strided.broadcast(to: [6, 40])), (view.strided, x.strided), (w.strided.broadcast(to: [6, 40]), view.strided)] {
                let out = Tensor.empty([6, 40])
                CPUBackend.shared.binary(op, a, b, into: out.strided)
                var expected = [Float](repeating: 0, count: 240)
                for i in 0..<6 {
                    for j in 0..<40 {
                        let u = a.pointer(Float.self)[i * a.strides[0] + j * a.strides[1]]
                        let v = b.pointer(Float.self)[i * b.strides[0] + j * b.strides[1]]
                        expected[i * 40 + j] = applyBinary(op, u, v)
                    }
                }
                XCTAssertEqual(out.scalars.map(\.bitPattern), expected.map(\.bitPattern), "\(op)")
            }
        }
    }

    /// A right-hand operand read in place (its own rows, or a copy with padded rows) gives the products of a packed one,
    /// bit for bit; which operands are read in place follows `GEMM.readsBInPlace` (few rows on Intel CPUs read strides
    /// that are multiples of 128 bytes in place; many rows never do).
    func testOperandReadInPlaceGivesThePackedProducts() {
        for (rows, inner, columns) in [(32, 1024, 256), (7, 96, 64), (64, 128, 100), (200, 96, 64), (128, 64, 512)] {
            let a = Tensor.randn([rows, inner], generator: g), b = Tensor.randn([inner, columns], generator: g)
            let direct = GEMM.readsBInPlace(MatrixView(base: UnsafePointer(b.strided.pointer(Float.self)), rowStride: columns,
                                                       columnStride: 1), rows: rows)
            XCTAssertEqual(direct, columns % 32 != 0 || (rows <= GEMM.fewRows && GEMM.inPlaceForFewRows), "\(rows)x\(inner)x\(columns)")
            let copy = readableInPlace(b, rows: rows)
            XCTAssertEqual(copy.scalars, b.scalars)
            if direct { XCTAssertTrue(copy === b) } else { XCTAssertFalse(copy.isContiguous, "a copy with padded rows") }
            // B seen through a transpose is always packed. On 1, 2 and 3 threads (split by columns or by rows).
            let packedB = b.transposed(0, 1).contiguous().transposed(0, 1)
            var products: [String: [UInt32]] = [:]
            let saved = Threading.threadCount
            for threads in [1, 2, 3] {
                Threading.threadCount = threads
                for (name, operand) in [("B as it is", b), ("B's copy", copy), ("B packed", packedB)] {
                    let out = Tensor.empty([rows, columns])
                    CPUBackend.shared.matmul(a.strided, operand.strided, transposeA: false, transposeB: false, into: out.strided,
                                             accumulate: false)
                    products["\(name), \(threads) threads"] = out.scalars.map(\.bitPattern)
                }
            }
            Threading.threadCount = saved
            let expected = products["B packed, 1 threads"]!
            for (name, bits) in products { XCTAssertEqual(bits, expected, "\(rows)x\(inner)x\(columns), \(name)") }
        }
    }

    /// A last sliver of fewer columns than the widest tile runs through a narrower kernel (16 or 32 wide) where one holds
    /// it: the same bits as the full-width tile, which a product with B's columns padded to whole tiles runs.
    func testNarrowLastSliverGivesTheBitsOfAFullTile() {
        for (rows, depth, columns) in [(64, 120, 84), (64, 128, 96), (7, 600, 100), (100, 200, 150), (64, 256, 40), (13, 784, 790), (64, 50, 16)] {
            let a = Tensor.randn([rows, depth], generator: g), w = Tensor.randn([columns, depth], generator: g)
            let padded = Tensor.zeros([(columns + 63) / 64 * 64 + 64, depth])
            padded.narrowed(axis: 0, start: 0, length: columns).assign(w)
            for threads in [1, 2] {
                let saved = Threading.threadCount
                Threading.threadCount = threads
                defer { Threading.threadCount = saved }
                // B row-major (w's transpose copied) and B as a transpose (x·Wᵀ, as a linear layer).
                for transposed in [false, true] {
                    let b = transposed ? w.transposed() : w.transposed().contiguous()
                    let wide = transposed ? padded.transposed() : padded.transposed().contiguous()
                    let product = matmul(a, b).scalars.map(\.bitPattern)
                    let full = matmul(a, wide).narrowed(axis: 1, start: 0, length: columns).contiguous().scalars.map(\.bitPattern)
                    XCTAssertEqual(product, full, "\(rows)x\(depth)x\(columns), transposed \(transposed), \(threads) threads")
                }
            }
        }
    }

    func testGEMMIsBitwiseIndependentOfThreadCount() {
        let saved = Threading.threadCount
        defer { Threading.threadCount = saved }
        // 130 rows split by rows across threads; 64 rows (one block) split by columns; 515 rows in blocks of unequal
        // whole slivers, the last one part of a sliver (every row is checked against the reference). Then B at least as
        // large as A, split by columns over all the row blocks: read in place (strides 450, 300) and packed (256, 384),
        // over one and two K blocks, the last sliver full or narrower.
        let shapes = [(130, 600, 257), (64, 600, 257), (515, 600, 257), (200, 300, 450), (192, 520, 384), (130, 600, 256),
                      (256, 256, 256), (300, 700, 300)]
        for (rows, depth, columns) in shapes {
            let a = Tensor.randn([rows, depth], generator: g), b = Tensor.randn([depth, columns], generator: g)
            Threading.threadCount = 1
            let one = matmul(a, b).scalars
            var reference = [Float](repeating: 0, count: rows * columns)
            a.scalars.withUnsafeBufferPointer { pa in
                b.scalars.withUnsafeBufferPointer { pb in
                    GEMM.reference(m: rows, n: columns, k: depth,
                                   a: MatrixView(base: pa.baseAddress!, rowStride: depth, columnStride: 1),
                                   b: MatrixView(base: pb.baseAddress!, rowStride: columns, columnStride: 1),
                                   c: &reference, ldc: columns, accumulate: false)
                }
            }
            let shape = "\(rows)x\(depth)x\(columns)"
            XCTAssertLessThan(zip(one, reference).map { Swift.abs($0 - $1) }.max()!, 1e-3, shape)
            Threading.threadCount = 2
            let two = matmul(a, b).scalars
            Threading.threadCount = 3  // more threads than cores still gives the same bits
            let three = matmul(a, b).scalars
            XCTAssertEqual(one, two, shape)
            XCTAssertEqual(one, three, shape)
        }
        // Columns that do not split evenly among the threads (LeNet's 64 x 120 · (84 x 120)ᵀ: a 64-wide sliver and a
        // 20-wide one; 257 columns on 3 threads) run as a row block per thread, each packing B itself when B is packed.
        for (rows, columns, depth) in [(64, 84, 120), (64, 257, 600), (100, 40, 700)] {
            let a = Tensor.randn([rows, depth], generator: g), w = Tensor.randn([columns, depth], generator: g)
            Threading.threadCount = 1
            let one = matmul(a, w.transposed()).scalars
            for threads in [2, 3] {
                Threading.threadCount = threads
                XCTAssertEqual(matmul(a, w.transposed()).scalars, one, "\(rows)x\(columns)x\(depth) on \(threads) threads")
            }
        }
    }

    /// The row-pair dot kernel (a convolution's weight gradient) at every level this CPU runs, against
    /// float64 sums, on edge sizes (row counts off the 4x2 blocks, lengths off the 16-lane vectors).
    func testRowDotKernelsMatchTheReference() {
        for level in 1...Int(axon_sdot_rows_levels()) {
            for (ra, rb, n) in [(1, 1, 1), (6, 9, 3380), (16, 54, 605), (5, 3, 17), (4, 2, 16), (7, 5, 33)] {
                let a = randomFloats(ra * n), b = randomFloats(rb * n)
                var out = [Float](repeating: .nan, count: ra * rb)
                axon_sdot_rows_with(Int32(level), a, ra, b, rb, n, &out)
                for i in 0..<ra {
                    for j in 0..<rb {
                        let exact = (0..<n).reduce(0.0) { $0 + Double(a[i * n + $1]) * Double(b[j * n + $1]) }
                        XCTAssertEqual(Double(out[i * rb + j]), exact, accuracy: 1e-4 * max(1, Double(n).squareRoot()),
                                       "level \(level) \(ra)x\(rb)x\(n) at (\(i), \(j))")
                    }
                }
            }
        }
    }

    /// The fixed-order float sum (a convolution's bias gradient) at every level this CPU runs: within float32's rounding
    /// of the float64 sum, the same value on every call, and for the portable and AVX2 levels the bits of their
    /// documented orders (8 running sums; 32 folded into 8, with the blocks of 8 and the zero-filled tail, then
    /// axon_hsum8's tree), for lengths around each block size, a plane of 11x11 and of 26x26, and one of 4099.
    func testFixedOrderSumAtEveryLevel() {
        // The lanes' running sums of x[start..<end] in blocks of `lanes`, the last block zero-filled.
        func laneSums(_ x: [Float], _ lanes: Int, from start: Int, to end: Int, into sums: inout [Float]) {
            var k = start
            while k < end {
                for l in 0..<lanes where k + l < end { sums[l] += x[k + l] }
                k += lanes
            }
        }
        for n in [0, 1, 7, 8, 9, 31, 32, 33, 40, 63, 64, 65, 121, 676, 4099] {
            let x = randomFloats(n)
            let exact = x.reduce(0.0) { $0 + Double($1) }
            // Level 1: 8 running sums over whole blocks, a tree, then the tail one by one.
            var s8 = [Float](repeating: 0, count: 8)
            laneSums(x, 8, from: 0, to: n / 8 * 8, into: &s8)
            var portable = ((s8[0] + s8[1]) + (s8[2] + s8[3])) + ((s8[4] + s8[5]) + (s8[6] + s8[7]))
            for k in (n / 8 * 8)..<n { portable += x[k] }
            // Level 2: 32 running sums over whole blocks of 32, folded into 8 pairwise, then the rest in blocks of 8.
            var s32 = [Float](repeating: 0, count: 32)
            laneSums(x, 32, from: 0, to: n / 32 * 32, into: &s32)
            var v = [Float](repeating: 0, count: 8)
            for l in 0..<8 {
                let low: Float = s32[l] + s32[8 + l], high: Float = s32[16 + l] + s32[24 + l]
                v[l] = low + high
            }
            laneSums(x, 8, from: n / 32 * 32, to: n, into: &v)
            let h: [Float] = (0..<4).map { v[$0] + v[4 + $0] }
            let avx2 = (h[0] + h[2]) + (h[1] + h[3])
            for level in 1...Int(axon_sum_levels()) {
                let sum = axon_sum_f32_with(Int32(level), x, n)
                XCTAssertEqual(Double(sum), exact, accuracy: 1e-6 * max(1, Double(n)), "level \(level), n \(n)")
                XCTAssertEqual(sum.bitPattern, axon_sum_f32_with(Int32(level), x, n).bitPattern, "level \(level), n \(n)")
                if level == 1 { XCTAssertEqual(sum.bitPattern, portable.bitPattern, "portable, n \(n)") }
                if level == 2 { XCTAssertEqual(sum.bitPattern, avx2.bitPattern, "AVX2, n \(n)") }
            }
        }
    }

    /// The vector im2col and col2im for stride 1 (padded or not) at every level this CPU runs, against the plain
    /// loops (float64 runs those), on rows of 1 to 32 outputs, paddings wider than the kernel's reach, and blocks
    /// shorter than one vector; neither writes past its output.
    func testStrideOneUnfoldingMatchesThePlainLoops() throws {
        let levels = Int(axon_unfold_levels())
        try XCTSkipIf(levels < 2, "no vector unfolding on this CPU (it has neither AVX2 nor AVX-512)")
        let guardCount = 16, sentinel: Float = 12345
        for level in 2...levels {
            for (c, h, w, k, pad) in [(2, 5, 7, 3, 1), (3, 14, 14, 3, 1), (1, 28, 28, 5, 2), (2, 4, 3, 2, 3), (1, 1, 1, 1, 0),
                                      (2, 30, 30, 3, 1), (2, 3, 2, 2, 0), (1, 2, 9, 1, 0), (3, 17, 17, 3, 0)] {
                let nb = 2
                let g = Conv2dGeometry(batch: nb, channels: c, height: h, width: w, kernelH: k, kernelW: k, strideH: 1, strideW: 1,
                                       padH: pad, padW: pad, dilationH: 1, dilationW: 1)
                let x = randomFloats(nb * c * h * w), shape = "level \(level) \(c)x\(h)x\(w) k\(k) pad \(pad)"
                let count = g.patch * nb * g.positions
                var fast = [Float](repeating: .nan, count: count) + [Float](repeating: sentinel, count: guardCount)
                XCTAssertEqual(axon_im2col_s1_f32_with(Int32(level), x, c, h, w, k, k, g.outH, g.outW, pad, pad, 0, nb, &fast), 1)
                var plain = [Double](repeating: .nan, count: count)
                x.map(Double.init).withUnsafeBufferPointer { im2col($0.baseAddress!, g, images: 0, nb, into: &plain) }
                XCTAssertEqual(fast.prefix(count).map(Double.init), plain, "im2col \(shape)")
                XCTAssertEqual(Array(fast.suffix(guardCount)), [Float](repeating: sentinel, count: guardCount), "im2col wrote past its output, \(shape)")
                let cols = randomFloats(count)
                var dxFast = [Float](repeating: .nan, count: x.count) + [Float](repeating: sentinel, count: guardCount)
                var dxPlain = [Double](repeating: 0, count: x.count)
                XCTAssertEqual(axon_col2im_s1_f32_with(Int32(level), cols, c, h, w, k, k, g.outH, g.outW, pad, pad, 0, nb, &dxFast), 1)
                cols.map(Double.init).withUnsafeBufferPointer { col2im($0.baseAddress!, g, images: 0, nb, into: &dxPlain) }
                for (a, b) in zip(dxFast, dxPlain) { XCTAssertEqual(Double(a), b, accuracy: 1e-5, "col2im \(shape)") }
                XCTAssertEqual(Array(dxFast.suffix(guardCount)), [Float](repeating: sentinel, count: guardCount), "col2im wrote past its output, \(shape)")
            }
        }
        XCTAssertEqual(axon_im2col_s1_f32_with(1, nil, 0, 0, 0, 0, 0, 0, 32, 0, 0, 0, 0, nil), 0, "level 1 leaves it to the plain loops")
    }

    /// The direct convolution kernels at every level this CPU runs, on images [1, 3) of a batch of 4 (LeNet's two
    /// layers, a padded 1-channel first layer, rows of exactly one vector, rows one past it, channel counts off the
    /// kernels' groups, a 1x1 and a 5x5 kernel): the forward pass gives the bits of im2col followed by the
    /// small-product kernel at the same level and writes only those images' planes; the weight gradient is within
    /// float32 rounding of float64 sums. Rows narrower than one vector, and level 1, are left to the general path.
    func testDirectConvolutionMatchesTheUnfoldedPath() throws {
        let levels = Int(axon_conv_direct_levels())
        try XCTSkipIf(levels < 2, "no direct convolution on this CPU (it has neither AVX2 nor AVX-512)")
        XCTAssertEqual(axon_conv_direct_lanes(1), 0, "level 1 has no direct kernels")
        let sentinel: Float = 12345
        for level in 2...levels {
            let lanes = axon_conv_direct_lanes(Int32(level))
            for (c, h, w, k, pad, o) in [(1, 28, 28, 3, 0, 6), (6, 13, 13, 3, 0, 16), (1, 28, 28, 3, 1, 32), (2, 9, 10, 2, 1, 5),
                                         (3, 8, 8, 3, 2, 7), (1, 8, 8, 1, 0, 3), (2, 20, 17, 5, 1, 9), (2, 18, 20, 3, 0, 13),
                                         (1, 19, 19, 3, 0, 1)] {
                let batch = 4, n0 = 1, nb = 2
                let g = Conv2dGeometry(batch: batch, channels: c, height: h, width: w, kernelH: k, kernelW: k, strideH: 1, strideW: 1,
                                       padH: pad, padW: pad, dilationH: 1, dilationW: 1)
                let shape = "level \(level) \(c)x\(h)x\(w) k\(k) pad \(pad), \(o) outputs"
                let x = randomFloats(batch * c * h * w), weight = randomFloats(o * g.patch), bias = randomFloats(o)
                var scratch = [Float](repeating: .nan, count: directConvolutionScratch(g, outChannels: o))
                let covered: Int32 = g.outW >= lanes ? 1 : 0
                // Forward: the unfolded path's bits, only images n0 ..< n0 + nb written.
                let planes = o * g.positions
                var fast = [Float](repeating: sentinel, count: batch * planes)
                XCTAssertEqual(axon_conv_direct_f32_with(Int32(level), x, c, h, w, k, k, pad, pad, weight, bias, o, g.outH, g.outW,
                                                         n0, nb, &fast, &scratch), covered, shape)
                if covered == 0 { continue }
                var cols = [Float](repeating: .nan, count: g.patch * nb * g.positions)
                x.withUnsafeBufferPointer { im2col($0.baseAddress!, g, images: n0, nb, into: &cols) }
                var unfolded = [Float](repeating: .nan, count: nb * planes)
                for i in 0..<nb {
                    cols.withUnsafeBufferPointer { pc in
                        unfolded.withUnsafeMutableBufferPointer { pu in
                            axon_sgemm_small_with(Int32(level), weight, g.patch, 1, pc.baseAddress! + i * g.positions, nb * g.positions,
                                                  pu.baseAddress! + i * planes, g.positions, o, g.positions, g.patch, bias)
                        }
                    }
                }
                XCTAssertEqual(Array(fast[(n0 * planes)..<((n0 + nb) * planes)]), unfolded, "forward \(shape)")
                XCTAssertEqual(Array(fast[..<(n0 * planes)] + fast[((n0 + nb) * planes)...]),
                               [Float](repeating: sentinel, count: (batch - nb) * planes), "forward wrote outside its images, \(shape)")
                // Weight gradient against float64 sums over the same images.
                let grad = randomFloats(batch * planes)
                var dw = [Float](repeating: .nan, count: o * g.patch)
                XCTAssertEqual(axon_conv_direct_wgrad_f32_with(Int32(level), x, c, h, w, k, k, pad, pad, grad, o, g.outH, g.outW,
                                                               n0, nb, &dw, &scratch), 1, shape)
                var exact = [Double](repeating: 0, count: o * g.patch)
                for i in n0..<(n0 + nb) {
                    for oc in 0..<o { for y in 0..<g.outH { for z in 0..<g.outW {
                        let gv = Double(grad[((i * o + oc) * g.outH + y) * g.outW + z])
                        for ic in 0..<c { for p in 0..<k { for q in 0..<k {
                            let yy = y - pad + p, zz = z - pad + q
                            if yy >= 0 && yy < h && zz >= 0 && zz < w {
                                exact[oc * g.patch + (ic * k + p) * k + q] += gv * Double(x[((i * c + ic) * h + yy) * w + zz])
                            }
                        } } }
                    } } }
                }
                let tolerance = 1e-5 * Double(nb * g.positions).squareRoot()
                for (j, (a, b)) in zip(dw, exact).enumerated() {
                    XCTAssertEqual(Double(a), b, accuracy: tolerance, "weight gradient \(shape) at \(j)")
                }
            }
        }
    }

    /// Adam's fused step at every level this CPU runs gives bitwise what the composed tensor ops give, on
    /// lengths off the 16-lane vectors.
    func testFusedAdamStepMatchesTheComposedOpsBitwise() {
        let (c1, c2, eps, lr) = (1 - pow(0.9, 3.0), 1 - pow(0.999, 3.0), 1e-8, 3e-3)
        for n in [1, 15, 16, 33, 1000] {
            let base = Tensor(shape: [n], scalars: randomFloats(n)), m = Tensor(shape: [n], scalars: randomFloats(n))
            let v = Tensor(shape: [n], scalars: randomFloats(n).map { $0 * $0 })
            let composed = (base - m / c1 / (sqrt(v) / c2.squareRoot() + eps) * lr).scalars
            for level in 1...Int(axon_adam_levels()) {
                var out = [Float](repeating: .nan, count: n)
                axon_adam_update_f32_with(Int32(level), base.scalars, m.scalars, v.scalars, &out, n, Float(c1),
                                          Float(c2.squareRoot()), Float(eps), Float(lr))
                XCTAssertEqual(out, composed, "level \(level), \(n) values")
            }
            let copy = base.clone()
            XCTAssertTrue(adamUpdate(base: copy, m: m, v: v, into: copy, c1: c1, sqrtC2: c2.squareRoot(), eps: eps, lr: lr))
            XCTAssertEqual(copy.scalars, composed, "in place, \(n) values")
        }
    }

    /// SGD's fused momentum step gives bitwise what its two composed in-place updates give, for momentum 1 (where
    /// the composed buffer update skips its multiply) and with dampening, on lengths that run on one thread and on
    /// several, at every vector level, and with several parameters gathered in one batch.
    func testFusedSGDMomentumStepMatchesTheComposedOpsBitwise() {
        for n in [1, 15, 1000, 70_000] {
            for (momentum, dampening, lr) in [(0.9, 0.0, 0.05), (1.0, 0.0, 0.1), (0.8, 0.25, 3e-3)] {
                let param = Tensor(shape: [n], scalars: randomFloats(n)), buffer = Tensor(shape: [n], scalars: randomFloats(n))
                let gradient = Tensor(shape: [n], scalars: randomFloats(n))
                let (p, b) = (param.clone(), buffer.clone())
                b.addInPlace(gradient, alpha: 1 - dampening, scalingSelfBy: momentum)
                p.addInPlace(b, alpha: -lr)
                XCTAssertTrue(sgdMomentumUpdate(param: param, buffer: buffer, gradient: gradient, momentum: momentum,
                                                dampening: dampening, lr: lr))
                let label = "\(n) values, momentum \(momentum), dampening \(dampening)"
                XCTAssertEqual(buffer.scalars.map(\.bitPattern), b.scalars.map(\.bitPattern), "buffer, " + label)
                XCTAssertEqual(param.scalars.map(\.bitPattern), p.scalars.map(\.bitPattern), "parameter, " + label)
            }
        }
        // Every vector level of the kernel, on lengths off the vectors.
        for n in [1, 7, 8, 17, 1000] {
            let param = randomFloats(n), buffer = randomFloats(n), gradient = randomFloats(n)
            let (p, b) = (Tensor(shape: [n], scalars: param), Tensor(shape: [n], scalars: buffer))
            b.addInPlace(Tensor(shape: [n], scalars: gradient), alpha: 0.75, scalingSelfBy: 0.9)
            p.addInPlace(b, alpha: -0.05)
            for level in 1...Int(axon_adam_levels()) {
                var (pOut, bOut) = (param, buffer)
                axon_sgd_momentum_f32_with(Int32(level), &pOut, &bOut, gradient, n, 0.9, 0.75, -0.05)
                XCTAssertEqual(bOut.map(\.bitPattern), b.scalars.map(\.bitPattern), "buffer, level \(level), \(n) values")
                XCTAssertEqual(pOut.map(\.bitPattern), p.scalars.map(\.bitPattern), "parameter, level \(level), \(n) values")
            }
        }
        // Several parameters in one batch (one pass split across threads as one range, so a task's range spans
        // parameters), each with its own hyperparameters, give what each gives alone.
        let sizes = [70_000, 1, 15, 40_000, 1000]
        let settings = [(0.9, 0.0, 0.05), (1.0, 0.0, 0.1), (0.8, 0.25, 3e-3), (0.5, 0.1, 1e-2), (0.9, 0.0, 0.2)]
        let batch = SGDMomentumBatch()
        var expected: [(Tensor, Tensor, Tensor, Tensor)] = []
        for (n, (momentum, dampening, lr)) in zip(sizes, settings) {
            let param = Tensor(shape: [n], scalars: randomFloats(n)), buffer = Tensor(shape: [n], scalars: randomFloats(n))
            let gradient = Tensor(shape: [n], scalars: randomFloats(n))
            let (p, b) = (param.clone(), buffer.clone())
            b.addInPlace(gradient, alpha: 1 - dampening, scalingSelfBy: momentum)
            p.addInPlace(b, alpha: -lr)
            XCTAssertTrue(batch.add(param: param, buffer: buffer, gradient: gradient, momentum: momentum, dampening: dampening, lr: lr))
            expected.append((param, buffer, p, b))
        }
        batch.run()
        for (param, buffer, p, b) in expected {
            XCTAssertEqual(buffer.scalars.map(\.bitPattern), b.scalars.map(\.bitPattern), "batched buffer, \(param.count) values")
            XCTAssertEqual(param.scalars.map(\.bitPattern), p.scalars.map(\.bitPattern), "batched parameter, \(param.count) values")
        }
        let strided = Tensor(shape: [4, 4], scalars: randomFloats(16)).transposed(0, 1)
        XCTAssertFalse(sgdMomentumUpdate(param: strided, buffer: strided.contiguous(), gradient: strided.contiguous(),
                                         momentum: 0.9, dampening: 0, lr: 0.1), "a strided parameter takes the composed ops")
    }

    /// The sums and the affine pass channel block by channel block (channelSumsThenAffine) give the bits of
    /// channelSums followed by channelAffine with the same maps: with and without a second operand and shifts, in
    /// place, on channels of one block each and of several per block, on 1-3 threads; float64 through the two calls.
    func testSumsThenAffineMatchesTheTwoPassesBitwise() {
        let saved = Threading.threadCount
        defer { Threading.threadCount = saved }
        for (shape, dtype) in [([64, 5, 28, 28], DType.float32), ([3, 7, 5, 3], .float32), ([2, 33, 17], .float32),
                               ([4, 3, 2, 2], .float64)] {
            let a = Tensor.randn(shape, dtype: dtype, generator: g) * 3 + 1, b = Tensor.randn(shape, dtype: dtype, generator: g)
            let c = shape[1]
            let shift = a[0].reshaped([c, a.count / (shape[0] * c)])[0..<c, 0..<1].doubleScalars  // a's own values, as batch norm's
            let mean = (0..<c).map { 0.1 * Double($0) - 0.3 }
            func map(_ ch: Int, _ sa: Double, _ sab: Double, _ withB: Bool) -> ChannelAffineMap {
                ChannelAffineMap(shiftA: withB ? nil : sa / 1000, shiftB: withB ? mean[ch] : nil, alpha: 1 / (1 + Swift.abs(sab)),
                                 beta: withB ? sa * 1e-3 : nil, gamma: Double(ch) - sab * 1e-4)
            }
            for withB in [false, true] {
                for threads in [1, 2, 3] {
                    Threading.threadCount = threads
                    let (sa, sab) = withB ? channelSums(b, a, shiftB: mean) : channelSums(a, a, shiftA: shift, shiftB: shift)
                    let maps = (0..<c).map { map($0, sa[$0], sab[$0], withB) }
                    let expected = withB
                        ? channelAffine(b, a, shiftB: maps.map { $0.shiftB! }, alpha: maps.map(\.alpha), beta: maps.map { $0.beta! },
                                        gamma: maps.map(\.gamma))
                        : channelAffine(a, shiftA: maps.map { $0.shiftA! }, alpha: maps.map(\.alpha), gamma: maps.map(\.gamma))
                    let first = withB ? b.clone() : a.clone()
                    let (fa, fab, out) = withB
                        ? channelSumsThenAffine(first, a, shiftB: mean, withB: true, into: first) { map($0, $1, $2, true) }
                        : channelSumsThenAffine(first, first, shiftA: shift, shiftB: shift, withB: false, into: first) { map($0, $1, $2, false) }
                    let label = "\(shape) \(dtype), second operand \(withB), \(threads) threads"
                    XCTAssertTrue(out === first, "written in place, " + label)
                    XCTAssertEqual(fa.map(\.bitPattern), sa.map(\.bitPattern), "sums, " + label)
                    XCTAssertEqual(fab.map(\.bitPattern), sab.map(\.bitPattern), "product sums, " + label)
                    XCTAssertEqual(out.doubleScalars.map(\.bitPattern), expected.doubleScalars.map(\.bitPattern), "output, " + label)
                }
            }
        }
    }

    /// Batch normalisation's per-channel passes (norm.c) at every level this CPU runs, against float64 loops, on
    /// planes off the 16-lane vectors and the 4096-value blocks, with and without shifts and a second operand.
    func testChannelPassKernelsMatchTheReference() {
        for level in 1...Int(axon_channel_levels()) {
            for (n, c, s) in [(1, 1, 1), (3, 5, 17), (2, 3, 4100), (4, 2, 33), (64, 3, 1)] {
                let a = randomFloats(n * c * s), b = randomFloats(n * c * s)
                let shiftA = randomFloats(c), shiftB = randomFloats(c), alpha = randomFloats(c), beta = randomFloats(c), gamma = randomFloats(c)
                var sumA = [Double](repeating: .nan, count: c), sumAB = sumA
                // Channels in two calls (as two tasks would split them): the same as one call per channel.
                let half = c / 2
                axon_channel_sums_f32_with(Int32(level), a, b, n, c, s, 0, half, shiftA, shiftB, &sumA, &sumAB)
                axon_channel_sums_f32_with(Int32(level), a, b, n, c, s, half, c, shiftA, shiftB, &sumA, &sumAB)
                var affine = [Float](repeating: .nan, count: n * c * s), plain = affine
                axon_channel_affine_f32_with(Int32(level), a, b, &affine, n, c, s, 0, c, shiftA, shiftB, alpha, beta, gamma)
                axon_channel_affine_f32_with(Int32(level), a, nil, &plain, n, c, s, 0, c, shiftA, nil, alpha, nil, gamma)
                for ch in 0..<c {
                    var ea = 0.0, eab = 0.0
                    for i in 0..<n {
                        for j in 0..<s {
                            let at = (i * c + ch) * s, u = Double(a[at + j]) - Double(shiftA[ch])
                            ea += u
                            eab += u * (Double(b[at + j]) - Double(shiftB[ch]))
                            let first = Double(alpha[ch]) * u + Double(gamma[ch])
                            let both = first + Double(beta[ch]) * (Double(b[at + j]) - Double(shiftB[ch]))
                            XCTAssertEqual(Double(affine[at + j]), both, accuracy: 1e-5, "level \(level) affine \(n)x\(c)x\(s)")
                            XCTAssertEqual(Double(plain[at + j]), first, accuracy: 1e-5)
                        }
                    }
                    let bound = 1e-5 * Double(n * s)
                    XCTAssertEqual(sumA[ch], ea, accuracy: bound, "level \(level) sums \(n)x\(c)x\(s) channel \(ch)")
                    XCTAssertEqual(sumAB[ch], eab, accuracy: bound, "level \(level) products \(n)x\(c)x\(s) channel \(ch)")
                }
            }
        }
    }

    /// Layer normalisation's rows (norm.c) at every level this CPU runs, against float64 loops: rows off the vector
    /// widths, an offset far from zero (the shift by the first value keeps the variance), a constant row, with and
    /// without weight and bias, forward and backward (the derivative in place over g too).
    func testLayerNormRowKernelsMatchTheReference() {
        for level in 1...Int(axon_channel_levels()) {
            for (rows, width) in [(1, 1), (3, 7), (4, 16), (5, 17), (6, 128), (2, 130)] {
                var x = randomFloats(rows * width).map { $0 * 3 + 1000 }
                for j in 0..<width { x[j] = 5 }  // a constant row: x̂ = 0
                let w = randomFloats(width), b = randomFloats(width), g = randomFloats(rows * width), eps = 1e-5
                for affine in [false, true] {
                    var xhat = [Float](repeating: .nan, count: x.count), out = xhat, rstd = [Double](repeating: .nan, count: rows)
                    axon_layer_norm_rows_f32_with(Int32(level), x, &xhat, &out, affine ? w : nil, affine ? b : nil, rows, width, eps, &rstd)
                    var dx = [Float](repeating: .nan, count: x.count), inPlace = g
                    axon_layer_norm_backward_rows_f32_with(Int32(level), g, affine ? w : nil, xhat, &dx, rows, width, rstd)
                    inPlace.withUnsafeMutableBufferPointer {
                        axon_layer_norm_backward_rows_f32_with(Int32(level), $0.baseAddress!, affine ? w : nil, xhat, $0.baseAddress!, rows,
                                                               width, rstd)
                    }
                    XCTAssertEqual(inPlace, dx, "level \(level) \(rows)x\(width): in place")
                    for r in 0..<rows {
                        let row = (0..<width).map { Double(x[r * width + $0]) }
                        let mean = row.reduce(0, +) / Double(width)
                        let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(width)
                        let s = 1 / (variance + eps).squareRoot()
                        XCTAssertEqual(rstd[r], s, accuracy: 2e-3 * s, "level \(level) \(rows)x\(width) rstd")
                        let y = row.map { ($0 - mean) * s }
                        let gy = (0..<width).map { Double(g[r * width + $0]) * (affine ? Double(w[$0]) : 1) }
                        let meanG = gy.reduce(0, +) / Double(width)
                        let meanGY = zip(gy, y).map { $0 * $1 }.reduce(0, +) / Double(width)
                        for j in 0..<width {
                            let at = r * width + j
                            XCTAssertEqual(Double(xhat[at]), y[j], accuracy: 2e-3, "level \(level) \(rows)x\(width) x̂")
                            if affine {
                                XCTAssertEqual(Double(out[at]), y[j] * Double(w[j]) + Double(b[j]), accuracy: 2e-3)
                            }
                            XCTAssertEqual(Double(dx[at]), s * (gy[j] - meanG - y[j] * meanGY), accuracy: 2e-3 * max(1, s),
                                           "level \(level) \(rows)x\(width) dx")
                        }
                    }
                }
            }
        }
    }

    /// Packing a transposed operand (x·Wᵀ's right side, and a row-major A into MR-wide groups) at every level this
    /// CPU runs, edge sizes included.
    func testTransposedPackingMatchesTheDefinition() {
        for level in 1...Int(axon_pack_transposed_levels()) {
            for (rows, cols, nr, ld) in [(512, 64, 64, 784), (13, 5, 16, 20), (8, 8, 8, 8), (17, 63, 64, 70), (1, 1, 4, 1),
                                         (512, 6, 6, 784), (288, 4, 6, 288), (21, 6, 6, 30), (7, 3, 6, 9), (16, 8, 8, 17),
                                         (272, 16, 16, 784), (19, 13, 16, 30)] {
                let src = randomFloats(cols * ld)
                var dst = [Float](repeating: .nan, count: rows * nr)
                axon_pack_transposed_with(Int32(level), src, ld, rows, cols, nr, &dst)
                var expected = [Float](repeating: 0, count: rows * nr)
                for p in 0..<rows { for j in 0..<cols { expected[p * nr + j] = src[j * ld + p] } }
                XCTAssertEqual(dst, expected, "level \(level) rows \(rows) cols \(cols) nr \(nr) ld \(ld)")
            }
        }
    }

    /// A block of one matrix transposed into another with its own row stride: every element of the block, and nothing
    /// past its columns (the rest of each destination row keeps its values).
    func testTransposeIntoAMatrixMatchesTheDefinition() {
        for (rows, cols, ld, ldd) in [(64, 66, 64, 256), (64, 58, 64, 256), (13, 5, 20, 16), (8, 8, 8, 8), (17, 63, 70, 100),
                                      (1, 1, 1, 3), (21, 130, 21, 140), (9, 16, 30, 20)] {
            let src = randomFloats(cols * ld)
            var dst = [Float](repeating: 7, count: rows * ldd)
            axon_transpose(src, ld, rows, cols, &dst, ldd)
            var expected = [Float](repeating: 7, count: rows * ldd)
            for p in 0..<rows { for j in 0..<cols { expected[p * ldd + j] = src[j * ld + p] } }
            XCTAssertEqual(dst, expected, "rows \(rows) cols \(cols) ld \(ld) ldd \(ldd)")
        }
    }

    /// ReLU in place (one pointer, the vectorised loop) gives the bits of ReLU into another buffer, at every length
    /// around the vector widths: NaN kept, -0 and negatives to 0.
    func testReLUInPlaceMatchesReLUIntoAnotherBuffer() {
        for n in [1, 3, 7, 8, 9, 16, 31, 33, 64, 1000] {
            var x = randomFloats(n)
            for i in stride(from: 0, to: n, by: 5) { x[i] = [Float.nan, -0.0, 0, -Float.infinity, .infinity][(i / 5) % 5] }
            var out = [Float](repeating: 7, count: n)
            axon_relu_f32(x, &out, n)
            var inPlace = x
            inPlace.withUnsafeMutableBufferPointer { axon_relu_f32($0.baseAddress!, $0.baseAddress!, n) }
            XCTAssertEqual(inPlace.map(\.bitPattern), out.map(\.bitPattern), "n = \(n)")
            XCTAssertEqual(out.map(\.bitPattern), x.map { ($0 <= 0 ? Float(0) : $0).bitPattern }, "n = \(n)")
        }
    }

    /// Packing a row-major operand into NR-wide slivers: whole slivers of 16 and 64 and part ones, zero-padded; and
    /// MR-wide (6) slivers, as a transposed A's are packed.
    func testRowPackingMatchesTheDefinition() {
        for (rows, cols, nr, ld) in [(5, 16, 16, 20), (3, 64, 64, 70), (7, 5, 16, 9), (4, 63, 64, 64), (2, 6, 8, 6),
                                     (64, 6, 6, 256), (9, 4, 6, 10)] {
            let src = randomFloats(rows * ld)
            var dst = [Float](repeating: .nan, count: rows * nr)
            axon_pack_rows(src, ld, rows, cols, nr, &dst)
            var expected = [Float](repeating: 0, count: rows * nr)
            for p in 0..<rows { for j in 0..<cols { expected[p * nr + j] = src[p * ld + j] } }
            XCTAssertEqual(dst, expected, "rows \(rows) cols \(cols) nr \(nr) ld \(ld)")
        }
        // A block of slivers at once (a transposed A's rows): sliver s holds columns s·nr ..< s·nr + nr, zero-padded.
        for (rows, cols, nr, ld) in [(40, 66, 6, 1024), (17, 5, 6, 8), (33, 96, 6, 100), (3, 13, 6, 20), (20, 40, 16, 50)] {
            let src = randomFloats(rows * ld), slivers = (cols + nr - 1) / nr
            var dst = [Float](repeating: .nan, count: slivers * rows * nr)
            axon_pack_rows_slivers(src, ld, rows, cols, nr, &dst)
            var expected = [Float](repeating: 0, count: slivers * rows * nr)
            for s in 0..<slivers {
                for p in 0..<rows { for j in 0..<nr where s * nr + j < cols { expected[(s * rows + p) * nr + j] = src[p * ld + s * nr + j] } }
            }
            XCTAssertEqual(dst, expected, "slivers: rows \(rows) cols \(cols) nr \(nr) ld \(ld)")
        }
    }

    /// A transposed A whose columns are 4 KiB apart (Gᵀ·X with G 1024 wide, an LSTM's weight gradient) is packed a block
    /// of rows at a time: the bits of the same A made contiguous (which the micro-kernel reads in place), on 1, 2 and 3
    /// threads, over one and two K blocks, with a last sliver of fewer than 6 rows.
    func testTransposedAWithFarColumnsGivesTheBitsOfItsCopy() {
        let saved = Threading.threadCount
        defer { Threading.threadCount = saved }
        for (rows, depth, columns) in [(1024, 70, 40), (100, 600, 256), (7, 30, 33), (250, 40, 64)] {
            let g = Tensor.randn([depth, 1024], generator: self.g), x = Tensor.randn([depth, columns], generator: self.g)
            let a = g.narrowed(axis: 1, start: 1024 - rows, length: rows).T  // rows x depth, column stride 1024
            XCTAssertEqual(a.strides, [1, 1024])
            Threading.threadCount = 1
            let expected = matmul(a.contiguous(), x).scalars.map(\.bitPattern)
            for threads in [1, 2, 3] {
                Threading.threadCount = threads
                XCTAssertEqual(matmul(a, x).scalars.map(\.bitPattern), expected, "\(rows)x\(depth)x\(columns), \(threads) threads")
            }
        }
    }

    /// The float32 softmax and log-softmax rows and log-softmax's derivative (softmax.c), at every level this CPU runs,
    /// give the bits of the generic loops, written here with the rows' exp (`axon_softmax_exp_f32_one`) and the C
    /// library's logf: rows of 1 to 100 values (every vector tail), magnitudes to 1e4, rows holding -inf, +inf, NaN,
    /// zeros of both signs as the maximum, and rows that are all -inf, the forward through the backend in place (which
    /// the Swift loop takes) and the derivative in place.
    func testSoftmaxRowsAreTheGenericLoops() {
        let exp = axon_softmax_exp_f32_one
        func reference(_ x: [Float], n: Int, log: Bool) -> [Float] {
            var out = [Float](repeating: 0, count: x.count)
            for r in 0..<(x.count / n) {
                let row = Array(x[(r * n)..<(r * n + n)])
                var m = -Float.infinity
                for v in row where v > m || v.isNaN { m = v }
                if Swift.abs(m) == .infinity { m = 0 }
                if log {
                    var s: Float = 0
                    for v in row { s += exp(v - m) }
                    let l = Foundation.log(s)
                    for j in 0..<n { out[r * n + j] = (row[j] - m) - l }
                } else {
                    var sums = [Double](repeating: 0, count: 8)
                    for (j, v) in row.enumerated() { sums[j % 8] += Double(exp(v - m)) }
                    let sum = ((sums[0] + sums[1]) + (sums[2] + sums[3])) + ((sums[4] + sums[5]) + (sums[6] + sums[7]))
                    for j in 0..<n { out[r * n + j] = exp(row[j] - m) / Float(sum) }
                }
            }
            return out
        }
        func sameBits(_ a: [Float], _ b: [Float]) -> Bool {
            a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
        }
        for n in [1, 2, 7, 8, 10, 15, 16, 17, 31, 33, 40, 64, 100] {
            let rows = 8
            var x = randomFloats(rows * n).map { $0 * 30 }
            x[0] = 1e4
            if n > 2 {
                x[n + 1] = -.infinity; x[2 * n] = .infinity; x[3 * n + 1] = .nan; x[4 * n] = -1e4
                for j in 0..<n { x[5 * n + j] = -Float(j + 1) }  // the maximum a zero, -0 first
                x[5 * n + n / 2] = -0.0; x[5 * n + n - 1] = 0
                for j in 0..<n { x[6 * n + j] = -.infinity }
                x[7 * n + n - 1] = .nan  // a NaN in the last lane
            }
            for log in [false, true] {
                let expected = reference(x, n: n, log: log)
                for level in 1...axon_softmax_levels() {
                    var out = [Float](repeating: 7, count: x.count)
                    axon_softmax_rows_f32_with(level, x, &out, rows, n, log ? 1 : 0)
                    XCTAssertTrue(sameBits(out, expected), "level \(level) n \(n) log \(log)")
                }
                // Through the backend, in place (the output is the input: the Swift loop), the same bits.
                let inPlace = Tensor(shape: [rows, n], scalars: x)
                CPUBackend().softmax(inPlace.strided, log: log, into: inPlace.strided)
                XCTAssertTrue(sameBits(inPlace.scalars, expected), "in place, n \(n) log \(log)")
            }
            let y = reference(x.map { $0 / 1000 }, n: n, log: true), g = randomFloats(rows * n)
            var expected = [Float](repeating: 0, count: g.count)
            for r in 0..<rows {
                var s: Float = 0
                for j in 0..<n { s += g[r * n + j] }
                for j in 0..<n { expected[r * n + j] = g[r * n + j] - exp(y[r * n + j]) * s }
            }
            for level in 1...axon_softmax_levels() {
                var inPlace = g
                inPlace.withUnsafeMutableBufferPointer { axon_log_softmax_backward_rows_f32_with(level, $0.baseAddress!, y, $0.baseAddress!, rows, n) }
                XCTAssertTrue(sameBits(inPlace, expected), "backward, level \(level) n \(n)")
            }
        }
    }

    /// The softmax rows' exp: within 1 ulp of e^x computed in float64 over a sweep of every 4099th float32 bit pattern
    /// (correctly rounded but for the rare input whose e^x lies within 0.002 ulp of a tie), inf above log(2^128), 0
    /// below log(2^-150), NaN for NaN; and on glibc, its expf bit for bit (the same algorithm; the sweep over all 2^32
    /// inputs, run once outside the suite, found no difference).
    func testSoftmaxExpIsTheCLibrarysExpf() {
        var bits: UInt32 = 0, checked = 0, far: [Float] = [], unlikeLibc: [Float] = []
        repeat {
            let x = Float(bitPattern: bits), y = axon_softmax_exp_f32_one(x)
            let exact = Float(Foundation.exp(Double(x)))
            if x.isNaN ? !y.isNaN : !(y == exact || (exact.isFinite && Swift.abs(y - exact) <= exact.ulp)) { far.append(x) }
            #if os(Linux)
            let libc = Foundation.expf(x)
            if y.bitPattern != libc.bitPattern && !(y.isNaN && libc.isNaN) { unlikeLibc.append(x) }
            #endif
            checked += 1
            bits = bits &+ 4099
        } while bits >= 4099
        XCTAssertEqual(far, [], "beyond 1 ulp")
        XCTAssertEqual(unlikeLibc, [], "other bits than the C library's expf")
        XCTAssertGreaterThan(checked, 1_000_000)
        XCTAssertEqual(axon_softmax_exp_f32_one(-.infinity), 0)
        XCTAssertEqual(axon_softmax_exp_f32_one(.infinity), .infinity)
        XCTAssertEqual(axon_softmax_exp_f32_one(88.8), .infinity)
        XCTAssertEqual(axon_softmax_exp_f32_one(-104), 0)
        XCTAssertEqual(axon_softmax_exp_f32_one(0), 1)
    }

    /// float32 exp, sigmoid and tanh at every level this CPU runs: each level gives the scalar version's bits
    /// (for every vector width and tail), within 2 ulps (exp) or 3 ulps (sigmoid, tanh) of the exact value,
    /// and the IEEE answers at the edges (overflow to inf, subnormal results, NaN, ±inf).
    func testFloat32TranscendentalsAtEveryLevel() {
        var xs: [Float] = []
        var x: Float = -110
        while x < 95 { xs.append(x); x += 0.00731 }
        xs += [0, -0, .nan, .infinity, -.infinity, 88.72, 88.73, -87.3, -100, -103.9, -104.5, 0.3, -0.3, 9, -9, 1e-30, -1e-30]
        let exact: [(Double) -> Double] = [{ Foundation.exp($0) }, { 1 / (1 + Foundation.exp(-$0)) }, { Foundation.tanh($0) }]
        let one: [(Float) -> Float] = [axon_exp_f32_one, axon_sigmoid_f32_one, axon_tanh_f32_one]
        for op in 0..<3 {
            let scalar = xs.map(one[op])
            assertEveryLevelGives(scalar, xs, "op \(op)") { axon_transcendental_f32_with($0, Int32(op), xs, $1, $2) }
            var worst = 0.0
            for (x, y) in zip(xs, scalar) where x.isFinite {
                let e = exact[op](Double(x))
                if Float(e).isInfinite { XCTAssertEqual(y, Float(e), "op \(op) at \(x) overflows"); continue }
                let ulp = Double(max(Float(e).ulp, Float.leastNonzeroMagnitude))
                worst = max(worst, Swift.abs(Double(y) - e) / ulp)
            }
            XCTAssertLessThanOrEqual(worst, op == 0 ? 2 : 3, "op \(op): worst error in ulps")
        }
        XCTAssertEqual(axon_exp_f32_one(.infinity), .infinity)
        XCTAssertEqual(axon_erf_f32_one(.infinity), 1)
        XCTAssertEqual(axon_erf_f32_one(-.infinity), -1)
        XCTAssertEqual(axon_erf_f32_one(0), 0)
        XCTAssertEqual(axon_erf_f32_one(-0.0).sign, .minus)
        XCTAssertTrue(axon_erf_f32_one(.nan).isNaN)
        XCTAssertEqual(axon_gelu_f32_one(.infinity), .infinity)
        XCTAssertEqual(axon_gelu_f32_one(-20), -0)
        XCTAssertTrue(axon_gelu_f32_one(.nan).isNaN)
        XCTAssertEqual(axon_exp_f32_one(-.infinity), 0)
        XCTAssertEqual(axon_exp_f32_one(89), .infinity)
        XCTAssertGreaterThan(axon_exp_f32_one(-100), 0, "a subnormal, not 0")
        XCTAssertEqual(axon_sigmoid_f32_one(.infinity), 1)
        XCTAssertEqual(axon_sigmoid_f32_one(-.infinity), 0)
        XCTAssertEqual(axon_tanh_f32_one(.infinity), 1)
        XCTAssertEqual(axon_tanh_f32_one(-.infinity), -1)
        XCTAssertEqual(axon_tanh_f32_one(0), 0)
        for f in one { XCTAssertTrue(f(.nan).isNaN) }
    }

    /// `run(level, out, n)`, at every transcendental level this CPU runs and for lengths that leave every vector tail,
    /// writes the first n of `scalar` bit for bit (any NaN counts as NaN: its sign and payload are not part of the
    /// contract).
    private func assertEveryLevelGives(_ scalar: [Float], _ xs: [Float], _ label: String,
                                       _ run: (Int32, UnsafeMutablePointer<Float>, Int) -> Void) {
        for level in 1...Int(axon_transcendental_levels()) {
            for n in [xs.count, 1, 7, 8, 15, 16, 17, 33] {
                var out = [Float](repeating: 7, count: n)
                out.withUnsafeMutableBufferPointer { run(Int32(level), $0.baseAddress!, n) }
                let differing = (0..<n).first { out[$0].bitPattern != scalar[$0].bitPattern && !(out[$0].isNaN && scalar[$0].isNaN) }
                XCTAssertNil(differing, "\(label) level \(level) n \(n): x = \(differing.map { xs[$0] } ?? 0)")
            }
        }
    }

    /// float32 erf, GELU and GELU's derivative at every level this CPU runs: each level gives the scalar version's
    /// bits (for every vector width and tail); erf within 2 ulps of the exact value; GELU and its derivative within
    /// what erf's error and float32 rounding allow (PyTorch computes them the same way: x·0.5·(1 + erf(x/√2)), whose
    /// 1 + erf cancels for large negative x, so the bound is absolute, scaled by |x|).
    func testFloat32ErfAndGELUAtEveryLevel() {
        var xs: [Float] = []
        var x: Float = -12
        while x < 12 { xs.append(x); x += 0.000731 }
        xs += [0, -0, .nan, .infinity, -.infinity, 0.927734375, -0.927734375, 0.92773443, 1e-30, -1e-30, 1e-8, 4, -4, 9, -9, 30, -30]
        let gs = xs.indices.map { Float(($0 % 13) - 6) / 3 }
        let sqrt1_2 = 0.5.squareRoot()
        for op in [3, 4] {
            let scalar = xs.map(op == 3 ? axon_erf_f32_one : axon_gelu_f32_one)
            assertEveryLevelGives(scalar, xs, "op \(op)") { axon_transcendental_f32_with($0, Int32(op), xs, $1, $2) }
            var worst = 0.0
            for (x, y) in zip(xs, scalar) where x.isFinite {
                let xd = Double(x)
                if op == 3 {
                    let e = Foundation.erf(xd)
                    worst = max(worst, Swift.abs(Double(y) - e) / Double(max(Float(e).ulp, Float.leastNonzeroMagnitude)))
                } else {
                    let e = xd * 0.5 * (1 + Foundation.erf(xd * sqrt1_2))
                    worst = max(worst, Swift.abs(Double(y) - e) / (Double(Float.ulpOfOne) * max(1, Swift.abs(xd))))
                }
            }
            XCTAssertLessThanOrEqual(worst, 2, "op \(op): worst error (erf: ulps; GELU: float32 epsilons times max(1, |x|))")
        }
        let scalar = zip(gs, xs).map { axon_gelu_backward_f32_one($0, $1) }
        assertEveryLevelGives(scalar, xs, "GELU backward") { axon_gelu_backward_f32_with($0, gs, xs, $1, $2) }
        var worst = 0.0
        for ((g, x), y) in zip(zip(gs, xs), scalar) where x.isFinite {
            let xd = Double(x), gd = Double(g)
            let e = gd * (0.5 * (1 + Foundation.erf(xd * sqrt1_2)) + xd * Foundation.exp(-0.5 * xd * xd) / (2 * Double.pi).squareRoot())
            worst = max(worst, Swift.abs(Double(y) - e) / (Double(Float.ulpOfOne) * max(1, Swift.abs(gd))))
        }
        XCTAssertLessThanOrEqual(worst, 3, "GELU backward: worst error in float32 epsilons times max(1, |g|)")
    }

    /// The unpacked small-product kernel at every level this CPU runs: strided A (plain and transposed),
    /// B rows inside a wider matrix, bias or none, column counts off the 16- and 32-wide blocks.
    func testSmallProductKernelMatchesTheReference() {
        for level in 1...Int(axon_sgemm_small_levels()) {
            for (m, n, k) in [(6, 676, 9), (16, 121, 54), (54, 605, 16), (1, 1, 1), (9, 17, 6), (8, 33, 3), (13, 47, 5)] {
                for transposedA in [false, true] {
                    let a = randomFloats(m * k), ldb = n + 7, ldc = n + 3
                    let b = randomFloats(k * ldb), bias = randomFloats(m)
                    let (rsa, csa) = transposedA ? (1, m) : (k, 1)
                    for useBias in [false, true] {
                        var c = [Float](repeating: .nan, count: m * ldc)
                        bias.withUnsafeBufferPointer { pb in
                            axon_sgemm_small_with(Int32(level), a, rsa, csa, b, ldb, &c, ldc, m, n, k, useBias ? pb.baseAddress : nil)
                        }
                        for i in 0..<m {
                            for j in 0..<n {
                                var exact = useBias ? Double(bias[i]) : 0
                                for r in 0..<k { exact += Double(a[i * rsa + r * csa]) * Double(b[r * ldb + j]) }
                                XCTAssertEqual(Double(c[i * ldc + j]), exact, accuracy: 1e-4,
                                               "level \(level) \(m)x\(n)x\(k) tA=\(transposedA) bias=\(useBias) at (\(i), \(j))")
                            }
                            XCTAssertTrue(c[i * ldc + n].isNaN, "wrote past the row")
                        }
                    }
                }
            }
        }
    }

    func testWorkerPoolRunsEveryTaskOnce() {
        let saved = Threading.threadCount
        defer { Threading.threadCount = saved }
        // Each thread owns a range of the tasks and then takes what others left: every task still runs once, with
        // fewer tasks than threads, a remainder, and the thread count lowered after more workers were started (a
        // started worker past the count sits the job out and its range is taken by the others).
        for threads in [2, 4, 3, 2] {
            Threading.threadCount = threads
            for tasks in [1, 2, 3, 5, 17, 1000] {
                var hits = [Int](repeating: 0, count: tasks)
                hits.withUnsafeMutableBufferPointer { buffer in
                    let p = SendablePointer(pointer: buffer.baseAddress!)
                    runTasks(tasks) { t in p.pointer[t] += 1 }
                }
                XCTAssertEqual(hits, [Int](repeating: 1, count: tasks), "\(tasks) tasks on \(threads) threads")
            }
        }
        // Jobs back to back, most of them shorter than a worker's way in: a worker may still be leaving one job (or
        // reading it) as the next is written, and must neither miss a task nor run one twice.
        for threads in [2, 3] {
            Threading.threadCount = threads
            var hits = [Int](repeating: 0, count: 4 * 20_000)
            hits.withUnsafeMutableBufferPointer { buffer in
                let p = SendablePointer(pointer: buffer.baseAddress!)
                for job in 0..<20_000 { runTasks(job % 4 + 1) { t in p.pointer[4 * job + t] += 1 } }
            }
            XCTAssertEqual(hits.enumerated().filter { $0.offset % 4 <= $0.offset / 4 % 4 }.map(\.element),
                           [Int](repeating: 1, count: hits.count / 4 * 10 / 4), "\(threads) threads")
            XCTAssertEqual(hits.reduce(0, +), hits.count / 4 * 10 / 4, "\(threads) threads")
        }
        // A thread takes the tasks it ran off the pending count once per range: the caller returns only when every
        // task has finished, also while a slow task holds a worker's batch open and the others take what is left of
        // its range.
        for threads in [2, 3] {
            Threading.threadCount = threads
            for _ in 0..<20 {
                var done = [Int](repeating: 0, count: 24)
                done.withUnsafeMutableBufferPointer { buffer in
                    let p = SendablePointer(pointer: buffer.baseAddress!)
                    runTasks(24) { t in
                        if t % 8 == 0 { usleep(2000) }
                        p.pointer[t] = t + 1
                    }
                }
                XCTAssertEqual(done, Array(1...24), "\(threads) threads")
            }
        }
        Threading.threadCount = 2
        // Nested parallel calls run inline instead of deadlocking.
        var total = [Int](repeating: 0, count: 4)
        total.withUnsafeMutableBufferPointer { buffer in
            let p = SendablePointer(pointer: buffer.baseAddress!)
            runTasks(4) { t in runTasks(3) { _ in p.pointer[t] += 1 } }
        }
        XCTAssertEqual(total, [3, 3, 3, 3])
        // parallelFor covers every index once, with more grains than threads (split into a multiple of the thread
        // count), with fewer, and with a remainder.
        for (threads, count, grain) in [(2, 7 * 10, 10), (3, 2 * 10 + 3, 10), (2, 1000, 7), (4, 101, 50)] {
            Threading.threadCount = threads
            var seen = [Int](repeating: 0, count: count)
            seen.withUnsafeMutableBufferPointer { buffer in
                let p = SendablePointer(pointer: buffer.baseAddress!)
                parallelFor(count, grain: grain) { range in for i in range { p.pointer[i] += 1 } }
            }
            XCTAssertEqual(seen, [Int](repeating: 1, count: count), "\(threads) threads, \(count) in grains of \(grain)")
        }
    }

    func testParallelElementwiseMatchesSerial() {
        let saved = Threading.threadCount
        defer { Threading.threadCount = saved }
        let x = Tensor.randn([300_001], generator: g)
        Threading.threadCount = 1
        let serial = (tanh(x) * 2 + exp(-abs(x))).scalars
        Threading.threadCount = 2
        let parallel = (tanh(x) * 2 + exp(-abs(x))).scalars
        XCTAssertEqual(serial, parallel)
    }

    /// Direct convolution by definition, in float64.
    func naiveConv(_ x: Tensor, _ w: Tensor, _ b: Tensor, stride: Int, padding: Int, dilation: Int) -> [Double] {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
        let oh = (h + 2 * padding - dilation * (kh - 1) - 1) / stride + 1
        let ow = (wd + 2 * padding - dilation * (kw - 1) - 1) / stride + 1
        let xv = x.doubleScalars, wv = w.doubleScalars, bv = b.doubleScalars
        var out = [Double](repeating: 0, count: n * o * oh * ow)
        for i in 0..<n { for oc in 0..<o { for y in 0..<oh { for z in 0..<ow {
            var s = bv[oc]
            for ic in 0..<c { for p in 0..<kh { for q in 0..<kw {
                let yy = y * stride - padding + p * dilation, zz = z * stride - padding + q * dilation
                if yy >= 0 && yy < h && zz >= 0 && zz < wd {
                    s += xv[((i * c + ic) * h + yy) * wd + zz] * wv[((oc * c + ic) * kh + p) * kw + q]
                }
            } } }
            out[((i * o + oc) * oh + y) * ow + z] = s
        } } } }
        return out
    }

    func testConv2dMatchesDirectConvolution() {
        for (shape, wshape, s, p, d) in [([2, 3, 9, 7], [4, 3, 3, 3], 1, 0, 1), ([1, 1, 28, 28], [6, 1, 3, 3], 1, 0, 1),
                                         ([3, 2, 11, 13], [5, 2, 5, 3], 2, 2, 1), ([2, 2, 10, 10], [3, 2, 3, 3], 1, 1, 3),
                                         ([64, 6, 13, 13], [16, 6, 3, 3], 1, 0, 1)] {
            let x = Tensor.randn(shape, generator: g), w = Tensor.randn(wshape, generator: g), b = Tensor.randn([wshape[0]], generator: g)
            let fast = conv2d(x, weight: w, bias: b, stride: s, padding: p, dilation: d).doubleScalars
            let slow = naiveConv(x, w, b, stride: s, padding: p, dilation: d)
            XCTAssertEqual(fast.count, slow.count)
            let err = zip(fast, slow).map { Swift.abs($0 - $1) }.max()!
            XCTAssertLessThan(err, 1e-4, "conv \(shape) \(wshape) s\(s) p\(p) d\(d)")
        }
    }

    /// Winograd's F(2x2, 3x3) (3x3 kernels at stride 1 with 16 or more channels each way) against the float64
    /// direct convolution: output, input gradient (itself a Winograd convolution where the padding is at most 2) and
    /// the other gradients; at both thread counts (bitwise the same) and at both levels of the transforms (bitwise
    /// the same). The shapes give odd outputs, paddings 0 to 3, rows of more than 8 tiles, tile blocks that run
    /// across rows and images, and batches of several chunks.
    func testWinogradConvolutionMatchesDirectConvolution() {
        let saved = Threading.threadCount
        defer { Threading.threadCount = saved }
        // The last flag: whether the input gradient goes through Winograd too (not past padding 2, nor where its
        // geometry takes the small-product path: 20 channels in, 29 out).
        for (shape, o, p, adjoint) in [([3, 16, 14, 14], 40, 1, true), ([2, 32, 9, 7], 33, 0, true), ([2, 17, 19, 21], 48, 2, true),
                                       ([9, 32, 6, 6], 64, 1, true), ([1, 29, 3, 3], 20, 1, false), ([2, 16, 5, 5], 36, 3, false),
                                       ([20, 32, 14, 14], 64, 1, true)] {
            let name = "x \(shape), \(o) outputs, padding \(p)"
            let geometry = Conv2dGeometry(batch: shape[0], channels: shape[1], height: shape[2], width: shape[3], kernelH: 3,
                                          kernelW: 3, strideH: 1, strideW: 1, padH: p, padW: p, dilationH: 1, dilationW: 1)
            XCTAssertTrue(usesWinograd(geometry, outChannels: o), name)
            XCTAssertEqual(winogradAdjoint(geometry, outChannels: o) != nil, adjoint, name)
            let x = Tensor.randn(shape, generator: g), w = Tensor.randn([o, shape[1], 3, 3], generator: g)
            let b = Tensor.randn([o], generator: g)
            let y0 = conv2d(x, weight: w, bias: b, padding: (p, p))
            let seed = Tensor.randn(y0.shape, generator: g)
            var runs: [[[Float]]] = []
            for threads in [1, 2] {
                Threading.threadCount = threads
                let (xg, wg, bg) = (x.requiringGrad(), w.requiringGrad(), b.requiringGrad())
                let y = conv2d(xg, weight: wg, bias: bg, padding: (p, p))
                y.backward(seed)
                runs.append([y.scalars, xg.grad!.scalars, wg.grad!.scalars, bg.grad!.scalars])
            }
            XCTAssertEqual(runs[0], runs[1], "1 and 2 threads, \(name)")
            // The float64 reference (the direct path: Winograd is float32 only).
            let (xd, wd, bd) = (x.converted(to: .float64).requiringGrad(), w.converted(to: .float64).requiringGrad(),
                                b.converted(to: .float64).requiringGrad())
            let yd = conv2d(xd, weight: wd, bias: bd, padding: (p, p))
            XCTAssertEqual(yd.doubleScalars.count, naiveConv(x, w, b, stride: 1, padding: p, dilation: 1).count)
            yd.backward(seed.converted(to: .float64))
            for (label, fast, reference) in [("output", runs[0][0], yd.doubleScalars), ("input gradient", runs[0][1], xd.grad!.doubleScalars),
                                             ("weight gradient", runs[0][2], wd.grad!.doubleScalars),
                                             ("bias gradient", runs[0][3], bd.grad!.doubleScalars)] {
                // Relative to the largest value: each is a sum of hundreds of products of N(0, 1) values.
                let scale = reference.map(Swift.abs).max()!
                let err = zip(fast, reference).map { Swift.abs(Double($0) - $1) }.max()!
                XCTAssertLessThan(err / scale, 2e-6, "\(label), \(name)")
            }
        }
        // An empty batch: no tiles, so zero weight and bias gradients (and an empty input gradient).
        let (xe, we, be) = (Tensor.zeros([0, 32, 6, 6]).requiringGrad(), Tensor.randn([40, 32, 3, 3], generator: g).requiringGrad(),
                            Tensor.randn([40], generator: g).requiringGrad())
        let ye = conv2d(xe, weight: we, bias: be, padding: (1, 1))
        XCTAssertTrue(usesWinograd(Conv2dGeometry(batch: 0, channels: 32, height: 6, width: 6, kernelH: 3, kernelW: 3, strideH: 1,
                                                   strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1), outChannels: 40))
        XCTAssertEqual(ye.shape, [0, 40, 6, 6])
        ye.backward(Tensor.zeros([0, 40, 6, 6]))
        XCTAssertEqual(we.grad!.scalars, [Float](repeating: 0, count: 40 * 32 * 9))
        XCTAssertEqual(be.grad!.scalars, [Float](repeating: 0, count: 40))
        XCTAssertEqual(xe.grad!.shape, [0, 32, 6, 6])
    }

    /// The convolutions that take the direct kernels (LeNet's, a padded 1-channel first layer), through conv2d and
    /// its backward pass with every subset of the gradients taken (a frozen weight with a trained bias among them):
    /// bitwise the same on 1 and 2 threads, and within float32 rounding of float64.
    func testDirectConvolutionGradientsMatchFloat64() {
        let saved = Threading.threadCount
        defer { Threading.threadCount = saved }
        for (shape, wshape, p) in [([64, 1, 28, 28], [6, 1, 3, 3], 0), ([64, 6, 13, 13], [16, 6, 3, 3], 0), ([9, 1, 28, 28], [32, 1, 3, 3], 1)] {
            let geometry = Conv2dGeometry(batch: shape[0], channels: shape[1], height: shape[2], width: shape[3], kernelH: 3, kernelW: 3,
                                          strideH: 1, strideW: 1, padH: p, padW: p, dilationH: 1, dilationW: 1)
            XCTAssertEqual(usesDirectConvolution(geometry, outChannels: wshape[0]), axon_conv_direct_levels() >= 2)
            let x = Tensor.randn(shape, generator: g), w = Tensor.randn(wshape, generator: g), b = Tensor.randn([wshape[0]], generator: g)
            let seed = Tensor.randn(conv2d(x, weight: w, bias: b, padding: (p, p)).shape, generator: g)
            let (xd, wd, bd) = (x.converted(to: .float64).requiringGrad(), w.converted(to: .float64).requiringGrad(),
                                b.converted(to: .float64).requiringGrad())
            let yd = conv2d(xd, weight: wd, bias: bd, padding: (p, p))
            yd.backward(seed.converted(to: .float64))
            let reference = [yd.doubleScalars, xd.grad!.doubleScalars, wd.grad!.doubleScalars, bd.grad!.doubleScalars]
            for (trainX, trainW, trainB) in [(true, true, true), (false, true, true), (false, false, true), (true, false, false), (false, true, false)] {
                let name = "x \(shape), w \(wshape), gradients of x \(trainX), w \(trainW), b \(trainB)"
                var runs: [[[Float]?]] = []
                for threads in [1, 2] {
                    Threading.threadCount = threads
                    let xg = trainX ? x.requiringGrad() : x, wg = trainW ? w.requiringGrad() : w, bg = trainB ? b.requiringGrad() : b
                    let y = conv2d(xg, weight: wg, bias: bg, padding: (p, p))
                    y.backward(seed)
                    runs.append([y.scalars, xg.grad?.scalars, wg.grad?.scalars, bg.grad?.scalars])
                }
                XCTAssertEqual(runs[0], runs[1], "1 and 2 threads, \(name)")
                for (index, label) in ["output", "input gradient", "weight gradient", "bias gradient"].enumerated() {
                    let taken = [true, trainX, trainW, trainB][index]
                    XCTAssertEqual(runs[0][index] != nil, taken, "\(label), \(name)")
                    guard let fast = runs[0][index] else { continue }
                    let scale = reference[index].map(Swift.abs).max()!
                    let err = zip(fast, reference[index]).map { Swift.abs(Double($0) - $1) }.max()!
                    XCTAssertLessThan(err / scale, 2e-6, "\(label), \(name)")
                }
            }
        }
    }

    /// Without an input gradient (a first layer), the packed path reads the output gradient in place, image by image,
    /// for the weight and bias gradients (the 3x3 case takes Winograd's weight gradient instead): against float64
    /// (where the input gradient is taken, so the gradient is gathered), and bitwise the same on 1 and 2 threads.
    func testWeightGradientWithoutInputGradientMatchesFloat64() {
        let saved = Threading.threadCount
        defer { Threading.threadCount = saved }
        for (shape, wshape, p) in [([5, 3, 12, 11], [40, 3, 5, 5], 2), ([3, 40, 7, 7], [36, 40, 3, 3], 1)] {
            let x = Tensor.randn(shape, generator: g), w = Tensor.randn(wshape, generator: g), b = Tensor.randn([wshape[0]], generator: g)
            let seed = Tensor.randn(conv2d(x, weight: w, bias: b, padding: (p, p)).shape, generator: g)
            var runs: [[[Float]]] = []
            for threads in [1, 2] {
                Threading.threadCount = threads
                let (wg, bg) = (w.requiringGrad(), b.requiringGrad())
                conv2d(x, weight: wg, bias: bg, padding: (p, p)).backward(seed)
                runs.append([wg.grad!.scalars, bg.grad!.scalars])
            }
            XCTAssertEqual(runs[0], runs[1], "1 and 2 threads, x \(shape), w \(wshape)")
            let (xd, wd, bd) = (x.converted(to: .float64).requiringGrad(), w.converted(to: .float64).requiringGrad(),
                                b.converted(to: .float64).requiringGrad())
            conv2d(xd, weight: wd, bias: bd, padding: (p, p)).backward(seed.converted(to: .float64))
            for (label, fast, reference) in [("weight", runs[0][0], wd.grad!.doubleScalars), ("bias", runs[0][1], bd.grad!.doubleScalars)] {
                let scale = reference.map(Swift.abs).max()!
                let err = zip(fast, reference).map { Swift.abs(Double($0) - $1) }.max()!
                XCTAssertLessThan(err / scale, 2e-6, "\(label) gradient, x \(shape), w \(wshape)")
            }
        }
    }

    /// The portable and the AVX2 transforms of Winograd's convolution and of its weight gradient give the same bits.
    func testWinogradLevelsAgreeBitwise() throws {
        let levels = Int(axon_winograd_levels())
        try XCTSkipIf(levels < 2, "only the portable transforms on this CPU")
        let variant = GEMM.bestVariant, mr = Int(variant.mr)
        for (n, c, h, wd, o, p) in [(2, 16, 14, 14, 40, 1), (3, 20, 9, 19, 33, 2), (1, 16, 4, 3, 17, 0), (2, 32, 8, 7, 20, 1)] {
            let oh = h + 2 * p - 2, ow = wd + 2 * p - 2
            let x = randomFloats(n * c * h * wd), w = randomFloats(o * c * 9), bias = randomFloats(o)
            var u = [Float](repeating: 0, count: 16 * ((o + mr - 1) / mr) * mr * c)
            axon_winograd_filter_f32(w, o, c, mr, &u)
            let dy = randomFloats(n * o * oh * ow)
            // All the images, and a chunk of them (the vector loads read inside the chunk's own images only).
            for (n0, nb) in [(0, n)] + (n > 1 ? [(1, n - 1)] : []) {
                var outs: [[UInt32]] = []
                for level in [1, 2] {
                    var scratch = [Float](repeating: .nan, count: axon_winograd_scratch(c, mr, Int(variant.nr), nb, oh, ow))
                    var out = [Float](repeating: .nan, count: n * o * oh * ow)
                    axon_winograd_conv_f32_with(Int32(level), x, c, h, wd, p, p, u, o, oh, ow, bias, n0, nb, variant, &scratch, &out)
                    XCTAssertFalse(out[(n0 * o * oh * ow)...].contains { $0.isNaN }, "level \(level) left outputs unwritten")
                    outs.append(out.map(\.bitPattern))
                }
                XCTAssertEqual(outs[0], outs[1], "\(n)x\(c)x\(h)x\(wd), \(o) outputs, padding \(p), images \(n0)..<\(n0 + nb)")
                // The weight gradient's products M: both transforms (input and output gradient) and both packings.
                var ms: [[Float]] = []
                for level in [1, 2] {
                    var scratch = [Float](repeating: .nan, count: axon_winograd_weight_scratch(c, o, mr, Int(variant.nr), nb, oh, ow))
                    var m = [Float](repeating: .nan, count: 16 * o * c)
                    axon_winograd_weight_grad_f32_with(Int32(level), x, c, h, wd, p, p, dy, o, oh, ow, n0, nb, variant, &scratch, &m)
                    XCTAssertFalse(m.contains { $0.isNaN }, "level \(level) left products unwritten")
                    ms.append(m)
                }
                XCTAssertEqual(ms[0], ms[1], "weight gradient, \(n)x\(c)x\(h)x\(wd), \(o) outputs, padding \(p), images \(n0)..<\(n0 + nb)")
                // And with every fast tile (the weight gradient's products take the one for c columns).
                for v in GEMM.variants.dropLast() {
                    var scratch = [Float](repeating: .nan, count: axon_winograd_weight_scratch(c, o, Int(v.mr), Int(v.nr), nb, oh, ow))
                    var m = [Float](repeating: .nan, count: 16 * o * c)
                    axon_winograd_weight_grad_f32_with(2, x, c, h, wd, p, p, dy, o, oh, ow, n0, nb, v, &scratch, &m)
                    XCTAssertEqual(m.map(\.bitPattern), ms[1].map(\.bitPattern), "weight gradient with \(String(cString: v.name)), \(c) channels")
                }
            }
        }
    }
}
