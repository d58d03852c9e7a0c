import AxonCore
import Foundation

/// Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay, as
/// `torch.optim.SGD`:
///
///     g ← g + λ p
///     b ← g (first step), else μ b + (1 − τ) g
///     g ← g + μ b (Nesterov), else b
///     p ← p − lr g
public final class SGD: Optimizer {
    /// SGD over `parameters`.
    public convenience init(_ parameters: [Tensor], lr: Double, momentum: Double = 0, dampening: Double = 0,
                            weightDecay: Double = 0, nesterov: Bool = false) {
        self.init(groups: Self.single(parameters), lr: lr, momentum: momentum, dampening: dampening,
                  weightDecay: weightDecay, nesterov: nesterov)
    }

    /// SGD over parameter groups, with these defaults for options a group does not set.
    public init(groups: [ParameterGroup], lr: Double, momentum: Double = 0, dampening: Double = 0,
                weightDecay: Double = 0, nesterov: Bool = false) {
        super.init(groups: groups, defaults: ["lr": lr, "momentum": momentum, "dampening": dampening,
                                              "weightDecay": weightDecay, "nesterov": nesterov ? 1 : 0])
    }

    /// Checks this optimizer's hyperparameters; returns the first problem, naming the value.
    public override class func check(_ o: [String: Double]) -> String? {
        if let p = super.check(o) { return p }
        if let m = o["momentum"], !(m >= 0) { return "invalid momentum: \(m) (must be >= 0)" }
        if o["nesterov"] == 1 && (o["momentum"] ?? 0 <= 0 || o["dampening"] ?? 0 != 0) {
            return "Nesterov momentum requires a momentum > 0 and zero dampening (momentum \(o["momentum"] ?? 0), dampening \(o["dampening"] ?? 0))"
        }
        return nil
    }

    /// This optimizer's per-parameter rule (see the type's documentation).
    public override func update(_ p: Tensor, gradient: Tensor, state: inout ParameterState, options o: ParameterGroup) -> Tensor {
        var g = gradient
        if o["weightDecay"] != 0 { g = g + p * o["weightDecay"] }
        let mu = o["momentum"]
        if mu != 0 {
            let buffer: Tensor
            if let b = state.tensors["momentum_buffer"] {
                b.addInPlace(g, alpha: 1 - o["dampening"], scalingSelfBy: mu)
                buffer = b
            } else {
                buffer = g.clone()  // its own buffer: later steps update it in place
                state.tensors["momentum_buffer"] = buffer
            }
            g = o["nesterov"] == 1 ? g + buffer * mu : buffer
        }
        p.addInPlace(g, alpha: -o.learningRate)
        return p
    }
}

/// Adagrad, as `torch.optim.Adagrad`: s ← s + g²; p ← p − lr_t g / (√s + ε) with
/// lr_t = lr / (1 + (t − 1) lrDecay).
public final class Adagrad: Optimizer {
    /// Adagrad over `parameters`.
    public convenience init(_ parameters: [Tensor], lr: Double = 0.01, lrDecay: Double = 0, weightDecay: Double = 0,
                            initialAccumulatorValue: Double = 0, eps: Double = 1e-10) {
        self.init(groups: Self.single(parameters), lr: lr, lrDecay: lrDecay, weightDecay: weightDecay,
                  initialAccumulatorValue: initialAccumulatorValue, eps: eps)
    }

    /// Adagrad over parameter groups.
    public init(groups: [ParameterGroup], lr: Double = 0.01, lrDecay: Double = 0, weightDecay: Double = 0,
                initialAccumulatorValue: Double = 0, eps: Double = 1e-10) {
        super.init(groups: groups, defaults: ["lr": lr, "lrDecay": lrDecay, "weightDecay": weightDecay,
                                              "initialAccumulatorValue": initialAccumulatorValue, "eps": eps])
    }

    /// Checks this optimizer's hyperparameters; returns the first problem, naming the value.
    public override class func check(_ o: [String: Double]) -> String? {
        if let p = super.check(o) { return p }
        if let d = o["lrDecay"], !(d >= 0) { return "invalid lrDecay: \(d) (must be >= 0)" }
        if let a = o["initialAccumulatorValue"], !(a >= 0) { return "invalid initialAccumulatorValue: \(a) (must be >= 0)" }
        return nil
    }

