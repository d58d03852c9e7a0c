import AxonTestSupport
import XCTest
@testable import AxonCore

/// Second derivatives: the gradient recorded with `createGraph` is differentiated again and compared with
/// finite differences of the first derivative (float64), for every differentiable primitive, on every
/// backend; a Hessian-vector product of a small MLP; `gradients(of:withRespectTo:)`.
final class HigherOrderTests: XCTestCase, DrawsCheckInputs {
    let inputs = CheckInputs(seed: 5)

    /// Checks d/dx of (∂f/∂x · v) by finite differences: the first derivative, recorded, is the function.
    func checkSecond(_ name: String, _ inputs: [Tensor], file: StaticString = #filePath, line: UInt = #line,
                     _ f: @escaping ([Tensor]) -> Tensor) {
        do {
            let report = checkGradients({ xs in
                let outer = GradMode.isEnabled && xs.contains { $0.requiresGrad }
                return withGrad {
                    let leaves = xs.map { $0.dtype.isFloatingPoint && !$0.requiresGrad ? $0.requiringGrad() : $0 }
                    let y = f(leaves)
                    let v = Tensor.uniform(y.shape, low: 0.5, high: 1.5, dtype: y.dtype, generator: Generator(seed: 77))
                    let grads = gradients(of: y, withRespectTo: leaves.filter { $0.dtype.isFloatingPoint }, gradOutputs: v,
                                          createGraph: outer)
                    return concat(grads.map { $0.reshaped([-1]) })
                }
            }, at: inputs)
            XCTAssert(report.passed, "\(name) [\(Backends.current.name)]: \(report)", file: file, line: line)
        }
    }

    func testSecondDerivativesOfElementwisePrimitives() {
        onEveryBackend { _ in
            checkSecond("add", [r([3, 4]), r([4])]) { $0[0] * $0[0] + $0[1] * $0[0] }
            checkSecond("mul", [r([3, 4]), r([3, 1])]) { $0[0] * $0[1] * $0[0] }
            checkSecond("div", [r([3, 4]), r([4], low: 0.5, high: 2)]) { $0[0] / $0[1] }
            checkSecond("pow scalar", [r([3, 4], low: 0.5, high: 2)]) { pow($0[0], 3.5) }
            checkSecond("pow tensor", [r([3, 4], low: 0.5, high: 2), r([4])]) { pow($0[0], $0[1]) }
            checkSecond("exp", [r([3, 4])]) { exp($0[0]) }
            checkSecond("log", [r([3, 4], low: 0.3, high: 3)]) { log($0[0]) }
            checkSecond("log1p", [r([3, 4], low: -0.5, high: 3)]) { log1p($0[0]) }
            checkSecond("sqrt", [r([3, 4], low: 0.3, high: 3)]) { sqrt($0[0]) }
            checkSecond("sin", [r([3, 4])]) { sin($0[0]) }
            checkSecond("cos (composite)", [r([3, 4])]) { cos($0[0]) }
            checkSecond("tanh", [r([3, 4])]) { tanh($0[0]) }
            checkSecond("sigmoid", [r([3, 4])]) { sigmoid($0[0]) }
            checkSecond("relu", [away([3, 4])]) { relu($0[0]) * $0[0] }
            checkSecond("erf", [r([3, 4])]) { erf($0[0]) }
            checkSecond("maximum", [away([3, 4]), away([4])]) { maximum($0[0] * $0[0], $0[1] * 0.9) }
            checkSecond("minimum (composite)", [away([3, 4]), away([3, 1])]) { minimum($0[0] * $0[1], $0[1] * 0.9) }
            checkSecond("abs (composite)", [away([3, 4])]) { abs($0[0]) * $0[0] }
            checkSecond("where", [r([3, 4]), r([4])]) { `where`($0[0] .> 0, $0[0] * $0[0], $0[1] * $0[0]) }
            checkSecond("to(float32) and back", [r([3])]) { ($0[0] * $0[0]).converted(to: .float32).converted(to: .float64) }
            checkSecond("clone", [r([3])]) { ($0[0] * $0[0]).clone() }
            checkSecond("softplus", [r([3, 4])]) { softplus($0[0]) }
            checkSecond("gelu", [r([3, 4])]) { gelu($0[0]) }
        }
    }

