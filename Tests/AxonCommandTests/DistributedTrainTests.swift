#if MPI
import Axon
import AxonTestSupport
import Foundation
import XCTest

/// `axon train --distributed` under Open MPI's `mpirun`, on this host (the `MPI` trait: `scripts/test-distributed`
/// runs these, and CI runs that script).
final class DistributedTrainTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("axon-mpi-\(getpid())-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// mpirun's options: as root in CI, more ranks than cores, no binding (each rank sets its own threads).
    static let mpirunOptions = ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]

    /// Starts `mpirun` with one app context per element (`np` ranks running `axon` with `arguments`), its output in a file.
    func launch(_ contexts: [(np: Int, arguments: [String])], log: String) throws -> Process {
        var arguments = Self.mpirunOptions
        for (i, c) in contexts.enumerated() {
            if i > 0 { arguments.append(":") }
            arguments += ["-np", "\(c.np)", builtProduct("axon").path] + c.arguments
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["mpirun"] + arguments
        process.currentDirectoryURL = dir
        _ = FileManager.default.createFile(atPath: path(log), contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path(log)))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    /// Runs `mpirun` to its end: its status and everything the ranks and mpirun wrote.
    func mpirun(_ contexts: [(np: Int, arguments: [String])]) throws -> (status: Int32, output: String) {
        let log = "mpirun-\(UUID().uuidString.prefix(8)).log"
        let process = try launch(contexts, log: log)
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOfFile: path(log), encoding: .utf8)) ?? "")
    }

    func axon(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let r = try runProcess(builtProduct("axon"), arguments)
        return r
    }

    /// Fashion-MNIST training with every output in this test's folder.
    func fashion(model: String, batch: Int, output: String, extra: [String] = []) -> [String] {
        ["train", "--data", "fashion-mnist", "--model", model, "--optimizer", "sgd", "--lr", "0.01", "--momentum", "0.9",
         "--batch-size", "\(batch)", "--seed", "5", "--threads", "1", "--quiet", "--output", path(output),
         "--plots", path(output + "-plots")] + extra
    }

    /// The largest difference between two checkpoints' tensors, relative to each tensor's largest magnitude.
    func difference(_ a: String, _ b: String) throws -> Double {
        let x = try SafeTensors.load(path: path(a)).tensors, y = try SafeTensors.load(path: path(b)).tensors
        XCTAssertEqual(Set(x.keys), Set(y.keys))
        var worst = 0.0
        for (name, t) in x {
            let u = t.doubleScalars, v = y[name]!.doubleScalars
            let scale = max(v.map(abs).max() ?? 0, 1e-12)
            worst = max(worst, zip(u, v).map { abs($0 - $1) / scale }.max() ?? 0)
        }
        return worst
    }

    /// N ranks at batch B end with the weights of one process at batch N·B that sees the same examples in the same
    /// order (the sampler's shares of the single-process order): the MLP for one epoch of Fashion-MNIST on 2 and on 3
    /// ranks.
    ///
    /// Tanh, not ReLU: the two runs sum the same numbers in different orders, so they differ by float32 rounding
    /// (about 1e-7). Through ReLU's kink such a difference flips a unit that sits at 0 for an example, and that
    /// example's whole gradient through the unit is then in one run and not the other; over an epoch this happens
    /// a few times, and SGD carries it on. With ReLU the runs ended 3e-7 to 0.3 apart depending on the seed and the
    /// data's length, as two single processes differing only in their summation order (the reference backend and the
    /// fast one) did. A smooth network keeps the rounding at rounding.
    func testRanksTrainAsOneProcessWithTheirBatchesTogether() throws {
        let model = "mlp:784,256,128,10", common = ["--activation", "tanh", "--epochs", "1"]
        for world in [2, 3] {
            let job = try mpirun([(world, fashion(model: model, batch: 64, output: "ranks\(world).safetensors", extra: common + ["--distributed"]))])
            XCTAssertEqual(job.status, 0, job.output)
            XCTAssertEqual(job.output.components(separatedBy: "epoch 1/1").count, 2, "rank 0 alone reports: \(job.output)")
            let one = try axon(fashion(model: model, batch: 64 * world, output: "one\(world).safetensors", extra: common))
            XCTAssertEqual(one.status, 0, one.output)
            let d = try difference("ranks\(world).safetensors", "one\(world).safetensors")
            print("MLP, \(world) ranks x 64 against 1 process x \(64 * world): largest difference \(d) of a tensor's largest magnitude")
            XCTAssertLessThan(d, 1e-5, "\(world) ranks")
        }
    }

    /// LeNet with batch norm (LeNet-5's tanh and average pooling; see the test above for why smooth). With
    /// --sync-batch-norm the statistics are those of every rank's batch together, so N ranks equal one process at N
    /// times the batch, running statistics included; without it each rank normalises its own batch, as under
    /// PyTorch's DDP, and the weights are not the single process's.
    func testLeNetWithBatchNorm() throws {
        let description = """
        {"input": [1, 28, 28], "layers": [
          {"type": "conv2d", "out": 6, "kernel": 5, "padding": 2}, {"type": "batchnorm"}, {"type": "tanh"}, {"type": "avgpool", "kernel": 2},
          {"type": "conv2d", "out": 16, "kernel": 5}, {"type": "batchnorm"}, {"type": "tanh"}, {"type": "avgpool", "kernel": 2},
          {"type": "flatten"}, {"type": "linear", "out": 120}, {"type": "tanh"}, {"type": "linear", "out": 84}, {"type": "tanh"},
          {"type": "linear", "out": 10}]}
        """
        try description.write(toFile: path("lenet-bn.json"), atomically: true, encoding: .utf8)
        // SGD at 0.02 with momentum 0.5: at 0.01 with momentum 0.9, the two runs ended 7.9e-6 apart on 2 ranks (in a
        // running variance), carried there from rounding by the heavier momentum; here 5.7e-7.
        let optimizer = ["--lr", "0.02", "--momentum", "0.5", "--epochs", "1"]
        for world in [2, 3] {
            let synced = try mpirun([(world, fashion(model: path("lenet-bn.json"), batch: 64, output: "sync\(world).safetensors",
                                                     extra: optimizer + ["--distributed", "--sync-batch-norm"]))])
            XCTAssertEqual(synced.status, 0, synced.output)
            let one = try axon(fashion(model: path("lenet-bn.json"), batch: 64 * world, output: "one\(world).safetensors", extra: optimizer))
            XCTAssertEqual(one.status, 0, one.output)
            let d = try difference("sync\(world).safetensors", "one\(world).safetensors")
            print("LeNet with synchronised batch norm, \(world) ranks x 64 against 1 process x \(64 * world): largest difference \(d)")
            XCTAssertLessThan(d, 1e-5, "\(world) ranks")
        }
        let common = ["--epochs", "1", "--limit", "12000"]
        let own = try mpirun([(2, fashion(model: path("lenet-bn.json"), batch: 64, output: "own.safetensors", extra: common + ["--distributed"]))])
        XCTAssertEqual(own.status, 0, own.output)
        let one = try axon(fashion(model: path("lenet-bn.json"), batch: 128, output: "one.safetensors", extra: common))
        XCTAssertEqual(one.status, 0, one.output)
        XCTAssertGreaterThan(try difference("own.safetensors", "one.safetensors"), 1e-4, "each rank's own statistics are not the batch's")
    }

    /// The id of the process of rank `rank` of the job whose command line mentions this test's folder.
    func pid(ofRank rank: Int) -> Int32? {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                  let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
                  let environ = FileManager.default.contents(atPath: "/proc/\(entry)/environ") else { continue }
            let command = String(decoding: cmdline, as: UTF8.self), env = String(decoding: environ, as: UTF8.self)
            if command.hasPrefix(builtProduct("axon").path) && command.contains(dir.path)
                && env.split(separator: "\0").contains("OMPI_COMM_WORLD_RANK=\(rank)") { return pid }
        }
        return nil
    }

    /// Rank 1 killed mid-epoch: the other ranks stop within 60 s, non-zero, naming it; the checkpoint of the last
    /// whole epoch loads, and --resume from it ends with the weights of a run never interrupted.
    func testKilledRankStopsTheJobAndResumeFinishesIt() throws {
        let args = fashion(model: "mlp:784,128,10", batch: 64, output: "run.safetensors", extra: ["--epochs", "3", "--distributed"])
        let job = try launch([(2, args)], log: "killed.log")
        let metrics = path("run.safetensors-plots/metrics.jsonl")
        // The first epoch is over when its metrics line is written and its checkpoint is in place (written under
        // another name and renamed, so it exists only whole); the line comes first, so wait for both.
        var waited = 0.0
        while waited < 120 && (((try? String(contentsOfFile: metrics, encoding: .utf8))?.split(separator: "\n").count ?? 0) < 1
                               || !FileManager.default.fileExists(atPath: path("run.safetensors"))) {
            Thread.sleep(forTimeInterval: 0.02)
            waited += 0.02
        }
        XCTAssertTrue(job.isRunning, "the job is still in its second epoch")
        let victim = try XCTUnwrap(pid(ofRank: 1))
        let killedAt = Date()
        kill(victim, SIGKILL)
        job.waitUntilExit()
        let seconds = Date().timeIntervalSince(killedAt)
        let log = (try? String(contentsOfFile: path("killed.log"), encoding: .utf8)) ?? ""
        print("killed rank 1 (pid \(victim)); mpirun exited \(job.terminationStatus) after \(seconds) s:\n\(log)")
        XCTAssertNotEqual(job.terminationStatus, 0)
        XCTAssertLessThan(seconds, 60)
        XCTAssertTrue(log.contains("axon: rank 0 of 2: rank 1 (pid \(victim)) was lost; stopping"), log)
        XCTAssertNil(pid(ofRank: 0), "no rank is left running")

        // The checkpoint is the first epoch's, whole; resuming finishes the run.
        let state = try Checkpoint.resume(model: try Checkpoint.loadModel(path("run.safetensors")).model, from: path("run.safetensors")).state
        XCTAssertEqual(state.epoch, 1)
        let resumed = try mpirun([(2, fashion(model: "mlp:784,128,10", batch: 64, output: "resumed.safetensors",
                                              extra: ["--epochs", "3", "--distributed", "--resume", path("run.safetensors")]))])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("resumed from \(path("run.safetensors")) after epoch 1"), resumed.output)
        let whole = try mpirun([(2, fashion(model: "mlp:784,128,10", batch: 64, output: "whole.safetensors", extra: ["--epochs", "3", "--distributed"]))])
        XCTAssertEqual(whole.status, 0, whole.output)
        XCTAssertEqual(try difference("resumed.safetensors", "whole.safetensors"), 0, "the same weights as a run never interrupted")
    }

    /// Ranks given a different seed, dataset size or model stop at start-up with an error that names what differs,
    /// and nothing is trained or written.
    func testRanksThatDisagreeStopBeforeTraining() throws {
        let base = ["--limit", "2000", "--epochs", "1", "--distributed"]
        for (name, a, b, message) in [
            ("seed", ["--seed", "1"], ["--seed", "2"], "the ranks disagree on --seed: rank 0 has 1, rank 1 has 2"),
            ("data", ["--limit", "1000"], ["--limit", "1500"], "the ranks disagree on the number of training examples: rank 0 has 1000, rank 1 has 1500"),
            ("model", ["--model", "mlp:784,32,10"], ["--model", "mlp:784,16,10"], "the ranks disagree on the model's number of parameters"),
        ] {
            let job = try mpirun([(1, fashion(model: "mlp:784,32,10", batch: 64, output: "\(name).safetensors", extra: base) + a),
                                  (1, fashion(model: "mlp:784,32,10", batch: 64, output: "\(name).safetensors", extra: base) + b)])
            XCTAssertNotEqual(job.status, 0, name)
            XCTAssertTrue(job.output.contains(message), "\(name): \(job.output)")
            XCTAssertFalse(job.output.contains("epoch 1/1"), "\(name): training started")
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("\(name).safetensors")), name)
        }
    }

    /// Runs `command` (`ip ...`), throwing its output when it fails.
    @discardableResult
    func ip(_ arguments: [String]) throws -> String {
        let r = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["ip"] + arguments)
        guard r.status == 0 else { throw DistributedError("ip \(arguments.joined(separator: " ")) failed (\(r.status)): \(r.output)") }
        return r.output
    }

    /// Two hosts: two network namespaces joined by a veth pair (10.77.x.1 and 10.77.x.2), mpirun in the first, the second
    /// reached through a remote shell that enters its namespace (as ssh would log in), and the ranks talking over TCP on
    /// the veth interface alone. They train as two ranks on loopback do, and each rank runs in its own host's namespace.
    func testTwoHostsInNetworkNamespaces() throws {
        let tag = "\(getpid() % 200 + 20)", a = "axon-a\(tag)", b = "axon-b\(tag)"
        let ipA = "10.77.\(tag).1", ipB = "10.77.\(tag).2", subnet = "10.77.\(tag).0/24"
        try ip(["netns", "add", a])
        defer { _ = try? ip(["netns", "delete", a]) }
        try ip(["netns", "add", b])
        defer { _ = try? ip(["netns", "delete", b]) }  // deleting a namespace deletes its end of the pair, and so the pair
        try ip(["link", "add", "veth-a\(tag)", "netns", a, "type", "veth", "peer", "name", "veth-b\(tag)", "netns", b])
        try ip(["-n", a, "addr", "add", ipA + "/24", "dev", "veth-a\(tag)"])
        try ip(["-n", b, "addr", "add", ipB + "/24", "dev", "veth-b\(tag)"])
        for (ns, link) in [(a, "veth-a\(tag)"), (b, "veth-b\(tag)")] {
            try ip(["-n", ns, "link", "set", link, "up"])
            try ip(["-n", ns, "link", "set", "lo", "up"])
        }
        try "\(ipA) slots=1\n\(ipB) slots=1\n".write(toFile: path("hosts"), atomically: true, encoding: .utf8)
        let rsh = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts/netns-rsh").path
        let train = fashion(model: "mlp:784,64,10", batch: 64, output: "hosts.safetensors", extra: ["--activation", "tanh", "--limit", "20000", "--epochs", "1", "--distributed"])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", a, "mpirun", "--allow-run-as-root", "--hostfile", path("hosts"), "-np", "2",
                             "--mca", "plm_rsh_agent", rsh, "--mca", "oob_tcp_if_include", subnet,
                             "--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", subnet,
                             "-x", "AXON_NETNS_HOSTS", builtProduct("axon").path] + train
        process.environment = ProcessInfo.processInfo.environment.merging(["AXON_NETNS_HOSTS": "\(ipA)=\(a) \(ipB)=\(b)"]) { $1 }
        process.currentDirectoryURL = dir
        _ = FileManager.default.createFile(atPath: path("hosts.log"), contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: path("hosts.log")))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        // Each rank's network namespace, seen while it trains: rank r's is host r's.
        var namespaces: [Int: String] = [:]
        while process.isRunning && namespaces.count < 2 {
            for r in 0..<2 where namespaces[r] == nil {
                if let pid = pid(ofRank: r), let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net") {
                    namespaces[r] = link
                }
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.waitUntilExit()
        let output = (try? String(contentsOfFile: path("hosts.log"), encoding: .utf8)) ?? ""
        XCTAssertEqual(process.terminationStatus, 0, output)
        func inode(_ ns: String) throws -> String {
            let attributes = try FileManager.default.attributesOfItem(atPath: "/run/netns/\(ns)")
            return "net:[\((attributes[.systemFileNumber] as? NSNumber)?.stringValue ?? "?")]"
        }
        XCTAssertEqual(namespaces[0], try inode(a), "rank 0 runs on host A")
        XCTAssertEqual(namespaces[1], try inode(b), "rank 1 runs on host B")
        // The same weights as two ranks on loopback.
        let loopback = try mpirun([(2, fashion(model: "mlp:784,64,10", batch: 64, output: "loopback.safetensors",
                                               extra: ["--activation", "tanh", "--limit", "20000", "--epochs", "1", "--distributed"]))])
        XCTAssertEqual(loopback.status, 0, loopback.output)
        XCTAssertLessThan(try difference("hosts.safetensors", "loopback.safetensors"), 1e-6)
    }
}
#endif
