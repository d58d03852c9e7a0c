import AxonCore
import Foundation

/// Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay, as
/// `torch.optim.SGD`:
///
///     g ← g + λ p
///     b ← g (first step), else μ b + (1 − τ) g
///     g ← g + μ b (Nesterov), else b
///     p ← p − lr g
public final class SGD: TypedOptimizer<SGD.Options> {
    /// SGD's hyperparameters.
    public struct Options: OptimizerOptions {
        public var lr: Double
        public var momentum: Double
        public var dampening: Double
        public var weightDecay: Double
        public var nesterov: Bool

        /// SGD's options, with PyTorch's defaults.
        public init(lr: Double, momentum: Double = 0, dampening: Double = 0, weightDecay: Double = 0, nesterov: Bool = false) {
            self.lr = lr
            self.momentum = momentum
            self.dampening = dampening
            self.weightDecay = weightDecay
            self.nesterov = nesterov
        }

        public static var fields: [OptimizerOption<Self>] {
            [.number("lr", \.lr), .number("momentum", \.momentum), .number("dampening", \.dampening),
             .number("weight_decay", \.weightDecay), .flag("nesterov", \.nesterov)]
        }

        public func validate() throws(OptimizerOptionError) {
            try OptimizerOptionError.requireCommon(lr: lr, weightDecay: weightDecay)
            try OptimizerOptionError.require(momentum >= 0, "momentum", momentum, ">= 0")
            if nesterov && (momentum <= 0 || dampening != 0) {
                throw OptimizerOptionError(parameter: "nesterov", value: "true",
                                           requirement: "false unless momentum > 0 and dampening 0; momentum \(momentum), dampening \(dampening)")
            }
        }

        public var cycledMomentum: Double? {
            get { momentum }
            set { if let newValue { momentum = newValue } }
        }
    }

    /// SGD over `parameters`.
    public convenience init(_ parameters: [Tensor], lr: Double, momentum: Double = 0, dampening: Double = 0,
                            weightDecay: Double = 0, nesterov: Bool = false) {
        self.init(parameters, options: Options(lr: lr, momentum: momentum, dampening: dampening, weightDecay: weightDecay, nesterov: nesterov))
    }

    /// SGD over `parameters` with `options`.
    public convenience init(_ parameters: [Tensor], options: Options) {
        self.init(groups: Self.single(parameters, options))
    }

    /// This optimizer's per-parameter rule (see the type's documentation).
    public override func update(_ p: Tensor, gradient: Tensor, state: inout ParameterState, options o: Options) -> Tensor {
        var g = gradient
        if o.weightDecay != 0 { g = g + p * o.weightDecay }
        let mu = o.momentum
        if mu != 0 {
            let buffer: Tensor
            if let b = state.tensors["momentum_buffer"] {
                if !o.nesterov {
                    // Within step(), gathered and run with the other parameters' steps; alone otherwise.
                    let batch = fusedSGDSteps ?? SGDMomentumBatch()
                    if batch.add(param: p, buffer: b, gradient: g, momentum: mu, dampening: o.dampening, lr: o.lr) {
                        if fusedSGDSteps == nil { batch.run() }
                        return p
                    }
                }
                b.addInPlace(g, alpha: 1 - o.dampening, scalingSelfBy: mu)
                buffer = b
            } else {
                buffer = g.clone()  // its own buffer: later steps update it in place
                state.tensors["momentum_buffer"] = buffer
            }
            g = o.nesterov ? g + buffer * mu : buffer
        }
        p.addInPlace(g, alpha: -o.lr)
        return p
    }
}

/// Adagrad, as `torch.optim.Adagrad`: s ← s + g²; p ← p − lr_t g / (√s + ε) with
/// lr_t = lr / (1 + (t − 1) lrDecay).
public final class Adagrad: TypedOptimizer<Adagrad.Options> {
    /// Adagrad's hyperparameters.
    public struct Options: OptimizerOptions {
        public var lr: Double
        public var lrDecay: Double
        public var weightDecay: Double
        public var initialAccumulatorValue: Double
        public var eps: Double

