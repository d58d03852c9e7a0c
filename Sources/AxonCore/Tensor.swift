import _AxonKernels

/// The element type of a tensor.
public enum DType: String, Sendable, CustomStringConvertible {
    /// 32-bit IEEE float: the default for values and parameters.
    case float32
    /// 64-bit IEEE float: for gradient checks and reference computations.
    case float64
    /// 64-bit signed integer: class indices and index tensors.
    case int64
    /// Boolean: the result of comparisons, and masks. Converted to a float dtype it is the 0/1 multiplier.
    case bool

    /// Whether the type is a floating-point type (and so can carry gradients).
    public var isFloatingPoint: Bool { self == .float32 || self == .float64 }
    /// PyTorch's spelling, e.g. `torch.float32`.
    public var description: String { rawValue }
}

/// The elements of a tensor as a backend sees them: a buffer read through a shape, strides (in elements,
/// 0 along a broadcast axis) and an offset.
public struct StridedBuffer {
    /// The memory.
    public let buffer: TensorBuffer
    /// The size of each dimension.
    public let shape: [Int]
    /// The strides when they are not row-major (nil: contiguous, and no array is made for them).
    let explicitStrides: [Int]?
    /// The position of element [0, 0, ...] in the buffer.
    public let offset: Int

    /// A view with explicit layout.
    public init(buffer: TensorBuffer, shape: [Int], strides: [Int], offset: Int) {
        self.init(buffer: buffer, shape: shape, explicitStrides: strides, offset: offset)
    }

    /// A view whose strides are row-major when `explicitStrides` is nil.
    init(buffer: TensorBuffer, shape: [Int], explicitStrides: [Int]?, offset: Int) {
        self.buffer = buffer
        self.shape = shape
        self.explicitStrides = explicitStrides
        self.offset = offset
    }

    /// The whole of `buffer`, row-major with `shape`.
    public init(contiguous buffer: TensorBuffer, shape: [Int]) {
        self.init(buffer: buffer, shape: shape, explicitStrides: nil, offset: 0)
    }

    /// The step in elements between neighbours along each dimension.
    public var strides: [Int] { explicitStrides ?? contiguousStrides(shape) }
    /// The element type.
    public var dtype: DType { buffer.dtype }
    /// The number of elements seen.
    public var count: Int { shapeCount(shape) }
    /// Whether the elements are the row-major run `offset..<offset + count` of the buffer.
    public var isContiguous: Bool { explicitStrides.map { isRowMajor(shape, $0) } ?? true }
    /// The first element, typed.
    @inline(__always) public func pointer<T>(_: T.Type) -> UnsafeMutablePointer<T> { buffer.pointer(T.self) + offset }
    /// The same elements seen with `shape` through broadcast strides (0 where this view has size 1 or
    /// is missing a leading axis).
    public func broadcast(to target: [Int]) -> StridedBuffer {
        if target == shape { return self }
        let lead = target.count - shape.count
        // One array, written in place; row-major strides are computed on the way (no array for them).
        let s = [Int](unsafeUninitializedCapacity: target.count) { out, initialized in
            var step = 1
            for i in stride(from: target.count - 1, through: 0, by: -1) {
                let j = i - lead
                if j < 0 { out[i] = 0; continue }
                let own = explicitStrides?[j] ?? step
                step *= shape[j]
                out[i] = shape[j] == 1 && target[i] != 1 ? 0 : own
            }
            initialized = target.count
        }
        return StridedBuffer(buffer: buffer, shape: target, explicitStrides: s, offset: offset)
    }
}

