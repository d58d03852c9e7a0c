import AxonCore
import Foundation

/// The optimizers by name, for settings that arrive as text (the command's `--optimizer`, the Playground's
/// settings).
public enum OptimizerKind: String, CaseIterable, Sendable {
    case sgd, adam, adamw, rmsprop, adagrad, lamb, adadelta, adamax, nadam, radam

    /// The optimizer called `name` ("sgd", "adam", ...), or nil.
    public init?(name: String) { self.init(rawValue: name) }

    /// The names, for messages.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// An optimizer of this kind over `parameters`, with PyTorch's defaults for what is not given. `momentum` is
    /// read by SGD and RMSprop only. Invalid values throw an error that names the hyperparameter and the value.
    public func make(_ parameters: [Tensor], lr: Double, momentum: Double = 0, weightDecay: Double = 0) throws(OptimizerOptionError) -> Optimizer {
        func checked<O: OptimizerOptions>(_ options: O) throws(OptimizerOptionError) -> O {
            try options.validate()
            return options
        }
        switch self {
        case .sgd: return SGD(parameters, options: try checked(SGD.Options(lr: lr, momentum: momentum, weightDecay: weightDecay)))
        case .adam: return Adam(parameters, options: try checked(AdamOptions(lr: lr, weightDecay: weightDecay)))
        case .adamw: return AdamW(parameters, options: try checked(AdamOptions(lr: lr, weightDecay: weightDecay)))
        case .rmsprop: return RMSprop(parameters, options: try checked(RMSprop.Options(lr: lr, weightDecay: weightDecay, momentum: momentum)))
        case .adagrad: return Adagrad(parameters, options: try checked(Adagrad.Options(lr: lr, weightDecay: weightDecay)))
        case .lamb: return LAMB(parameters, options: try checked(LAMB.Options(lr: lr, weightDecay: weightDecay)))
        case .adadelta: return Adadelta(parameters, options: try checked(Adadelta.Options(lr: lr, weightDecay: weightDecay)))
        case .adamax: return Adamax(parameters, options: try checked(LAMB.Options(lr: lr, eps: 1e-8, weightDecay: weightDecay)))
        case .nadam: return NAdam(parameters, options: try checked(NAdam.Options(lr: lr, weightDecay: weightDecay)))
        case .radam: return RAdam(parameters, options: try checked(RAdam.Options(lr: lr, weightDecay: weightDecay)))
        }
    }
}

/// A learning-rate schedule by its text form, for settings that arrive as text (the command's `--schedule`):
/// `none`, `step:EPOCHS:GAMMA`, `multistep:E1,E2,...:GAMMA`, `exponential:GAMMA`, `cosine`,
/// `cosine-restarts:T0[:TMULT]`, `polynomial:POWER`, `onecycle:MAXLR`, `warmup:EPOCHS` (then cosine). Schedules
/// that span the run (cosine, polynomial, one-cycle, warm-up) take the number of epochs when made.
public enum LRSchedule: Equatable, Sendable {
    case none
    case step(epochs: Int, gamma: Double)
    case multiStep(milestones: [Int], gamma: Double)
    case exponential(gamma: Double)
    case cosine
    case cosineRestarts(t0: Int, tMult: Int)
    case polynomial(power: Double)
    case oneCycle(maxLR: Double)
    case warmup(epochs: Int)

    /// The forms, for messages.
    public static let forms = "none, step:EPOCHS:GAMMA, multistep:E1,E2,...:GAMMA, exponential:GAMMA, cosine, cosine-restarts:T0[:TMULT], "
        + "polynomial:POWER, onecycle:MAXLR, warmup:EPOCHS"

