import AxonTestSupport
import Foundation
import XCTest
@testable import AxonCore

/// Programmer errors stop the process with a message naming the op and the shapes (checked in a child
/// process, see CrashTest).
final class ErrorMessageTests: XCTestCase {
    nonisolated(unsafe) static let crashCases: [String: () -> Void] = [
        "matmul": { _ = matmul(Tensor.ones([2, 3]), Tensor.ones([4, 5])) },
        "broadcast": { _ = Tensor.ones([2, 3]) + Tensor.ones([4]) },
        "reshape": { _ = Tensor.ones([2, 3]).reshaped([4, -1]) },
        "axis": { _ = Tensor.ones([2, 3]).sum(axis: 2) },
        "conv2d": { _ = conv2d(Tensor.ones([1, 3, 8, 8]), weight: Tensor.ones([4, 2, 3, 3])) },
    ]

    override func setUp() { CrashTest.runIfChild(Self.crashCases) }

    func expectCrash(_ name: String, mentions: [String], test: String = #function, file: StaticString = #filePath, line: UInt = #line) {
        let (status, stderr) = CrashTest.run(name, testID: CrashTest.testID(self, function: test))
        XCTAssertNotEqual(status, 0, "\(name): expected the process to stop", file: file, line: line)
        for m in mentions {
            XCTAssert(stderr.contains(m), "\(name): message should mention \(m); stderr was:\n\(stderr.suffix(600))", file: file, line: line)
        }
    }

    func testMatmulNamesOpAndBothShapes() {
        expectCrash("matmul", mentions: ["Axon.matmul", "[2, 3]", "[4, 5]"])
    }
    func testBroadcastNamesShapes() { expectCrash("broadcast", mentions: ["Axon.add", "[2, 3]", "[4]"]) }
    func testReshapeNamesShapes() { expectCrash("reshape", mentions: ["Axon.reshape", "[2, 3]", "[4, -1]"]) }
    func testBadAxisNamesAxisAndRank() { expectCrash("axis", mentions: ["Axon.sum", "axis 2", "rank 2"]) }
    func testConvChannelMismatch() { expectCrash("conv2d", mentions: ["Axon.conv2d", "[1, 3, 8, 8]", "[4, 2, 3, 3]"]) }
}