        /// Adagrad's options, with PyTorch's defaults.
        public init(lr: Double = 0.01, lrDecay: Double = 0, weightDecay: Double = 0, initialAccumulatorValue: Double = 0, eps: Double = 1e-10) {
            self.lr = lr
            self.lrDecay = lrDecay
            self.weightDecay = weightDecay
            self.initialAccumulatorValue = initialAccumulatorValue
            self.eps = eps
        }

        public static var fields: [OptimizerOption<Self>] {
            [.number("lr", \.lr), .number("lr_decay", \.lrDecay), .number("weight_decay", \.weightDecay),
             .number("initial_accumulator_value", \.initialAccumulatorValue), .number("eps", \.eps)]
        }

        public func validate() throws(OptimizerOptionError) {
            try OptimizerOptionError.requireCommon(lr: lr, weightDecay: weightDecay, eps: eps)
            try OptimizerOptionError.require(lrDecay >= 0, "lrDecay", lrDecay, ">= 0")
            try OptimizerOptionError.require(initialAccumulatorValue >= 0, "initialAccumulatorValue", initialAccumulatorValue, ">= 0")
        }
    }

    /// Adagrad over `parameters`.
    public convenience init(_ parameters: [Tensor], lr: Double = 0.01, lrDecay: Double = 0, weightDecay: Double = 0,
                            initialAccumulatorValue: Double = 0, eps: Double = 1e-10) {
        self.init(parameters, options: Options(lr: lr, lrDecay: lrDecay, weightDecay: weightDecay,
                                               initialAccumulatorValue: initialAccumulatorValue, eps: eps))
    }

    /// Adagrad over `parameters` with `options`.
    public convenience init(_ parameters: [Tensor], options: Options) {
        self.init(groups: Self.single(parameters, options))
    }

    /// This optimizer's per-parameter rule (see the type's documentation).
    public override func update(_ p: Tensor, gradient: Tensor, state: inout ParameterState, options o: Options) -> Tensor {
        var g = gradient
        if o.weightDecay != 0 { g = g + p * o.weightDecay }
        let clr = o.lr / (1 + Double(state.step - 1) * o.lrDecay)
        let sum = (state.tensors["sum"] ?? Tensor.full(p.shape, o.initialAccumulatorValue, dtype: p.dtype)) + g * g
        state.tensors["sum"] = sum
        return p - g / (sqrt(sum) + o.eps) * clr
    }
}

/// RMSprop, as `torch.optim.RMSprop`: v ← α v + (1 − α) g²; with `centered`, the running mean of g is
/// subtracted (v − ḡ²); the step g / (√v + ε) is applied directly or through a momentum buffer.
public final class RMSprop: TypedOptimizer<RMSprop.Options> {
    /// RMSprop's hyperparameters.
    public struct Options: OptimizerOptions {
        public var lr: Double
        public var alpha: Double
        public var eps: Double
        public var weightDecay: Double
        public var momentum: Double
        public var centered: Bool

        /// RMSprop's options, with PyTorch's defaults.
        public init(lr: Double = 0.01, alpha: Double = 0.99, eps: Double = 1e-8, weightDecay: Double = 0, momentum: Double = 0,
                    centered: Bool = false) {
            self.lr = lr
            self.alpha = alpha
            self.eps = eps
            self.weightDecay = weightDecay
            self.momentum = momentum
            self.centered = centered
        }

        public static var fields: [OptimizerOption<Self>] {
            [.number("lr", \.lr), .number("alpha", \.alpha), .number("eps", \.eps), .number("weight_decay", \.weightDecay),
             .number("momentum", \.momentum), .flag("centered", \.centered)]
        }

