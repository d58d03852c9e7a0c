import AxonTestSupport
import XCTest
@testable import AxonCore

/// Views share their base's buffer (no copy), writes through them reach the base, every kernel reads
/// strided operands correctly, and gradients flow through views to the base.
final class ViewTests: XCTestCase {
    let g = Generator(seed: 11)

    func testViewsOfALargeTensorCopyNothing() {
        onEveryBackend { _ in
            let base = Tensor.randn([1000, 1000], generator: g)
            let before = TensorBuffer.allocatedBytes
            let views: [(String, Tensor)] = [
                ("slice rows", base[100..<200]), ("slice columns", base.sliced(axis: 1, 10..<990)),
                ("element row", base[7]), ("transpose", base.transposed()), ("T", base.T), ("mT", base.mT),
                ("permute", base.permuted([1, 0])), ("expand", base[3].unsqueezed(axis: 0).expanded(to: [1000, 1000])),
                ("broadcast", base.unsqueezed(axis: 0).broadcasted(to: [2, 1000, 1000])),
                ("reshape", base.reshaped([100, 10, 1000])), ("flatten", base.flattened()),
                ("squeeze/unsqueeze", base.unsqueezed(axis: 1).squeezed(axis: 1)),
                ("narrow", base.narrowed(axis: 1, start: 5, length: 10)),
                ("split", base.split(size: 300, axis: 1)[3]), ("chunk", base.chunked(4, axis: 0)[2]),
                ("unfold", base[0].unfolded(axis: 0, size: 10, step: 5)),
                ("reshape of a slice", base[100..<200].reshaped([50, 2, 1000])),
                ("contiguous of contiguous", base.contiguous()),
            ]
            XCTAssertEqual(TensorBuffer.allocatedBytes, before, "a view allocated element memory")
            for (name, v) in views { XCTAssertTrue(v.sharesStorage(with: base), name) }
            XCTAssertTrue(base.contiguous() === base)
            XCTAssertFalse(base.T.isContiguous)
            XCTAssertTrue(base[100..<200].isContiguous)
            XCTAssertFalse(base.sliced(axis: 1, 10..<990).isContiguous)
            XCTAssertFalse(base.T.contiguous().sharesStorage(with: base), "a non-contiguous view copies when asked")
            XCTAssertEqual(base.T.strides, [1, 1000])
            XCTAssertEqual(base[100..<200].storageOffset, 100_000)
            XCTAssertEqual(base.unsqueezed(axis: 0).broadcasted(to: [2, 1000, 1000]).strides, [0, 1000, 1])
        }
    }

    func testWritesThroughViewsReachTheBase() {
        onEveryBackend { _ in
            let base = Tensor.zeros([4, 5])
            base[1..<3].fillInPlace(7)  // rows 1 and 2
            base.T[4].assign(Tensor.full([4], -1))  // column 4, through a transpose
            base.sliced(axis: 1, 0..<2)[0].addInPlace(Tensor([10, 20]))
            XCTAssertEqual(base.scalars, [10, 20, 0, 0, -1,
                                          7, 7, 7, 7, -1,
                                          7, 7, 7, 7, -1,
                                          0, 0, 0, 0, -1])
            let v = base.reshaped([20])
            v.reluInPlace()
            XCTAssertEqual(base.scalars.filter { $0 < 0 }.count, 0)
        }
    }

    /// Every kernel reads strided operands as the same values made contiguous.
    func testKernelsOnViewsMatchContiguousCopies() {
        onEveryBackend { _ in
            let a = Tensor.randn([6, 8], dtype: .float64, generator: g), b = Tensor.randn([8, 6], dtype: .float64, generator: g)
            let views = [a.T[0..<6], a.sliced(axis: 1, 1..<7).T, b.sliced(axis: 0, 2..<8), a.T.sliced(axis: 0, 2..<8)]
            XCTAssertEqual(views.map(\.isContiguous), [false, false, true, false])
            for v in views {
                let c = v.contiguous()
                XCTAssertEqual(exp(v).doubleScalars, exp(c).doubleScalars)
                XCTAssertEqual((v * b.sliced(axis: 1, 0..<6).sliced(axis: 0, 0..<6)).doubleScalars,
                               (c * b.sliced(axis: 1, 0..<6).sliced(axis: 0, 0..<6).contiguous()).doubleScalars)
                XCTAssertEqual((v + Tensor([1, 2, 3, 4, 5, 6], dtype: .float64)).doubleScalars,
                               (c + Tensor([1, 2, 3, 4, 5, 6], dtype: .float64)).doubleScalars)
                for axes in [[0], [1], [0, 1]] {
                    XCTAssertEqual(v.sum(axes: axes).doubleScalars, c.sum(axes: axes).doubleScalars)
                    XCTAssertEqual(v.max(axes: axes).doubleScalars, c.max(axes: axes).doubleScalars)
                }
                XCTAssertEqual(v.argmax(axis: 1).intScalars, c.argmax(axis: 1).intScalars)
                XCTAssertLessThan(maxDifference(matmul(v, v.T), matmul(c, c.T.contiguous())), 1e-12)
                XCTAssertEqual((v .> 0).boolScalars, (c .> 0).boolScalars)
                XCTAssertEqual(`where`(v .> 0, v, c * 2).doubleScalars, `where`(c .> 0, c, c * 2).doubleScalars)
                XCTAssertEqual(v.converted(to: .float32).scalars, c.converted(to: .float32).scalars)
                XCTAssertEqual(softmax(v, axis: 0).doubleScalars, softmax(c, axis: 0).doubleScalars)
            }
            // float32 matmul through the packed GEMM with transposed operands (no copy) matches the copies.
            let x = Tensor.randn([70, 90], generator: g), y = Tensor.randn([110, 90], generator: g)
            XCTAssertLessThan(maxDifference(matmul(x, y.T), matmul(x, y.T.contiguous())), 1e-4)
            XCTAssertLessThan(maxDifference(matmul(x.T.T, y.mT), matmul(x, y.T.contiguous())), 1e-4)
            // Broadcast batch dimensions are stride-0 views.
            let batched = Tensor.randn([3, 4, 5], generator: g), shared = Tensor.randn([5, 2], generator: g)
            XCTAssertLessThan(maxDifference(matmul(batched, shared.unsqueezed(axis: 0)),
                                            stack((0..<3).map { matmul(batched[$0], shared) })), 1e-5)
        }
    }

