import AxonCore
import Foundation

/// Base of epoch-based learning-rate schedules, as `torch.optim.lr_scheduler.LRScheduler`: on
/// construction every group's learning rate is set for epoch 0; `step()` advances one epoch. Rates come
/// from a closed form in the epoch, so a restored schedule continues exactly.
open class LRScheduler {
    /// The optimizer whose groups' learning rates are set.
    public let optimizer: Optimizer
    /// Each group's learning rate when the schedule was made.
    public let baseLearningRates: [Double]
    /// Epochs stepped so far.
    public private(set) var epoch = 0

    /// Attaches to `optimizer` and sets epoch 0's rates.
    public init(optimizer: Optimizer) {
        self.optimizer = optimizer
        baseLearningRates = optimizer.learningRates
        apply()
    }

    /// The rate at `epoch` for a group whose base rate is `base`.
    open func learningRate(base: Double, epoch: Int) -> Double { base }

    /// Advances one epoch and sets the new rates.
    public func step() {
        epoch += 1
        apply()
    }

    /// Jumps to `epoch` (for resuming) and sets its rates.
    public func setEpoch(_ epoch: Int) {
        self.epoch = epoch
        apply()
    }

    /// Current learning rate of each group.
    public var learningRates: [Double] { optimizer.learningRates }

    /// Sets the optimizer's hyperparameters for `epoch`: each group's learning rate; a schedule that also moves
    /// another option (OneCycleLR's momentum) overrides this.
    open func adjust(epoch: Int) {
        optimizer.learningRates = baseLearningRates.map { learningRate(base: $0, epoch: epoch) }
    }

    private func apply() { adjust(epoch: epoch) }
}

/// Multiplies the rate by `gamma` every `stepSize` epochs.
public final class StepLR: LRScheduler {
    let stepSize: Int, gamma: Double
    /// lr = base · gamma^⌊epoch / stepSize⌋.
    public init(_ optimizer: Optimizer, stepSize: Int, gamma: Double = 0.1) {
        guard stepSize > 0 else {
            fatalError("Axon.StepLR: stepSize must be positive, got \(stepSize)")
        }
        self.stepSize = stepSize
        self.gamma = gamma
        super.init(optimizer: optimizer)
    }
    /// This schedule's rate at `epoch` (closed form; see the type's documentation).
    public override func learningRate(base: Double, epoch: Int) -> Double {
        base * Foundation.pow(gamma, Double(epoch / stepSize))
    }
}

/// Multiplies the rate by `gamma` every epoch.
public final class ExponentialLR: LRScheduler {
    let gamma: Double
    /// lr = base · gamma^epoch.
    public init(_ optimizer: Optimizer, gamma: Double) {
        self.gamma = gamma
        super.init(optimizer: optimizer)
    }
    /// This schedule's rate at `epoch` (closed form; see the type's documentation).
    public override func learningRate(base: Double, epoch: Int) -> Double { base * Foundation.pow(gamma, Double(epoch)) }
}

/// Cosine annealing from the base rate to `etaMin` over `tMax` epochs (SGDR without restarts).
public final class CosineAnnealingLR: LRScheduler {
    let tMax: Int, etaMin: Double
    /// lr = etaMin + (base − etaMin)(1 + cos(π · epoch / tMax)) / 2.
    public init(_ optimizer: Optimizer, tMax: Int, etaMin: Double = 0) {
        guard tMax > 0 else {
            fatalError("Axon.CosineAnnealingLR: tMax must be positive, got \(tMax)")
        }
        self.tMax = tMax
        self.etaMin = etaMin
        super.init(optimizer: optimizer)
    }
    /// This schedule's rate at `epoch` (closed form; see the type's documentation).
    public override func learningRate(base: Double, epoch: Int) -> Double {
        etaMin + (base - etaMin) * (1 + Foundation.cos(Double.pi * Double(epoch) / Double(tMax))) / 2
    }
}

