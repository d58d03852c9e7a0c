import _AxonKernels

/// Where a buffer's memory lives. Axon computes on the CPU today; a GPU backend would add a case
/// (see docs/BACKENDS.md).
public enum Device: String, Sendable, CustomStringConvertible {
    /// Host memory, computed on by ``CPUBackend`` or ``ReferenceBackend``.
    case cpu
    /// PyTorch's spelling, `cpu`.
    public var description: String { rawValue }
}

/// The one reference-counted element buffer behind every tensor: `count` elements of `dtype` in
/// 64-byte-aligned memory on `device`. Tensors are views of a buffer (shape, strides, offset), so a reshape,
/// transpose, slice or expand shares it instead of copying.
///
/// The memory comes from the kernels' allocator (`axon_buffer_alloc`, see ``Allocator``), which gives a freed
/// block to the next buffer of the same size: a training step allocates the same buffers every step.
///
/// The buffer also carries the version counter of PyTorch's autograd: every in-place write through any
/// view of it bumps ``version``, and a recorded operation that saved a tensor of this buffer checks the
/// version when the backward pass needs that tensor.
public final class TensorBuffer {
    /// The element type.
    public let dtype: DType
    /// The number of elements.
    public let count: Int
    /// Where the memory lives.
    public let device: Device
    /// The first byte, aligned to 64 bytes (a cache line; every vector load of a row start is aligned).
    public let raw: UnsafeMutableRawPointer
    /// Number of in-place writes so far (PyTorch's `_version`).
    public private(set) var version = 0
    /// The in-place operation that wrote last (for the version-counter error).
    public private(set) var lastWriter = ""

    private init(dtype: DType, count: Int, device: Device, raw: UnsafeMutableRawPointer) {
        self.dtype = dtype
        self.count = count
        self.device = device
        self.raw = raw
    }

    deinit { axon_buffer_free(raw, Swift.max(count, 1) * dtype.byteSize) }

    /// An uninitialised buffer; the caller writes every element before any is read.
    public static func allocate(dtype: DType, count: Int, device: Device = .cpu) -> TensorBuffer {
        let bytes = Swift.max(count, 1) * dtype.byteSize
        guard let raw = axon_buffer_alloc(bytes) else {
            fatalError("TensorBuffer.allocate: out of memory for \(count) elements of \(dtype) (\(bytes) bytes)")
        }
        switch dtype {
        case .float32: raw.bindMemory(to: Float.self, capacity: count)
        case .float64: raw.bindMemory(to: Double.self, capacity: count)
        case .int64: raw.bindMemory(to: Int.self, capacity: count)
        case .bool: raw.bindMemory(to: Bool.self, capacity: count)
        }
        axon_counter_add(2, bytes)
        return TensorBuffer(dtype: dtype, count: count, device: device, raw: raw)
    }

    /// Bytes of element memory allocated by the process so far (never decreases): a view allocates none.
    public static var allocatedBytes: Int { axon_counter_get(2) }

    /// The elements typed as `T` (the caller has checked the dtype).
    @inline(__always) public func pointer<T>(_: T.Type) -> UnsafeMutablePointer<T> {
        raw.assumingMemoryBound(to: T.self)
    }

    /// Records an in-place write by `op`.
    public func bumpVersion(_ op: String) {
        version &+= 1
        lastWriter = op
    }
}

/// Scratch memory for kernels (packed panels, partial sums, max pooling's saved winners): uninitialised, 64-byte
/// aligned (no vector load of a packed sliver splits two cache lines), from the tensor buffers' allocator, whose
/// cache hands a step's scratch to the next step.
package enum Scratch {
    package static func allocate<T>(_: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let bytes = Swift.max(count, 1) * MemoryLayout<T>.stride
        guard let raw = axon_buffer_alloc(bytes) else {
            fatalError("out of memory for scratch of \(count) elements (\(bytes) bytes)")
        }
        return raw.bindMemory(to: T.self, capacity: count)
    }
    /// Frees `count` elements from ``allocate(_:count:)`` (the same count).
    package static func free<T>(_ pointer: UnsafeMutablePointer<T>, count: Int) {
        axon_buffer_free(pointer, Swift.max(count, 1) * MemoryLayout<T>.stride)
    }
}

/// Element memory: the cache of freed tensor buffers, and the C allocator's settings, which are the whole
/// process's (Axon changes those only when asked).
public enum Allocator {
    /// The most bytes of freed buffers kept for reuse (default 64 MiB). A freed block of 1 KiB up to a quarter of
    /// the limit goes to the next buffer of the same size, newest first: a training step allocates the same buffers
    /// every step, and the C allocator's bookkeeping for them (consolidating its bins on the calling thread between
    /// the pool's rounds) is skipped. The oldest blocks leave when the limit or 128 blocks are reached, so the process
    /// holds at most the limit more than without the cache. Setting 0 turns the cache off and frees what it holds.
    public static var cacheLimit: Int {
        get { Int(axon_buffer_cache_limit()) }
        set { axon_buffer_set_cache_limit(Swift.max(newValue, 0)) }
    }
    /// Bytes the cache holds now.
    public static var cachedBytes: Int { Int(axon_buffer_cached_bytes()) }

    /// Fixes glibc's malloc thresholds so that the buffers a training step frees stay in the heap for the
    /// next step instead of being unmapped and faulted in again (axon-bench's conv1 forward and backward: 1700
    /// to 2030 calls/s with them, 421 to 429 without, on a Zen 4). Blocks of 64 MiB and more are still mapped
    /// on their own. The `axon` command,
    /// `axon-bench` and `Trainer` call it; `AXON_MALLOC_TUNING=0` or glibc's own `MALLOC_*_THRESHOLD_`
    /// variables keep glibc's behaviour. Returns whether the settings were applied (false off glibc).
    @discardableResult
    public static func tuneForTraining() -> Bool { axon_tune_allocator() != 0 }
}

extension DType {
    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float32: return 4
        case .float64, .int64: return 8
        case .bool: return 1
        }
    }
}
