import RealModule

// Elementwise operations with NumPy/PyTorch broadcasting. Primitives (unary(), binary(), where())
// carry a derivative rule; everything else here is composed from them.

/// Which of a primitive's tensors its derivative rule reads (and so must not change in place before the
/// backward pass: the version counter checks them).
enum SavedTensors {
    case none, input, output, inputAndOutput
}

extension Tensor {
    /// Applies a primitive unary op; `derivative(g, x, y)` gives the input gradient.
    func unary(_ op: UnaryOp, _ name: String, saving: SavedTensors = .input,
               _ derivative: ((Tensor, Tensor, Tensor) -> Tensor)?) -> Tensor {
        guard dtype.isFloatingPoint else { axonFail(name, "needs a floating-point tensor, got \(dtype) with shape \(shape)") }
        let out = Tensor.empty(shape, dtype: dtype)
        Backends.current.unary(op, strided, into: out.strided)
        // Nothing to record: return before the derivative's closure is even made. An export's trace records
        // the ops without a derivative too (the step), so the graph it reads is whole.
        guard requiresGrad, GradMode.isEnabled else { return out }
        guard let derivative else {
            return ExportTrace.isActive ? Tensor.record(name, [self], out, saving: []) { _ in [nil] } : out
        }
        let savesInput = saving == .input || saving == .inputAndOutput
        return Tensor.record(name, [self], out, saving: savesInput ? nil : [], savingOutput: saving == .output || saving == .inputAndOutput) {
            [unowned out] g in [derivative(g, self, out)]
        }
    }

    /// The dtype two operands compute in: float64 over float32 over int64 over bool, as PyTorch's promotion.
    static func promotedType(_ a: DType, _ b: DType) -> DType {
        let order: [DType] = [.bool, .int64, .float32, .float64]
        return order[Swift.max(order.firstIndex(of: a)!, order.firstIndex(of: b)!)]
    }

    /// Brings two operands to one dtype (see ``promotedType(_:_:)``).
    static func promoted(_ a: Tensor, _ b: Tensor) -> (Tensor, Tensor) {
        if a.dtype == b.dtype { return (a, b) }
        let target = promotedType(a.dtype, b.dtype)
        return (a.converted(to: target), b.converted(to: target))
    }

    /// Applies a primitive binary op with broadcasting; `derivative(g, a, b, y)` gives both input
    /// gradients at the output shape (they are summed down to each input's shape here). Comparisons give
    /// `bool`; arithmetic on two `bool` operands gives int64.
    static func binary(_ op: BinaryOp, _ name: String, _ lhs: Tensor, _ rhs: Tensor, saving: SavedTensors = .input,
                       _ derivative: ((Tensor, Tensor, Tensor, Tensor) -> (Tensor?, Tensor?))?) -> Tensor {
        let (a, b) = promoted(lhs, rhs)
        let shape = broadcastShapes(a.shape, b.shape, op: name)
        let out = Tensor.empty(shape, dtype: op.isComparison ? .bool : (a.dtype == .bool ? .int64 : a.dtype))
        if shapeCount(shape) > 0 {
            Backends.current.binary(op, a.strided.broadcast(to: shape), b.strided.broadcast(to: shape), into: out.strided)
        }
        guard a.requiresGrad || b.requiresGrad, GradMode.isEnabled else { return out }
        guard let derivative, out.dtype.isFloatingPoint else {  // comparisons: recorded for an export's trace only
            return ExportTrace.isActive ? record(name, [a, b], out, saving: []) { _ in [nil, nil] } : out
        }
        let savesInputs = saving == .input || saving == .inputAndOutput
        return record(name, [a, b], out, saving: savesInputs ? nil : [], savingOutput: saving == .output || saving == .inputAndOutput) {
            [unowned out] g in
            let (ga, gb) = derivative(g, a, b, out)
            return [ga.map { $0.summed(toShape: a.shape) }, gb.map { $0.summed(toShape: b.shape) }]
        }
    }