/// Linear change of a multiplicative factor from `startFactor` to `endFactor` over `totalIters` epochs
/// (a linear warm-up when startFactor < 1), then constant.
public final class LinearLR: LRScheduler {
    let startFactor: Double, endFactor: Double, totalIters: Int
    /// lr = base · (start + (end − start) · min(epoch, total) / total).
    public init(_ optimizer: Optimizer, startFactor: Double = 1.0 / 3, endFactor: Double = 1, totalIters: Int = 5) {
        guard startFactor > 0 && startFactor <= 1 && endFactor >= 0 && endFactor <= 1 && totalIters > 0 else {
            fatalError("Axon.LinearLR: factors must be in (0, 1] and [0, 1] and totalIters positive, got \(startFactor), \(endFactor), \(totalIters)")
        }
        self.startFactor = startFactor
        self.endFactor = endFactor
        self.totalIters = totalIters
        super.init(optimizer: optimizer)
    }
    /// This schedule's rate at `epoch` (closed form; see the type's documentation).
    public override func learningRate(base: Double, epoch: Int) -> Double {
        base * (startFactor + (endFactor - startFactor) * Double(min(epoch, totalIters)) / Double(totalIters))
    }
}

/// Linear warm-up from `startFactor` · base over `warmupEpochs`, then cosine decay to `etaMin` at
/// `totalEpochs` (the usual recipe for transformers and large batches).
public final class WarmupCosineLR: LRScheduler {
    let warmupEpochs: Int, totalEpochs: Int, startFactor: Double, etaMin: Double
    /// Warm-up then cosine decay.
    public init(_ optimizer: Optimizer, warmupEpochs: Int, totalEpochs: Int, startFactor: Double = 0.1, etaMin: Double = 0) {
        guard warmupEpochs >= 0 && totalEpochs > warmupEpochs else {
            fatalError("Axon.WarmupCosineLR: need 0 <= warmupEpochs < totalEpochs, got \(warmupEpochs), \(totalEpochs)")
        }
        self.warmupEpochs = warmupEpochs
        self.totalEpochs = totalEpochs
        self.startFactor = startFactor
        self.etaMin = etaMin
        super.init(optimizer: optimizer)
    }
    /// This schedule's rate at `epoch` (closed form; see the type's documentation).
    public override func learningRate(base: Double, epoch: Int) -> Double {
        if epoch < warmupEpochs {
            return base * (startFactor + (1 - startFactor) * Double(epoch) / Double(warmupEpochs))
        }
        let progress = Double(min(epoch, totalEpochs) - warmupEpochs) / Double(totalEpochs - warmupEpochs)
        return etaMin + (base - etaMin) * (1 + Foundation.cos(Double.pi * progress)) / 2
    }
}

/// Multiplies the rate by `gamma` at each milestone epoch, as `torch.optim.lr_scheduler.MultiStepLR`.
public final class MultiStepLR: LRScheduler {
    let milestones: [Int], gamma: Double
    /// lr = base · gamma^(number of milestones ≤ epoch).
    public init(_ optimizer: Optimizer, milestones: [Int], gamma: Double = 0.1) {
        self.milestones = milestones.sorted()
        self.gamma = gamma
        super.init(optimizer: optimizer)
    }
    /// This schedule's rate at `epoch` (closed form; see the type's documentation).
    public override func learningRate(base: Double, epoch: Int) -> Double {
        base * Foundation.pow(gamma, Double(milestones.filter { $0 <= epoch }.count))
    }
}

/// Polynomial decay to 0 over `totalIters` epochs, as `torch.optim.lr_scheduler.PolynomialLR`.
public final class PolynomialLR: LRScheduler {
    let totalIters: Int, power: Double
    /// lr = base · (1 − min(epoch, total) / total)^power.
    public init(_ optimizer: Optimizer, totalIters: Int = 5, power: Double = 1) {
        guard totalIters > 0 else {
            fatalError("Axon.PolynomialLR: totalIters must be positive, got \(totalIters)")
        }
        self.totalIters = totalIters
        self.power = power
        super.init(optimizer: optimizer)
    }
    /// This schedule's rate at `epoch` (closed form; see the type's documentation).
    public override func learningRate(base: Double, epoch: Int) -> Double {
        base * Foundation.pow(1 - Double(min(epoch, totalIters)) / Double(totalIters), power)
    }
}

