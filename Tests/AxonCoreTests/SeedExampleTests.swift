import AxonTestSupport
import XCTest
@testable import AxonCore

/// The worked numbers of the seed texts, reproduced with autodiff.
final class SeedExampleTests: XCTestCase {
    func testAdjointTrace() {
        onEveryBackend { _ in
            // y = ln(x1) + x1*x2 - sin(x2) at (2, 5): the seed's reverse-mode trace.
            let x1 = Tensor(2.0, requiresGrad: true)
            let x2 = Tensor(5.0, requiresGrad: true)
            let y = log(x1) + x1 * x2 - sin(x2)
            y.backward()
            XCTAssertEqual(y.item, 11.652, accuracy: 1e-3)
            XCTAssertEqual(y.item, Foundation.log(2.0) + 10 - Foundation.sin(5.0), accuracy: 1e-5)
            XCTAssertEqual(x1.grad!.item, 5.5, accuracy: 1e-6)            // 1/x1 + x2
            XCTAssertEqual(x2.grad!.item, 1.716, accuracy: 1e-3)          // x1 - cos(x2)
            XCTAssertEqual(x2.grad!.item, 2 - Foundation.cos(5.0), accuracy: 1e-6)
        }
    }

    func testWeightedSumOfAPerceptron() {
        onEveryBackend { _ in
            // z = .9(2) + .2(3) + .3(-1) + .5 = 2.6
            let w = Tensor([0.9, 0.2, 0.3]), x = Tensor([2, 3, -1]), b = Tensor(0.5)
            XCTAssertEqual((matmul(w, x) + b).item, 2.6, accuracy: 1e-6)
        }
    }

    func testCircuitGradient() {
        onEveryBackend { _ in
            // f = (x + y) z at (-2, 5, -4): df/dx = df/dy = z = -4, df/dz = x + y = 3.
            let x = Tensor(-2.0, requiresGrad: true), y = Tensor(5.0, requiresGrad: true), z = Tensor(-4.0, requiresGrad: true)
            let f = (x + y) * z
            f.backward()
            XCTAssertEqual(f.item, -12)
            XCTAssertEqual(x.grad!.item, -4)
            XCTAssertEqual(y.grad!.item, -4)
            XCTAssertEqual(z.grad!.item, 3)
        }
    }

    func testChainRule() {
        onEveryBackend { _ in
            // h(x) = (2(x + 1))^2, h'(x) = 8(x + 1), h'(2) = 24.
            let x = Tensor(2.0, requiresGrad: true)
            let h = pow(2 * (x + 1), 2)
            h.backward()
            XCTAssertEqual(h.item, 36)
            XCTAssertEqual(x.grad!.item, 24)
        }
    }

    func testNeuronWithReLU() {
        onEveryBackend { _ in
            // z = [0.5, 0.1, 0.0058]·[0.4, 2, 17] + 0.2 = 0.6986 (the seed rounds it to 0.7); ReLU(z) = z.
            let w = Tensor([0.5, 0.1, 0.0058]), x = Tensor([0.4, 2, 17])
            let z = matmul(w, x) + 0.2
            XCTAssertEqual(z.item, 0.6986, accuracy: 1e-5)
            XCTAssertEqual(z.item, 0.7, accuracy: 0.005)
            XCTAssertEqual(relu(z).item, z.item)
            XCTAssertEqual(relu(-z).item, 0)
        }
    }

    func testSigmoidDerivative() {
        onEveryBackend { _ in
            // sigma'(z) = sigma(z)(1 - sigma(z)); 0.25 at 0.
            let zs: [Double] = [-6, -2, -0.5, 0, 0.5, 2, 6]
            let z = Tensor(zs, dtype: .float64, requiresGrad: true)
            sigmoid(z).sum().backward()
            for (i, v) in zs.enumerated() {
                let s = 1 / (1 + Foundation.exp(-v))
                XCTAssertEqual(z.grad!.doubleScalars[i], s * (1 - s), accuracy: 1e-12)
            }
            XCTAssertEqual(z.grad!.doubleScalars[3], 0.25, accuracy: 1e-12)
        }
    }

    func testTwoLinearLayersCollapseToOneAffineMap() {
        onEveryBackend { _ in
            // W2 (W1 x + b1) + b2 = (W2 W1) x + (W2 b1 + b2): without a nonlinearity depth adds nothing.
            let g = Generator(seed: 7)
            let w1 = Tensor.randn([5, 3], dtype: .float64, generator: g), b1 = Tensor.randn([5], dtype: .float64, generator: g)
            let w2 = Tensor.randn([2, 5], dtype: .float64, generator: g), b2 = Tensor.randn([2], dtype: .float64, generator: g)
            let x = Tensor.randn([3, 10], dtype: .float64, generator: g)  // 10 column inputs
            let twoLayers = matmul(w2, matmul(w1, x) + b1.unsqueezed(axis: 1)) + b2.unsqueezed(axis: 1)
            let w = matmul(w2, w1), b = matmul(w2, b1) + b2
            let oneLayer = matmul(w, x) + b.unsqueezed(axis: 1)
            XCTAssertEqual(twoLayers.shape, [2, 10])
            for (a, e) in zip(twoLayers.doubleScalars, oneLayer.doubleScalars) { XCTAssertEqual(a, e, accuracy: 1e-12) }
        }
    }
}