    /// A scalar of this tensor's dtype (float32 for int64 and bool tensors).
    func scalarLike(_ value: Double) -> Tensor {
        Tensor.full([], value, dtype: dtype.isFloatingPoint ? dtype : .float32)
    }

    /// Sums a broadcast gradient back down to `target` (the inverse of broadcasting).
    func summed(toShape target: [Int]) -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        var axes = Array(0..<lead)
        for (i, d) in target.enumerated() where d == 1 && shape[lead + i] != 1 { axes.append(lead + i) }
        return sum(axes: axes, keepDims: true).reshaped(target)
    }
}

// MARK: - Arithmetic

/// Elementwise sum with broadcasting.
public func + (lhs: Tensor, rhs: Tensor) -> Tensor { add(lhs, rhs) }
/// Elementwise difference with broadcasting: `add(lhs, rhs, alpha: -1)`, as PyTorch's `sub` is.
public func - (lhs: Tensor, rhs: Tensor) -> Tensor { add(lhs, rhs, alpha: -1) }

/// `a + alpha·b` with broadcasting, as `torch.add(a, b, alpha=)`: the one additive primitive. Its
/// derivative is (g, alpha·g); alpha = 1 and -1 run as one pass (add and subtract), others as `a + b·alpha`.
public func add(_ a: Tensor, _ b: Tensor, alpha: Double = 1) -> Tensor {
    if alpha != 1 && alpha != -1 { return add(a, b * alpha) }
    return Tensor.binary(alpha == 1 ? .add : .sub, alpha == 1 ? "add" : "sub", a, b, saving: .none) { g, _, b, _ in
        (g, b.requiresGrad ? (alpha == 1 ? g : -g) : nil)
    }
}
/// Elementwise product with broadcasting.
public func * (lhs: Tensor, rhs: Tensor) -> Tensor {
    Tensor.binary(.mul, "mul", lhs, rhs) { g, a, b, _ in
        (a.requiresGrad ? g * b : nil, b.requiresGrad ? g * a : nil)
    }
}
/// Elementwise quotient with broadcasting.
public func / (lhs: Tensor, rhs: Tensor) -> Tensor {
    Tensor.binary(.div, "div", lhs, rhs) { g, a, b, _ in
        (a.requiresGrad ? g / b : nil, b.requiresGrad ? -g * a / (b * b) : nil)
    }
}
/// Negation: `x · (-1)`, a composite.
public prefix func - (x: Tensor) -> Tensor { x * x.scalarLike(-1) }

/// Adds a scalar.
public func + (lhs: Tensor, rhs: Double) -> Tensor { lhs + lhs.scalarLike(rhs) }
/// Adds to a scalar.
public func + (lhs: Double, rhs: Tensor) -> Tensor { rhs.scalarLike(lhs) + rhs }
/// Subtracts a scalar.
public func - (lhs: Tensor, rhs: Double) -> Tensor { lhs - lhs.scalarLike(rhs) }
/// Subtracts from a scalar.
public func - (lhs: Double, rhs: Tensor) -> Tensor { rhs.scalarLike(lhs) - rhs }
/// Multiplies by a scalar.
public func * (lhs: Tensor, rhs: Double) -> Tensor { lhs * lhs.scalarLike(rhs) }
/// Multiplies a scalar.
public func * (lhs: Double, rhs: Tensor) -> Tensor { rhs.scalarLike(lhs) * rhs }
/// Divides by a scalar.
public func / (lhs: Tensor, rhs: Double) -> Tensor { lhs / lhs.scalarLike(rhs) }
/// Divides a scalar.
public func / (lhs: Double, rhs: Tensor) -> Tensor { rhs.scalarLike(lhs) / rhs }

/// `x` raised to a scalar power.
public func pow(_ x: Tensor, _ exponent: Double) -> Tensor {
    Tensor.binary(.pow, "pow", x, x.scalarLike(exponent)) { g, a, _, _ in
        (g * exponent * pow(a, exponent - 1), nil)
    }
}
/// `x` raised to the elementwise power `exponent` (broadcast).
public func pow(_ x: Tensor, _ exponent: Tensor) -> Tensor {
    Tensor.binary(.pow, "pow", x, exponent, saving: .inputAndOutput) { g, a, b, y in
        (a.requiresGrad ? g * b * pow(a, b - 1) : nil, b.requiresGrad ? g * y * log(a) : nil)
    }
}