    func testSecondDerivativesOfReductionsAndSoftmax() {
        onEveryBackend { _ in
            let x = r([2, 3, 4])
            for axes: [Int]? in [nil, [1], [0, 2]] {
                checkSecond("sum \(String(describing: axes))", [x]) { ($0[0] * $0[0]).sum(axes: axes) }
                checkSecond("max \(String(describing: axes))", [away([2, 3, 4])]) { ($0[0] * $0[0] * $0[0]).max(axes: axes) }
            }
            checkSecond("logSoftmax (last axis, fused)", [r([3, 5])]) { logSoftmax($0[0]) }
            checkSecond("logSoftmax axis 0", [r([3, 5])]) { logSoftmax($0[0], axis: 0) }
            checkSecond("cross entropy (fused), mean", [r([3, 5])]) { logSoftmaxCrossEntropy($0[0], labels: [2, 0, 4], mean: true) }
            checkSecond("cross entropy (fused), sum", [r([3, 5])]) { logSoftmaxCrossEntropy($0[0], labels: [1, 1, 3], mean: false) }
            checkSecond("softmax (last axis, fused)", [r([3, 5])]) { softmax($0[0], axis: 1) }
            checkSecond("softmax axis 0", [r([3, 5])]) { softmax($0[0], axis: 0) }
            checkSecond("logsumexp", [r([3, 5])]) { $0[0].logSumExp(axes: [1]) }
            checkSecond("variance", [r([3, 5])]) { $0[0].variance(axes: [0]) }
        }
    }

    func testSecondDerivativesOfShapeAndIndexPrimitives() {
        onEveryBackend { _ in
            let x = r([2, 3, 4])
            checkSecond("reshape", [x]) { $0[0].reshaped([4, -1]) * $0[0].reshaped([4, -1]) }
            checkSecond("permute", [x]) { $0[0].permuted([2, 0, 1]) * $0[0].permuted([2, 0, 1]) }
            checkSecond("expand", [r([3, 1])]) { let e = $0[0].broadcasted(to: [2, 3, 5]); return e * e }
            checkSecond("slice", [x]) { let s = $0[0].sliced(axis: 2, 1..<3); return s * s }
            checkSecond("unfold", [r([7])]) { let u = $0[0].unfolded(axis: 0, size: 3, step: 2); return u * u }
            checkSecond("concat", [x, r([2, 2, 4])]) { let c = concat([$0[0], $0[1]], axis: 1); return c * c }
            let idx = Tensor(shape: [4], scalars: [2, 0, 2, 1])
            checkSecond("indexSelect", [x]) { let s = $0[0].indexSelected(axis: 1, indices: idx); return s * s }
            let gidx = Tensor(shape: [2, 2, 4], scalars: [0, 2, 1, 1, 2, 2, 0, 1, 1, 0, 0, 2, 2, 1, 1, 0])
            checkSecond("gather", [x]) { let s = $0[0].gathered(axis: 1, indices: gidx); return s * s }
        }
    }

    func testSecondDerivativesOfProductsConvolutionAndPooling() {
        onEveryBackend { _ in
            checkSecond("matmul", [r([3, 5]), r([5, 4])]) { matmul($0[0], $0[1]) * matmul($0[0], $0[1]) }
            checkSecond("batched matmul", [r([2, 3, 5]), r([2, 5, 4])]) { let p = matmul($0[0], $0[1]); return p * p }
            checkSecond("addmm (linear)", [r([3, 5]), r([4, 5]), r([4])]) { let p = matmul($0[0], transposed: $0[1], bias: $0[2]); return p * p }
            checkSecond("addmm with ReLU", [r([3, 5], low: -0.2, high: 0.2), r([4, 5], low: -0.2, high: 0.2),
                                            Tensor(shape: [4], scalars: [1.0, -1, 1.2, -0.9])]) {
                let p = matmulReLU($0[0], transposed: $0[1], bias: $0[2]); return p * p
            }
            checkSecond("conv2d", [r([2, 2, 5, 5]), r([3, 2, 3, 3]), r([3])]) {
                let y = conv2d($0[0], weight: $0[1], bias: $0[2], stride: 1, padding: 1); return y * y
            }
            checkSecond("conv2d strided", [r([1, 2, 6, 5]), r([2, 2, 2, 3])]) {
                let y = conv2d($0[0], weight: $0[1], stride: (2, 1), padding: (0, 1)); return y * y
            }
            checkSecond("maxPool2d", [away([1, 2, 4, 6])]) { let y = maxPool2d($0[0] * $0[0], 2); return y * y }
            checkSecond("maxPool2dReLU", [away([1, 2, 4, 6])]) {
                let y = maxPool2dReLU($0[0] * $0[0] * $0[0], kernelSize: (2, 2)); return y * y  // negative windows too
            }
            checkSecond("avgPool2d", [r([1, 2, 5, 6])]) { let y = avgPool2d($0[0], 3, stride: 2, padding: 1); return y * y }
        }
    }

