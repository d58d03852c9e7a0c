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

    /// Sums a contiguous tensor element-wise over the ranks, in place.
    public func allReduceSum(_ tensor: Tensor) throws {
        guard tensor.isContiguous, tensor.count > 0 else {
            guard tensor.count == 0 else { axonFail("allReduceSum", "needs a contiguous tensor, got strides \(tensor.strides) for shape \(tensor.shape)") }
            return
        }
        try allReduceSum(tensor.rawPointer, count: tensor.count, dtype: tensor.dtype)
        tensor.buffer.bumpVersion("allReduceSum")
    }

    /// Copies a contiguous tensor's values from rank `root` into the same tensor on every rank.
    public func broadcast(_ tensor: Tensor, root: Int = 0) throws {
        guard tensor.isContiguous else { axonFail("broadcast", "needs a contiguous tensor, got strides \(tensor.strides) for shape \(tensor.shape)") }
        guard tensor.count > 0 else { return }
        try broadcast(tensor.rawPointer, byteCount: tensor.count * tensor.dtype.byteSize, root: root)
        tensor.buffer.bumpVersion("broadcast")
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
