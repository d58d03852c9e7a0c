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

    /// Runs `body` with the buffer cache emptied and set to `limit` bytes, then restores the default.
    private func withCacheLimit(_ limit: Int, _ body: () throws -> Void) rethrows {
        let saved = Allocator.cacheLimit
        Allocator.cacheLimit = 0
        Allocator.cacheLimit = limit
        defer { Allocator.cacheLimit = saved }
        try body()
    }

    func testAFreedBufferGoesToTheNextBufferOfItsSize() {
        XCTAssertEqual(Allocator.cacheLimit, 64 << 20, "the default limit")
        withCacheLimit(64 << 20) {
            var a: TensorBuffer? = TensorBuffer.allocate(dtype: .float32, count: 1000)
            let address = a!.raw
            XCTAssertEqual(Int(bitPattern: address) % 64, 0, "aligned to a cache line")
            a = nil
            XCTAssertEqual(Allocator.cachedBytes, 4032, "4000 bytes, rounded up to 64")
            // The same byte count in another dtype is the same block.
            var b: TensorBuffer? = TensorBuffer.allocate(dtype: .float64, count: 500)
            XCTAssertEqual(b?.raw, address)
            XCTAssertEqual(Allocator.cachedBytes, 0)
            b = nil
            XCTAssertEqual(Allocator.cachedBytes, 4032)
            // Small blocks are left to the C allocator.
            var small: TensorBuffer? = TensorBuffer.allocate(dtype: .float32, count: 100)
            XCTAssertNotNil(small)
            small = nil
            XCTAssertEqual(Allocator.cachedBytes, 4032, "400 bytes is below the cache's 1 KiB")
            // A tensor's buffer goes back when its last view goes.
            var t: Tensor? = Tensor.zeros([50, 20])
            XCTAssertEqual(Allocator.cachedBytes, 0, "the tensor took the cached block")
            var v: Tensor? = t?.transposed(0, 1)
            t = nil
            XCTAssertEqual(Allocator.cachedBytes, 0, "a view still holds the buffer")
            XCTAssertNotNil(v)
            v = nil
            XCTAssertEqual(Allocator.cachedBytes, 4032)
        }
    }

    func testTheCacheIsBoundedByBytesAndBlocks() {
        withCacheLimit(1 << 20) {
            // Above a quarter of the limit: never kept.
            _ = TensorBuffer.allocate(dtype: .float32, count: (1 << 18) + 16)
            XCTAssertEqual(Allocator.cachedBytes, 0)
            // Six blocks of 200 KiB: the sixth makes the oldest leave (five fit in 1 MiB).
            var blocks: [TensorBuffer?] = (0..<6).map { _ in TensorBuffer.allocate(dtype: .float32, count: 51_200) }
            let oldest = blocks[0]!.raw, newest = blocks[5]!.raw
            for i in blocks.indices { blocks[i] = nil }  // freed in order
            XCTAssertEqual(Allocator.cachedBytes, 5 * 204_800)
            let again = (0..<5).map { _ in TensorBuffer.allocate(dtype: .float32, count: 51_200) }
            XCTAssertEqual(again[0].raw, newest, "newest first")
            XCTAssertFalse(again.contains { $0.raw == oldest }, "the oldest block left the cache")
            withExtendedLifetime(again) { XCTAssertEqual(Allocator.cachedBytes, 0) }
        }
        withCacheLimit(64 << 20) {
            // At most 128 blocks.
            var blocks = (0..<200).map { _ in TensorBuffer.allocate(dtype: .float32, count: 256) }
            blocks.removeAll()
            XCTAssertEqual(Allocator.cachedBytes, 128 * 1024)
            // Lowering the limit frees the oldest blocks down to it; 0 frees everything and keeps nothing.
            Allocator.cacheLimit = 10_000
            XCTAssertEqual(Allocator.cachedBytes, 9 * 1024)
            Allocator.cacheLimit = 0
            XCTAssertEqual(Allocator.cachedBytes, 0)
            _ = TensorBuffer.allocate(dtype: .float32, count: 100_000)
            XCTAssertEqual(Allocator.cachedBytes, 0)
        }
    }

    func testBuffersMadeAndFreedOnManyThreadsAreNeverShared() {
        // Each thread fills its buffers with its own pattern and checks it before freeing them: a block handed to two
        // threads at once would be overwritten by the other's pattern.
        final class Failures: @unchecked Sendable {
            private let lock = NSLock()
            private var count = 0
            func add() { lock.withLock { count += 1 } }
            var total: Int { lock.withLock { count } }
        }
        let sizes = [256, 1000, 4096, 65_536], failures = Failures()
        withCacheLimit(64 << 20) {
            DispatchQueue.concurrentPerform(iterations: 8) { thread in
                for round in 0..<2000 {
                    let held = sizes.map { TensorBuffer.allocate(dtype: .float32, count: $0 + (round + thread) % 3) }
                    for b in held { b.pointer(Float.self).update(repeating: Float(thread), count: b.count) }
                    for b in held where (0..<b.count).contains(where: { b.pointer(Float.self)[$0] != Float(thread) }) {
                        failures.add()
                    }
                }
            }
        }
        XCTAssertEqual(failures.total, 0, "buffers overwritten by another thread")
    }
}