    /// This optimizer's per-parameter rule (see the type's documentation).
    public override func update(_ p: Tensor, gradient: Tensor, state: inout ParameterState, options o: ParameterGroup) -> Tensor {
        var g = gradient
        if o["weightDecay"] != 0 { g = g + p * o["weightDecay"] }
        let clr = o.learningRate / (1 + Double(state.step - 1) * o["lrDecay"])
        let sum = (state.tensors["sum"] ?? Tensor.full(p.shape, o["initialAccumulatorValue"], dtype: p.dtype)) + g * g
        state.tensors["sum"] = sum
        return p - g / (sqrt(sum) + o["eps"]) * clr
    }
}

/// RMSprop, as `torch.optim.RMSprop`: v ← α v + (1 − α) g²; with `centered`, the running mean of g is
/// subtracted (v − ḡ²); the step g / (√v + ε) is applied directly or through a momentum buffer.
public final class RMSprop: Optimizer {
    /// RMSprop over `parameters`.
    public convenience init(_ parameters: [Tensor], lr: Double = 0.01, alpha: Double = 0.99, eps: Double = 1e-8,
                            weightDecay: Double = 0, momentum: Double = 0, centered: Bool = false) {
        self.init(groups: Self.single(parameters), lr: lr, alpha: alpha, eps: eps, weightDecay: weightDecay,
                  momentum: momentum, centered: centered)
    }

    /// RMSprop over parameter groups.
    public init(groups: [ParameterGroup], lr: Double = 0.01, alpha: Double = 0.99, eps: Double = 1e-8,
                weightDecay: Double = 0, momentum: Double = 0, centered: Bool = false) {
        super.init(groups: groups, defaults: ["lr": lr, "alpha": alpha, "eps": eps, "weightDecay": weightDecay,
                                              "momentum": momentum, "centered": centered ? 1 : 0])
    }

    /// Checks this optimizer's hyperparameters; returns the first problem, naming the value.
    public override class func check(_ o: [String: Double]) -> String? {
        if let p = super.check(o) { return p }
        if let a = o["alpha"], !(a >= 0 && a <= 1) { return "invalid alpha: \(a) (must be in [0, 1])" }
        if let m = o["momentum"], !(m >= 0) { return "invalid momentum: \(m) (must be >= 0)" }
        return nil
    }

    /// This optimizer's per-parameter rule (see the type's documentation).
    public override func update(_ p: Tensor, gradient: Tensor, state: inout ParameterState, options o: ParameterGroup) -> Tensor {
        var g = gradient
        if o["weightDecay"] != 0 { g = g + p * o["weightDecay"] }
        let alpha = o["alpha"]
        let square = (state.tensors["square_avg"] ?? Tensor.zeros(like: p)) * alpha + g * g * (1 - alpha)
        state.tensors["square_avg"] = square
        var avg: Tensor
        if o["centered"] == 1 {
            let mean = (state.tensors["grad_avg"] ?? Tensor.zeros(like: p)) * alpha + g * (1 - alpha)
            state.tensors["grad_avg"] = mean
            avg = sqrt(square - mean * mean) + o["eps"]
        } else {
            avg = sqrt(square) + o["eps"]
        }
        if o["momentum"] > 0 {
            let buffer = (state.tensors["momentum_buffer"] ?? Tensor.zeros(like: p)) * o["momentum"] + g / avg
            state.tensors["momentum_buffer"] = buffer
            return p - buffer * o.learningRate
        }
        avg = g / avg
        return p - avg * o.learningRate
    }
}

/// Checks shared by the Adam family.
private func checkBetas(_ o: [String: Double]) -> String? {
    for key in ["beta1", "beta2"] {
        if let b = o[key], !(b >= 0 && b < 1) { return "invalid \(key): \(b) (must be in [0, 1))" }
    }
    return nil
}

/// The Adam moments with bias correction; returns the step direction m̂ / (√v̂ + ε).
private func adamDirection(_ g: Tensor, state: inout ParameterState, options o: ParameterGroup, amsgrad: Bool) -> Tensor {
    let b1 = o["beta1"], b2 = o["beta2"], t = Double(state.step)
    let (m, v) = updateMoments(g, state: &state, b1: b1, b2: b2)
    let correction1 = 1 - Foundation.pow(b1, t), correction2 = 1 - Foundation.pow(b2, t)
    var second = v
    if amsgrad {
        second = maximum(state.tensors["max_exp_avg_sq"] ?? v, v)
        state.tensors["max_exp_avg_sq"] = second
    }
    // PyTorch's order of operations: (m / c1) / (√v / √c2 + ε).
    return m / correction1 / (sqrt(second) / correction2.squareRoot() + o["eps"])
}

/// Adam, as `torch.optim.Adam` (L2 weight decay added to the gradient; `amsgrad` keeps the maximum of
/// the second moments).
public final class Adam: Optimizer {
    /// Adam over `parameters`.
    public convenience init(_ parameters: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 0, amsgrad: Bool = false) {
        self.init(groups: Self.single(parameters), lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad)
    }

