import Axon
import AxonTestSupport
import Foundation
import XCTest
@testable import AxonIO

final class SafeTensorsTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        CrashTest.runIfChild([
            // Overwrite a checkpoint with 256 MiB of new data (the parent kills this process once the temporary file
            // holds a MiB).
            "kill-mid-save": {
                let path = ProcessInfo.processInfo.environment["AXON_TEST_PATH"]!
                try? SafeTensors.save(["w": Tensor.ones([1 << 26])], to: path)
            },
        ])
        // After the crash cases: a child, killed mid-save, would leave its own directory behind.
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("axon-io-\(getpid())-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func testRoundTripKeepsNamesShapesValuesAndMetadata() throws {
        let tensors = ["conv1.weight": Tensor.randn([6, 1, 3, 3]), "fc.bias": Tensor([0.5, -1]),
                       "checks": Tensor(shape: [2], scalars: [1.0, 2.0] as [Double]), "count": Tensor(shape: [], scalars: [7] as [Int])]
        try SafeTensors.save(tensors, metadata: ["epoch": "3"], to: path("a.safetensors"))
        let (loaded, meta) = try SafeTensors.load(path: path("a.safetensors"))
        XCTAssertEqual(meta, ["epoch": "3"])
        XCTAssertEqual(Set(loaded.keys), Set(tensors.keys))
        for (k, v) in tensors {
            XCTAssertEqual(loaded[k]!.shape, v.shape, k)
            XCTAssertEqual(loaded[k]!.dtype, v.dtype, k)
            XCTAssertEqual(loaded[k]!.doubleScalars, v.doubleScalars, k)
        }
        let raw = try Data(contentsOf: URL(fileURLWithPath: path("a.safetensors")))
        let headerLength = raw.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(headerLength % 8, 0, "data starts 8-byte aligned")
    }

    func python(_ script: String) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self))
    }

    func testPythonSafetensorsReadsAxonFilesAndAxonReadsPythonFiles() throws {
        let model = Sequential(Linear(3, 4), ReLU(), Linear(4, 2), BatchNorm1d(2))
        try Checkpoint.save(model: model, to: path("axon.safetensors"), metadata: ["note": "from axon"])
        let expected = model.stateDict()
        var checks = ""
        for (name, t) in expected {
            let values = t.doubleScalars.map { "\($0)" }.joined(separator: ",")
            checks += "e=np.array([\(values)]).reshape(\(t.shape.isEmpty ? "()" : "(\(t.shape.map(String.init).joined(separator: ",")),)"))\n"
            checks += "assert t['\(name)'].shape == e.shape, ('\(name)', t['\(name)'].shape)\n"
            checks += "assert np.allclose(t['\(name)'], e, rtol=0, atol=0), '\(name)'\n"
        }
        let read = """
            import numpy as np
            from safetensors.numpy import load_file
            from safetensors import safe_open
            t = load_file('\(path("axon.safetensors"))')
            assert sorted(t) == sorted(\(expected.keys.sorted())), sorted(t)
            assert t['3.num_batches_tracked'].dtype == np.int64
            assert t['0.weight'].dtype == np.float32
            with safe_open('\(path("axon.safetensors"))', 'np') as f: assert f.metadata()['note'] == 'from axon'
            \(checks)
            print('python read', len(t), 'tensors')
            """
        let (status, output) = try python(read)
        XCTAssertEqual(status, 0, "python could not read Axon's file:\n\(output)")

        let write = """
            import numpy as np
            from safetensors.numpy import save_file
            save_file({'0.weight': np.arange(12, dtype=np.float32).reshape(4, 3), '0.bias': np.full(4, 0.5, np.float32),
                       '2.weight': np.ones((2, 4), np.float32), '2.bias': np.zeros(2, np.float32),
                       '3.weight': np.ones(2, np.float32), '3.bias': np.zeros(2, np.float32),
                       '3.running_mean': np.zeros(2, np.float32), '3.running_var': np.ones(2, np.float32),
                       '3.num_batches_tracked': np.array(5, np.int64)}, '\(path("python.safetensors"))', metadata={'by': 'python'})
            """
        let (wstatus, woutput) = try python(write)
        XCTAssertEqual(wstatus, 0, "python could not write:\n\(woutput)")
        let metadata = try Checkpoint.load(into: model, from: path("python.safetensors"))
        XCTAssertEqual(metadata["by"], "python")
        XCTAssertEqual((model.layers[0] as! Linear).weight.scalars, (0..<12).map(Float.init))
        XCTAssertEqual((model.layers[3] as! BatchNorm1d).numBatchesTracked.intScalars, [5])
    }

    func testCorruptFilesGiveClearErrors() throws {
        let good = SafeTensors.encode(["w": Tensor.ones([4, 4])])
        func error(_ data: Data) -> String {
            do { _ = try SafeTensors.decode(data, source: "c.safetensors"); return "no error" } catch { return "\(error)" }
        }
        XCTAssertTrue(error(good.prefix(good.count - 10)).contains("fall outside"), error(good.prefix(good.count - 10)))
        XCTAssertTrue(error(good.prefix(20)).contains("header claims"), error(good.prefix(20)))
        XCTAssertEqual(error(Data([1, 2, 3])), "c.safetensors: too short to be a safetensors file (3 bytes)")
        var huge = Data([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])
        huge.append(Data(repeating: 0x20, count: 16))
        XCTAssertTrue(error(huge).contains("more than the"), error(huge))
        var garbage = Data([8, 0, 0, 0, 0, 0, 0, 0]); garbage.append(Data("not json".utf8))
        XCTAssertEqual(error(garbage), "c.safetensors: header is not a JSON object")
        func withHeader(_ json: String, body: Int) -> Data {
            var d = Data()
            withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian) { d.append(contentsOf: $0) }
            d.append(Data(json.utf8)); d.append(Data(repeating: 0, count: body))
            return d
        }
        XCTAssertTrue(error(withHeader(#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, body: 8)).contains("needs 12"))
        XCTAssertTrue(error(withHeader(#"{"w":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}"#, body: 4)).contains("unsupported dtype"))
        XCTAssertTrue(error(withHeader(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#, body: 6)).contains("overlaps"))
        XCTAssertTrue(error(withHeader(#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, body: 4)).contains("negative"))
        XCTAssertThrowsError(try SafeTensors.load(path: path("missing.safetensors"))) { e in XCTAssertTrue("\(e)".hasSuffix("no such file")) }
    }

    func testAKillDuringSaveLeavesThePreviousCheckpointWhole() throws {
        let target = path("model.safetensors")
        let previous = ["w": Tensor.full([1000], 3)]
        try SafeTensors.save(previous, metadata: ["epoch": "1"], to: target)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = [CrashTest.testID(self, function: #function)]
        var env = ProcessInfo.processInfo.environment
        env["AXON_CRASH_CASE"] = "kill-mid-save"
        env["AXON_TEST_PATH"] = target
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // SIGKILL as soon as the temporary file holds a MiB: the write is under way, the rename not done.
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline {
            let temporary = (try? FileManager.default.contentsOfDirectory(atPath: dir.path))?.first { $0.contains(".tmp-") }
            let size = temporary.flatMap { try? FileManager.default.attributesOfItem(atPath: path($0))[.size] as? Int } ?? 0
            if size >= 1 << 20 { kill(process.processIdentifier, SIGKILL); break }
            usleep(200)
        }
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal, "the child was killed mid-save")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp-") }
        XCTAssertFalse(leftovers.isEmpty, "the kill landed while the temporary file was being written")
        let (loaded, meta) = try SafeTensors.load(path: target)
        XCTAssertEqual(meta["epoch"], "1")
        XCTAssertEqual(loaded["w"]?.scalars, previous["w"]!.scalars, "the previous checkpoint is intact")
    }
}
