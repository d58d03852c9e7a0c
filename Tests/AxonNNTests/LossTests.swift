import AxonTestSupport
import Axon
import XCTest

final class LossTests: XCTestCase {
    let g = Generator(seed: 8)
    func r(_ s: [Int], _ lo: Double = -2, _ hi: Double = 2) -> Tensor { Tensor.uniform(s, low: lo, high: hi, dtype: .float64, generator: g) }
    func check(_ name: String, _ inputs: [Tensor], _ f: @escaping ([Tensor]) -> Tensor, line: UInt = #line) {
        let report = checkGradients(f, at: inputs)
        XCTAssert(report.passed, "\(name): \(report)", line: line)
    }

    func testGradientChecks() {
        onEveryBackend { _ in
            let labels = Tensor(shape: [4], scalars: [2, 0, 4, 1])
            let probs = softmax(r([4, 5]), axis: 1).detached()
            check("linear", [r([3, 5]), r([4, 5]), r([4])]) { linear($0[0], weight: $0[1], bias: $0[2]) }
            check("batchNorm 1d", [r([6, 4]), r([4]), r([4])]) { batchNorm($0[0], weight: $0[1], bias: $0[2], training: true) }
            check("batchNorm 2d", [r([3, 2, 4, 5]), r([2]), r([2])]) { batchNorm($0[0], weight: $0[1], bias: $0[2], training: true) }
            check("mse", [r([4, 3]), r([4, 3])]) { mseLoss($0[0], $0[1]) }
            check("l1", [r([4, 3]), r([4, 3])]) { l1Loss($0[0], $0[1], reduction: .sum) }
            check("huber", [r([4, 3]), r([4, 3])]) { huberLoss($0[0], $0[1], delta: 0.5) }
            check("bce", [r([4, 1], 0.05, 0.95), r([4, 1], 0, 1)]) { binaryCrossEntropy($0[0], $0[1]) }
            check("bce logits", [r([4, 1], -5, 5), r([4, 1], 0, 1)]) { binaryCrossEntropyWithLogits($0[0], $0[1]) }
            check("bce logits posWeight", [r([4, 2], -5, 5), r([4, 2], 0, 1)]) {
                binaryCrossEntropyWithLogits($0[0], $0[1], posWeight: Tensor([2, 0.5], dtype: .float64))
            }
            check("cross entropy", [r([4, 5])]) { crossEntropy($0[0], labels) }
            check("cross entropy sum", [r([4, 5])]) { crossEntropy($0[0], labels, reduction: .sum) }
            check("cross entropy smoothing", [r([4, 5])]) { crossEntropy($0[0], labels, labelSmoothing: 0.1, reduction: .sum) }
            check("cross entropy probabilities", [r([4, 5])]) { crossEntropy($0[0], probs) }
            check("cross entropy weights", [r([4, 5])]) { crossEntropy($0[0], labels, weight: Tensor([1, 2, 3, 4, 5], dtype: .float64)) }
            check("nll", [r([4, 5])]) { nllLoss(logSoftmax($0[0], axis: 1), labels, reduction: .none) }
            check("penalties", [r([3, 2]), r([2])]) { l1Penalty($0, lambda: 0.1) + l2Penalty($0, lambda: 0.2) }
        }
    }