/// An n-dimensional array that can record the operations applied to it for reverse-mode automatic
/// differentiation.
///
/// A tensor is a view of a reference-counted ``TensorBuffer``: a shape, strides and an offset. Reshaping
/// (when the strides allow), transposing, slicing, expanding, squeezing and splitting give views that share
/// the buffer, as in PyTorch; ``contiguous()`` copies only when the view is not row-major. `Tensor` has
/// reference semantics, as `torch.Tensor`: `.grad` accumulates into the same object that the model holds.
/// Values change only through in-place operations (``assign(_:)``, ``addInPlace(_:alpha:scalingSelfBy:)``,
/// ...), which write through views and bump the buffer's version counter.
///
/// ## Tensors across tasks
/// `Tensor` is `Sendable`, as `torch.Tensor` may be shared by threads: any number of tasks may read a tensor,
/// and compute new tensors from it, at the same time (the kernels and the worker pool are safe for concurrent
/// callers, and recording is per thread). Writing is not synchronised: an in-place operation, `backward()`
/// (which writes `.grad`), or an optimizer step on a tensor while another task uses it is a data race, as in
/// PyTorch. Train on one task; share the results for reading.
///
/// ## Topics
///
/// ### Creating tensors
/// - ``init(_:dtype:requiresGrad:)-(Double,_,_)``
/// - ``init(shape:scalars:requiresGrad:)-(_,[Float],_)``
/// - ``zeros(_:dtype:)``
/// - ``ones(_:dtype:)``
/// - ``full(_:_:dtype:)``
/// - ``arange(_:_:step:dtype:)``
/// - ``randn(_:dtype:generator:)``
/// - ``uniform(_:low:high:dtype:generator:)``
///
/// ### Shape and elements
/// - ``shape``
/// - ``rank``
/// - ``count``
/// - ``dtype``
/// - ``scalars``
/// - ``doubleScalars``
/// - ``intScalars``
/// - ``item``
/// - ``converted(to:)``
///
/// ### Views and reshaping
/// - ``reshaped(_:)``
/// - ``transposed(_:_:)``
/// - ``permuted(_:)``
/// - ``sliced(axis:_:)``
/// - ``squeezed(axis:)``
/// - ``unsqueezed(axis:)``
/// - ``expanded(to:)``
/// - ``contiguous()``
///
/// ### Reductions
/// - ``sum(axes:keepDims:)``
/// - ``mean(axes:keepDims:)``
/// - ``max(axes:keepDims:)``
/// - ``argmax(axis:keepDims:)``
/// - ``variance(axes:unbiased:keepDims:)``
///
/// ### Automatic differentiation
/// - ``requiresGrad``
/// - ``requiringGrad(_:)``
/// - ``grad``
/// - ``backward(_:retainGraph:createGraph:)``
/// - ``detached()``
/// - ``zeroGrad()``
///
/// ### Changing values in place
/// - ``assign(_:)``
/// - ``addInPlace(_:alpha:scalingSelfBy:)``
/// - ``addProductInPlace(_:_:alpha:scalingSelfBy:)``
/// - ``fillInPlace(_:)``
public final class Tensor: @unchecked Sendable {
    /// The layout a backend reads: buffer, shape, strides and offset, stored as one value, so that handing
    /// it to a backend call builds nothing and retains nothing.
    public let strided: StridedBuffer
    /// The size of each dimension; `[]` for a scalar.
    @inlinable public var shape: [Int] { strided.shape }
    /// The step in elements between neighbours along each dimension (PyTorch's `stride()`).
    public var strides: [Int] { strided.strides }
    /// The strides when they are not row-major (nil for a contiguous tensor: most tensors carry no array).
    var explicitStrides: [Int]? { strided.explicitStrides }
    /// The position of this view's first element in its buffer (PyTorch's `storage_offset()`).
    @inlinable public var storageOffset: Int { strided.offset }
    /// The memory this tensor views.
    @inlinable public var buffer: TensorBuffer { strided.buffer }
    /// Whether gradients flow to this tensor. Set it on leaves (parameters, inputs to check).
    ///
    /// The mutable fields read by every operation skip the run-time exclusivity check (`@exclusivity(unchecked)`):
    /// they are plain values, never passed `inout`, so no access to them can overlap another.
    @exclusivity(unchecked)
    public var requiresGrad: Bool {
        didSet {
            if requiresGrad && !dtype.isFloatingPoint {
                axonFail("requiresGrad", "only floating-point tensors can require gradients, got \(dtype)")
            }
        }
    }
    /// The gradient accumulated by ``backward(_:retainGraph:createGraph:)``; `nil` until a backward pass reaches it.
    @exclusivity(unchecked)
    public var grad: Tensor?
    /// The operation that produced this tensor (nil for leaves and for tensors made without gradients).
    @exclusivity(unchecked)
    package var gradFn: GradFn?
    /// Backward-pass scratch: the pass that last visited this tensor, and the gradient gathered for it in
    /// that pass (kept on the tensor so the pass needs no hash tables).
    @exclusivity(unchecked)
    var visitedInPass = 0
    @exclusivity(unchecked)
    var pendingGrad: Tensor?
    /// Run by ``backward(_:retainGraph:createGraph:)`` once this leaf's `.grad` holds the pass's whole gradient
    /// (``registerPostAccumulateGradHook(_:)``).
    @exclusivity(unchecked)
    var postAccumulateGradHooks: [(Tensor) -> Void] = []

    /// A view of `buffer`; nil strides mean row-major.
    init(buffer: TensorBuffer, shape: [Int], strides: [Int]?, offset: Int, requiresGrad: Bool = false) {
        self.strided = StridedBuffer(buffer: buffer, shape: shape, explicitStrides: strides, offset: offset)
        self.requiresGrad = requiresGrad
        axon_counter_add(0, 1)
    }

    /// The whole of `buffer`, row-major with `shape`.
    convenience init(buffer: TensorBuffer, shape: [Int]) {
        self.init(buffer: buffer, shape: shape, strides: nil, offset: 0)
    }

