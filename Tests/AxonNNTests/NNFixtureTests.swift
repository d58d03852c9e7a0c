import Axon
import AxonTestSupport
import XCTest

final class NNFixtureTests: XCTestCase {
    /// Every case of ops.json for linear, batch_norm and the losses, forward and gradients, against PyTorch.
    func testEveryNNCaseMatchesPyTorch() throws {
        try onEveryBackend { _ in
            let (count, failures) = try FixtureOps.runAll(FixtureOps.nnOps)
            XCTAssertGreaterThan(count, 0, "no nn cases found in \(Fixtures.folder.path)")
            XCTAssert(failures.isEmpty, failures.joined(separator: "\n"))
            print("checked \(count) nn fixture cases in float64 and float32")
        }
    }

    /// No case of ops.json is left out: each op is run by the core tests or by the nn tests.
    func testEveryOpInTheFixturesHasAnImplementation() throws {
        try onEveryBackend { _ in
            let ops = Set(try Fixtures.opCases().map(\.op))
            let known = Set(FixtureOps.coreOps.keys).union(FixtureOps.nnOps.keys)
            XCTAssertEqual(ops.subtracting(known), [], "fixture ops without an Axon implementation")
        }
    }
}
