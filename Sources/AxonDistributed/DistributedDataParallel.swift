import AxonCore
import AxonNN
import Foundation

/// Data-parallel training over the ranks of a job, as PyTorch's `DistributedDataParallel`: every rank holds the
/// whole model and trains it on its own share of each batch (`DistributedSampler`), and the gradients
/// are averaged over the ranks after each backward pass, so every rank takes the same optimizer step and the
/// replicas stay equal.
///
/// - At the start, the ranks check that their models have the same parameters (names, shapes and types), and
///   rank 0's parameters and buffers are copied to every rank.
/// - The gradients travel in buckets of about ``bucketCapacity`` bytes, in the reverse order of ``/AxonNN/Module/parameters()``
///   (about the order backward finishes them). A bucket's all-reduce starts from a post-accumulate-grad hook
///   (``/AxonCore/Tensor/registerPostAccumulateGradHook(_:)``) as soon as its last gradient is complete, while the
///   backward pass goes on with the rest; the last bucket, with nothing left to overlap, is summed by the (faster)
///   blocking all-reduce. ``synchronizeGradients()`` waits for them all, and each parameter's `.grad` becomes a view
///   of its bucket, holding the mean over the ranks. `Trainer` calls it after each backward pass; a loop of your own
///   calls it between `backward()` and `optimizer.step()`.
/// - In training mode, each forward pass first copies rank 0's buffers (batch norm's running statistics) to every
///   rank, as PyTorch's `broadcast_buffers=True`.
/// - Batch norm normalises with each rank's own batch statistics, as under PyTorch's DDP. With `syncBatchNorm`,
///   the statistics are those of every rank's batch together (PyTorch's `SyncBatchNorm`): N ranks at batch B then
///   train as one process at batch N·B.
///
/// Its `state_dict` names start with `module.`, as PyTorch's; checkpoints are usually written from ``module``.
public final class DistributedDataParallel: Module, Layer {
    /// The model being trained.
    public let module: any Layer
    /// The job's collectives.
    public let communicator: any Communicator
    /// Most bytes of gradients in one bucket (a parameter larger than this has a bucket of its own).
    public let bucketCapacity: Int
    /// Whether training-mode forward passes copy rank 0's buffers to every rank first.
    public let broadcastBuffers: Bool
    private let buckets: [Bucket]
    /// The module's buffers (their holders: a layer may replace the tensor inside), found once.
    private let buffers: [Buffer]

    /// Wraps `module` for data-parallel training over `communicator` (by default the job's, ``Distributed/communicator``).
    /// Throws ``DistributedError`` when the ranks' models differ, or a collective fails.
    public init(_ module: any Layer, communicator: (any Communicator)? = nil, bucketCapacityMB: Double = 4,
                broadcastBuffers: Bool = true, syncBatchNorm: Bool = false) throws {
        guard bucketCapacityMB > 0 else { fatalError("Axon.DistributedDataParallel: bucketCapacityMB must be positive, got \(bucketCapacityMB)") }
        let comm = communicator ?? Distributed.communicator
        self.module = module
        self.communicator = comm
        self.bucketCapacity = max(1, Int(bucketCapacityMB * 1_048_576))
        self.broadcastBuffers = broadcastBuffers
        let named = module.namedParameters()
        for (name, p) in named where !p.isContiguous || !p.dtype.isFloatingPoint || !p.isLeaf {
            fatalError("Axon.DistributedDataParallel: parameter '\(name)' must be a contiguous floating-point leaf, got \(p.dtype) \(p.shape)")
        }
        // The same model on every rank: the number of tensors and elements, and the names, shapes and types.
        let layout = Distributed.fingerprint(named.map { "\($0.0):\($0.1.shape):\($0.1.dtype);" }.joined().utf8)
        try Distributed.checkAgreement([("the model's number of parameter tensors", Int64(named.count)),
                                        ("the model's number of parameters", Int64(named.reduce(0) { $0 + $1.1.count })),
                                        ("the model's parameter names, shapes and types (hashed)", Int64(bitPattern: layout))], on: comm)
        buckets = Bucket.make(named.map(\.1).reversed(), capacity: bucketCapacity)
        buffers = module.namedBuffers().map(\.1)
        super.init()
        try comm.broadcast(named.map(\.1))
        try comm.broadcast(buffers.map(\.wrappedValue))
        for bucket in buckets {
            for (slot, p) in bucket.parameters.enumerated() {
                p.registerPostAccumulateGradHook { [weak self, weak bucket] _ in
                    guard let self, let bucket else { return }
                    bucket.gradientReady(slot, communicator: self.communicator) { self.buckets.allSatisfy(\.isComplete) }
                }
            }
        }
        if syncBatchNorm {
            for case let (_, norm as BatchNorm) in module.namedModules() {
                norm.crossReplicaSum = { [comm] values in
                    do { try comm.allReduceSum(&values) } catch { Distributed.stop(error) }
                }
            }
        }
    }

    deinit {
        for bucket in buckets { for p in bucket.parameters { p.removePostAccumulateGradHooks() } }
    }

    /// The wrapped module's output; in training mode, rank 0's buffers are copied to every rank first.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        if isTraining && broadcastBuffers && communicator.worldSize > 1 {
            do { try communicator.broadcast(buffers.map(\.wrappedValue)) } catch { Distributed.stop(error) }
        }
        return module(input)
    }

    /// Completes the gradients' all-reduce after a backward pass: starts the buckets still waiting (a parameter that
    /// got no gradient counts as zeros), waits for every bucket, and sets each parameter's `.grad` to the mean over
    /// the ranks. Call it after `backward()` and before the optimizer's step (`Trainer` does).
    public func synchronizeGradients() throws {
        for bucket in buckets where !bucket.isComplete { bucket.complete(communicator: communicator) }
        for bucket in buckets { try bucket.finish(communicator: communicator) }
    }

    /// The layer and its configuration, as printed in a model description.
    public override var layerDescription: String { "DistributedDataParallel(rank \(communicator.rank) of \(communicator.worldSize))" }
}