    /// Parses `text`; an error says which form was expected and what was given.
    public init(parsing text: String) throws(ScheduleError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func fail(_ form: String, _ rule: String) -> ScheduleError { ScheduleError("\(parts[0]) needs \(form) with \(rule), got '\(text)'") }
        switch parts[0] {
        case "none" where parts.count == 1: self = .none
        case "cosine" where parts.count == 1: self = .cosine
        case "step":
            guard parts.count == 3, let n = Int(parts[1]), n > 0, let g = Double(parts[2]), g > 0 else { throw fail("step:EPOCHS:GAMMA", "positive values") }
            self = .step(epochs: n, gamma: g)
        case "exponential":
            guard parts.count == 2, let g = Double(parts[1]), g > 0 else { throw fail("exponential:GAMMA", "GAMMA > 0") }
            self = .exponential(gamma: g)
        case "multistep":
            let milestones = parts.count == 3 ? parts[1].split(separator: ",", omittingEmptySubsequences: false).map { Int($0) } : []
            guard parts.count == 3, !milestones.isEmpty, milestones.allSatisfy({ ($0 ?? 0) > 0 }), let g = Double(parts[2]), g > 0 else {
                throw fail("multistep:E1,E2,...:GAMMA", "positive epochs and GAMMA")
            }
            self = .multiStep(milestones: milestones.map { $0! }, gamma: g)  // all checked above
        case "polynomial":
            guard parts.count == 2, let power = Double(parts[1]), power > 0 else { throw fail("polynomial:POWER", "POWER > 0") }
            self = .polynomial(power: power)
        case "cosine-restarts":
            guard parts.count == 2 || parts.count == 3, let t0 = Int(parts[1]), t0 > 0,
                  let mult = parts.count == 3 ? Int(parts[2]) : 1, mult >= 1 else {
                throw fail("cosine-restarts:T0[:TMULT]", "T0 > 0 and TMULT >= 1")
            }
            self = .cosineRestarts(t0: t0, tMult: mult)
        case "onecycle":
            guard parts.count == 2, let maxLR = Double(parts[1]), maxLR > 0, maxLR.isFinite else { throw fail("onecycle:MAXLR", "MAXLR > 0") }
            self = .oneCycle(maxLR: maxLR)
        case "warmup":
            guard parts.count == 2, let n = Int(parts[1]), n >= 0 else { throw fail("warmup:EPOCHS", "EPOCHS >= 0") }
            self = .warmup(epochs: n)
        default:
            throw ScheduleError("unknown schedule '\(text)' (use \(Self.forms))")
        }
    }

    /// The schedule over a run of `epochs` epochs, attached to `optimizer`; nil for `none`. Stepped once per epoch.
    public func make(_ optimizer: Optimizer, epochs: Int) throws(ScheduleError) -> LRScheduler? {
        guard epochs >= 1 else { throw ScheduleError("a schedule needs at least 1 epoch, got \(epochs)") }
        switch self {
        case .none: return nil
        case .cosine: return CosineAnnealingLR(optimizer, tMax: epochs)
        case .step(let n, let g): return StepLR(optimizer, stepSize: n, gamma: g)
        case .exponential(let g): return ExponentialLR(optimizer, gamma: g)
        case .multiStep(let milestones, let g): return MultiStepLR(optimizer, milestones: milestones, gamma: g)
        case .polynomial(let power): return PolynomialLR(optimizer, totalIters: epochs, power: power)
        case .cosineRestarts(let t0, let mult): return CosineAnnealingWarmRestarts(optimizer, t0: t0, tMult: mult)
        case .oneCycle(let maxLR): return OneCycleLR(optimizer, maxLR: maxLR, totalSteps: epochs)
        case .warmup(let n):
            guard n < epochs else { throw ScheduleError("warmup:EPOCHS needs EPOCHS below the run's \(epochs) epochs, got \(n)") }
            return WarmupCosineLR(optimizer, warmupEpochs: n, totalEpochs: epochs)
        }
    }
}

/// A schedule's text or settings were not valid.
public struct ScheduleError: Error, CustomStringConvertible, Equatable {
    /// What was wrong.
    public let description: String
    init(_ description: String) { self.description = description }
}