    /// Adam over parameter groups.
    public init(groups: [ParameterGroup], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                eps: Double = 1e-8, weightDecay: Double = 0, amsgrad: Bool = false) {
        super.init(groups: groups, defaults: ["lr": lr, "beta1": betas.0, "beta2": betas.1, "eps": eps,
                                              "weightDecay": weightDecay, "amsgrad": amsgrad ? 1 : 0])
    }

    /// Checks this optimizer's hyperparameters; returns the first problem, naming the value.
    public override class func check(_ o: [String: Double]) -> String? { super.check(o) ?? checkBetas(o) }

    /// This optimizer's per-parameter rule (see the type's documentation).
    public override func update(_ p: Tensor, gradient: Tensor, state: inout ParameterState, options o: ParameterGroup) -> Tensor {
        var g = gradient
        if o["weightDecay"] != 0 { g = g + p * o["weightDecay"] }
        return p - adamDirection(g, state: &state, options: o, amsgrad: o["amsgrad"] == 1) * o.learningRate
    }
}

/// AdamW, as `torch.optim.AdamW`: Adam with decoupled weight decay, p ← p (1 − lr λ) before the Adam step.
public final class AdamW: Optimizer {
    /// AdamW over `parameters`.
    public convenience init(_ parameters: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 0.01, amsgrad: Bool = false) {
        self.init(groups: Self.single(parameters), lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad)
    }

    /// AdamW over parameter groups.
    public init(groups: [ParameterGroup], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                eps: Double = 1e-8, weightDecay: Double = 0.01, amsgrad: Bool = false) {
        super.init(groups: groups, defaults: ["lr": lr, "beta1": betas.0, "beta2": betas.1, "eps": eps,
                                              "weightDecay": weightDecay, "amsgrad": amsgrad ? 1 : 0])
    }

    /// Checks this optimizer's hyperparameters; returns the first problem, naming the value.
    public override class func check(_ o: [String: Double]) -> String? { super.check(o) ?? checkBetas(o) }

    /// This optimizer's per-parameter rule (see the type's documentation).
    public override func update(_ p: Tensor, gradient: Tensor, state: inout ParameterState, options o: ParameterGroup) -> Tensor {
        let decayed = p * (1 - o.learningRate * o["weightDecay"])
        return decayed - adamDirection(gradient, state: &state, options: o, amsgrad: o["amsgrad"] == 1) * o.learningRate
    }
}

/// LAMB (You et al. 2019, "Large Batch Optimization for Deep Learning"): the Adam direction plus
/// decoupled weight decay, r = m̂ / (√v̂ + ε) + λ p, scaled per parameter tensor by the trust ratio
/// ‖p‖ / ‖r‖ (1 when either norm is 0): p ← p − lr (‖p‖ / ‖r‖) r.
///
/// Each step is lr·‖p‖ long, so a parameter tensor scales rather than moves: a scalar (a bias of
/// one unit) can shrink toward 0 but never change sign. Put such parameters in a group with another
/// optimizer, or leave biases out of LAMB, as the paper's experiments do for layer norms and biases.
public final class LAMB: Optimizer {
    /// LAMB over `parameters`.
    public convenience init(_ parameters: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-6, weightDecay: Double = 0) {
        self.init(groups: Self.single(parameters), lr: lr, betas: betas, eps: eps, weightDecay: weightDecay)
    }

    /// LAMB over parameter groups.
    public init(groups: [ParameterGroup], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                eps: Double = 1e-6, weightDecay: Double = 0) {
        super.init(groups: groups, defaults: ["lr": lr, "beta1": betas.0, "beta2": betas.1, "eps": eps,
                                              "weightDecay": weightDecay])
    }

    /// Checks this optimizer's hyperparameters; returns the first problem, naming the value.
    public override class func check(_ o: [String: Double]) -> String? { super.check(o) ?? checkBetas(o) }

    /// This optimizer's per-parameter rule (see the type's documentation).
    public override func update(_ p: Tensor, gradient: Tensor, state: inout ParameterState, options o: ParameterGroup) -> Tensor {
        var r = adamDirection(gradient, state: &state, options: o, amsgrad: false)
        if o["weightDecay"] != 0 { r = r + p * o["weightDecay"] }
        let weightNorm = sqrt((p * p).sum()).item, updateNorm = sqrt((r * r).sum()).item
        let trust = weightNorm > 0 && updateNorm > 0 ? weightNorm / updateNorm : 1
        return p - r * (o.learningRate * trust)
    }
}