        public func validate() throws(OptimizerOptionError) {
            try OptimizerOptionError.requireCommon(lr: lr, weightDecay: weightDecay, eps: eps)
            try OptimizerOptionError.require(alpha >= 0 && alpha <= 1, "alpha", alpha, "in [0, 1]")
            try OptimizerOptionError.require(momentum >= 0, "momentum", momentum, ">= 0")
        }

        public var cycledMomentum: Double? {
            get { momentum }
            set { if let newValue { momentum = newValue } }
        }
    }

    /// RMSprop over `parameters`.
    public convenience init(_ parameters: [Tensor], lr: Double = 0.01, alpha: Double = 0.99, eps: Double = 1e-8,
                            weightDecay: Double = 0, momentum: Double = 0, centered: Bool = false) {
        self.init(parameters, options: Options(lr: lr, alpha: alpha, eps: eps, weightDecay: weightDecay, momentum: momentum, centered: centered))
    }

    /// RMSprop over `parameters` with `options`.
    public convenience init(_ parameters: [Tensor], options: Options) {
        self.init(groups: Self.single(parameters, options))
    }

    /// This optimizer's per-parameter rule (see the type's documentation).
    public override func update(_ p: Tensor, gradient: Tensor, state: inout ParameterState, options o: Options) -> Tensor {
        var g = gradient
        if o.weightDecay != 0 { g = g + p * o.weightDecay }
        let alpha = o.alpha
        let square = (state.tensors["square_avg"] ?? Tensor.zeros(like: p)) * alpha + g * g * (1 - alpha)
        state.tensors["square_avg"] = square
        var avg: Tensor
        if o.centered {
            let mean = (state.tensors["grad_avg"] ?? Tensor.zeros(like: p)) * alpha + g * (1 - alpha)
            state.tensors["grad_avg"] = mean
            avg = sqrt(square - mean * mean) + o.eps
        } else {
            avg = sqrt(square) + o.eps
        }
        if o.momentum > 0 {
            let buffer = (state.tensors["momentum_buffer"] ?? Tensor.zeros(like: p)) * o.momentum + g / avg
            state.tensors["momentum_buffer"] = buffer
            return p - buffer * o.lr
        }
        avg = g / avg
        return p - avg * o.lr
    }
}

/// The hyperparameters of Adam and AdamW, and, without `amsgrad`, of LAMB and Adamax.
public struct AdamOptions: OptimizerOptions {
    public var lr: Double
    public var betas: (Double, Double)
    public var eps: Double
    public var weightDecay: Double
    public var amsgrad: Bool

    /// Adam's options, with PyTorch's defaults (AdamW's weight decay is 0.01).
    public init(lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8, weightDecay: Double = 0, amsgrad: Bool = false) {
        self.lr = lr
        self.betas = betas
        self.eps = eps
        self.weightDecay = weightDecay
        self.amsgrad = amsgrad
    }

    public static var fields: [OptimizerOption<Self>] { betaFields() + [.flag("amsgrad", \.amsgrad)] }
    public func validate() throws(OptimizerOptionError) { try validateBetaOptions(self) }
    public var cycledMomentum: Double? {
        get { betas.0 }
        set { if let newValue { betas.0 = newValue } }
    }
}

/// The Adam moments with bias correction; returns the step direction m̂ / (√v̂ + ε).
private func adamDirection(_ g: Tensor, state: inout ParameterState, betas: (Double, Double), eps: Double, amsgrad: Bool) -> Tensor {
    let (m, second, c1, c2) = adamMoments(g, state: &state, betas: betas, amsgrad: amsgrad)
    return adamDirection(m: m, second: second, c1: c1, c2: c2, eps: eps)
}

/// m̂ / (√v̂ + ε) in PyTorch's order of operations: (m / c1) / (√v / √c2 + ε). The fused float32 step
/// (`adamUpdate`) does the same operations in the same order.
private func adamDirection(m: Tensor, second: Tensor, c1: Double, c2: Double, eps: Double) -> Tensor {
    m / c1 / (sqrt(second) / c2.squareRoot() + eps)
}

