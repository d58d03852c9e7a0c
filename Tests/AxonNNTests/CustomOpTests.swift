import Axon
import AxonTestSupport
import XCTest

/// An op defined outside AxonCore through `customOp` (as `torch.autograd.Function`): its gradient checks
/// against finite differences, second derivatives flow through a backward written in tensor ops, and the
/// protocol form works the same.
final class CustomOpTests: XCTestCase {
    /// softsign(x) = x / (1 + |x|), with its hand-written derivative 1 / (1 + |x|)².
    static func softsign(_ x: Tensor) -> Tensor {
        customOp("softsign", inputs: [x], forward: { xs in xs[0] / (abs(xs[0]) + 1) }, backward: { g, xs, _ in
            let d = abs(xs[0]) + 1
            return [g / (d * d)]
        })
    }

    /// A two-input op: a·exp(b), whose backward reads its own output.
    struct ScaledExp: DifferentiableFunction {
        static let name = "scaledExp"
        static func forward(_ inputs: [Tensor]) -> Tensor { inputs[0] * exp(inputs[1]) }
        static func backward(_ g: Tensor, _ inputs: [Tensor], _ output: Tensor) -> [Tensor?] {
            [g * exp(inputs[1]), g * output]
        }
    }

    func testCustomOpPassesAGradientCheck() {
        onEveryBackend { _ in
            let g = Generator(seed: 4)
            let x = Tensor.uniform([3, 4], low: -2, high: 2, dtype: .float64, generator: g)
            XCTAssert(checkGradients({ Self.softsign($0[0]) }, at: [x]).passed)
            let a = Tensor.uniform([3], low: -1, high: 1, dtype: .float64, generator: g)
            let b = Tensor.uniform([3], low: -1, high: 1, dtype: .float64, generator: g)
            XCTAssert(checkGradients({ ScaledExp.apply($0[0], $0[1]) * $0[0] }, at: [a, b]).passed)
            // In a larger graph, and as a layer would use it.
            XCTAssert(checkGradients({ Self.softsign(matmul($0[0], $0[1])).sum(axis: 1) }, at: [x, x.T.contiguous()]).passed)
        }
    }

    func testCustomOpHasSecondDerivatives() {
        onEveryBackend { _ in
            let x = Tensor([0.5, -1.5], dtype: .float64).requiringGrad()
            let first = gradients(of: Self.softsign(x).sum(), withRespectTo: [x], createGraph: true)[0]
            let second = gradients(of: first.sum(), withRespectTo: [x])[0]
            // d²/dx² softsign = -2 sign(x) / (1 + |x|)³.
            XCTAssertEqual(second.doubleScalars[0], -2 / pow(1.5, 3), accuracy: 1e-12)
            XCTAssertEqual(second.doubleScalars[1], 2 / pow(2.5, 3), accuracy: 1e-12)
        }
    }

    func testMSEIsACustomOpOutsideTheCore() {
        onEveryBackend { _ in
            // The fused mseLoss lives in AxonNN on customOp: one recorded node named after it.
            let x = Tensor([1, 2, 3], dtype: .float64).requiringGrad(), t = Tensor([0, 0, 1], dtype: .float64)
            let loss = mseLoss(x, t)
            XCTAssertTrue("\(loss)".contains("gradFn: mseLoss"))
            loss.backward()
            XCTAssertEqual(x.grad!.doubleScalars, [2.0 / 3, 4.0 / 3, 4.0 / 3])
        }
    }
}