/// Cosine annealing with warm restarts (SGDR), as `torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`:
/// the first cycle lasts `t0` epochs and each next one `tMult` times longer.
public final class CosineAnnealingWarmRestarts: LRScheduler {
    let t0: Int, tMult: Int, etaMin: Double
    /// lr = etaMin + (base − etaMin)(1 + cos(π · t / T)) / 2, with t the epoch within the current cycle of length T.
    public init(_ optimizer: Optimizer, t0: Int, tMult: Int = 1, etaMin: Double = 0) {
        guard t0 > 0 && tMult >= 1 else {
            fatalError("Axon.CosineAnnealingWarmRestarts: need t0 > 0 and tMult >= 1, got \(t0), \(tMult)")
        }
        self.t0 = t0
        self.tMult = tMult
        self.etaMin = etaMin
        super.init(optimizer: optimizer)
    }
    /// This schedule's rate at `epoch` (closed form; see the type's documentation).
    public override func learningRate(base: Double, epoch: Int) -> Double {
        var t = epoch, length = t0
        while t >= length {  // whole cycles, in integers (no logarithms to round)
            t -= length
            length *= tMult
        }
        return etaMin + (base - etaMin) * (1 + Foundation.cos(Double.pi * Double(t) / Double(length))) / 2
    }
}

/// The 1cycle policy, as `torch.optim.lr_scheduler.OneCycleLR`: the rate rises from maxLR / divFactor to
/// `maxLR` over the first `pctStart` of `totalSteps`, then falls to maxLR / (divFactor · finalDivFactor)
/// (with `threePhase`, it first falls back to the initial rate, symmetrically, then to the minimum). With
/// `cycleMomentum` the momentum (or Adam's β₁) moves the other way, between `maxMomentum` and
/// `baseMomentum`. Each ``LRScheduler/step()`` is one step of the policy (a batch, or an epoch when the
/// caller steps per epoch); past `totalSteps` the final values stay (PyTorch raises there).
public final class OneCycleLR: LRScheduler {
    /// How each phase moves between its end values.
    public enum AnnealStrategy: String, Sendable { case cos, linear }
    let maxLR: Double, totalSteps: Int, annealStrategy: AnnealStrategy, cycleMomentum: Bool
    let baseMomentum: Double, maxMomentum: Double
    /// Phases as (last step, start rate, end rate, start momentum, end momentum).
    let phases: [(end: Double, lr0: Double, lr1: Double, m0: Double, m1: Double)]

    /// The policy over `totalSteps` steps, peaking at `maxLR`.
    public init(_ optimizer: Optimizer, maxLR: Double, totalSteps: Int, pctStart: Double = 0.3,
                annealStrategy: AnnealStrategy = .cos, cycleMomentum: Bool = true, baseMomentum: Double = 0.85,
                maxMomentum: Double = 0.95, divFactor: Double = 25, finalDivFactor: Double = 1e4, threePhase: Bool = false) {
        guard totalSteps > 0 && pctStart >= 0 && pctStart <= 1 && maxLR >= 0 && divFactor > 0 && finalDivFactor > 0 else {
            fatalError("Axon.OneCycleLR: need totalSteps > 0, pctStart in [0, 1], maxLR >= 0 and positive div factors, got "
                       + "\(totalSteps), \(pctStart), \(maxLR), \(divFactor), \(finalDivFactor)")
        }
        self.maxLR = maxLR
        self.totalSteps = totalSteps
        self.annealStrategy = annealStrategy
        self.cycleMomentum = cycleMomentum
        self.baseMomentum = baseMomentum
        self.maxMomentum = maxMomentum
        let initial = maxLR / divFactor, minimum = initial / finalDivFactor
        let peak = pctStart * Double(totalSteps) - 1, last = Double(totalSteps - 1)
        phases = threePhase
            ? [(peak, initial, maxLR, maxMomentum, baseMomentum),
               (2 * pctStart * Double(totalSteps) - 2, maxLR, initial, baseMomentum, maxMomentum),
               (last, initial, minimum, maxMomentum, maxMomentum)]
            : [(peak, initial, maxLR, maxMomentum, baseMomentum), (last, maxLR, minimum, baseMomentum, maxMomentum)]
        super.init(optimizer: optimizer)
    }

