import AxonCore
import Foundation
import _AxonKernels

/// The process's place in a distributed job, as `torch.distributed`: ``start()`` joins the job that `mpirun`
/// launched, and ``rank``, ``worldSize``, ``barrier()`` and `allReduceMean(_:)` (of values, or of named metrics)
/// work on it. Before ``start()`` (or in a build without MPI) the process is rank 0 of 1 and every collective leaves
/// its data as it is.
///
/// ```swift
/// try Distributed.start()                      // under mpirun -np 4
/// let model = try DistributedDataParallel(net)
/// let loader = DataLoader(data, batchSize: 64, shuffle: true, seed: 1,
///                         sampler: DistributedSampler(rank: Distributed.rank, worldSize: Distributed.worldSize))
/// ...
/// try Distributed.finish()
/// ```
public enum Distributed {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var current: any Communicator = SingleProcess()
    nonisolated(unsafe) private static var finishing: (() -> Void)?

    /// Whether this build can join a job: it was built with the `MPI` package trait (`swift build --traits MPI`).
    public static var isAvailable: Bool {
        #if MPI
        return true
        #else
        return false
        #endif
    }

    /// The job's communicator (``SingleProcess`` before ``start()``).
    public static var communicator: any Communicator {
        lock.lock(); defer { lock.unlock() }
        return current
    }

    /// This process's rank.
    public static var rank: Int { communicator.rank }
    /// Number of ranks.
    public static var worldSize: Int { communicator.worldSize }
    /// Whether this is rank 0, the rank that alone writes checkpoints, metrics and plots.
    public static var isMain: Bool { rank == 0 }

    /// Joins the job `mpirun` launched: starts MPI and watches the other ranks on this host, so that when one dies
    /// this process says which and exits non-zero instead of waiting for it. Throws ``DistributedError`` when the
    /// build has no MPI. Calling it again returns the same communicator.
    @discardableResult
    public static func start() throws -> any Communicator {
        lock.lock(); defer { lock.unlock() }
        if finishing != nil { return current }
        #if MPI
        let mpi = try MPICommunicator()
        current = mpi
        finishing = { mpi.finalize() }
        try watchPeers(mpi)
        return mpi
        #else
        throw DistributedError("this build has no MPI: build with `swift build -c release --traits MPI` (Open MPI's "
                               + "libopenmpi-dev installed) and launch with mpirun")
        #endif
    }

    /// Ends the job on this rank: waits for every rank (rank 0 may still be writing), stops watching them, and
    /// ends MPI. The process is rank 0 of 1 again after.
    public static func finish() throws {
        lock.lock(); defer { lock.unlock() }
        guard let end = finishing else { return }
        try current.barrier()
        axon_peer_watch_stop()
        end()
        finishing = nil
        current = SingleProcess()
    }

    /// Returns when every rank has called it.
    public static func barrier() throws { try communicator.barrier() }

    /// The mean over the ranks of each of `values` (a loss, an accuracy: each rank's own, averaged).
    public static func allReduceMean(_ values: [Double]) throws -> [Double] { try communicator.allReduceMean(values) }

    /// The mean over the ranks of each metric (every rank passes the same keys).
    public static func allReduceMean(_ metrics: [String: Double]) throws -> [String: Double] {
        let keys = metrics.keys.sorted()
        let means = try allReduceMean(keys.map { metrics[$0]! })
        return Dictionary(uniqueKeysWithValues: zip(keys, means))
    }

    /// Stops with a ``DistributedError`` on every rank when the ranks disagree on any of `values` (the dataset's
    /// size, the seed, the model's parameters): training must not start on ranks that would not stay in step.
    /// Every rank calls it with the same names, in the same order.
    public static func checkAgreement(_ values: [(name: String, value: Int64)]) throws {
        try checkAgreement(values, on: communicator)
    }

    static func checkAgreement(_ values: [(name: String, value: Int64)], on comm: any Communicator) throws {
        let all = try comm.allGather(values.map(\.value))
        for (i, item) in values.enumerated() {
            if let r = all.indices.first(where: { all[$0][i] != all[0][i] }) {
                throw DistributedError("the ranks disagree on \(item.name): rank 0 has \(all[0][i]), rank \(r) has \(all[r][i]); "
                                       + "every rank must start from the same data, seed and model")
            }
        }
    }

    /// Gathers every rank's process id and host, and watches the ranks on this host.
    private static func watchPeers(_ comm: any Communicator) throws {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count - 1)
        let host = fingerprint(name.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) })
        let all = try comm.allGather([Int64(getpid()), Int64(bitPattern: host)])
        let pids = all.map { Int32(truncatingIfNeeded: $0[0]) }
        let sameHost = all.map { UInt8($0[1] == Int64(bitPattern: host) ? 1 : 0) }
        guard axon_peer_watch_start(Int32(comm.rank), Int32(comm.worldSize), pids, sameHost) == 0 else {
            throw DistributedError("cannot watch \(comm.worldSize) ranks (at most 4096)")
        }
    }

    /// FNV-1a of `bytes`: a host's name, a model's layout, compared between ranks.
    static func fingerprint<S: Sequence<UInt8>>(_ bytes: S) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// Prints `error` as this rank's and exits non-zero: for a collective that fails where nothing can throw (a
    /// synchronised batch norm's forward pass). The job cannot go on without the rank's peers.
    public static func stop(_ error: any Error) -> Never {
        FileHandle.standardError.write(Data("axon: rank \(rank) of \(worldSize): \(error)\n".utf8))
        exit(1)
    }
}