// MARK: - Unary functions

/// Elementwise e^x.
public func exp(_ x: Tensor) -> Tensor { x.unary(.exp, "exp", saving: .output) { g, _, y in g * y } }
/// Elementwise natural logarithm.
public func log(_ x: Tensor) -> Tensor { x.unary(.log, "log") { g, x, _ in g / x } }
/// Elementwise log(1 + x), accurate for small x.
public func log1p(_ x: Tensor) -> Tensor { x.unary(.log1p, "log1p") { g, x, _ in g / (x + 1) } }
/// Elementwise square root.
public func sqrt(_ x: Tensor) -> Tensor { x.unary(.sqrt, "sqrt", saving: .output) { g, _, y in g / (y * 2) } }
/// Elementwise absolute value, `maximum(x, -x)`: a composite whose derivative at 0 is 0, as PyTorch's
/// (the tie splits the gradient between x and -x).
public func abs(_ x: Tensor) -> Tensor { maximum(x, -x) }
/// Elementwise sine.
public func sin(_ x: Tensor) -> Tensor { x.unary(.sin, "sin") { g, x, _ in g * cos(x) } }
/// Elementwise cosine, `sin(x + π/2)`: a composite.
public func cos(_ x: Tensor) -> Tensor { sin(x + Double.pi / 2) }
/// Elementwise hyperbolic tangent. A primitive for speed: its derivative g(1 - y²) is one fused pass
/// instead of four (tanh was 13% of a Playground-size step), or the composite form when the backward pass
/// is itself recorded.
public func tanh(_ x: Tensor) -> Tensor {
    x.unary(.tanh, "tanh", saving: .output) { g, _, y in
        Tensor.fusedDerivative(.tanhBackward, "tanh_backward", g, y) { g * (1 - y * y) }
    }
}
/// Logistic sigmoid 1 / (1 + e^-x). A primitive so that neither tail overflows, with a fused one-pass
/// derivative g(1 - y)y (composite when the backward pass is recorded).
public func sigmoid(_ x: Tensor) -> Tensor {
    x.unary(.sigmoid, "sigmoid", saving: .output) { g, _, y in
        Tensor.fusedDerivative(.sigmoidBackward, "sigmoid_backward", g, y) { g * (1 - y) * y }
    }
}
/// Rectified linear unit max(x, 0), NaN kept. A primitive for speed (the branch-free C loop; every CNN and MLP
/// step runs it) with a fused one-pass derivative, 0 where y ≤ 0 and g elsewhere (0 at 0 and g at NaN, as PyTorch).
public func relu(_ x: Tensor) -> Tensor {
    x.unary(.relu, "relu", saving: .output) { g, _, y in
        Tensor.fusedDerivative(.reluBackward, "relu_backward", g, y) { `where`(y .<= 0, g.scalarLike(0), g) }
    }
}

extension Tensor {
    /// A fused derivative kernel `op(g, y)`, or, when the backward pass records (second derivatives),
    /// the same rule as a composite of differentiable ops.
    static func fusedDerivative(_ op: BinaryOp, _ name: String, _ g: Tensor, _ y: Tensor, composite: () -> Tensor) -> Tensor {
        if GradMode.isEnabled && (g.requiresGrad || y.requiresGrad) { return composite() }
        guard g.dtype == y.dtype && g.shape == y.shape else { return binary(op, name, g, y, nil) }
        let out = Tensor.empty(y.shape, dtype: y.dtype)  // the usual case: one backend call, no broadcasting
        Backends.current.binary(op, g.strided, y.strided, into: out.strided)
        return out
    }
}
/// The Gauss error function.
public func erf(_ x: Tensor) -> Tensor {
    x.unary(.erf, "erf") { g, x, _ in g * (2 / Double.pi.squareRoot()) * exp(-(x * x)) }
}
/// Elementwise sign: -1, 0 or 1 (no gradient).
public func sign(_ x: Tensor) -> Tensor { x.unary(.sign, "sign", saving: .none, nil) }
/// Heaviside step: 1 where x > 0, else 0 — the perceptron's activation (no gradient).
public func step(_ x: Tensor) -> Tensor { x.unary(.step, "step", saving: .none, nil) }

