import AxonTestSupport
import XCTest
@testable import AxonCore

final class TensorTests: XCTestCase {
    func testCreationAndReadBack() {
        onEveryBackend { _ in
            let a = Tensor([[1, 2], [3, 4]])
            XCTAssertEqual(a.shape, [2, 2])
            XCTAssertEqual(a.dtype, .float32)
            XCTAssertEqual(a.scalars, [1, 2, 3, 4])
            XCTAssertEqual(Tensor(2.0).shape, [])
            XCTAssertEqual(Tensor(2.5).item, 2.5)
            XCTAssertEqual(Tensor(shape: [2, 3], scalars: [Float](repeating: 1, count: 6)).dtype, .float32)
            XCTAssertEqual(Tensor(shape: [3], scalars: [1.0, 2.0, 3.0] as [Double]).dtype, .float64)
            let labels = Tensor(shape: [3], scalars: [2, 0, 1] as [Int])
            XCTAssertEqual(labels.dtype, .int64)
            XCTAssertEqual(labels.intScalars, [2, 0, 1])
            XCTAssertEqual(Tensor([[[1, 2]], [[3, 4]]]).shape, [2, 1, 2])
            XCTAssertEqual(Tensor.zeros([2, 3]).scalars, [0, 0, 0, 0, 0, 0])
            XCTAssertEqual(Tensor.ones([2]).scalars, [1, 1])
            XCTAssertEqual(Tensor.full([2], 7).scalars, [7, 7])
            XCTAssertEqual(Tensor.arange(0, 5).scalars, [0, 1, 2, 3, 4])
            XCTAssertEqual(Tensor.arange(1, 2, step: 0.25).scalars, [1, 1.25, 1.5, 1.75])
            XCTAssertEqual(Tensor.linspace(0, 1, steps: 5).scalars, [0, 0.25, 0.5, 0.75, 1])
            XCTAssertEqual(Tensor.eye(3).scalars, [1, 0, 0, 0, 1, 0, 0, 0, 1])
        }
    }

    func testRandomIsReproducible() {
        onEveryBackend { _ in
            manualSeed(123)
            let a = Tensor.randn([100])
            manualSeed(123)
            let b = Tensor.randn([100])
            XCTAssertEqual(a.scalars, b.scalars)
            let g1 = Generator(seed: 9), g2 = Generator(seed: 9)
            XCTAssertEqual(Tensor.uniform([50], generator: g1).scalars, Tensor.uniform([50], generator: g2).scalars)
            // Moments of 100k normal samples: mean 0, std 1, within sampling error.
            let n = Tensor.randn([100_000], dtype: .float64, generator: Generator(seed: 5))
            XCTAssertEqual(n.mean().item, 0, accuracy: 0.02)
            XCTAssertEqual(n.variance().item, 1, accuracy: 0.02)
            let u = Tensor.uniform([100_000], low: -1, high: 3, generator: Generator(seed: 6))
            XCTAssertGreaterThanOrEqual(u.min().item, -1)
            XCTAssertLessThan(u.max().item, 3)
            XCTAssertEqual(u.mean().item, 1, accuracy: 0.02)
            // State save/restore continues the same sequence.
            let g = Generator(seed: 11)
            _ = g.nextNormal()
            let state = g.state
            let next = (0..<5).map { _ in g.nextNormal() }
            g.setState(state)
            XCTAssertEqual((0..<5).map { _ in g.nextNormal() }, next)
        }
    }

