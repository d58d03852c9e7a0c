import RealModule

// Elementwise operations with NumPy/PyTorch broadcasting. Primitives (unary(), binary(), where())
// carry a derivative rule; everything else here is composed from them.

extension Tensor {
    /// Applies a primitive unary op; `derivative(g, x, y)` gives the input gradient.
    func unary(_ op: UnaryOp, _ name: String, _ derivative: ((Tensor, Tensor, Tensor) -> Tensor)?) -> Tensor {
        let out: Tensor
        switch storage {
        case .float32(let a): out = Tensor(shape: shape, storage: .float32(unaryKernel(op, a)))
        case .float64(let a): out = Tensor(shape: shape, storage: .float64(unaryKernel(op, a)))
        case .int64: axonFail(name, "needs a floating-point tensor, got int64 with shape \(shape)")
        }
        guard let derivative else { return out }
        return Tensor.record(name, [self], out) { [unowned out] g in [derivative(g, self, out)] }
    }

    /// Brings two operands to one dtype: float64 wins over float32, floats over int64.
    static func promoted(_ a: Tensor, _ b: Tensor) -> (Tensor, Tensor) {
        if a.dtype == b.dtype { return (a, b) }
        let target: DType = (a.dtype == .float64 || b.dtype == .float64) ? .float64 : .float32
        return (a.converted(to: target), b.converted(to: target))
    }

    /// Applies a primitive binary op with broadcasting; `derivative(g, a, b, y)` gives both input
    /// gradients at the output shape (they are summed down to each input's shape here).
    static func binary(_ op: BinaryOp, _ name: String, _ lhs: Tensor, _ rhs: Tensor,
                       _ derivative: ((Tensor, Tensor, Tensor, Tensor) -> (Tensor?, Tensor?))?) -> Tensor {
        let (a, b) = promoted(lhs, rhs)
        let shape = broadcastShapes(a.shape, b.shape, op: name)
        let out: Tensor
        if shapeCount(shape) == 0 {
            out = Tensor.zeros(shape, dtype: a.dtype)
        } else {
            switch (a.storage, b.storage) {
            case (.float32(let x), .float32(let y)):
                out = Tensor(shape: shape, storage: .float32(binaryKernel(op, x, a.shape, y, b.shape, shape)))
            case (.float64(let x), .float64(let y)):
                out = Tensor(shape: shape, storage: .float64(binaryKernel(op, x, a.shape, y, b.shape, shape)))
            default:
                let x = a.converted(to: .float64), y = b.converted(to: .float64)
                let r = binaryKernel(op, x.f64, x.shape, y.f64, y.shape, shape)
                out = Tensor(shape: shape, storage: .int64(r.map { Int($0) }))
            }
        }
        guard let derivative, out.dtype.isFloatingPoint else { return out }
        return record(name, [a, b], out) { [unowned out] g in
            let (ga, gb) = derivative(g, a, b, out)
            return [ga.map { $0.summed(toShape: a.shape) }, gb.map { $0.summed(toShape: b.shape) }]
        }
    }

