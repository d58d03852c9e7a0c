import _AxonKernels

/// The element type of a tensor.
public enum DType: String, Sendable, CustomStringConvertible {
    /// 32-bit IEEE float: the default for values and parameters.
    case float32
    /// 64-bit IEEE float: for gradient checks and reference computations.
    case float64
    /// 64-bit signed integer: class indices and index tensors.
    case int64

    /// Whether the type is a floating-point type (and so can carry gradients).
    public var isFloatingPoint: Bool { self != .int64 }
    /// PyTorch's spelling, e.g. `torch.float32`.
    public var description: String { rawValue }
}

/// Contiguous row-major element buffer of one of the three dtypes.
enum Storage {
    case float32([Float])
    case float64([Double])
    case int64([Int])

    var dtype: DType {
        switch self {
        case .float32: return .float32
        case .float64: return .float64
        case .int64: return .int64
        }
    }

    var count: Int {
        switch self {
        case .float32(let a): return a.count
        case .float64(let a): return a.count
        case .int64(let a): return a.count
        }
    }
}

/// An n-dimensional array in row-major order that can record the operations applied to it for
/// reverse-mode automatic differentiation.
///
/// `Tensor` has reference semantics, as `torch.Tensor`: `.grad` accumulates into the same object that
/// the model holds. Values are immutable once created, except through ``assign(_:)`` (used by optimizers,
/// outside the graph).
public final class Tensor {
    /// The size of each dimension; `[]` for a scalar.
    public let shape: [Int]
    /// The elements, contiguous and row-major.
    var storage: Storage
    /// Whether gradients flow to this tensor. Set it on leaves (parameters, inputs to check).
    public var requiresGrad: Bool {
        didSet {
            if requiresGrad && !dtype.isFloatingPoint {
                axonFail("requiresGrad", "only floating-point tensors can require gradients, got \(dtype)")
            }
        }
    }
    /// The gradient accumulated by ``backward(_:retainGraph:)``; `nil` until a backward pass reaches it.
    public var grad: Tensor?
    /// The operation that produced this tensor (nil for leaves and for tensors made without gradients).
    var gradFn: GradFn?
    /// Backward-pass scratch: the pass that last visited this tensor, and the gradient gathered for it in
    /// that pass (kept on the tensor so the pass needs no hash tables).
    var visitedInPass = 0
    var pendingGrad: Tensor?

    init(shape: [Int], storage: Storage, requiresGrad: Bool = false) {
        precondition(shape.reduce(1, *) == storage.count, "internal: storage count does not match shape")
        self.shape = shape
        self.storage = storage
        self.requiresGrad = requiresGrad
        axon_counter_add(0, 1)
    }

    deinit { axon_counter_add(0, -1) }

    /// Number of live `Tensor` objects in the process (for leak tests).
    static var liveCount: Int { axon_counter_get(0) }

    /// The element type.
    public var dtype: DType { storage.dtype }
    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Number of elements.
    public var count: Int { storage.count }
    /// Whether this tensor was produced by a recorded operation (as opposed to a leaf).
    public var isLeaf: Bool { gradFn == nil }

    /// The elements as `Float`, row-major (converted from the tensor's dtype).
    public var scalars: [Float] {
        switch storage {
        case .float32(let a): return a
        case .float64(let a): return a.map { Float($0) }
        case .int64(let a): return a.map { Float($0) }
        }
    }

    /// The elements as `Double`, row-major (converted from the tensor's dtype).
    public var doubleScalars: [Double] {
        switch storage {
        case .float32(let a): return a.map { Double($0) }
        case .float64(let a): return a
        case .int64(let a): return a.map { Double($0) }
        }
    }

    /// The elements as `Int`, row-major (floats are truncated toward zero).
    public var intScalars: [Int] {
        switch storage {
        case .float32(let a): return a.map { Int($0) }
        case .float64(let a): return a.map { Int($0) }
        case .int64(let a): return a
        }
    }

    /// The value of a one-element tensor, as `Double`.
    public var item: Double {
        guard count == 1 else { axonFail("item", "needs a one-element tensor, got shape \(shape)") }
        return doubleScalars[0]
    }

    /// Replaces the values in place with those of `other` (same shape), outside autodiff.
    /// Optimizers and `loadStateDict` use it; it keeps `requiresGrad` and drops nothing else.
    public func assign(_ other: Tensor) {
        guard other.shape == shape else {
            axonFail("assign", "shape \(other.shape) does not match \(shape)")
        }
        storage = other.converted(to: dtype).storage
    }

    /// A tensor with the same values that records no history and does not require gradients.
    public func detached() -> Tensor {
        Tensor(shape: shape, storage: storage)
    }

    /// Resets `.grad` to nil.
    public func zeroGrad() { grad = nil }

    // Typed access for kernels.
    var f32: [Float] { if case .float32(let a) = storage { return a }; fatalError("internal: not float32") }
    var f64: [Double] { if case .float64(let a) = storage { return a }; fatalError("internal: not float64") }
    var i64: [Int] { if case .int64(let a) = storage { return a }; fatalError("internal: not int64") }
}

/// Stops with a programmer-error message that names the op, in the style of PyTorch's errors.
/// `fatalError` (not `precondition`) so the message is printed in release builds too.
func axonFail(_ op: String, _ message: String) -> Never {
    fatalError("Axon.\(op): \(message)")
}

/// Shape element count.
@inline(__always) func shapeCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

/// Row-major strides of a shape.
func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = s
        s *= shape[i]
    }
    return strides
}

/// Normalises a possibly negative axis; stops with a message naming the op when out of range.
func normalizeAxis(_ axis: Int, rank: Int, op: String) -> Int {
    let r = max(rank, 1)
    let a = axis < 0 ? axis + r : axis
    guard a >= 0 && a < r else {
        axonFail(op, "axis \(axis) is out of range for a tensor of rank \(rank)")
    }
    return a
}