/// Leaky ReLU: x where x > 0, else `negativeSlope * x`.
public func leakyRelu(_ x: Tensor, negativeSlope: Double = 0.01) -> Tensor {
    `where`(x .> 0, x, x * negativeSlope)
}
/// Gaussian error linear unit, x·Φ(x) with the exact erf form (PyTorch's default); `approximate: true`
/// uses the tanh approximation.
public func gelu(_ x: Tensor, approximate: Bool = false) -> Tensor {
    if approximate {
        let c = (2 / Double.pi).squareRoot()
        return 0.5 * x * (1 + tanh(c * (x + 0.044715 * x * x * x)))
    }
    // One primitive forward and one fused pass back (composed, it was eight passes and their temporaries:
    // about 12% of a Transformer LM step).
    return x.unary(.gelu, "gelu") { g, x, _ in
        Tensor.fusedDerivative(.geluBackward, "gelu_backward", g, x) {
            g * (0.5 * (1 + erf(x / 2.0.squareRoot())) + x * exp(-0.5 * x * x) / (2 * Double.pi).squareRoot())
        }
    }
}
/// Softplus log(1 + e^x), computed as max(x, 0) + log1p(e^-|x|) so that it never overflows.
public func softplus(_ x: Tensor) -> Tensor { relu(x) + log1p(exp(-abs(x))) }

/// Elementwise maximum with broadcasting (ties share the gradient, as PyTorch).
public func maximum(_ a: Tensor, _ b: Tensor) -> Tensor {
    Tensor.binary(.maximum, "maximum", a, b) { g, a, b, _ in
        let wa = (a .> b) + 0.5 * (a .== b)
        return (g * wa, g * (1 - wa))
    }
}
/// Elementwise minimum with broadcasting, `-maximum(-a, -b)`: a composite (ties share the gradient and
/// NaN propagates, as PyTorch).
public func minimum(_ a: Tensor, _ b: Tensor) -> Tensor { -maximum(-a, -b) }
/// Clamps to `[min, max]` (either bound optional); the gradient passes where min <= x <= max, as PyTorch.
public func clamp(_ x: Tensor, min lower: Double? = nil, max upper: Double? = nil) -> Tensor {
    if ExportTrace.isActive {  // the same values from ops an export can follow (the gradient does not matter there)
        var y = x
        if let lower { y = maximum(y, x.scalarLike(lower)) }
        if let upper { y = minimum(y, x.scalarLike(upper)) }
        return y
    }
    var inside = Tensor.ones(like: x)
    var clamped = x.detached()
    if let lower {
        inside = inside * (x .>= lower)
        clamped = maximum(clamped, x.scalarLike(lower))
    }
    if let upper {
        inside = inside * (x .<= upper)
        clamped = minimum(clamped, x.scalarLike(upper))
    }
    return `where`(inside, x, clamped)
}

/// Selects `a` where `condition` is true (non-zero, for a numeric condition) and `b` elsewhere, all three
/// broadcast together.
public func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
    let (a, b) = Tensor.promoted(a, b)
    let shape = broadcastShapes(broadcastShapes(condition.shape, a.shape, op: "where"), b.shape, op: "where")
    let mask = condition.converted(to: .bool).detached()
    let out = Tensor.empty(shape, dtype: a.dtype)
    Backends.current.select(mask.strided.broadcast(to: shape), a.strided.broadcast(to: shape), b.strided.broadcast(to: shape),
                            into: out.strided)
    guard out.dtype.isFloatingPoint else { return out }
    return Tensor.record("where", [a, b], out, saving: [mask], traced: ["condition": .tensor(condition)]) { g in
        let zero = g.scalarLike(0)
        return [a.requiresGrad ? `where`(mask, g, zero).summed(toShape: a.shape) : nil,
                b.requiresGrad ? `where`(mask, zero, g).summed(toShape: b.shape) : nil]
    }
}