    /// A scalar of this tensor's dtype (float32 for int64 tensors).
    func scalarLike(_ value: Double) -> Tensor {
        Tensor(shape: [], doubles: [value], dtype: dtype == .int64 ? .float32 : dtype)
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
public func + (lhs: Tensor, rhs: Tensor) -> Tensor {
    Tensor.binary(.add, "add", lhs, rhs) { g, _, _, _ in (g, g) }
}
/// Elementwise difference with broadcasting.
public func - (lhs: Tensor, rhs: Tensor) -> Tensor {
    Tensor.binary(.sub, "sub", lhs, rhs) { g, _, b, _ in (g, b.requiresGrad ? -g : nil) }
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
/// Negation.
public prefix func - (x: Tensor) -> Tensor { x.unary(.neg, "neg") { g, _, _ in -g } }

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
    Tensor.binary(.pow, "pow", x, exponent) { g, a, b, y in
        (a.requiresGrad ? g * b * pow(a, b - 1) : nil, b.requiresGrad ? g * y * log(a) : nil)
    }
}

// MARK: - Unary functions

/// Elementwise e^x.
public func exp(_ x: Tensor) -> Tensor { x.unary(.exp, "exp") { g, _, y in g * y } }
/// Elementwise natural logarithm.
public func log(_ x: Tensor) -> Tensor { x.unary(.log, "log") { g, x, _ in g / x } }
/// Elementwise log(1 + x), accurate for small x.
public func log1p(_ x: Tensor) -> Tensor { x.unary(.log1p, "log1p") { g, x, _ in g / (x + 1) } }
/// Elementwise square root.
public func sqrt(_ x: Tensor) -> Tensor { x.unary(.sqrt, "sqrt") { g, _, y in g / (y * 2) } }
/// Elementwise absolute value (its derivative at 0 is taken as 0, as PyTorch).
public func abs(_ x: Tensor) -> Tensor { x.unary(.abs, "abs") { g, x, _ in g * sign(x) } }
/// Elementwise sine.
public func sin(_ x: Tensor) -> Tensor { x.unary(.sin, "sin") { g, x, _ in g * cos(x) } }
/// Elementwise cosine.
public func cos(_ x: Tensor) -> Tensor { x.unary(.cos, "cos") { g, x, _ in -g * sin(x) } }
/// Elementwise hyperbolic tangent (a primitive for speed: one pass instead of four).
public func tanh(_ x: Tensor) -> Tensor { x.unary(.tanh, "tanh") { g, _, y in Tensor.binary(.tanhBackward, "tanh_backward", g, y, nil) } }
/// Logistic sigmoid 1 / (1 + e^-x) (a primitive for speed and so that neither tail overflows).
public func sigmoid(_ x: Tensor) -> Tensor {
    x.unary(.sigmoid, "sigmoid") { g, _, y in Tensor.binary(.sigmoidBackward, "sigmoid_backward", g, y, nil) }
}
/// Rectified linear unit max(x, 0) (a primitive for speed; derivative 0 at 0 as PyTorch).
public func relu(_ x: Tensor) -> Tensor {
    x.unary(.relu, "relu") { g, _, y in Tensor.binary(.reluBackward, "relu_backward", g, y, nil) }
}
/// The Gauss error function.
public func erf(_ x: Tensor) -> Tensor {
    x.unary(.erf, "erf") { g, x, _ in g * (2 / Double.pi.squareRoot()) * exp(-(x * x)) }
}
/// Elementwise sign: -1, 0 or 1 (no gradient).
public func sign(_ x: Tensor) -> Tensor { x.unary(.sign, "sign", nil) }
/// Heaviside step: 1 where x > 0, else 0 — the perceptron's activation (no gradient).
public func step(_ x: Tensor) -> Tensor { x.unary(.step, "step", nil) }

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
    return 0.5 * x * (1 + erf(x / 2.0.squareRoot()))
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
/// Elementwise minimum with broadcasting (ties share the gradient, as PyTorch).
public func minimum(_ a: Tensor, _ b: Tensor) -> Tensor {
    Tensor.binary(.minimum, "minimum", a, b) { g, a, b, _ in
        let wa = (a .< b) + 0.5 * (a .== b)
        return (g * wa, g * (1 - wa))
    }
}
/// Clamps to `[min, max]` (either bound optional); the gradient passes where min <= x <= max, as PyTorch.
public func clamp(_ x: Tensor, min lower: Double? = nil, max upper: Double? = nil) -> Tensor {
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

/// Selects `a` where `condition` is non-zero and `b` elsewhere, all three broadcast together.
public func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
    let (a, b) = Tensor.promoted(a, b)
    let shape = broadcastShapes(broadcastShapes(condition.shape, a.shape, op: "where"), b.shape, op: "where")
    let mask = condition.converted(to: a.dtype == .int64 ? .float64 : a.dtype).broadcasted(to: shape).detached()
    let ae = a.broadcasted(to: shape), be = b.broadcasted(to: shape)
    let out: Tensor
    switch (mask.storage, ae.storage, be.storage) {
    case (.float32(let m), .float32(let x), .float32(let y)):
        out = Tensor(shape: shape, storage: .float32(zip3(m, x, y)))
    case (.float64(let m), .float64(let x), .float64(let y)):
        out = Tensor(shape: shape, storage: .float64(zip3(m, x, y)))
    default:
        let r = zip3(mask.doubleScalars, ae.doubleScalars, be.doubleScalars)
        out = Tensor(shape: shape, doubles: r, dtype: a.dtype)
    }
    guard out.dtype.isFloatingPoint else { return out }
    return Tensor.record("where", [ae, be], out) { g in
        [ae.requiresGrad ? g * mask : nil, be.requiresGrad ? g * (1 - mask) : nil]
    }
}

extension Tensor {
    /// Selects `a` where `condition` is non-zero and `b` elsewhere (`Tensor.where(c, a, b)`, no backticks).
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor { AxonCore.`where`(condition, a, b) }
}

private func zip3<T: BinaryFloatingPoint>(_ m: [T], _ x: [T], _ y: [T]) -> [T] {
    makeArray(m.count) { o, range in
        for i in range { o[i] = m[i] != 0 ? x[i] : y[i] }
    }
}

// MARK: - Comparisons (results are 0/1 tensors of the operands' dtype; Axon has no bool dtype)

infix operator .== : ComparisonPrecedence
infix operator .!= : ComparisonPrecedence
infix operator .< : ComparisonPrecedence
infix operator .<= : ComparisonPrecedence
infix operator .> : ComparisonPrecedence
infix operator .>= : ComparisonPrecedence

/// Elementwise equality (1 where equal, else 0).
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
