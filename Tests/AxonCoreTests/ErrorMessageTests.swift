import Foundation
import XCTest
@testable import AxonCore

/// Programmer errors stop the process with a message naming the op and the shapes. A crash cannot be
/// caught in-process, so each test re-runs this test binary on itself with AXON_CRASH_CASE set, and
/// checks the child's exit status and stderr.
final class ErrorMessageTests: XCTestCase {
    nonisolated(unsafe) static let crashCases: [String: () -> Void] = [
        "matmul": { _ = matmul(Tensor.ones([2, 3]), Tensor.ones([4, 5])) },
        "broadcast": { _ = Tensor.ones([2, 3]) + Tensor.ones([4]) },
        "reshape": { _ = Tensor.ones([2, 3]).reshaped([4, -1]) },
        "axis": { _ = Tensor.ones([2, 3]).sum(axis: 2) },
        "conv2d": { _ = conv2d(Tensor.ones([1, 3, 8, 8]), weight: Tensor.ones([4, 2, 3, 3])) },
    ]

    override func setUp() {
        // In the child: run the requested crash and never return.
        if let name = ProcessInfo.processInfo.environment["AXON_CRASH_CASE"], let body = Self.crashCases[name] {
            body()
            exit(0)  // reaching this line means no error was raised; the parent sees status 0 and fails
        }
    }

    func runChild(_ name: String, test: String) -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = ["AxonCoreTests.ErrorMessageTests/\(test)"]
        var env = ProcessInfo.processInfo.environment
        env["AXON_CRASH_CASE"] = name
        process.environment = env
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch { return (-1, "could not start \(CommandLine.arguments[0]): \(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func expectCrash(_ name: String, mentions: [String], test: String = #function, file: StaticString = #filePath, line: UInt = #line) {
        let (status, stderr) = runChild(name, test: String(test.prefix(while: { $0 != "(" })))
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