    /// H·v for a small tanh MLP, from `gradients(createGraph:)` twice, against central differences of the
    /// gradient along v.
    func testHessianVectorProductOfAnMLP() {
        onEveryBackend { _ in
            let x = r([5, 3]), y = r([5, 2])
            let params = [r([4, 3]), r([4]), r([2, 4]), r([2])].map { $0.requiringGrad() }
            let v = params.map { Tensor.randn($0.shape, dtype: .float64, generator: g) }
            func loss(_ p: [Tensor]) -> Tensor {
                let h = tanh(matmul(x, transposed: p[0], bias: p[1]))
                let out = matmul(h, transposed: p[2], bias: p[3])
                return ((out - y) * (out - y)).mean()
            }
            func gradient(_ p: [Tensor], createGraph: Bool) -> [Tensor] {
                gradients(of: loss(p), withRespectTo: p, createGraph: createGraph)
            }
            let grads = gradient(params, createGraph: true)
            let gv = zip(grads, v).map { ($0 * $1).sum() }.reduce(Tensor(0, dtype: .float64), +)
            let hv = gradients(of: gv, withRespectTo: params)
            let eps = 1e-5
            let plus = gradient(zip(params, v).map { ($0.detached() + $1 * eps).requiringGrad() }, createGraph: false)
            let minus = gradient(zip(params, v).map { ($0.detached() - $1 * eps).requiringGrad() }, createGraph: false)
            for i in 0..<params.count {
                let numeric = (plus[i] - minus[i]) / (2 * eps)
                let err = zip(hv[i].doubleScalars, numeric.doubleScalars).map { Swift.abs($0 - $1) }.max()!
                XCTAssertLessThan(err, 1e-7, "H·v for parameter \(i)")
            }
            XCTAssertNil(params[0].grad, "gradients(of:) leaves .grad alone")
        }
    }

    func testGradientsOfIntermediatesAndBackwardWithCreateGraph() {
        onEveryBackend { _ in
            let x = Tensor([1.5, -0.5], dtype: .float64).requiringGrad()
            let h = x * x
            let y = (h * 3).sum()
            let (dh, dx) = { let r = gradients(of: y, withRespectTo: [h, x]); return (r[0], r[1]) }()
            XCTAssertEqual(dh.doubleScalars, [3, 3])
            XCTAssertEqual(dx.doubleScalars, [9, -3])
            // d/dx of (dy/dx · 1) = 6 per element, through backward(createGraph:).
            let z = (x * x * x).sum()
            z.backward(createGraph: true)
            let first = x.grad!
            XCTAssertTrue(first.requiresGrad)
            XCTAssertEqual(first.doubleScalars, [6.75, 0.75])
            x.zeroGrad()
            first.sum().backward()
            XCTAssertEqual(x.grad!.doubleScalars, [9, -3])
            // An input the output does not depend on gets zeros.
            let unused = Tensor([1.0], dtype: .float64).requiringGrad()
            XCTAssertEqual(gradients(of: (x * 2).sum(), withRespectTo: [unused])[0].doubleScalars, [0])
        }
    }

    /// A WGAN-GP critic step: the gradient penalty ‖∇ₓD(x̂)‖ is differentiated with respect to the critic's
    /// weights; training drives the penalty down while the critic separates real from fake.
    func testGradientPenaltyStepTrains() {
        onEveryBackend { _ in
            let gen = Generator(seed: 21)
            let real = Tensor.randn([32, 2], generator: gen) * 0.5 + 2
            let fake = Tensor.randn([32, 2], generator: gen) * 0.5 - 2
            let w1 = Tensor.randn([16, 2], generator: gen).requiringGrad(), b1 = Tensor.zeros([16]).requiringGrad()
            let w2 = (Tensor.randn([1, 16], generator: gen) * 0.3).requiringGrad(), b2 = Tensor.zeros([1]).requiringGrad()
            func critic(_ x: Tensor) -> Tensor { matmul(tanh(matmul(x, transposed: w1, bias: b1)), transposed: w2, bias: b2) }
            func penalty() -> Tensor {
                let alpha = Tensor.uniform([32, 1], generator: gen)
                let xHat = (alpha * real + (1 - alpha) * fake).detached().requiringGrad()
                let dx = gradients(of: critic(xHat).sum(), withRespectTo: [xHat], createGraph: true)[0]
                let norm = sqrt((dx * dx).sum(axis: 1) + 1e-12)
                return ((norm - 1) * (norm - 1)).mean()
            }
            let params = [w1, b1, w2, b2]
            var firstPenalty = 0.0, lastPenalty = 0.0, lastGap = 0.0
            for step in 0..<150 {
                let gp = penalty()
                let gap = critic(real).mean() - critic(fake).mean()
                let loss = -gap + 10 * gp
                for p in params { p.zeroGrad() }
                loss.backward()
                XCTAssertNotNil(w1.grad)
                withNoGrad { for p in params { p.addInPlace(p.grad!, alpha: -0.01) } }
                if step == 0 { firstPenalty = gp.item }
                lastPenalty = gp.item
                lastGap = gap.item
            }
            XCTAssertLessThan(lastPenalty, firstPenalty * 0.5, "penalty \(firstPenalty) -> \(lastPenalty)")
            XCTAssertGreaterThan(lastGap, 1, "the critic separates real from fake (gap \(lastGap))")
        }
    }
}
