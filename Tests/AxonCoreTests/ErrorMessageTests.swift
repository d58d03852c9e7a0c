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
        "backendName": { FileHandle.standardError.write(Data("backend: \(Backends.current.name)\n".utf8)) },
        // The version counter: a tensor a recorded op still needs is changed in place before backward.
        "versionInput": {
            let a = Tensor.randn([3]), w = Tensor.randn([3]).requiringGrad()
            let y = a * w  // mul saves a for w's gradient
            a.addInPlace(Tensor.ones([3]))
            y.sum().backward()
        },
        "versionOutput": {
            let x = Tensor.randn([2, 2]).requiringGrad()
            let y = exp(x)  // exp's derivative reads its output
            withNoGrad { y.addInPlace(Tensor.ones([2, 2])) }
            y.sum().backward()
        },
        "versionThroughView": {
            let a = Tensor.randn([4, 4]), w = Tensor.randn([4, 4]).requiringGrad()
            let y = matmul(a, w)
            a.T[1..<2].fillInPlace(0)  // a write through a view of a changes a's buffer
            y.sum().backward()
        },
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
    func testAXONBACKENDChoosesTheBackend() {
        let id = CrashTest.testID(self, function: #function)
        for (value, expected) in [("reference", "backend: reference"), ("cpu", "backend: cpu"), ("", "backend: cpu")] {
            let (status, stderr) = CrashTest.run("backendName", testID: id, environment: ["AXON_BACKEND": value])
            XCTAssertEqual(status, 0)
            XCTAssert(stderr.contains(expected), "AXON_BACKEND=\(value): \(stderr.suffix(300))")
        }
        // An unknown name is outside data: a warning, and the default.
        let (status, stderr) = CrashTest.run("backendName", testID: id, environment: ["AXON_BACKEND": "tpu"])
        XCTAssertEqual(status, 0)
        XCTAssert(stderr.contains("unknown AXON_BACKEND 'tpu'") && stderr.contains("backend: cpu"), String(stderr.suffix(300)))
    }

    func testInPlaceChangeOfASavedInputStopsBackward() {
        expectCrash("versionInput", mentions: ["Axon.backward", "mul", "addInPlace", "version 0 -> 1"])
    }
    func testInPlaceChangeOfASavedOutputStopsBackward() {
        expectCrash("versionOutput", mentions: ["Axon.backward", "exp", "its output", "addInPlace"])
    }
    func testInPlaceChangeThroughAViewStopsBackward() {
        expectCrash("versionThroughView", mentions: ["Axon.backward", "matmul", "fillInPlace", "[4, 4]"])
    }
}