    /// An uninitialised contiguous tensor from the current backend, as `torch.empty`: the caller writes every
    /// element before any is read (custom ops that call the backend directly use it for their outputs).
    public static func empty(_ shape: [Int], dtype: DType = .float32) -> Tensor {
        Tensor(buffer: Backends.current.makeBuffer(dtype: dtype, count: shapeCount(shape)), shape: shape)
    }

    deinit { axon_counter_add(0, -1) }

    /// Number of live `Tensor` objects in the process (for leak tests).
    static var liveCount: Int { axon_counter_get(0) }

    /// The element type.
    public var dtype: DType { buffer.dtype }
    /// Where the elements live.
    public var device: Device { buffer.device }
    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Number of elements.
    public var count: Int { shapeCount(shape) }
    /// Whether this tensor was produced by a recorded operation (as opposed to a leaf).
    public var isLeaf: Bool { gradFn == nil }
    /// Whether the elements are a row-major run of the buffer (PyTorch's `is_contiguous()`).
    public var isContiguous: Bool { explicitStrides.map { isRowMajor(shape, $0) } ?? true }
    /// Whether this tensor and `other` view the same buffer.
    public func sharesStorage(with other: Tensor) -> Bool { buffer === other.buffer }

    /// The elements as `Float`, row-major (converted from the tensor's dtype).
    public var scalars: [Float] { elements(Float.self, .float32) }
    /// The elements as `Double`, row-major (converted from the tensor's dtype).
    public var doubleScalars: [Double] { elements(Double.self, .float64) }
    /// The elements as `Int`, row-major (floats are truncated toward zero).
    public var intScalars: [Int] { elements(Int.self, .int64) }
    /// The elements as `Bool`, row-major (non-zero is true).
    public var boolScalars: [Bool] { elements(Bool.self, .bool) }

    /// Row-major elements of `dtype`, read as `T`.
    private func elements<T>(_: T.Type, _ type: DType) -> [T] {
        let t = converted(to: type).contiguous()
        return Array(UnsafeBufferPointer(start: t.buffer.pointer(T.self) + t.storageOffset, count: t.count))
    }

    /// The value of a one-element tensor, as `Double`.
    public var item: Double {
        guard count == 1 else { axonFail("item", "needs a one-element tensor, got shape \(shape)") }
        return doubleScalars[0]
    }

    /// Writes the values of `other` (same shape, any dtype) into this tensor in place, outside autodiff
    /// (PyTorch's `x.data.copy_(other)`, allowed on parameters with recording on): through a view it
    /// changes the base. Initialisers, optimizers and `loadStateDict` use it.
    public func assign(_ other: Tensor) {
        guard other.shape == shape else {
            axonFail("assign", "shape \(other.shape) does not match \(shape)")
        }
        Backends.current.copy(other.strided, into: strided)
        buffer.bumpVersion("assign")
    }

    /// A tensor that views the same elements but records no history and does not require gradients
    /// (PyTorch's `detach()`: the buffer is shared, so an in-place change shows in both).
    public func detached() -> Tensor {
        Tensor(buffer: buffer, shape: shape, strides: explicitStrides, offset: storageOffset)
    }

    /// A contiguous copy in a new buffer (PyTorch's `clone()`), differentiable.
    public func clone() -> Tensor {
        let out = Tensor.empty(shape, dtype: dtype)
        Backends.current.copy(strided, into: out.strided)
        return Tensor.record("clone", [self], out, saving: []) { g in [g] }
    }

    /// This tensor when its elements are row-major in its buffer; otherwise a contiguous copy
    /// (differentiable), as PyTorch's `contiguous()`.
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        return clone()
    }

    /// Resets `.grad` to nil.
    public func zeroGrad() { grad = nil }

    /// Stops when an in-place update would change a tensor that autodiff is recording through.
    func checkInPlace(_ op: String) {
        if requiresGrad && GradMode.isEnabled {
            axonFail(op, "an in-place update of a tensor that requires gradients must run inside withNoGrad (shape \(shape))")
        }
    }
}

/// Stops with a programmer-error message that names the op, in the style of PyTorch's errors.
/// `fatalError` (not `precondition`) so the message is printed in release builds too.
package func axonFail(_ op: String, _ message: String) -> Never {
    fatalError("Axon.\(op): \(message)")
}

/// Shape element count.
@inline(__always) func shapeCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

/// Row-major strides of a shape.
public func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = s
        s *= shape[i]
    }
    return strides
}

/// Whether `strides` walk `shape` row-major with no gaps (axes of size 1 may have any stride).
func isRowMajor(_ shape: [Int], _ strides: [Int]) -> Bool {
    var expected = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) where shape[i] != 1 {
        if strides[i] != expected { return false }
        expected *= shape[i]
    }
    return true
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