/// The Adam moments updated in place: m, the second moment used (v, or its running maximum with `amsgrad`), and
/// the bias corrections 1 − β₁ᵗ and 1 − β₂ᵗ.
private func adamMoments(_ g: Tensor, state: inout ParameterState, betas: (Double, Double), amsgrad: Bool)
    -> (m: Tensor, second: Tensor, c1: Double, c2: Double) {
    let (b1, b2) = betas, t = Double(state.step)
    let (m, v) = updateMoments(g, state: &state, b1: b1, b2: b2)
    var second = v
    if amsgrad {
        second = maximum(state.tensors["max_exp_avg_sq"] ?? v, v)
        state.tensors["max_exp_avg_sq"] = second
    }
    return (m, second, 1 - Foundation.pow(b1, t), 1 - Foundation.pow(b2, t))
}

/// `base − lr·m̂ / (√v̂ + ε)`, Adam's and AdamW's new parameter: one fused pass written over `base` (which the
/// caller owns: the parameter itself, or AdamW's decayed copy) for float32, the composed ops otherwise.
private func adamStep(_ base: Tensor, gradient g: Tensor, state: inout ParameterState, betas: (Double, Double), eps: Double,
                      amsgrad: Bool, lr: Double) -> Tensor {
    let (m, second, c1, c2) = adamMoments(g, state: &state, betas: betas, amsgrad: amsgrad)
    if adamUpdate(base: base, m: m, v: second, into: base, c1: c1, sqrtC2: c2.squareRoot(), eps: eps, lr: lr) { return base }
    return base - adamDirection(m: m, second: second, c1: c1, c2: c2, eps: eps) * lr
}

/// Adam, as `torch.optim.Adam` (L2 weight decay added to the gradient; `amsgrad` keeps the maximum of
/// the second moments).
public final class Adam: TypedOptimizer<AdamOptions> {
    /// Adam's hyperparameters.
    public typealias Options = AdamOptions

    /// Adam over `parameters`.
    public convenience init(_ parameters: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 0, amsgrad: Bool = false) {
        self.init(parameters, options: Options(lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad))
    }

    /// Adam over `parameters` with `options`.
    public convenience init(_ parameters: [Tensor], options: Options) {
        self.init(groups: Self.single(parameters, options))
    }

    /// This optimizer's per-parameter rule (see the type's documentation).
    public override func update(_ p: Tensor, gradient: Tensor, state: inout ParameterState, options o: AdamOptions) -> Tensor {
        var g = gradient
        if o.weightDecay != 0 { g = g + p * o.weightDecay }
        return adamStep(p, gradient: g, state: &state, betas: o.betas, eps: o.eps, amsgrad: o.amsgrad, lr: o.lr)
    }
}

/// AdamW, as `torch.optim.AdamW`: Adam with decoupled weight decay, p ← p (1 − lr λ) before the Adam step.
public final class AdamW: TypedOptimizer<AdamOptions> {
    /// AdamW's hyperparameters (Adam's; AdamW's default weight decay is 0.01).
    public typealias Options = AdamOptions

    /// AdamW over `parameters`.
    public convenience init(_ parameters: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 0.01, amsgrad: Bool = false) {
        self.init(parameters, options: Options(lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad))
    }

    /// AdamW over `parameters` with `options`.
    public convenience init(_ parameters: [Tensor], options: Options) {
        self.init(groups: Self.single(parameters, options))
    }

    /// This optimizer's per-parameter rule (see the type's documentation).
    public override func update(_ p: Tensor, gradient: Tensor, state: inout ParameterState, options o: AdamOptions) -> Tensor {
        let decayed = p * (1 - o.lr * o.weightDecay)
        return adamStep(decayed, gradient: gradient, state: &state, betas: o.betas, eps: o.eps, amsgrad: o.amsgrad, lr: o.lr)
    }
}

