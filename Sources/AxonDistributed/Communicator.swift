import AxonCore
import Foundation

/// An error from a distributed job: ranks that disagree at start-up, a collective that failed, or an engine that
/// this build lacks. It says what was wrong and on which rank.
public struct DistributedError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A collective operation that has started and not yet completed (``Communicator/startAllReduceSum(_:count:dtype:)``).
public protocol PendingCollective: AnyObject {
    /// Waits until the operation is complete; its memory may be read and written after.
    func wait() throws
}

/// The collective operations that distributed training needs, from one engine: MPI today
/// (`MPICommunicator`, the `MPI` package trait), and room for others (gloo, NCCL) behind the same small interface.
/// Every rank calls each operation in the same order, as with `torch.distributed`.
public protocol Communicator: AnyObject, Sendable {
    /// This process's rank, 0..<``worldSize``.
    var rank: Int { get }
    /// Number of ranks in the job.
    var worldSize: Int { get }
    /// Sums `count` elements of `dtype` (float32, float64 or int64) at `pointer` element-wise over the ranks, in place.
    func allReduceSum(_ pointer: UnsafeMutableRawPointer, count: Int, dtype: DType) throws
    /// Starts the same sum and returns without waiting; the memory must stay untouched until `wait()` returns.
    func startAllReduceSum(_ pointer: UnsafeMutableRawPointer, count: Int, dtype: DType) throws -> any PendingCollective
    /// Copies `byteCount` bytes at `pointer` on rank `root` to the same place on every rank.
    func broadcast(_ pointer: UnsafeMutableRawPointer, byteCount: Int, root: Int) throws
    /// Every rank's `values` (the same length on every rank), indexed by rank.
    func allGather(_ values: [Int64]) throws -> [[Int64]]
    /// Returns when every rank has called it.
    func barrier() throws
}

extension Communicator {
    /// Sums `values` element-wise over the ranks.
    public func allReduceSum(_ values: inout [Double]) throws {
        let count = values.count
        try values.withUnsafeMutableBytes { try allReduceSum($0.baseAddress!, count: count, dtype: .float64) }
    }

    /// Copies the values of `tensors` on rank `root` into the same tensors on every rank, packed into one message
    /// (a model's parameters at the start of training, its buffers before each training step).
    public func broadcast(_ tensors: [Tensor], root: Int = 0) throws {
        let tensors = tensors.filter { $0.count > 0 }
        guard !tensors.isEmpty, worldSize > 1 else { return }
        let contiguous = tensors.map { $0.contiguous() }
        let sizes = contiguous.map { $0.count * $0.dtype.byteSize }
        let packed = UnsafeMutableRawPointer.allocate(byteCount: sizes.reduce(0, +), alignment: 16)
        defer { packed.deallocate() }
        var at = 0
        for (t, size) in zip(contiguous, sizes) { (packed + at).copyMemory(from: t.rawPointer, byteCount: size); at += size }
        try broadcast(packed, byteCount: at, root: root)
        at = 0
        for (i, t) in contiguous.enumerated() {
            t.rawPointer.copyMemory(from: packed + at, byteCount: sizes[i])
            t.buffer.bumpVersion("broadcast")
            if t !== tensors[i] { tensors[i].assign(t) }  // a strided tensor: written through its copy
            at += sizes[i]
        }
    }

    /// The mean over the ranks of each of `values`.
    public func allReduceMean(_ values: [Double]) throws -> [Double] {
        var sums = values
        try allReduceSum(&sums)
        return sums.map { $0 / Double(worldSize) }
    }
}

extension Tensor {
    /// The address of this tensor's first element (the tensor viewing its buffer row-major from there).
    var rawPointer: UnsafeMutableRawPointer { buffer.raw + storageOffset * dtype.byteSize }
}

/// One process on its own: rank 0 of 1, where every collective leaves its data as it is. It is what
/// ``Distributed/communicator`` is until ``Distributed/start()``, so code written for a job runs unchanged alone.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var worldSize: Int { 1 }
    public func allReduceSum(_ pointer: UnsafeMutableRawPointer, count: Int, dtype: DType) throws {}
    public func startAllReduceSum(_ pointer: UnsafeMutableRawPointer, count: Int, dtype: DType) throws -> any PendingCollective { Done() }
    public func broadcast(_ pointer: UnsafeMutableRawPointer, byteCount: Int, root: Int) throws {
        guard root == 0 else { throw DistributedError("broadcast: root \(root) is not a rank of a single process") }
    }
    public func allGather(_ values: [Int64]) throws -> [[Int64]] { [values] }
    public func barrier() throws {}

    /// A collective already complete.
    public final class Done: PendingCollective {
        public init() {}
        public func wait() throws {}
    }
}
