import AxonTestSupport
import Axon
import XCTest

/// The fused batch normalisation (one custom op, two passes each way) beyond the PyTorch fixtures: gradient
/// checks in both modes, its recorded derivative, large means, and the same bits for any thread count.
final class BatchNormTests: XCTestCase {
    let g = Generator(seed: 21)
    func r(_ s: [Int]) -> Tensor { Tensor.randn(s, dtype: .float64, generator: g) }

    /// Float64 finite differences: training and evaluation (running statistics), with and without the affine
    /// map, for [N, C], [N, C, L] and [N, C, H, W] input.
    func testGradientChecksInBothModes() {
        onEveryBackend { backend in
            let mean = Buffer(wrappedValue: r([3])), variance = Buffer(wrappedValue: r([3]) * r([3]) + 0.5)
            let checks: [(String, [Tensor], ([Tensor]) -> Tensor)] = [
                ("training [N, C, L]", [r([4, 3, 5]), r([3]), r([3])],
                 { batchNorm($0[0], weight: $0[1], bias: $0[2], training: true) }),
                ("training without affine", [r([2, 3, 2, 3])], { batchNorm($0[0], training: true) }),
                ("evaluation [N, C, H, W]", [r([2, 3, 2, 3]), r([3]), r([3])],
                 { batchNorm($0[0], runningMean: mean, runningVar: variance, weight: $0[1], bias: $0[2], training: false) }),
                ("evaluation [N, C]", [r([5, 3])],
                 { batchNorm($0[0], runningMean: mean, runningVar: variance, training: false) }),
            ]
            for (name, inputs, f) in checks {
                let report = checkGradients(f, at: inputs)
                XCTAssert(report.passed, "\(name) [\(backend.name)]: \(report)")
            }
        }
    }

    /// The one-pass derivative and the composite one a recorded backward pass uses agree, and the recorded one
    /// gives a Hessian-vector product equal to central differences of the first derivative.
    func testRecordedDerivativeAgreesAndDifferentiatesAgain() {
        let w = r([3]).requiringGrad(), b = r([3]).requiringGrad()
        let mean = Buffer(wrappedValue: r([3])), variance = Buffer(wrappedValue: r([3]) * r([3]) + 0.5)
        for training in [true, false] {
            func loss(_ x: Tensor) -> Tensor {
                let y = batchNorm(x, runningMean: training ? nil : mean, runningVar: training ? nil : variance,
                                  weight: w, bias: b, training: training)
                return (y * y * y).sum()
            }
            let x = r([4, 3, 2, 2]).requiringGrad()
            let plain = gradients(of: loss(x), withRespectTo: [x, w, b])
            let recorded = gradients(of: loss(x), withRespectTo: [x, w, b], createGraph: true)
            for (p, q) in zip(plain, recorded) {
                XCTAssertLessThan(zip(p.doubleScalars, q.doubleScalars).map { Swift.abs($0 - $1) }.max()!, 1e-10, "training \(training)")
            }
            XCTAssertTrue(recorded[0].requiresGrad)
            func firstDerivative(_ input: Tensor) -> [Double] {
                let leaf = input.detached().requiringGrad()
                return gradients(of: loss(leaf), withRespectTo: [leaf])[0].doubleScalars
            }
            let v = r([4, 3, 2, 2]), leaf = x.detached().requiringGrad()
            let first = gradients(of: loss(leaf), withRespectTo: [leaf], createGraph: true)[0]
            let hv = gradients(of: (first * v).sum(), withRespectTo: [leaf])[0].doubleScalars
            let eps = 1e-6
            let plus = firstDerivative(x.detached() + v * eps), minus = firstDerivative(x.detached() - v * eps)
            let numeric = zip(plus, minus).map { ($0 - $1) / (2 * eps) }
            XCTAssertLessThan(zip(hv, numeric).map { Swift.abs($0 - $1) / Swift.max(Swift.abs($1), 1) }.max()!, 1e-5,
                              "training \(training)")
        }
    }