/// LAMB (You et al. 2019, "Large Batch Optimization for Deep Learning"): the Adam direction plus
/// decoupled weight decay, r = m̂ / (√v̂ + ε) + λ p, scaled per parameter tensor by the trust ratio
/// ‖p‖ / ‖r‖ (1 when either norm is 0): p ← p − lr (‖p‖ / ‖r‖) r.
///
/// Each step is lr·‖p‖ long, so a parameter tensor scales rather than moves: a scalar (a bias of
/// one unit) can shrink toward 0 but never change sign. Put such parameters in a group with another
/// optimizer, or leave biases out of LAMB, as the paper's experiments do for layer norms and biases.
public final class LAMB: TypedOptimizer<LAMB.Options> {
    /// LAMB's hyperparameters.
    public struct Options: OptimizerOptions {
        public var lr: Double
        public var betas: (Double, Double)
        public var eps: Double
        public var weightDecay: Double

        /// LAMB's options, with the paper's defaults.
        public init(lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-6, weightDecay: Double = 0) {
            self.lr = lr
            self.betas = betas
            self.eps = eps
            self.weightDecay = weightDecay
        }

        public static var fields: [OptimizerOption<Self>] { betaFields() }
        public func validate() throws(OptimizerOptionError) { try validateBetaOptions(self) }
        public var cycledMomentum: Double? {
            get { betas.0 }
            set { if let newValue { betas.0 = newValue } }
        }
    }

    /// LAMB over `parameters`.
    public convenience init(_ parameters: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-6, weightDecay: Double = 0) {
        self.init(parameters, options: Options(lr: lr, betas: betas, eps: eps, weightDecay: weightDecay))
    }

    /// LAMB over `parameters` with `options`.
    public convenience init(_ parameters: [Tensor], options: Options) {
        self.init(groups: Self.single(parameters, options))
    }

    /// This optimizer's per-parameter rule (see the type's documentation).
    public override func update(_ p: Tensor, gradient: Tensor, state: inout ParameterState, options o: Options) -> Tensor {
        var r = adamDirection(gradient, state: &state, betas: o.betas, eps: o.eps, amsgrad: false)
        if o.weightDecay != 0 { r = r + p * o.weightDecay }
        let weightNorm = sqrt((p * p).sum()).item, updateNorm = sqrt((r * r).sum()).item
        let trust = weightNorm > 0 && updateNorm > 0 ? weightNorm / updateNorm : 1
        return p - r * (o.lr * trust)
    }
}

/// Adadelta, as `torch.optim.Adadelta`: running averages of squared gradients and squared updates,
///
///     v ← ρ v + (1 − ρ) g²
///     δ ← √(u + ε) / √(v + ε) · g
///     u ← ρ u + (1 − ρ) δ²
///     p ← p − lr δ
public final class Adadelta: TypedOptimizer<Adadelta.Options> {
    /// Adadelta's hyperparameters.
    public struct Options: OptimizerOptions {
        public var lr: Double
        public var rho: Double
        public var eps: Double
        public var weightDecay: Double

        /// Adadelta's options, with PyTorch's defaults.
        public init(lr: Double = 1, rho: Double = 0.9, eps: Double = 1e-6, weightDecay: Double = 0) {
            self.lr = lr
            self.rho = rho
            self.eps = eps
            self.weightDecay = weightDecay
        }

        public static var fields: [OptimizerOption<Self>] {
            [.number("lr", \.lr), .number("rho", \.rho), .number("eps", \.eps), .number("weight_decay", \.weightDecay)]
        }

        public func validate() throws(OptimizerOptionError) {
            try OptimizerOptionError.requireCommon(lr: lr, weightDecay: weightDecay, eps: eps)
            try OptimizerOptionError.require(rho >= 0 && rho <= 1, "rho", rho, "in [0, 1]")
        }
    }

    /// Adadelta over `parameters`.
    public convenience init(_ parameters: [Tensor], lr: Double = 1, rho: Double = 0.9, eps: Double = 1e-6, weightDecay: Double = 0) {
        self.init(parameters, options: Options(lr: lr, rho: rho, eps: eps, weightDecay: weightDecay))
    }