/// Adadelta, as `torch.optim.Adadelta`: running averages of squared gradients and squared updates,
///
///     v ← ρ v + (1 − ρ) g²
///     δ ← √(u + ε) / √(v + ε) · g
///     u ← ρ u + (1 − ρ) δ²
///     p ← p − lr δ
public final class Adadelta: Optimizer {
    /// Adadelta over `parameters`.
    public convenience init(_ parameters: [Tensor], lr: Double = 1, rho: Double = 0.9, eps: Double = 1e-6, weightDecay: Double = 0) {
        self.init(groups: Self.single(parameters), lr: lr, rho: rho, eps: eps, weightDecay: weightDecay)
    }

    /// Adadelta over parameter groups.
    public init(groups: [ParameterGroup], lr: Double = 1, rho: Double = 0.9, eps: Double = 1e-6, weightDecay: Double = 0) {
        super.init(groups: groups, defaults: ["lr": lr, "rho": rho, "eps": eps, "weightDecay": weightDecay])
    }

    /// Checks this optimizer's hyperparameters; returns the first problem, naming the value.
    public override class func check(_ o: [String: Double]) -> String? {
        if let p = super.check(o) { return p }
        if let r = o["rho"], !(r >= 0 && r <= 1) { return "invalid rho: \(r) (must be in [0, 1])" }
        return nil
    }

    /// This optimizer's per-parameter rule (see the type's documentation).
    public override func update(_ p: Tensor, gradient: Tensor, state: inout ParameterState, options o: ParameterGroup) -> Tensor {
        var g = gradient
        if o["weightDecay"] != 0 { g = g + p * o["weightDecay"] }
        let rho = o["rho"], eps = o["eps"]
        let square = state.tensors["square_avg"] ?? Tensor.zeros(like: p)
        let accumulated = state.tensors["acc_delta"] ?? Tensor.zeros(like: p)
        square.addProductInPlace(g, g, alpha: 1 - rho, scalingSelfBy: rho)
        let delta = sqrt(accumulated + eps) / sqrt(square + eps) * g
        accumulated.addProductInPlace(delta, delta, alpha: 1 - rho, scalingSelfBy: rho)
        state.tensors["square_avg"] = square
        state.tensors["acc_delta"] = accumulated
        p.addInPlace(delta, alpha: -o.learningRate)
        return p
    }
}

/// Adamax, as `torch.optim.Adamax`: Adam with the infinity norm in place of the second moment,
///
///     m ← β₁ m + (1 − β₁) g
///     u ← max(β₂ u, |g| + ε)
///     p ← p − lr / (1 − β₁ᵗ) · m / u
public final class Adamax: Optimizer {
    /// Adamax over `parameters`.
    public convenience init(_ parameters: [Tensor], lr: Double = 2e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 0) {
        self.init(groups: Self.single(parameters), lr: lr, betas: betas, eps: eps, weightDecay: weightDecay)
    }

    /// Adamax over parameter groups.
    public init(groups: [ParameterGroup], lr: Double = 2e-3, betas: (Double, Double) = (0.9, 0.999),
                eps: Double = 1e-8, weightDecay: Double = 0) {
        super.init(groups: groups, defaults: ["lr": lr, "beta1": betas.0, "beta2": betas.1, "eps": eps, "weightDecay": weightDecay])
    }

    /// Checks this optimizer's hyperparameters; returns the first problem, naming the value.
    public override class func check(_ o: [String: Double]) -> String? { super.check(o) ?? checkBetas(o) }

