import Foundation

// The seam between Axon's tensors and the code that computes on their elements. The op files
// (Tensor+*.swift) check shapes, choose output shapes and dtypes, and record derivative rules; every
// element they produce comes from a `Backend` call. A backend sees buffers and layouts only, never a
// `Tensor`, and holds the dtype switch.

/// Primitive one-input operations; derivative rules are in Tensor+Elementwise.swift.
public enum UnaryOp: Sendable {
    case exp, log, log1p, sqrt, sin, tanh, sigmoid, relu, erf, sign, step
    /// GELU, x·Φ(x) = 0.5·x·(1 + erf(x/√2)).
    case gelu
}

/// Primitive two-input operations (with broadcasting).
public enum BinaryOp: Sendable {
    /// `sub` is `add` with alpha = -1 (one pass; see ``add(_:_:alpha:)``).
    case add, sub, mul, div, maximum, pow
    /// Comparisons: the result is `bool`.
    case eq, ne, lt, le, gt, ge
    /// Derivative rules fused into one pass, as `(g, y)` with y the activation's output (same shapes):
    /// g where y > 0 (ReLU), g(1 - y²) (tanh), g(1 - y)y (sigmoid, PyTorch's order).
    case reluBackward, tanhBackward, sigmoidBackward
    /// GELU's derivative from its input, `(g, x)`: g·(Φ(x) + x·φ(x)).
    case geluBackward

    /// Whether the result is `bool`.
    public var isComparison: Bool {
        switch self {
        case .eq, .ne, .lt, .le, .gt, .ge: return true
        default: return false
        }
    }
}

/// Primitive reductions.
public enum ReduceOp: Sendable { case sum, max, min }

/// Distributions for ``Backend/fillRandom(_:_:generator:)``.
public enum RandomDistribution: Sendable {
    /// Uniform in `[low, high)`.
    case uniform(low: Double, high: Double)
    /// Normal with mean and standard deviation.
    case normal(mean: Double, std: Double)
    /// Uniform integers in `low..<high`.
    case integers(low: Int, high: Int)
}

/// The primitive kernels, over buffers seen through strided layouts. Outputs (`into:`) are fresh
/// contiguous buffers unless a method says otherwise; inputs may have any strides (0 along broadcast
/// axes) unless a method asks for contiguous ones. Results must not depend on the thread count.
public protocol Backend: AnyObject, Sendable {
    /// The name `AXON_BACKEND` selects it by.
    var name: String { get }
    /// Where its buffers live.
    var device: Device { get }

    /// A new, uninitialised buffer on this backend's device.
    func makeBuffer(dtype: DType, count: Int) -> TensorBuffer

    // MARK: Memory
    /// Copies `source` into `destination` (same shape, any layouts), converting the dtype (float to int
    /// truncates toward zero, anything to bool is `!= 0`, bool to a number is 0 or 1).
    func copy(_ source: StridedBuffer, into destination: StridedBuffer)
    /// Sets every element of `destination` (any layout) to `value`.
    func fill(_ destination: StridedBuffer, with value: Double)
    /// Fills a contiguous `destination` with draws from `generator`, in row-major order.
    func fillRandom(_ destination: StridedBuffer, _ distribution: RandomDistribution, generator: Generator)

    // MARK: Elementwise
    /// `output = op(x)` (float dtypes). `output` may be `x` itself (an in-place update).
    func unary(_ op: UnaryOp, _ x: StridedBuffer, into output: StridedBuffer)
    /// `output = op(a, b)`: `a` and `b` have `output`'s shape (broadcast through strides) and one dtype;
    /// `output` has that dtype, or `bool` for comparisons.
    func binary(_ op: BinaryOp, _ a: StridedBuffer, _ b: StridedBuffer, into output: StridedBuffer)
    /// `output = condition ? a : b`, all broadcast to `output`'s shape; `condition` is `bool`.
    func select(_ condition: StridedBuffer, _ a: StridedBuffer, _ b: StridedBuffer, into output: StridedBuffer)
    /// `y ← beta·y + alpha·x` in place (same shapes and dtype, any layouts).
    func axpby(_ y: StridedBuffer, _ x: StridedBuffer, alpha: Double, beta: Double)
    /// `y ← beta·y + alpha·a·b` in place.
    func axpbyProduct(_ y: StridedBuffer, _ a: StridedBuffer, _ b: StridedBuffer, alpha: Double, beta: Double)

    // MARK: Reductions
    /// Reduces `x` into `output`, which has `x`'s rank with the reduced axes of size 1. Each output element
    /// accumulates its inputs in row-major order.
    func reduce(_ op: ReduceOp, _ x: StridedBuffer, into output: StridedBuffer)
    /// Index (int64) of the first maximum (`largest`) or minimum along `axis`; `output` has `x`'s rank with
    /// that axis of size 1. NaN counts as the extreme.
    func argReduce(_ x: StridedBuffer, axis: Int, largest: Bool, into output: StridedBuffer)
    /// Softmax (or, with `log`, log-softmax) over the last axis of a contiguous `x`.
    func softmax(_ x: StridedBuffer, log: Bool, into output: StridedBuffer)
    /// Its derivative for contiguous `g` and `y` (the forward output), per row: `y·(g − Σ g·y)` for softmax,
    /// `g − exp(y)·Σg` for log-softmax.
    func softmaxBackward(_ gradient: StridedBuffer, _ y: StridedBuffer, log: Bool, into output: StridedBuffer)