    /// Adadelta over `parameters` with `options`.
    public convenience init(_ parameters: [Tensor], options: Options) {
        self.init(groups: Self.single(parameters, options))
    }

    /// This optimizer's per-parameter rule (see the type's documentation).
    public override func update(_ p: Tensor, gradient: Tensor, state: inout ParameterState, options o: Options) -> Tensor {
        var g = gradient
        if o.weightDecay != 0 { g = g + p * o.weightDecay }
        let rho = o.rho, eps = o.eps
        let square = state.tensors["square_avg"] ?? Tensor.zeros(like: p)
        let accumulated = state.tensors["acc_delta"] ?? Tensor.zeros(like: p)
        square.addProductInPlace(g, g, alpha: 1 - rho, scalingSelfBy: rho)
        let delta = sqrt(accumulated + eps) / sqrt(square + eps) * g
        accumulated.addProductInPlace(delta, delta, alpha: 1 - rho, scalingSelfBy: rho)
        state.tensors["square_avg"] = square
        state.tensors["acc_delta"] = accumulated
        p.addInPlace(delta, alpha: -o.lr)
        return p
    }
}

/// Adamax, as `torch.optim.Adamax`: Adam with the infinity norm in place of the second moment,
///
///     m ← β₁ m + (1 − β₁) g
///     u ← max(β₂ u, |g| + ε)
///     p ← p − lr / (1 − β₁ᵗ) · m / u
public final class Adamax: TypedOptimizer<LAMB.Options> {
    /// Adamax's hyperparameters (LAMB's set: lr, betas, eps, weightDecay).
    public typealias Options = LAMB.Options

    /// Adamax over `parameters`.
    public convenience init(_ parameters: [Tensor], lr: Double = 2e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 0) {
        self.init(parameters, options: Options(lr: lr, betas: betas, eps: eps, weightDecay: weightDecay))
    }

    /// Adamax over `parameters` with `options`.
    public convenience init(_ parameters: [Tensor], options: Options) {
        self.init(groups: Self.single(parameters, options))
    }

    /// This optimizer's per-parameter rule (see the type's documentation).
    public override func update(_ p: Tensor, gradient: Tensor, state: inout ParameterState, options o: Options) -> Tensor {
        var g = gradient
        if o.weightDecay != 0 { g = g + p * o.weightDecay }
        let (b1, b2) = o.betas
        let m = state.tensors["exp_avg"] ?? Tensor.zeros(like: p)
        m.addInPlace(g, alpha: 1 - b1, scalingSelfBy: b1)
        let u = maximum((state.tensors["exp_inf"] ?? Tensor.zeros(like: p)) * b2, abs(g) + o.eps)
        state.tensors["exp_avg"] = m
        state.tensors["exp_inf"] = u
        p.addInPlace(m / u, alpha: -o.lr / (1 - Foundation.pow(b1, Double(state.step))))
        return p
    }
}

/// The Adam moments without bias correction, updated in place: m ← β₁ m + (1 − β₁) g, v ← β₂ v + (1 − β₂) g².
private func updateMoments(_ g: Tensor, state: inout ParameterState, b1: Double, b2: Double) -> (m: Tensor, v: Tensor) {
    let m = state.tensors["exp_avg"] ?? Tensor.zeros(like: g)
    let v = state.tensors["exp_avg_sq"] ?? Tensor.zeros(like: g)
    m.addInPlace(g, alpha: 1 - b1, scalingSelfBy: b1)
    v.addProductInPlace(g, g, alpha: 1 - b2, scalingSelfBy: b2)
    state.tensors["exp_avg"] = m
    state.tensors["exp_avg_sq"] = v
    return (m, v)
}