    /// This optimizer's per-parameter rule (see the type's documentation).
    public override func update(_ p: Tensor, gradient: Tensor, state: inout ParameterState, options o: ParameterGroup) -> Tensor {
        var g = gradient
        if o["weightDecay"] != 0 { g = g + p * o["weightDecay"] }
        let b1 = o["beta1"], b2 = o["beta2"]
        let m = state.tensors["exp_avg"] ?? Tensor.zeros(like: p)
        m.addInPlace(g, alpha: 1 - b1, scalingSelfBy: b1)
        let u = maximum((state.tensors["exp_inf"] ?? Tensor.zeros(like: p)) * b2, abs(g) + o["eps"])
        state.tensors["exp_avg"] = m
        state.tensors["exp_inf"] = u
        p.addInPlace(m / u, alpha: -o.learningRate / (1 - Foundation.pow(b1, Double(state.step))))
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
public final class NAdam: Optimizer {
    /// NAdam over `parameters`.
    public convenience init(_ parameters: [Tensor], lr: Double = 2e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 0, momentumDecay: Double = 4e-3,
                            decoupledWeightDecay: Bool = false) {
        self.init(groups: Self.single(parameters), lr: lr, betas: betas, eps: eps, weightDecay: weightDecay,
                  momentumDecay: momentumDecay, decoupledWeightDecay: decoupledWeightDecay)
    }

    /// NAdam over parameter groups.
    public init(groups: [ParameterGroup], lr: Double = 2e-3, betas: (Double, Double) = (0.9, 0.999),
                eps: Double = 1e-8, weightDecay: Double = 0, momentumDecay: Double = 4e-3, decoupledWeightDecay: Bool = false) {
        super.init(groups: groups, defaults: ["lr": lr, "beta1": betas.0, "beta2": betas.1, "eps": eps, "weightDecay": weightDecay,
                                              "momentumDecay": momentumDecay, "decoupledWeightDecay": decoupledWeightDecay ? 1 : 0])
    }

    /// Checks this optimizer's hyperparameters; returns the first problem, naming the value.
    public override class func check(_ o: [String: Double]) -> String? {
        if let p = super.check(o) ?? checkBetas(o) { return p }
        if let d = o["momentumDecay"], !(d >= 0) { return "invalid momentumDecay: \(d) (must be >= 0)" }
        return nil
    }

    /// This optimizer's per-parameter rule (see the type's documentation).
    public override func update(_ p: Tensor, gradient: Tensor, state: inout ParameterState, options o: ParameterGroup) -> Tensor {
        let lr = o.learningRate, b1 = o["beta1"], b2 = o["beta2"], t = Double(state.step)
        var g = gradient
        if o["weightDecay"] != 0 {
            if o["decoupledWeightDecay"] == 1 { p.assign(p * (1 - lr * o["weightDecay"])) } else { g = g + p * o["weightDecay"] }
        }
        let mu = b1 * (1 - 0.5 * Foundation.pow(0.96, t * o["momentumDecay"]))
        let muNext = b1 * (1 - 0.5 * Foundation.pow(0.96, (t + 1) * o["momentumDecay"]))
        let product = (state.tensors["mu_product"]?.item ?? 1) * mu
        state.tensors["mu_product"] = Tensor(product, dtype: .float64)
        let (m, v) = updateMoments(g, state: &state, b1: b1, b2: b2)
        let denominator = sqrt(v / (1 - Foundation.pow(b2, t))) + o["eps"]
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
public final class RAdam: Optimizer {
    /// RAdam over `parameters`.
    public convenience init(_ parameters: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 0, decoupledWeightDecay: Bool = false) {
        self.init(groups: Self.single(parameters), lr: lr, betas: betas, eps: eps, weightDecay: weightDecay,
                  decoupledWeightDecay: decoupledWeightDecay)
    }

    /// RAdam over parameter groups.
    public init(groups: [ParameterGroup], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                eps: Double = 1e-8, weightDecay: Double = 0, decoupledWeightDecay: Bool = false) {
        super.init(groups: groups, defaults: ["lr": lr, "beta1": betas.0, "beta2": betas.1, "eps": eps, "weightDecay": weightDecay,
                                              "decoupledWeightDecay": decoupledWeightDecay ? 1 : 0])
    }

    /// Checks this optimizer's hyperparameters; returns the first problem, naming the value.
    public override class func check(_ o: [String: Double]) -> String? { super.check(o) ?? checkBetas(o) }

    /// This optimizer's per-parameter rule (see the type's documentation).
    public override func update(_ p: Tensor, gradient: Tensor, state: inout ParameterState, options o: ParameterGroup) -> Tensor {
        let lr = o.learningRate, b1 = o["beta1"], b2 = o["beta2"], t = Double(state.step)
        var g = gradient
        if o["weightDecay"] != 0 {
            if o["decoupledWeightDecay"] == 1 { p.assign(p * (1 - lr * o["weightDecay"])) } else { g = g + p * o["weightDecay"] }
        }
        let (m, v) = updateMoments(g, state: &state, b1: b1, b2: b2)
        let correction1 = 1 - Foundation.pow(b1, t), correction2 = 1 - Foundation.pow(b2, t)
        let corrected = m / correction1
        let rhoInf = 2 / (1 - b2) - 1
        let rho = rhoInf - 2 * t * Foundation.pow(b2, t) / correction2
        if rho > 5 {
            let rect = ((rho - 4) * (rho - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rho)).squareRoot()
            let adaptive = correction2.squareRoot() / (sqrt(v) + o["eps"])
            p.addInPlace(corrected * lr * adaptive * rect, alpha: -1)
        } else {
            p.addInPlace(corrected * lr, alpha: -1)
        }
        return p
    }
}
