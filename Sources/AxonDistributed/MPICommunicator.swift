#if MPI
import AxonCore
import CMPI

/// Collectives from MPI (Open MPI, or any MPI whose `mpi.h` and `libmpi` pkg-config's `ompi-c` finds), over
/// `MPI_COMM_WORLD`, as PyTorch's `mpi` backend and Horovod use it. Built with the `MPI` package trait
/// (`swift build --traits MPI`), and started by ``Distributed/start()`` in a process launched by `mpirun`.
///
/// Errors are returned rather than fatal (`MPI_ERRORS_RETURN`), so a failed collective becomes a
/// ``DistributedError`` naming the call and MPI's message. Only the thread that started MPI calls it.
public final class MPICommunicator: Communicator, @unchecked Sendable {
    public let rank: Int
    public let worldSize: Int
    private let comm: MPI_Comm

    /// Starts MPI (once per process) on `MPI_COMM_WORLD`.
    init() throws {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            var provided: Int32 = 0
            try Self.check(MPI_Init_thread(nil, nil, Int32(MPI_THREAD_SERIALIZED), &provided), "MPI_Init_thread")
        }
        comm = axon_mpi_comm_world()
        try Self.check(MPI_Comm_set_errhandler(comm, axon_mpi_errors_return()), "MPI_Comm_set_errhandler")
        var r: Int32 = 0, n: Int32 = 0
        try Self.check(MPI_Comm_rank(comm, &r), "MPI_Comm_rank")
        try Self.check(MPI_Comm_size(comm, &n), "MPI_Comm_size")
        rank = Int(r)
        worldSize = Int(n)
    }

    /// Ends MPI (every rank calls it once, at the end).
    func finalize() {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { MPI_Finalize() }
    }

    static func check(_ code: Int32, _ call: String) throws {
        guard code != MPI_SUCCESS else { return }
        var text = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &text, &length)
        let message = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw DistributedError("\(call) failed: \(message) (MPI error \(code))")
    }

    private func datatype(_ dtype: DType) -> MPI_Datatype {
        switch dtype {
        case .float32: return axon_mpi_float()
        case .float64: return axon_mpi_double()
        case .int64: return axon_mpi_int64()
        case .bool: axonFail("allReduceSum", "bool elements have no sum")
        }
    }

    /// `body(offset, count)` over chunks whose counts fit MPI's 32-bit counts.
    private func chunks(_ count: Int, _ body: (Int, Int32) throws -> Void) rethrows {
        let step = Int(Int32.max) / 8
        var start = 0
        while start < count {
            let n = min(step, count - start)
            try body(start, Int32(n))
            start += n
        }
    }

    public func allReduceSum(_ pointer: UnsafeMutableRawPointer, count: Int, dtype: DType) throws {
        let type = datatype(dtype)
        try chunks(count) { start, n in
            try Self.check(MPI_Allreduce(axon_mpi_in_place(), pointer + start * dtype.byteSize, n, type, axon_mpi_sum(), comm), "MPI_Allreduce")
        }
    }

    public func startAllReduceSum(_ pointer: UnsafeMutableRawPointer, count: Int, dtype: DType) throws -> any PendingCollective {
        let type = datatype(dtype)
        let pending = Requests()
        try chunks(count) { start, n in
            var request = axon_mpi_request_null()
            try Self.check(MPI_Iallreduce(axon_mpi_in_place(), pointer + start * dtype.byteSize, n, type, axon_mpi_sum(), comm, &request),
                           "MPI_Iallreduce")
            pending.requests.append(request)
        }
        return pending
    }

    public func broadcast(_ pointer: UnsafeMutableRawPointer, byteCount: Int, root: Int) throws {
        guard (0..<worldSize).contains(root) else { throw DistributedError("broadcast: root \(root) is not a rank of \(worldSize)") }
        try chunks(byteCount) { start, n in
            try Self.check(MPI_Bcast(pointer + start, n, axon_mpi_byte(), Int32(root), comm), "MPI_Bcast")
        }
    }

    public func allGather(_ values: [Int64]) throws -> [[Int64]] {
        var mine = values
        var all = [Int64](repeating: 0, count: values.count * worldSize)
        let n = Int32(values.count)
        try Self.check(MPI_Allgather(&mine, n, axon_mpi_int64(), &all, n, axon_mpi_int64(), comm), "MPI_Allgather")
        return (0..<worldSize).map { Array(all[($0 * values.count)..<(($0 + 1) * values.count)]) }
    }

    public func barrier() throws {
        try Self.check(MPI_Barrier(comm), "MPI_Barrier")
    }

    /// The requests of one started all-reduce.
    final class Requests: PendingCollective {
        var requests: [MPI_Request?] = []
        func wait() throws {
            for i in requests.indices {
                try MPICommunicator.check(MPI_Wait(&requests[i], axon_mpi_status_ignore()), "MPI_Wait")
            }
            requests = []
        }
    }
}
#endif