/// NAdam, as `torch.optim.NAdam`: Adam with Nesterov momentum and the momentum schedule
/// μₜ = β₁ (1 − ½ · 0.96^(t · momentumDecay)):
///
///     p ← p − lr (1 − μₜ) / (1 − Πμ) · g / d − lr μₜ₊₁ / (1 − Πμ · μₜ₊₁) · m / d,   d = √(v / (1 − β₂ᵗ)) + ε
///
/// With `decoupledWeightDecay` (NAdamW) the decay scales the parameter instead of joining the gradient.
public final class NAdam: TypedOptimizer<NAdam.Options> {
    /// NAdam's hyperparameters.
    public struct Options: OptimizerOptions {
        public var lr: Double
        public var betas: (Double, Double)
        public var eps: Double
        public var weightDecay: Double
        public var momentumDecay: Double
        public var decoupledWeightDecay: Bool

        /// NAdam's options, with PyTorch's defaults.
        public init(lr: Double = 2e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8, weightDecay: Double = 0,
                    momentumDecay: Double = 4e-3, decoupledWeightDecay: Bool = false) {
            self.lr = lr
            self.betas = betas
            self.eps = eps
            self.weightDecay = weightDecay
            self.momentumDecay = momentumDecay
            self.decoupledWeightDecay = decoupledWeightDecay
        }

        public static var fields: [OptimizerOption<Self>] {
            betaFields() + [.number("momentum_decay", \.momentumDecay), .flag("decoupled_weight_decay", \.decoupledWeightDecay)]
        }

        public func validate() throws(OptimizerOptionError) {
            try validateBetaOptions(self)
            try OptimizerOptionError.require(momentumDecay >= 0, "momentumDecay", momentumDecay, ">= 0")
        }

        public var cycledMomentum: Double? {
            get { betas.0 }
            set { if let newValue { betas.0 = newValue } }
        }
    }

    /// NAdam over `parameters`.
    public convenience init(_ parameters: [Tensor], lr: Double = 2e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 0, momentumDecay: Double = 4e-3,
                            decoupledWeightDecay: Bool = false) {
        self.init(parameters, options: Options(lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, momentumDecay: momentumDecay,
                                               decoupledWeightDecay: decoupledWeightDecay))
    }

    /// NAdam over `parameters` with `options`.
    public convenience init(_ parameters: [Tensor], options: Options) {
        self.init(groups: Self.single(parameters, options))
    }

    /// This optimizer's per-parameter rule (see the type's documentation).
    public override func update(_ p: Tensor, gradient: Tensor, state: inout ParameterState, options o: Options) -> Tensor {
        let lr = o.lr, (b1, b2) = o.betas, t = Double(state.step)
        var g = gradient
        if o.weightDecay != 0 {
            if o.decoupledWeightDecay { p.assign(p * (1 - lr * o.weightDecay)) } else { g = g + p * o.weightDecay }
        }
        let mu = b1 * (1 - 0.5 * Foundation.pow(0.96, t * o.momentumDecay))
        let muNext = b1 * (1 - 0.5 * Foundation.pow(0.96, (t + 1) * o.momentumDecay))
        let product = (state.tensors["mu_product"]?.item ?? 1) * mu
        state.tensors["mu_product"] = Tensor(product, dtype: .float64)
        let (m, v) = updateMoments(g, state: &state, b1: b1, b2: b2)
        let denominator = sqrt(v / (1 - Foundation.pow(b2, t))) + o.eps
        p.addInPlace(g / denominator, alpha: -lr * (1 - mu) / (1 - product))
        p.addInPlace(m / denominator, alpha: -lr * muNext / (1 - product * muNext))
        return p
    }
}