    func testReshapeIsAViewWhenStridesAllowAndACopyOtherwise() {
        onEveryBackend { _ in
            let x = Tensor.arange(0, 24).reshaped([4, 6])
            let rows = x[1..<3]  // contiguous run
            XCTAssertTrue(rows.reshaped([3, 4]).sharesStorage(with: x))
            let cols = x.sliced(axis: 1, 0..<4)  // gaps between rows: [4, 4] can split rows, not merge them
            XCTAssertTrue(cols.reshaped([2, 2, 4]).sharesStorage(with: x))
            XCTAssertTrue(cols.reshaped([4, 2, 2]).sharesStorage(with: x))
            XCTAssertFalse(cols.reshaped([16]).sharesStorage(with: x))
            XCTAssertEqual(cols.reshaped([16]).scalars, [0, 1, 2, 3, 6, 7, 8, 9, 12, 13, 14, 15, 18, 19, 20, 21])
            XCTAssertEqual(cols.reshaped([2, 2, 4]).scalars, cols.contiguous().scalars)
            XCTAssertEqual(x.T.reshaped([24]).scalars, x.T.contiguous().scalars)
            XCTAssertEqual(Tensor.arange(0, 10).unfolded(axis: 0, size: 4, step: 3).scalars,
                           [0, 1, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9])
        }
    }

    func testGradientsFlowThroughViewsToTheBase() {
        onEveryBackend { _ in
            let x = Tensor.randn([3, 4], dtype: .float64, generator: g).requiringGrad()
            let y = (x.T[1] * 2).sum() + x[0..<2].sum() + x[2].unsqueezed(axis: 0).expanded(to: [5, 4]).sum()
                + x.sliced(axis: 1, 2..<4).reshaped([6]).sum() * 3
            y.backward()
            var expected = [Double](repeating: 0, count: 12)
            for i in 0..<3 { expected[i * 4 + 1] += 2 }
            for i in 0..<8 { expected[i] += 1 }
            for j in 0..<4 { expected[8 + j] += 5 }
            for i in 0..<3 { for j in 2..<4 { expected[i * 4 + j] += 3 } }
            XCTAssertEqual(x.grad!.doubleScalars, expected)
            let cases: [(String, (Tensor) -> Tensor)] = [
                ("unfold", { t in t[0].unfolded(axis: 0, size: 2, step: 1) * t[1].unfolded(axis: 0, size: 2, step: 1) }),
                ("narrow", { t in t.narrowed(axis: 1, start: 1, length: 2) * t.narrowed(axis: 0, start: 0, length: 3).sliced(axis: 1, 0..<2) }),
                ("mT", { t in matmul(t.mT, t) }),
            ]
            for (name, f) in cases {
                XCTAssert(checkGradients({ f($0[0]) }, at: [Tensor.randn([3, 4], dtype: .float64, generator: g)]).passed, name)
            }
        }
    }

    func testBoolTensors() {
        onEveryBackend { _ in
            let x = Tensor([-1, 0, 2])
            let m = x .> 0
            XCTAssertEqual(m.dtype, .bool)
            XCTAssertEqual(m.boolScalars, [false, false, true])
            XCTAssertEqual(m.converted(to: .float32).scalars, [0, 0, 1])
            XCTAssertEqual((x * m).scalars, [-0, 0, 2])  // the mask multiplies as 0/1
            XCTAssertEqual(m.sum().dtype, .int64)
            XCTAssertEqual(m.sum().item, 1)
            XCTAssertEqual(`where`(m, x, Tensor(9)).scalars, [9, 9, 2])
            XCTAssertEqual((Tensor(shape: [2], scalars: [1, 2]) .== Tensor(shape: [2], scalars: [1, 3])).boolScalars, [true, false])
            XCTAssertEqual((m .== m).boolScalars, [true, true, true])
            XCTAssertEqual(Tensor(shape: [2], scalars: [true, false]).converted(to: .int64).intScalars, [1, 0])
        }
    }
}