    func testShapeOps() {
        onEveryBackend { _ in
            let x = Tensor.arange(0, 24).reshaped([2, 3, 4])
            XCTAssertEqual(x.reshaped([-1, 6]).shape, [4, 6])
            XCTAssertEqual(x.flattened(from: 1).shape, [2, 12])
            XCTAssertEqual(x.flattened().shape, [24])
            XCTAssertEqual(x.permuted([2, 0, 1]).shape, [4, 2, 3])
            XCTAssertEqual(x.permuted([2, 0, 1]).scalars.prefix(3), [0, 4, 8])
            XCTAssertEqual(Tensor([[1, 2, 3], [4, 5, 6]]).T.scalars, [1, 4, 2, 5, 3, 6])
            XCTAssertEqual(x.unsqueezed(axis: 0).shape, [1, 2, 3, 4])
            XCTAssertEqual(x.unsqueezed(axis: -1).shape, [2, 3, 4, 1])
            XCTAssertEqual(x.unsqueezed(axis: 1).squeezed().shape, [2, 3, 4])
            XCTAssertEqual(Tensor([1, 2]).broadcasted(to: [2, 2]).scalars, [1, 2, 1, 2])
            XCTAssertEqual(x[1..<2].shape, [1, 3, 4])
            XCTAssertEqual(x[1].shape, [3, 4])
            XCTAssertEqual(x[0..<1, 1..<3].scalars, [4, 5, 6, 7, 8, 9, 10, 11])
            XCTAssertEqual(x.sliced(axis: 2, 1..<2).scalars, [1, 5, 9, 13, 17, 21])
            XCTAssertEqual(concat([Tensor([[1, 2]]), Tensor([[3, 4], [5, 6]])], axis: 0).scalars, [1, 2, 3, 4, 5, 6])
            XCTAssertEqual(concat([Tensor([[1], [2]]), Tensor([[3, 4], [5, 6]])], axis: 1).scalars, [1, 3, 4, 2, 5, 6])
            XCTAssertEqual(stack([Tensor([1, 2]), Tensor([3, 4])]).shape, [2, 2])
            XCTAssertEqual(stack([Tensor([1, 2]), Tensor([3, 4])], axis: 1).scalars, [1, 3, 2, 4])
            XCTAssertEqual(Tensor.arange(0, 10).split(size: 4).map(\.shape), [[4], [4], [2]])
            XCTAssertEqual(Tensor.arange(0, 10).chunked(3).map(\.shape), [[4], [4], [2]])
            XCTAssertEqual(Tensor.arange(0, 6).split(sizes: [1, 5]).map(\.shape), [[1], [5]])
            let idx = Tensor(shape: [2], scalars: [2, 0])
            XCTAssertEqual(Tensor([[1, 2, 3], [4, 5, 6]]).indexSelected(axis: 1, indices: idx).scalars, [3, 1, 6, 4])
            // torch.gather(t, 1, [[0, 0], [1, 0]]) with t = [[1, 2], [3, 4]] is [[1, 1], [4, 3]].
            let gi = Tensor(shape: [2, 2], scalars: [0, 0, 1, 0])
            XCTAssertEqual(Tensor([[1, 2], [3, 4]]).gathered(axis: 1, indices: gi).scalars, [1, 1, 4, 3])
            // Int tensors go through movement ops unchanged.
            XCTAssertEqual(Tensor(shape: [2, 2], scalars: [1, 2, 3, 4] as [Int]).T.intScalars, [1, 3, 2, 4])
        }
    }

    func testElementwiseAndComparisons() {
        onEveryBackend { _ in
            let a = Tensor([1, -2, 3]), b = Tensor([2, 2, 2])
            XCTAssertEqual((a .> b).scalars, [0, 0, 1])
            XCTAssertEqual((a .<= 1).scalars, [1, 1, 0])
            XCTAssertEqual((a .== Tensor([1, 0, 3])).scalars, [1, 0, 1])
            XCTAssertEqual(Tensor.where(a .> 0, a, b).scalars, [1, 2, 3])
            XCTAssertEqual(maximum(a, b).scalars, [2, 2, 3])
            XCTAssertEqual(minimum(a, b).scalars, [1, -2, 2])
            XCTAssertEqual(clamp(a, min: -1, max: 2).scalars, [1, -1, 2])
            XCTAssertEqual(relu(a).scalars, [1, 0, 3])
            XCTAssertEqual(leakyRelu(a, negativeSlope: 0.5).scalars, [1, -1, 3])
            XCTAssertEqual(step(a).scalars, [1, 0, 1])
            XCTAssertEqual(pow(a, 2).scalars, [1, 4, 9])
            XCTAssertEqual((2 - a).scalars, [1, 4, -1])
            XCTAssertEqual((a / 2).scalars, [0.5, -1, 1.5])
            XCTAssertEqual(sigmoid(Tensor([-1e4, 0, 1e4])).scalars, [0, 0.5, 1])
            XCTAssertEqual(softplus(Tensor([-1e4, 1e4])).scalars, [0, 1e4])
            // Mixed dtypes promote to the wider float, as PyTorch.
            XCTAssertEqual((Tensor([1.0]) + Tensor([1.0], dtype: .float64)).dtype, .float64)
        }
    }