    private func anneal(_ start: Double, _ end: Double, _ pct: Double) -> Double {
        switch annealStrategy {
        case .cos: return end + (start - end) / 2 * (Foundation.cos(Double.pi * pct) + 1)
        case .linear: return (end - start) * pct + start
        }
    }

    /// The rate and momentum at `step`, in PyTorch's arithmetic.
    func values(at step: Int) -> (lr: Double, momentum: Double) {
        let s = Double(min(step, totalSteps - 1))
        var start = 0.0
        for (i, p) in phases.enumerated() {
            if s <= p.end || i == phases.count - 1 {
                let pct = p.end == start ? 1 : (s - start) / (p.end - start)
                return (anneal(p.lr0, p.lr1, pct), anneal(p.m0, p.m1, pct))
            }
            start = p.end
        }
        return (phases[phases.count - 1].lr1, phases[phases.count - 1].m1)  // not reached: the last phase answers
    }

    /// This schedule's rate at `step` (the base rate is not used: the policy sets its own).
    public override func learningRate(base: Double, epoch: Int) -> Double { values(at: epoch).lr }

    /// Sets the rate and, with `cycleMomentum`, each group's β₁ (Adam family) or momentum (SGD, RMSprop).
    public override func adjust(epoch: Int) {
        let (lr, momentum) = values(at: epoch)
        optimizer.learningRates = baseLearningRates.map { _ in lr }
        if cycleMomentum { optimizer.cycledMomenta = optimizer.cycledMomenta.map { $0 == nil ? nil : momentum } }
    }
}

/// Reduces the rate by `factor` when a monitored metric stops improving for `patience` epochs, as
/// `torch.optim.lr_scheduler.ReduceLROnPlateau` (relative threshold mode).
public final class ReduceLROnPlateau {
    /// Whether lower or higher metric values are better.
    public enum Mode: String, Sendable { case min, max }
    /// The optimizer whose rates are reduced.
    public let optimizer: Optimizer
    let mode: Mode, factor: Double, patience: Int, threshold: Double, cooldown: Int, minLR: Double, eps: Double
    /// Best metric value seen.
    public private(set) var best: Double
    /// Epochs since the last improvement.
    public private(set) var badEpochs = 0
    /// Epochs of cooldown left after a reduction.
    public private(set) var cooldownLeft = 0

    /// Watches a metric; reduces every group's rate to max(lr · factor, minLR) after `patience` epochs
    /// without a relative improvement of `threshold`.
    public init(_ optimizer: Optimizer, mode: Mode = .min, factor: Double = 0.1, patience: Int = 10,
                threshold: Double = 1e-4, cooldown: Int = 0, minLR: Double = 0, eps: Double = 1e-8) {
        guard factor < 1 && factor >= 0 else {
            fatalError("Axon.ReduceLROnPlateau: factor must be in [0, 1), got \(factor)")
        }
        self.optimizer = optimizer
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.cooldown = cooldown
        self.minLR = minLR
        self.eps = eps
        best = mode == .min ? .infinity : -.infinity
    }

    /// Feeds this epoch's metric.
    public func step(metric: Double) {
        let better = mode == .min ? metric < best * (1 - threshold) : metric > best * (1 + threshold)
        if better { best = metric; badEpochs = 0 } else { badEpochs += 1 }
        if cooldownLeft > 0 { cooldownLeft -= 1; badEpochs = 0 }
        if badEpochs > patience {
            optimizer.learningRates = optimizer.learningRates.map { old in
                let new = max(old * factor, minLR)
                return old - new > eps ? new : old
            }
            cooldownLeft = cooldown
            badEpochs = 0
        }
    }

    /// The schedule's state (for checkpoints): best, badEpochs, cooldownLeft.
    public var state: [Double] { [best, Double(badEpochs), Double(cooldownLeft)] }
    /// Restores ``state``.
    public func setState(_ s: [Double]) {
        guard s.count == 3 else {
            fatalError("Axon.ReduceLROnPlateau.setState: expected 3 values, got \(s.count)")
        }
        best = s[0]; badEpochs = Int(s[1]); cooldownLeft = Int(s[2])
    }
}