    // MARK: Linear algebra
    /// Matrix product `output = op(a)·op(b)` (`+=` when `accumulate`), where op transposes the last two
    /// axes when asked (GEMM's transpose flags). Operands are matrices, or batches [B, ., .] with any
    /// strides (a broadcast batch has stride 0); `output` is a contiguous [M, N] or [B, M, N].
    func matmul(_ a: StridedBuffer, _ b: StridedBuffer, transposeA: Bool, transposeB: Bool, into output: StridedBuffer,
                accumulate: Bool)
    /// `output = bias + op(a)·op(b)` for matrices, `bias` [N] added to every row of the [M, N] `output`
    /// (`torch.addmm`, a linear layer). The default copies the bias into every row, then accumulates the product.
    func matmul(_ a: StridedBuffer, _ b: StridedBuffer, transposeA: Bool, transposeB: Bool, bias: StridedBuffer,
                into output: StridedBuffer)
    /// `output = relu(bias + op(a)·op(b))`, as ``matmul(_:_:transposeA:transposeB:bias:into:)`` then `unary(.relu)` on
    /// `output` give (a linear layer and the ReLU after it, in one call).
    func matmulReLU(_ a: StridedBuffer, _ b: StridedBuffer, transposeA: Bool, transposeB: Bool, bias: StridedBuffer,
                    into output: StridedBuffer)

    // MARK: Convolution and pooling (contiguous NCHW)
    /// 2-D convolution of `x` by `weight` [O, C, KH, KW] plus `bias` [O]. With `keepColumns` it returns
    /// whatever the backward pass can reuse (opaque to the caller).
    func conv2d(_ x: StridedBuffer, _ weight: StridedBuffer, _ bias: StridedBuffer?, _ geometry: Conv2dGeometry,
                into output: StridedBuffer, keepColumns: Bool) -> TensorBuffer?
    /// Gradients of conv2d with respect to the input, the weight and the bias (each written only when given).
    func conv2dBackward(_ gradient: StridedBuffer, _ x: StridedBuffer, _ weight: StridedBuffer, _ geometry: Conv2dGeometry,
                        saved: TensorBuffer?, input: StridedBuffer?, weightGradient: StridedBuffer?,
                        biasGradient: StridedBuffer?)
    /// Max pooling; when `indices` is given, also the flat input position (int64) of each window's maximum.
    func maxPool2d(_ x: StridedBuffer, _ geometry: Conv2dGeometry, into output: StridedBuffer, indices: StridedBuffer?)
    /// The adjoint of max pooling: zeros `output` (the input's shape), then adds each `gradient` element at its
    /// window's maximum (`indices` from ``maxPool2d(_:_:into:indices:)``), as ``scatterAdd(_:indices:into:)`` does.
    func maxPool2dBackward(_ gradient: StridedBuffer, indices: StridedBuffer, _ geometry: Conv2dGeometry, into output: StridedBuffer)
    /// Max pooling followed by ReLU, as ``maxPool2d(_:_:into:indices:)`` then `unary(.relu)` on `output` give (a
    /// `Sequential`'s pooling and the ReLU after it, in one call).
    func maxPool2dReLU(_ x: StridedBuffer, _ geometry: Conv2dGeometry, into output: StridedBuffer, indices: StridedBuffer?)
    /// The adjoint of ``maxPool2dReLU(_:_:into:indices:)``: `gradient` where `pooled` (its result) is positive, as
    /// `binary(.reluBackward)` gives, then spread as ``maxPool2dBackward(_:indices:_:into:)`` does.
    func maxPool2dReLUBackward(_ gradient: StridedBuffer, pooled: StridedBuffer, indices: StridedBuffer,
                               _ geometry: Conv2dGeometry, into output: StridedBuffer)
    /// Average pooling (zero padding counts in the divisor).
    func avgPool2d(_ x: StridedBuffer, _ geometry: Conv2dGeometry, into output: StridedBuffer)
    /// The adjoint of average pooling: spreads `gradient` over each window into `output` (the input's shape).
    func avgPool2dBackward(_ gradient: StridedBuffer, _ geometry: Conv2dGeometry, into output: StridedBuffer)

    // MARK: Indexing
    /// `output[i] = x[indices[i]]` with flat row-major positions of a contiguous `x`; `indices` int64.
    func gather(_ x: StridedBuffer, indices: StridedBuffer, into output: StridedBuffer)
    /// Zeros `output` (contiguous), then adds `source[i]` at flat position `indices[i]`, in order (repeated
    /// indices always sum the same way).
    func scatterAdd(_ source: StridedBuffer, indices: StridedBuffer, into output: StridedBuffer)
}

