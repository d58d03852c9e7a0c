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
        baseLearningRates = optimizer.groups.map(\.learningRate)
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
    public var learningRates: [Double] { optimizer.groups.map(\.learningRate) }

    private func apply() {
        for i in optimizer.groups.indices {
            optimizer.groups[i].learningRate = learningRate(base: baseLearningRates[i], epoch: epoch)
        }
    }
}

/// Multiplies the rate by `gamma` every `stepSize` epochs.
public final class StepLR: LRScheduler {
    let stepSize: Int, gamma: Double
    /// lr = base · gamma^⌊epoch / stepSize⌋.
    public init(_ optimizer: Optimizer, stepSize: Int, gamma: Double = 0.1) {
        precondition(stepSize > 0, "Axon.StepLR: stepSize must be positive, got \(stepSize)")
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
        precondition(tMax > 0, "Axon.CosineAnnealingLR: tMax must be positive, got \(tMax)")
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
        precondition(startFactor > 0 && startFactor <= 1 && endFactor >= 0 && endFactor <= 1 && totalIters > 0,
                     "Axon.LinearLR: factors must be in (0, 1] and [0, 1] and totalIters positive, got \(startFactor), \(endFactor), \(totalIters)")
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
        precondition(warmupEpochs >= 0 && totalEpochs > warmupEpochs,
                     "Axon.WarmupCosineLR: need 0 <= warmupEpochs < totalEpochs, got \(warmupEpochs), \(totalEpochs)")
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
        precondition(factor < 1 && factor >= 0, "Axon.ReduceLROnPlateau: factor must be in [0, 1), got \(factor)")
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
            for i in optimizer.groups.indices {
                let old = optimizer.groups[i].learningRate
                let new = max(old * factor, minLR)
                if old - new > eps { optimizer.groups[i].learningRate = new }
            }
            cooldownLeft = cooldown
            badEpochs = 0
        }
    }

    /// The schedule's state (for checkpoints): best, badEpochs, cooldownLeft.
    public var state: [Double] { [best, Double(badEpochs), Double(cooldownLeft)] }
    /// Restores ``state``.
    public func setState(_ s: [Double]) {
        precondition(s.count == 3, "Axon.ReduceLROnPlateau.setState: expected 3 values, got \(s.count)")
        best = s[0]; badEpochs = Int(s[1]); cooldownLeft = Int(s[2])
    }
}