extension Tensor {
    /// Selects `a` where `condition` is true and `b` elsewhere (`Tensor.where(c, a, b)`, no backticks).
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor { AxonCore.`where`(condition, a, b) }
}

// MARK: - Comparisons (results are bool tensors, as PyTorch's)

infix operator .== : ComparisonPrecedence
infix operator .!= : ComparisonPrecedence
infix operator .< : ComparisonPrecedence
infix operator .<= : ComparisonPrecedence
infix operator .> : ComparisonPrecedence
infix operator .>= : ComparisonPrecedence

/// Elementwise equality (true where equal).
public func .== (a: Tensor, b: Tensor) -> Tensor { Tensor.binary(.eq, "eq", a, b, nil) }
/// Elementwise inequality.
public func .!= (a: Tensor, b: Tensor) -> Tensor { Tensor.binary(.ne, "ne", a, b, nil) }
/// Elementwise less-than.
public func .< (a: Tensor, b: Tensor) -> Tensor { Tensor.binary(.lt, "lt", a, b, nil) }
/// Elementwise less-or-equal.
public func .<= (a: Tensor, b: Tensor) -> Tensor { Tensor.binary(.le, "le", a, b, nil) }
/// Elementwise greater-than.
public func .> (a: Tensor, b: Tensor) -> Tensor { Tensor.binary(.gt, "gt", a, b, nil) }
/// Elementwise greater-or-equal.
public func .>= (a: Tensor, b: Tensor) -> Tensor { Tensor.binary(.ge, "ge", a, b, nil) }
/// Elementwise equality with a scalar.
public func .== (a: Tensor, b: Double) -> Tensor { a .== a.scalarLike(b) }
/// Elementwise inequality with a scalar.
public func .!= (a: Tensor, b: Double) -> Tensor { a .!= a.scalarLike(b) }
/// Elementwise less-than a scalar.
public func .< (a: Tensor, b: Double) -> Tensor { a .< a.scalarLike(b) }
/// Elementwise less-or-equal a scalar.
public func .<= (a: Tensor, b: Double) -> Tensor { a .<= a.scalarLike(b) }
/// Elementwise greater-than a scalar.
public func .> (a: Tensor, b: Double) -> Tensor { a .> a.scalarLike(b) }
/// Elementwise greater-or-equal a scalar.
public func .>= (a: Tensor, b: Double) -> Tensor { a .>= a.scalarLike(b) }

// MARK: - Method spellings

extension Tensor {
    /// e^self.
    public func exp() -> Tensor { Axon_exp(self) }
    /// Natural logarithm.
    public func log() -> Tensor { Axon_log(self) }
    /// Square root.
    public func sqrt() -> Tensor { Axon_sqrt(self) }
    /// Absolute value.
    public func abs() -> Tensor { Axon_abs(self) }
    /// self raised to `exponent`.
    public func pow(_ exponent: Double) -> Tensor { Axon_pow(self, exponent) }
    /// Clamps to `[min, max]`.
    public func clamped(min lower: Double? = nil, max upper: Double? = nil) -> Tensor {
        clamp(self, min: lower, max: upper)
    }
}

// Module-qualified helpers for the methods above (a method named `exp` hides the free function inside
// the extension).
@inline(__always) func Axon_exp(_ x: Tensor) -> Tensor { exp(x) }
@inline(__always) func Axon_log(_ x: Tensor) -> Tensor { log(x) }
@inline(__always) func Axon_sqrt(_ x: Tensor) -> Tensor { sqrt(x) }
@inline(__always) func Axon_abs(_ x: Tensor) -> Tensor { abs(x) }
@inline(__always) func Axon_pow(_ x: Tensor, _ p: Double) -> Tensor { pow(x, p) }
