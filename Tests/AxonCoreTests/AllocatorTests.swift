import AxonCore
import AxonTestSupport
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Linking Axon leaves the process's allocator alone; `Allocator.tuneForTraining()` changes it when asked. Run in
/// a fresh child process (this one has made Trainers, which ask). A 48 MiB block is above glibc's largest
/// moving mmap threshold (32 MiB), so with glibc's settings it is mapped on its own; with Axon's (64 MiB) it
/// comes from the heap (below the program break).
final class AllocatorTests: XCTestCase {
    nonisolated(unsafe) static let cases: [String: () -> Void] = [
        "allocator": {
            #if canImport(Glibc)
            // A block from the heap lies below the program break; a mapped one lies elsewhere (above it).
            func mapped(_ bytes: Int) -> Bool {
                guard let p = malloc(bytes) else { exit(5) }
                let top = sbrk(0)!
                defer { free(p) }
                return UInt(bitPattern: p) > UInt(bitPattern: top)
            }
            guard mapped(48 << 20) else { exit(2) }  // loading Axon did not change the thresholds
            guard Allocator.tuneForTraining() else { exit(3) }
            guard !mapped(48 << 20) else { exit(4) }
            #endif
        },
    ]

    override func setUp() { CrashTest.runIfChild(Self.cases) }

    func testLinkingAxonLeavesTheAllocatorAloneUntilAsked() {
        let (status, stderr) = CrashTest.run("allocator", testID: CrashTest.testID(self, function: #function))
        XCTAssertEqual(status, 0, "2: mapped blocks changed at load; 3: not applied; 4: not in effect. \(stderr)")
        let (declined, _) = CrashTest.run("allocator", testID: CrashTest.testID(self, function: #function),
                                          environment: ["AXON_MALLOC_TUNING": "0"])
        XCTAssertEqual(declined, 3, "AXON_MALLOC_TUNING=0 declines the settings")
    }
}