    /// Cross-entropy against class indices runs as one op: the composed form's loss and gradient, bit for bit (float32 and
    /// float64, mean and sum, an upstream gradient other than 1, logits that are a transposed view).
    func testFusedCrossEntropyHasTheComposedFormsBits() {
        onEveryBackend { _ in
            let labels = Tensor(shape: [7], scalars: [2, 0, 4, 1, 1, 3, 0])
            for dtype in [DType.float32, .float64] {
                for reduction in [Reduction.mean, .sum] {
                    for transposed in [false, true] {
                        let base = Tensor.uniform(transposed ? [5, 7] : [7, 5], low: -6, high: 6, dtype: dtype, generator: g)
                            .requiringGrad()
                        let fused = crossEntropy(transposed ? base.T : base, labels, reduction: reduction)
                        XCTAssertEqual(fused.gradFn?.name, "crossEntropy", "one recorded op")
                        (fused * 3).backward()
                        let fusedGrad = base.grad!.doubleScalars
                        base.zeroGrad()
                        // (backward freed the first graph, the transpose's node included: a view of its own)
                        let composed = nllLoss(logSoftmax(transposed ? base.T : base, axis: 1), labels, reduction: reduction)
                        (composed * 3).backward()
                        let name = "\(dtype) \(reduction) transposed \(transposed)"
                        XCTAssertEqual(fused.item, composed.item, name)
                        XCTAssertEqual(fusedGrad, base.grad!.doubleScalars, name)
                    }
                }
            }
            // As PyTorch's: the logits may change in place between the loss and backward (the op keeps log p).
            let logits = Tensor.uniform([3, 4], low: -1, high: 1, generator: g).requiringGrad()
            let scores = logits * 2
            let loss = crossEntropy(scores, Tensor(shape: [3], scalars: [1, 0, 2]))
            let expected = withNoGrad { softmax(scores, axis: 1) - Tensor(shape: [3, 4], doubles: [0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0], dtype: .float32) }
            withNoGrad { scores.addInPlace(scores) }
            loss.backward()
            XCTAssertLessThan(maxDifference(logits.grad!, expected * (2.0 / 3)), 1e-6)
            // Weights, smoothing, an ignored sample and no reduction keep the composed form.
            let x = Tensor.uniform([3, 4], low: -1, high: 1, generator: g)
            let ignoring = Tensor(shape: [3], scalars: [1, -100, 2])
            XCTAssertNotEqual(crossEntropy(x.requiringGrad(), ignoring).gradFn?.name, "crossEntropy")
            XCTAssertNotEqual(crossEntropy(x.requiringGrad(), Tensor(shape: [3], scalars: [1, 0, 2]), labelSmoothing: 0.1).gradFn?.name,
                              "crossEntropy")
        }
    }

    func testLossesAreFiniteForLogitsOfMagnitude1e4() {
        onEveryBackend { _ in
            let logits = Tensor([[1e4, -1e4, 0], [-1e4, 1e4, 1e4]], requiresGrad: true)
            let labels = Tensor(shape: [2], scalars: [1, 0])
            let ce = crossEntropy(logits, labels, labelSmoothing: 0.1)
            ce.backward()
            XCTAssertTrue(ce.item.isFinite)
            XCTAssertEqual(crossEntropy(logits, labels, reduction: .none).scalars[0], 2e4, accuracy: 1)
            XCTAssertFalse(logits.grad!.scalars.contains { !$0.isFinite })
            let z = Tensor([1e4, -1e4, 0], requiresGrad: true), t = Tensor([0, 1, 1])
            let bce = binaryCrossEntropyWithLogits(z, t, reduction: .none)
            XCTAssertEqual(bce.scalars[0], 1e4, accuracy: 1)
            XCTAssertEqual(bce.scalars[2], Float(Foundation.log(2.0)), accuracy: 1e-6)
            bce.sum().backward()
            XCTAssertFalse(z.grad!.scalars.contains { !$0.isFinite })
            XCTAssertEqual(binaryCrossEntropy(Tensor([0, 1]), Tensor([1, 0]), reduction: .none).scalars, [100, 100])
        }
    }