extension Backend {
    /// The bias copied into every row of `output`, then the product accumulated onto it.
    public func matmul(_ a: StridedBuffer, _ b: StridedBuffer, transposeA: Bool, transposeB: Bool, bias: StridedBuffer,
                       into output: StridedBuffer) {
        matmulOntoCopiedBias(a, b, transposeA: transposeA, transposeB: transposeB, bias: bias, into: output)
    }

    /// The product with its bias, then ReLU over it in place.
    public func matmulReLU(_ a: StridedBuffer, _ b: StridedBuffer, transposeA: Bool, transposeB: Bool, bias: StridedBuffer,
                           into output: StridedBuffer) {
        matmul(a, b, transposeA: transposeA, transposeB: transposeB, bias: bias, into: output)
        unary(.relu, output, into: output)
    }

    /// `output = bias + op(a)·op(b)` as two steps: the bias copied into every row, then the product accumulated.
    func matmulOntoCopiedBias(_ a: StridedBuffer, _ b: StridedBuffer, transposeA: Bool, transposeB: Bool,
                              bias: StridedBuffer, into output: StridedBuffer) {
        copy(bias.broadcast(to: output.shape), into: output)
        matmul(a, b, transposeA: transposeA, transposeB: transposeB, into: output, accumulate: true)
    }

    /// The scatter-add itself (what the reference backend runs).
    public func maxPool2dBackward(_ gradient: StridedBuffer, indices: StridedBuffer, _ geometry: Conv2dGeometry,
                                  into output: StridedBuffer) {
        scatterAdd(gradient, indices: indices, into: output)
    }

    /// The pooling, then ReLU over its result in place.
    public func maxPool2dReLU(_ x: StridedBuffer, _ geometry: Conv2dGeometry, into output: StridedBuffer,
                              indices: StridedBuffer?) {
        maxPool2d(x, geometry, into: output, indices: indices)
        unary(.relu, output, into: output)
    }

    /// ReLU's derivative into a buffer of the gradient's shape, then the pooling's adjoint.
    public func maxPool2dReLUBackward(_ gradient: StridedBuffer, pooled: StridedBuffer, indices: StridedBuffer,
                                      _ geometry: Conv2dGeometry, into output: StridedBuffer) {
        let masked = StridedBuffer(contiguous: makeBuffer(dtype: gradient.dtype, count: gradient.count), shape: gradient.shape)
        binary(.reluBackward, gradient, pooled, into: masked)
        maxPool2dBackward(masked, indices: indices, geometry, into: output)
    }

    /// A buffer in host memory (every CPU backend's).
    public func makeBuffer(dtype: DType, count: Int) -> TensorBuffer { TensorBuffer.allocate(dtype: dtype, count: count, device: device) }
}

/// The backend every operation runs on, chosen by `AXON_BACKEND` (`cpu`, the default, or `reference`) or
/// set in code. It is process-wide: switch it between computations, not during one.
public enum Backends {
    private static let lock = NSLock()
    /// The selection, behind a pointer: every operation reads it, and a read through a pointer skips the
    /// run-time exclusivity check a global variable's read would cost.
    nonisolated(unsafe) private static let selected: UnsafeMutablePointer<any Backend> = {
        let p = UnsafeMutablePointer<any Backend>.allocate(capacity: 1)
        p.initialize(to: fromEnvironment())
        return p
    }()

    /// The backends Axon ships, by name.
    public static let builtIn: [any Backend] = [CPUBackend.shared, ReferenceBackend.shared]

    /// The backend in use. Every operation reads it, so the read takes no lock; writes are serialised, and
    /// the contract is that no computation runs on another thread while it changes.
    public static var current: any Backend {
        get { selected.pointee }
        set { lock.lock(); selected.pointee = newValue; lock.unlock() }
    }

    /// The built-in backend called `name`, if any.
    public static func named(_ name: String) -> (any Backend)? { builtIn.first { $0.name == name.lowercased() } }

    /// Runs `body` with `backend` current, then restores the previous one.
    public static func with<R>(_ backend: any Backend, _ body: () throws -> R) rethrows -> R {
        let saved = current
        current = backend
        defer { current = saved }
        return try body()
    }

    private static func fromEnvironment() -> any Backend {
        guard let name = ProcessInfo.processInfo.environment["AXON_BACKEND"], !name.isEmpty else { return CPUBackend.shared }
        if let b = named(name) { return b }
        // An environment variable is outside data: warn and carry on with the default, never stop.
        FileHandle.standardError.write(Data("Axon: unknown AXON_BACKEND '\(name)' (expected \(builtIn.map(\.name).joined(separator: " or "))); using cpu\n".utf8))
        return CPUBackend.shared
    }
}