    func testReductions() {
        onEveryBackend { _ in
            let x = Tensor([[1, 5, 3], [4, 2, 6]])
            XCTAssertEqual(x.sum().item, 21)
            XCTAssertEqual(x.sum(axis: 0).scalars, [5, 7, 9])
            XCTAssertEqual(x.sum(axis: 1, keepDims: true).shape, [2, 1])
            XCTAssertEqual(x.mean(axis: 1).scalars, [3, 4])
            XCTAssertEqual(x.max().item, 6)
            XCTAssertEqual(x.max(axis: 1).scalars, [5, 6])
            XCTAssertEqual(x.min(axis: 0).scalars, [1, 2, 3])
            XCTAssertEqual(x.argmax(axis: 1).intScalars, [1, 2])
            XCTAssertEqual(x.argmin(axis: 0).intScalars, [0, 1, 0])
            XCTAssertEqual(x.argmax().intScalars, [5])
            XCTAssertEqual(x.argmax(axis: 1).dtype, .int64)
            XCTAssertEqual(Tensor([1, 2, 3, 4]).variance().item, 5.0 / 3.0, accuracy: 1e-6)
            XCTAssertEqual(Tensor([1, 2, 3, 4]).variance(unbiased: false).item, 1.25, accuracy: 1e-6)
            XCTAssertEqual(Tensor([0, 0]).logSumExp().item, Foundation.log(2.0), accuracy: 1e-6)
        }
    }

    func testSoftmaxIsStableForLargeInputs() {
        onEveryBackend { _ in
            let x = Tensor([[1e4, 0, -1e4], [1e4, 1e4, 1e4], [-1e4, -1e4, -1e4]], requiresGrad: true)
            let s = softmax(x, axis: 1)
            let ls = logSoftmax(x, axis: 1)
            XCTAssertFalse(s.scalars.contains { !$0.isFinite })
            XCTAssertFalse(ls.scalars.contains { $0.isNaN })
            XCTAssertEqual(s.scalars[0], 1, accuracy: 1e-6)
            XCTAssertEqual(s.scalars[3], 1.0 / 3.0, accuracy: 1e-6)
            XCTAssertEqual(ls.scalars[1], -1e4, accuracy: 1e-2)
            XCTAssertEqual(ls.scalars[6], -Float(Foundation.log(3.0)), accuracy: 1e-5)
            XCTAssertEqual(x.logSumExp(axis: 1).scalars[1], Float(1e4 + Foundation.log(3.0)), accuracy: 1e-2)
            (ls * Tensor.randn([3, 3])).sum().backward()
            XCTAssertFalse(x.grad!.scalars.contains { !$0.isFinite })
        }
    }

    func testPrintingShowsDtypeShapeAndValues() {
        onEveryBackend { _ in
            let t = Tensor([[1, 2], [3, 4]])
            XCTAssertEqual(t.description, "tensor([[1., 2.],\n        [3., 4.]], dtype: float32, shape: [2, 2])")
            XCTAssertEqual(Tensor([0.5, -1.25]).description, "tensor([ 0.5000, -1.2500], dtype: float32, shape: [2])")
            XCTAssertEqual(Tensor(shape: [2], scalars: [3, 1] as [Int]).description, "tensor([3, 1], dtype: int64, shape: [2])")
            XCTAssertTrue(Tensor(2.0, requiresGrad: true).description.contains("requiresGrad: true"))
            let big = Tensor.arange(0, 2000).reshaped([40, 50])
            let text = big.description
            XCTAssertTrue(text.contains("..."))
            XCTAssertTrue(text.contains("1999."))
            XCTAssertLessThan(text.count, 600, "large tensors are abbreviated")
            XCTAssertTrue(text.hasSuffix("dtype: float32, shape: [40, 50])"))
        }
    }
}