    func testReductionsAndIgnoreIndex() {
        onEveryBackend { _ in
            let x = Tensor([[1, 2], [3, 4]]), y = Tensor([[1, 1], [1, 1]])
            XCTAssertEqual(mseLoss(x, y).item, (0 + 1 + 4 + 9) / 4)
            XCTAssertEqual(mseLoss(x, y, reduction: .sum).item, 14)
            XCTAssertEqual(mseLoss(x, y, reduction: .none).shape, [2, 2])
            XCTAssertEqual(huberLoss(Tensor([0.5, 3]), Tensor([0, 0]), reduction: .none).scalars, [0.125, 2.5])
            let logits = Tensor([[2, 0], [0, 2], [1, 1]])
            let all = crossEntropy(logits, Tensor(shape: [3], scalars: [0, 0, 1]), reduction: .none).scalars
            let ignored = crossEntropy(logits, Tensor(shape: [3], scalars: [0, -100, 1]))
            XCTAssertEqual(ignored.item, Double(all[0] + all[2]) / 2, accuracy: 1e-6)
        }
    }
}

/// The losses and activations by name (`LossKind`, `Activation`), and one-hot encoding.
final class NamedLossAndActivationTests: XCTestCase {
    func testLossesByNameAreTheLosses() {
        let logits = Tensor([[1.0, -0.5, 2.0], [0.3, 0.2, -1.0]]), labels = Tensor(shape: [2], scalars: [2, 0])
        let values = Tensor([[0.5, 1.0, -1.0], [2.0, 0.0, 0.1]]), targets = Tensor([[0.0, 1.5, -1.0], [1.0, 0.5, 0.0]])
        XCTAssertEqual(LossKind.crossEntropy.function(classification: true)!(logits, labels).item, crossEntropy(logits, labels).item)
        XCTAssertNil(LossKind.crossEntropy.function(classification: false), "cross-entropy needs classes")
        let single = Tensor([[0.3], [-2.0]]), binary = Tensor([[1.0], [0.0]])
        XCTAssertEqual(LossKind.crossEntropy.function(classification: true)!(single, binary).item, binaryCrossEntropyWithLogits(single, binary).item)
        let oneHotLabels = oneHot(labels, classes: 3)
        XCTAssertEqual(oneHotLabels.scalars, [0, 0, 1, 1, 0, 0])
        let p = softmax(logits, axis: 1)
        func direct(_ kind: LossKind, _ a: Tensor, _ b: Tensor) -> Tensor {
            switch kind {
            case .mse: return mseLoss(a, b)
            case .l1: return l1Loss(a, b)
            case .huber: return huberLoss(a, b)
            case .crossEntropy: return crossEntropy(a, b)
            }
        }
        for kind in [LossKind.mse, .l1, .huber] {
            let f = { (a: Tensor, b: Tensor) in direct(kind, a, b) }
            XCTAssertEqual(LossKind(name: kind.rawValue), kind)
            XCTAssertEqual(kind.function(classification: false)!(values, targets).item, f(values, targets).item, "\(kind)")
            XCTAssertEqual(kind.function(classification: true)!(logits, labels).item, f(p, oneHotLabels).item, "\(kind) on classes")
        }
        XCTAssertNil(LossKind(name: "hinge"))
    }

    func testActivationsByNameAreTheLayers() {
        let x = Tensor([-2.0, -0.5, 0.0, 0.5, 2.0])
        let expected: [Activation: [Float]] = [.relu: relu(x).scalars, .tanh: tanh(x).scalars, .sigmoid: sigmoid(x).scalars,
                                               .leakyReLU: leakyRelu(x, negativeSlope: 0.01).scalars, .gelu: gelu(x).scalars,
                                               .step: x.scalars.map { $0 > 0 ? 1 : 0 }, .linear: x.scalars]
        XCTAssertEqual(Set(expected.keys), Set(Activation.allCases))
        for a in Activation.allCases {
            XCTAssertEqual(Activation(name: a.rawValue), a)
            let layer = a.layer()
            let y = layer(x).scalars
            XCTAssertEqual(y, expected[a], "\(a)")
        }
        XCTAssertEqual((Activation.leakyReLU.layer(slope: 0.2) as? LeakyReLU)?.negativeSlope, 0.2)
        XCTAssertEqual(ModelSpec.activations, Activation.allCases.map(\.rawValue))
    }
}
