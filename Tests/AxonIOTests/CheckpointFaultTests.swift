import Axon
import AxonIO
import Foundation
import XCTest

/// Checkpoints under faults: a full disk and a read-only folder give a clear `CheckpointError` naming the file,
/// and the checkpoint already there stays whole and loadable (a save writes a temporary file and renames it over
/// the old one). As root (CI), the faults are real file systems: a 64 KiB tmpfs, and a tmpfs remounted read-only.
/// Otherwise they are RLIMIT_FSIZE and a folder without write permission.
final class CheckpointFaultTests: XCTestCase {
    var dir = ""
    var mounted = false

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "axon-faults-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        if mounted { run("umount", [dir]) }
        chmod(dir, 0o755)
        try? FileManager.default.removeItem(atPath: dir)
    }

    @discardableResult func run(_ tool: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// A tmpfs of `size` at `dir`, where this process may mount one (root).
    func mountTmpfs(size: String) -> Bool {
        guard geteuid() == 0, run("mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", dir]) == 0 else { return false }
        mounted = true
        return true
    }

    /// The checkpoint at `path` loads and holds `weights`; no temporary file is left in `dir`.
    func assertWhole(_ path: String, _ weights: [String: Tensor], file: StaticString = #filePath, line: UInt = #line) throws {
        let restored = Linear(4, 2)
        try Checkpoint.load(into: restored, from: path)
        for (name, t) in restored.stateDict() { XCTAssertEqual(t.scalars, weights[name]?.scalars, name, file: file, line: line) }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [], "no temporary file is left behind", file: file, line: line)
    }

    func testAFullDiskLeavesThePreviousCheckpointWhole() throws {
        let path = dir + "/model.safetensors"
        let realDisk = mountTmpfs(size: "64k")
        let small = Linear(4, 2)
        try Checkpoint.save(model: small, to: path)
        let big = Linear(256, 256)  // 257 KiB of weights: more than the disk (or the file size limit) holds
        var limit = rlimit()
        if !realDisk {  // a file size limit instead, with SIGXFSZ ignored so that write() fails with EFBIG
            getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit)
            var small = limit
            small.rlim_cur = 64 << 10
            setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &small)
            signal(SIGXFSZ, SIG_IGN)
        }
        XCTAssertThrowsError(try Checkpoint.save(model: big, to: path)) { error in
            XCTAssertTrue(error is CheckpointError, "\(type(of: error))")
            XCTAssertTrue("\(error)".contains(path) && "\(error)".contains("failed"), "\(error)")
        }
        if !realDisk {
            setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit)
            signal(SIGXFSZ, SIG_DFL)
        }
        try assertWhole(path, small.stateDict())
    }

    func testAReadOnlyFolderLeavesThePreviousCheckpointWhole() throws {
        let path = dir + "/model.safetensors"
        let realFileSystem = mountTmpfs(size: "1m")
        let first = Linear(4, 2)
        try Checkpoint.save(model: first, to: path)
        if realFileSystem {
            XCTAssertEqual(run("mount", ["-o", "remount,ro", dir]), 0, "remount read-only")
        } else {
            chmod(dir, 0o555)
        }
        XCTAssertThrowsError(try Checkpoint.save(model: Linear(4, 2), to: path)) { error in
            XCTAssertTrue(error is CheckpointError, "\(type(of: error))")
            XCTAssertTrue("\(error)".contains("cannot create a temporary file in \(dir)"), "\(error)")
        }
        try assertWhole(path, first.stateDict())
    }
}