/// Consecutive parameters whose gradients are all-reduced as one message. Each step's gradients are copied into a
/// new flat tensor, already divided by the number of ranks; after the all-reduce, each parameter's `.grad` is a view
/// of its part of that tensor (one pass over the gradients besides the all-reduce, as PyTorch's
/// `gradient_as_bucket_view`).
final class Bucket {
    let dtype: DType
    let parameters: [Tensor]
    /// Element offsets of each parameter's gradient in ``flat``.
    let offsets: [Int]
    let count: Int
    /// This step's gradients, flat (nil until the first gradient of the step comes in).
    private var flat: Tensor?
    /// Per slot: whether its gradient is in ``flat`` for this step.
    private var ready: [Bool]
    private var readyCount = 0
    /// The all-reduce in flight, and an error from starting it in a hook (thrown by ``finish(communicator:)``).
    private var pending: (any PendingCollective)?
    private var startError: (any Error)?
    /// Whether the bucket is complete and waits for ``finish(communicator:)`` to sum it (the last bucket of a
    /// backward pass, where nothing is left to overlap, is summed there by the blocking all-reduce).
    private(set) var isComplete = false
    /// A gradient that changed after its bucket was complete (a second backward pass before the step): the bucket
    /// is summed from the gradients as they are at the end.
    private var stale = false

    init(_ parameters: [Tensor]) {
        dtype = parameters[0].dtype
        self.parameters = parameters
        var offsets: [Int] = [], n = 0
        for p in parameters { offsets.append(n); n += p.count }
        self.offsets = offsets
        count = n
        ready = [Bool](repeating: false, count: parameters.count)
    }

    /// Parameters (in backward's approximate order) grouped by type into buckets of at most `capacity` bytes.
    static func make(_ parameters: [Tensor], capacity: Int) -> [Bucket] {
        var buckets: [Bucket] = []
        for dtype in [DType.float32, .float64] {
            var group: [Tensor] = [], bytes = 0
            for p in parameters where p.dtype == dtype {
                let size = p.count * dtype.byteSize
                if !group.isEmpty && bytes + size > capacity { buckets.append(Bucket(group)); group = []; bytes = 0 }
                group.append(p)
                bytes += size
            }
            if !group.isEmpty { buckets.append(Bucket(group)) }
        }
        return buckets
    }

    /// Copies the slot's gradient (zeros for none) into ``flat``, times `scale`.
    private func copyIn(_ slot: Int, scale: Double) {
        let target = flat ?? Tensor.empty([count], dtype: dtype)
        flat = target
        let n = parameters[slot].count
        let at = target.rawPointer + offsets[slot] * dtype.byteSize
        guard let g = parameters[slot].grad?.contiguous() else {
            at.initializeMemory(as: UInt8.self, repeating: 0, count: n * dtype.byteSize)
            return
        }
        if dtype == .float32 {
            let to = at.assumingMemoryBound(to: Float.self), from = g.rawPointer.assumingMemoryBound(to: Float.self), k = Float(scale)
            for i in 0..<n { to[i] = from[i] * k }
        } else {
            let to = at.assumingMemoryBound(to: Double.self), from = g.rawPointer.assumingMemoryBound(to: Double.self)
            for i in 0..<n { to[i] = from[i] * scale }
        }
    }

    /// A post-accumulate-grad hook: the slot's gradient is complete. The bucket's last one completes it; a complete
    /// bucket starts its all-reduce unless `isLast` (no other bucket is still waiting for backward).
    func gradientReady(_ slot: Int, communicator: any Communicator, isLast: () -> Bool) {
        if isComplete { stale = true; return }
        copyIn(slot, scale: 1 / Double(communicator.worldSize))
        if !ready[slot] { ready[slot] = true; readyCount += 1 }
        if readyCount == parameters.count {
            isComplete = true
            if !isLast() { start(communicator) }
        }
    }

    /// Completes the bucket for a step whose backward left some of its parameters without gradients (zeros).
    func complete(communicator: any Communicator) {
        for slot in parameters.indices where !ready[slot] { copyIn(slot, scale: 1 / Double(communicator.worldSize)) }
        isComplete = true
    }

    private func start(_ communicator: any Communicator) {
        do { pending = try communicator.startAllReduceSum(flat!.rawPointer, count: count, dtype: dtype) } catch { startError = error }
    }

    /// Waits for the all-reduce (or runs it, blocking, when it was not started) and gives each parameter its `.grad`,
    /// a view of the summed bucket; resets for the next step.
    func finish(communicator: any Communicator) throws {
        defer { flat = nil; pending = nil; startError = nil; stale = false; isComplete = false; readyCount = 0; ready = ready.map { _ in false } }
        if let startError { throw startError }
        try pending?.wait()
        if stale {
            let scale = 1 / Double(communicator.worldSize)
            for slot in parameters.indices { copyIn(slot, scale: scale) }
        }
        guard let flat else { return }
        if pending == nil || stale { try communicator.allReduceSum(flat.rawPointer, count: count, dtype: dtype) }
        flat.buffer.bumpVersion("allReduceSum")
        for (slot, p) in parameters.enumerated() {
            p.grad = flat.sliced(axis: 0, offsets[slot]..<(offsets[slot] + p.count)).reshaped(p.shape)
        }
    }
}