    /// Float32 data with a mean far larger than its spread still normalises to mean 0 and variance 1: the
    /// sums are shifted by each channel's first value, so the mean does not cancel the variance, and the
    /// output subtracts the mean before it scales.
    func testLargeMeansDoNotCancelTheVariance() {
        let x = Tensor.randn([16, 2, 8, 8], generator: Generator(seed: 4)) * 0.01 + 10_000
        let y = batchNorm(x, training: true, eps: 1e-12)  // the default ε (1e-5) would be a tenth of this variance
        for ch in 0..<2 {
            let values = y.sliced(axis: 1, ch..<(ch + 1)).doubleScalars
            let m = values.reduce(0, +) / Double(values.count)
            let v = values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count)
            XCTAssertEqual(m, 0, accuracy: 1e-4)
            XCTAssertEqual(v, 1, accuracy: 1e-3)
        }
    }

    /// A channel whose first value is NaN or infinite (weights diverged, or a bad restored state) gives NaN for that
    /// channel, as PyTorch does, and stops nothing: the fuzzer's train-state target found it trapping.
    func testNonFiniteInputGivesNaNWithoutStopping() {
        for bad in [Double.nan, .infinity] {
            let x = Tensor.randn([4, 2, 3, 3], generator: Generator(seed: 5))
            withNoGrad { x.sliced(axis: 0, 0..<1).sliced(axis: 1, 0..<1).fillInPlace(bad) }
            let input = x.requiringGrad()
            let y = batchNorm(input, training: true)
            XCTAssertTrue(y.sliced(axis: 1, 0..<1).doubleScalars.allSatisfy(\.isNaN), "\(bad)")
            XCTAssertTrue(y.sliced(axis: 1, 1..<2).doubleScalars.allSatisfy(\.isFinite), "\(bad)")
            y.sum().backward()
            XCTAssertEqual(input.grad?.shape, [4, 2, 3, 3])
        }
    }

    /// The gradients of float32 data with a large mean agree with float64's: the backward sums subtract the
    /// mean, and the part of the mean that float32 rounds away is accounted for.
    func testLargeMeanGradientsMatchFloat64() {
        let x32 = Tensor.randn([8, 3, 6, 6], generator: Generator(seed: 9)) * 0.01 + 10_000
        let v32 = Tensor.randn([8, 3, 6, 6], generator: Generator(seed: 10)) + 0.5
        func grads(_ x: Tensor, _ v: Tensor) -> [[Double]] {
            let input = x.requiringGrad(), w = Tensor.ones([3], dtype: x.dtype).requiringGrad()
            let b = Tensor.zeros([3], dtype: x.dtype).requiringGrad()
            (batchNorm(input, weight: w, bias: b, training: true, eps: 1e-12) * v).sum().backward()
            return [input.grad!.doubleScalars, w.grad!.doubleScalars, b.grad!.doubleScalars]
        }
        let single = grads(x32, v32), double = grads(x32.converted(to: .float64), v32.converted(to: .float64))
        for (name, (s, d)) in zip(["input", "weight", "bias"], zip(single, double)) {
            let scale = d.map { Swift.abs($0) }.max()!
            let error = zip(s, d).map { Swift.abs($0 - $1) }.max()!
            XCTAssertLessThan(error / scale, 1e-3, name)
        }
    }

    /// The channels are split across threads, but each is computed by one task in a fixed order: forward,
    /// gradients and running statistics are bitwise the same on 1, 2 and 3 threads.
    func testSameBitsForAnyThreadCount() {
        let saved = Threading.threadCount
        defer { Threading.threadCount = saved }
        let input = Tensor.randn([16, 24, 14, 14], generator: Generator(seed: 6))
        var results: [[[Float]]] = []
        for threads in [1, 2, 3] {
            Threading.threadCount = threads
            let layer = BatchNorm2d(24)
            let x = input.requiringGrad()
            let y = layer(x)
            (y * y).sum().backward()
            results.append([y.scalars, x.grad!.scalars, layer.weight!.grad!.scalars, layer.bias!.grad!.scalars,
                            layer.runningMean.scalars, layer.runningVar.scalars])
        }
        XCTAssertEqual(results[0], results[1])
        XCTAssertEqual(results[0], results[2])
    }
}
