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
/// 64-byte-aligned memory on `device`, allocated with the object itself (one allocation per buffer).
/// Tensors are views of a buffer (shape, strides, offset), so a reshape, transpose, slice or expand
/// shares it instead of copying.
///
/// The buffer also carries the version counter of PyTorch's autograd: every in-place write through any
/// view of it bumps ``version``, and a recorded operation that saved a tensor of this buffer checks the
/// version when the backward pass needs that tensor.
public final class TensorBuffer: ManagedBuffer<TensorBuffer.Header, UInt8> {
    /// What a buffer knows about its elements (kept in the object, before them).
    public struct Header {
        let dtype: DType
        let count: Int
        let device: Device
        let raw: UnsafeMutableRawPointer
        var version: Int
        var lastWriter: String
    }

    /// An uninitialised buffer; the caller writes every element before any is read.
    public static func allocate(dtype: DType, count: Int, device: Device = .cpu) -> TensorBuffer {
        let bytes = Swift.max(count, 1) * dtype.byteSize
        let made = create(minimumCapacity: bytes + 63) { buffer in
            let start = buffer.withUnsafeMutablePointerToElements { UnsafeMutableRawPointer($0) }
            let raw = UnsafeMutableRawPointer(bitPattern: (Int(bitPattern: start) + 63) & ~63)!
            switch dtype {
            case .float32: raw.bindMemory(to: Float.self, capacity: count)
            case .float64: raw.bindMemory(to: Double.self, capacity: count)
            case .int64: raw.bindMemory(to: Int.self, capacity: count)
            case .bool: raw.bindMemory(to: Bool.self, capacity: count)
            }
            return Header(dtype: dtype, count: count, device: device, raw: raw, version: 0, lastWriter: "")
        }
        axon_counter_add(2, bytes)
        return unsafeDowncast(made, to: TensorBuffer.self)
    }

    /// The header, read without an exclusivity check (every kernel call reads it).
    /// The element type.
    public var dtype: DType { withUnsafeMutablePointerToHeader { $0.pointee.dtype } }
    /// The number of elements.
    public var count: Int { withUnsafeMutablePointerToHeader { $0.pointee.count } }
    /// Where the memory lives.
    public var device: Device { withUnsafeMutablePointerToHeader { $0.pointee.device } }
    /// The first byte, aligned to 64 bytes (a cache line; every vector load of a row start is aligned).
    public var raw: UnsafeMutableRawPointer { withUnsafeMutablePointerToHeader { $0.pointee.raw } }
    /// Number of in-place writes so far (PyTorch's `_version`).
    public var version: Int { withUnsafeMutablePointerToHeader { $0.pointee.version } }
    /// The in-place operation that wrote last (for the version-counter error).
    public var lastWriter: String { withUnsafeMutablePointerToHeader { $0.pointee.lastWriter } }

    /// Bytes of element memory allocated by the process so far (never decreases): a view allocates none.
    public static var allocatedBytes: Int { axon_counter_get(2) }

    /// The elements typed as `T` (the caller has checked the dtype).
    @inline(__always) public func pointer<T>(_: T.Type) -> UnsafeMutablePointer<T> {
        raw.assumingMemoryBound(to: T.self)
    }

    /// Records an in-place write by `op`.
    public func bumpVersion(_ op: String) {
        withUnsafeMutablePointerToHeader {
            $0.pointee.version &+= 1
            $0.pointee.lastWriter = op
        }
    }
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
