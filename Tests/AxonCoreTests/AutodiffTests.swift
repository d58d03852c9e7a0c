import AxonTestSupport
import XCTest
@testable import AxonCore

final class AutodiffTests: XCTestCase {
    func testGradientsAccumulateUntilReset() {
        onEveryBackend { _ in
            let x = Tensor([1, 2, 3], requiresGrad: true)
            (x * x).sum().backward()
            XCTAssertEqual(x.grad!.scalars, [2, 4, 6])
            (x * 3).sum().backward()
            XCTAssertEqual(x.grad!.scalars, [5, 7, 9])
            x.zeroGrad()
            XCTAssertNil(x.grad)
        }
    }

    func testExplicitUpstreamGradient() {
        onEveryBackend { _ in
            let x = Tensor([[1, 2], [3, 4]], requiresGrad: true)
            let y = x * x
            y.backward(Tensor([[1, 0], [0.5, 2]]))
            XCTAssertEqual(x.grad!.scalars, [2, 0, 3, 16])
        }
    }

    func testSharedSubexpressionGetsBothPaths() {
        onEveryBackend { _ in
            // y = a*b + a: dy/da = b + 1 (the graph is a DAG, not a tree).
            let a = Tensor(3.0, requiresGrad: true), b = Tensor(4.0, requiresGrad: true)
            let y = a * b + a
            y.backward()
            XCTAssertEqual(a.grad!.item, 5)
            XCTAssertEqual(b.grad!.item, 3)
        }
    }

    func testNoGradRecordsNothing() {
        onEveryBackend { _ in
            let w = Tensor([1, 2], requiresGrad: true)
            let y = withNoGrad { (w * 2).sum() }
            XCTAssertFalse(y.requiresGrad)
            XCTAssertNil(y.gradFn)
            XCTAssertTrue(GradMode.isEnabled)
            let z = (w * 2).sum()
            XCTAssertTrue(z.requiresGrad)
            XCTAssertEqual(z.gradFn?.name, "sum")
        }
    }

    func testDetachedStopsGradients() {
        onEveryBackend { _ in
            let x = Tensor(2.0, requiresGrad: true)
            let y = x * x.detached()
            y.backward()
            XCTAssertEqual(x.grad!.item, 2)  // only the non-detached path
            XCTAssertFalse(x.detached().requiresGrad)
        }
    }

    func testGraphIsReleasedAfterBackward() {
        onEveryBackend { _ in
            let x = Tensor([1, 2, 3], requiresGrad: true)
            weak var intermediate: Tensor?
            var loss: Tensor? = {
                let h = tanh(x * 2)
                intermediate = h
                return h.sum()
            }()
            XCTAssertNotNil(intermediate)  // held by the graph
            loss!.backward()
            XCTAssertNil(loss!.gradFn)
            XCTAssertNil(intermediate, "backward must release the graph")
            loss = nil
            XCTAssertNotNil(x.grad)
        }
    }

    func testMemoryDoesNotGrowAcrossTrainingSteps() {
        onEveryBackend { _ in
            // A 2-16-1 tanh net trained by hand: the number of live tensors after each step stays constant.
            let g = Generator(seed: 1)
            let x = Tensor.randn([32, 2], generator: g), y = Tensor.randn([32, 1], generator: g)
            let params = [Tensor.randn([2, 16], generator: g), Tensor.zeros([16]), Tensor.randn([16, 1], generator: g), Tensor.zeros([1])]
                .map { $0.requiringGrad() }
            func step() {
                let h = tanh(matmul(x, params[0]) + params[1])
                let loss = pow(matmul(h, params[2]) + params[3] - y, 2).mean()
                for p in params { p.zeroGrad() }
                loss.backward()
                withNoGrad { for p in params { p.assign(p - p.grad! * 0.05) } }
            }
            for _ in 0..<20 { step() }
            let afterWarmUp = Tensor.liveCount
            for _ in 0..<200 { step() }
            let after200 = Tensor.liveCount
            for _ in 0..<300 { step() }
            let after500 = Tensor.liveCount
            // Other tests' tensors may still be released meanwhile, so the count may fall, never rise.
            XCTAssertLessThanOrEqual(after200, afterWarmUp)
            XCTAssertEqual(after500, after200, "live tensors changed across 300 steps")
            // Optimised builds may free x, y and params after their last use: keep them alive until the counts are read.
            withExtendedLifetime((x, y, params)) {}
        }
    }

    func testEvaluationUnderNoGradBuildsNoGraph() {
        onEveryBackend { _ in
            let w = Tensor.randn([4, 4]).requiringGrad()
            let before = Tensor.liveCount
            var out: Tensor? = withNoGrad { tanh(matmul(Tensor.ones([2, 4]), w)) }
            XCTAssertNil(out!.gradFn)
            out = nil
            XCTAssertEqual(Tensor.liveCount, before)
        }
    }
}

final class PostAccumulateGradHookTests: XCTestCase {
    /// The hook sees the leaf's whole gradient for the pass (both uses of `x` summed), once per backward pass;
    /// `gradients(of:)` leaves `.grad` alone and runs none.
    func testHookRunsOnceWithTheWholeGradient() {
        let x = Tensor([1, 2, 3], requiresGrad: true), w = Tensor([2, 2, 2], requiresGrad: true)
        var seen: [[Float]] = []
        x.registerPostAccumulateGradHook { t in seen.append(t.grad!.scalars) }
        let y = (x * x + x * w).sum()  // dy/dx = 2x + w
        y.backward(retainGraph: true)
        XCTAssertEqual(seen, [[4, 6, 8]])
        y.backward()
        XCTAssertEqual(seen, [[4, 6, 8], [8, 12, 16]], "after the second pass .grad holds both")
        _ = gradients(of: (x * w).sum(), withRespectTo: [x])
        XCTAssertEqual(seen.count, 2)
        x.removePostAccumulateGradHooks()
        (x * 1).sum().backward()
        XCTAssertEqual(seen.count, 2)
    }
}
