import Axon
import AxonTestSupport
import XCTest

/// Every case of ops.json whose op belongs to the core (elementwise, reductions, softmax, shape ops,
/// matmul, conv2d, pooling), forward and gradients, in float64 and float32, against PyTorch.
final class FixtureOpsTests: XCTestCase {
    func testEveryCoreCaseMatchesPyTorch() throws {
        try onEveryBackend { _ in
            let (count, failures) = try FixtureOps.runAll(FixtureOps.coreOps)
            XCTAssertGreaterThan(count, 0, "no core cases found in \(Fixtures.folder.path)")
            XCTAssert(failures.isEmpty, failures.joined(separator: "\n"))
            print("checked \(count) core fixture cases in float64 and float32 on the \(Backends.current.name) backend")
        }
    }
}