/// RAdam, as `torch.optim.RAdam`: Adam whose adaptive step is switched on, and scaled by the variance
/// rectification r, once the approximate length of the second moment's average ρₜ exceeds 5:
///
///     ρ∞ = 2 / (1 − β₂) − 1,   ρₜ = ρ∞ − 2t β₂ᵗ / (1 − β₂ᵗ)
///     p ← p − lr m̂ · r √(1 − β₂ᵗ) / (√v + ε)   when ρₜ > 5, else p ← p − lr m̂
///
/// With `decoupledWeightDecay` the decay scales the parameter instead of joining the gradient.
public final class RAdam: TypedOptimizer<RAdam.Options> {
    /// RAdam's hyperparameters.
    public struct Options: OptimizerOptions {
        public var lr: Double
        public var betas: (Double, Double)
        public var eps: Double
        public var weightDecay: Double
        public var decoupledWeightDecay: Bool

        /// RAdam's options, with PyTorch's defaults.
        public init(lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8, weightDecay: Double = 0,
                    decoupledWeightDecay: Bool = false) {
            self.lr = lr
            self.betas = betas
            self.eps = eps
            self.weightDecay = weightDecay
            self.decoupledWeightDecay = decoupledWeightDecay
        }

        public static var fields: [OptimizerOption<Self>] { betaFields() + [.flag("decoupled_weight_decay", \.decoupledWeightDecay)] }
        public func validate() throws(OptimizerOptionError) { try validateBetaOptions(self) }
        public var cycledMomentum: Double? {
            get { betas.0 }
            set { if let newValue { betas.0 = newValue } }
        }
    }

    /// RAdam over `parameters`.
    public convenience init(_ parameters: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 0, decoupledWeightDecay: Bool = false) {
        self.init(parameters, options: Options(lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, decoupledWeightDecay: decoupledWeightDecay))
    }

    /// RAdam over `parameters` with `options`.
    public convenience init(_ parameters: [Tensor], options: Options) {
        self.init(groups: Self.single(parameters, options))
    }

    /// This optimizer's per-parameter rule (see the type's documentation).
    public override func update(_ p: Tensor, gradient: Tensor, state: inout ParameterState, options o: Options) -> Tensor {
        let lr = o.lr, (b1, b2) = o.betas, t = Double(state.step)
        var g = gradient
        if o.weightDecay != 0 {
            if o.decoupledWeightDecay { p.assign(p * (1 - lr * o.weightDecay)) } else { g = g + p * o.weightDecay }
        }
        let (m, v) = updateMoments(g, state: &state, b1: b1, b2: b2)
        let correction1 = 1 - Foundation.pow(b1, t), correction2 = 1 - Foundation.pow(b2, t)
        let corrected = m / correction1
        let rhoInf = 2 / (1 - b2) - 1
        let rho = rhoInf - 2 * t * Foundation.pow(b2, t) / correction2
        if rho > 5 {
            let rect = ((rho - 4) * (rho - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rho)).squareRoot()
            let adaptive = correction2.squareRoot() / (sqrt(v) + o.eps)
            p.addInPlace(corrected * lr * adaptive * rect, alpha: -1)
        } else {
            p.addInPlace(corrected * lr, alpha: -1)
        }
        return p
    }
}

/// Options with lr, betas, eps and weight decay (LAMB, Adamax, NAdam, RAdam).
protocol BetaOptions: OptimizerOptions {
    var betas: (Double, Double) { get set }
    var eps: Double { get set }
    var weightDecay: Double { get set }
}

extension AdamOptions: BetaOptions {}
extension LAMB.Options: BetaOptions {}
extension NAdam.Options: BetaOptions {}
extension RAdam.Options: BetaOptions {}

extension BetaOptions {
    /// lr, betas, eps and weight_decay, under PyTorch's names.
    static func betaFields() -> [OptimizerOption<Self>] {
        [.number("lr", \.lr), .pair("betas", \.betas), .number("eps", \.eps), .number("weight_decay", \.weightDecay)]
    }
}

/// The checks of lr, weight decay, eps and betas.
func validateBetaOptions(_ o: some BetaOptions) throws(OptimizerOptionError) {
    try OptimizerOptionError.requireCommon(lr: o.lr, weightDecay: o.weightDecay, eps: o.eps)
    try OptimizerOptionError.requireBetas(o.betas)
}
