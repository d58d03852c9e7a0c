import AxonCore
import Foundation

/// A set of parameters with their own hyperparameters, as one entry of torch's `param_groups`.
/// Options are named as the optimizers' arguments: "lr", "momentum", "weightDecay", "beta1", ...
public struct ParameterGroup {
    /// The parameters this group updates.
    public var parameters: [Tensor]
    /// Hyperparameters; ones not given are filled from the optimizer's defaults.
    public var options: [String: Double]

    /// A group of parameters with optional overrides, e.g. `["weightDecay": 0]` for biases.
    public init(_ parameters: [Tensor], options: [String: Double] = [:]) {
        self.parameters = parameters
        self.options = options
    }

    /// The group's learning rate (what schedules change).
    public var learningRate: Double {
        get { options["lr"] ?? 0 }
        set { options["lr"] = newValue }
    }

    /// The option `name`, or 0 when absent.
    public subscript(_ name: String) -> Double { options[name] ?? 0 }
}

/// Per-parameter optimizer state: a step count and named tensors (momentum buffers, moments, ...).
public struct ParameterState {
    /// Number of updates applied to this parameter.
    public var step = 0
    /// Named state tensors.
    public var tensors: [String: Tensor] = [:]
    /// An empty state.
    public init() {}
}

/// The base of all optimizers, as `torch.optim.Optimizer`: it walks parameter groups and parameters,
/// keeps per-parameter state, and calls the subclass's per-parameter rule ``update(_:gradient:state:options:)``.
/// A new optimizer writes only that rule, its defaults and its hyperparameter checks.
open class Optimizer {
    /// The parameter groups, with their hyperparameters.
    public var groups: [ParameterGroup]
    /// State of each parameter, by identity.
    public private(set) var state: [ObjectIdentifier: ParameterState] = [:]

    /// Builds an optimizer over `groups`, filling missing options from `defaults` and checking every group.
    public init(groups: [ParameterGroup], defaults: [String: Double]) {
        self.groups = groups.map { group in
            var g = group
            for (k, v) in defaults where g.options[k] == nil { g.options[k] = v }
            return g
        }
        var seen = Set<ObjectIdentifier>()
        for g in self.groups {
            if let problem = Self.check(g.options) { fatalError("Axon.\(Self.self): \(problem)") }
            for p in g.parameters {
                guard p.dtype.isFloatingPoint else { fatalError("Axon.\(Self.self): parameters must be floating point, got \(p.dtype)") }
                guard seen.insert(ObjectIdentifier(p)).inserted else {
                    fatalError("Axon.\(Self.self): a parameter appears in more than one group (shape \(p.shape))")
                }
            }
        }
    }

    /// A description of the first invalid hyperparameter in `options`, or nil when all are valid
    /// (callers that take hyperparameters from outside can check before constructing).
    open class func check(_ options: [String: Double]) -> String? {
        if let lr = options["lr"], !(lr >= 0) { return "invalid learning rate: \(lr) (must be >= 0)" }
        if let wd = options["weightDecay"], !(wd >= 0) { return "invalid weight decay: \(wd) (must be >= 0)" }
        if let eps = options["eps"], !(eps >= 0) { return "invalid epsilon: \(eps) (must be >= 0)" }
        return nil
    }

    /// The per-parameter update rule: returns the new value of `parameter` given its gradient, its
    /// state (to update) and its group's options. Runs with recording off. A rule may instead update
    /// `parameter` in place (``Tensor/addInPlace(_:alpha:scalingSelfBy:)``) and return it.
    open func update(_ parameter: Tensor, gradient: Tensor, state: inout ParameterState, options: ParameterGroup) -> Tensor {
        fatalError("Axon.Optimizer: \(Self.self) must override update(_:gradient:state:options:)")
    }

    /// Applies one update to every parameter that has a gradient.
    public func step() {
        withNoGrad {
            for group in groups {
                for p in group.parameters {
                    guard let g = p.grad else { continue }
                    let key = ObjectIdentifier(p)
                    var s = state[key] ?? ParameterState()
                    s.step += 1
                    let updated = update(p, gradient: g, state: &s, options: group)
                    if updated !== p { p.assign(updated) }
                    state[key] = s
                }
            }
        }
    }

    /// Resets the gradients of every parameter.
    public func zeroGrad() {
        for g in groups { for p in g.parameters { p.zeroGrad() } }
    }

    /// All parameters, group by group.
    public var parameters: [Tensor] { groups.flatMap(\.parameters) }

    /// The optimizer's state as flat named tensors: "groups.G.OPTION" (float64 scalars), and
    /// "state.I.step" (int64) and "state.I.NAME" per parameter index I (group order), as torch's
    /// `state_dict`. The checkpoint code saves this. The tensors are copies (PyTorch's alias the live state),
    /// so a saved state stays as it was while training goes on.
    public func stateDict() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (gi, g) in groups.enumerated() {
            for (k, v) in g.options { out["groups.\(gi).\(k)"] = Tensor(v, dtype: .float64) }
        }
        for (i, p) in parameters.enumerated() {
            guard let s = state[ObjectIdentifier(p)] else { continue }
            out["state.\(i).step"] = Tensor(shape: [], scalars: [s.step])
            for (k, t) in s.tensors { out["state.\(i).\(k)"] = t.detached().clone() }
        }
        return out
    }

    /// Restores a state written by ``stateDict()`` for the same parameters; checks indices and shapes
    /// before changing anything.
    public func loadStateDict(_ dict: [String: Tensor]) throws {
        let params = parameters
        var newGroups = groups
        var newState: [Int: ParameterState] = [:]
        for (key, value) in dict {
            let parts = key.split(separator: ".", maxSplits: 2).map(String.init)
            guard parts.count == 3, let index = Int(parts[1]), index >= 0 else { throw OptimizerStateError("malformed key '\(key)'") }
            switch parts[0] {
            case "groups":
                guard index < groups.count, value.count == 1 else {
                    throw OptimizerStateError("'\(key)' does not match \(groups.count) parameter groups")
                }
                newGroups[index].options[parts[2]] = value.item
            case "state":
                guard index < params.count else {
                    throw OptimizerStateError("'\(key)' refers to parameter \(index) of \(params.count)")
                }
                var s = newState[index] ?? ParameterState()
                if parts[2] == "step" {
                    let step = value.count == 1 ? value.item : .nan
                    guard step >= 0 && step <= Double(Int32.max) && step.rounded() == step else {
                        throw OptimizerStateError("'\(key)' must be a step count, got \(value.count == 1 ? "\(step)" : "shape \(value.shape)")")
                    }
                    s.step = Int(step)
                } else if value.rank == 0 {  // a per-parameter scalar (NAdam's mu_product), kept in its dtype
                    s.tensors[parts[2]] = value.detached().clone()
                } else {
                    guard value.shape == params[index].shape else {
                        throw OptimizerStateError("'\(key)' has shape \(value.shape), parameter has \(params[index].shape)")
                    }
                    s.tensors[parts[2]] = value.detached().converted(to: params[index].dtype).clone()
                }
                newState[index] = s
            default:
                throw OptimizerStateError("unknown key '\(key)'")
            }
        }
        for g in newGroups {
            if let problem = Self.check(g.options) { throw OptimizerStateError(problem) }
        }
        groups = newGroups
        state = [:]
        for (i, s) in newState { state[ObjectIdentifier(params[i])] = s }
    }
}

/// A problem with an optimizer state being loaded.
public struct OptimizerStateError: Error, CustomStringConvertible {
    /// What was wrong.
    public let description: String
    init(_ description: String) { self.description = "optimizer state: " + description }
}

extension Optimizer {
    /// Groups from a flat parameter list (one group, no overrides).
    static func single(_ parameters: [Tensor]) -> [ParameterGroup] { [ParameterGroup(parameters)] }
}

/// Scales all gradients so that their global `normType`-norm is at most `maxNorm` (as
/// `torch.nn.utils.clip_grad_norm_`); returns the norm before clipping.
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Double, normType: Double = 2) -> Double {
    guard maxNorm >= 0, normType > 0 else { fatalError("Axon.clipGradNorm: maxNorm \(maxNorm) and normType \(normType) must be positive") }
    let grads = parameters.compactMap(\.grad)
    if grads.isEmpty { return 0 }
    let total: Double = withNoGrad {
        if normType.isInfinite { return grads.map { abs($0).max().item }.max() ?? 0 }
        let s = grads.reduce(0.0) { $0 + pow(abs($1), normType).sum().item }
        return Foundation.pow(s, 1 / normType)
    }
    let coefficient = maxNorm / (total + 1e-6)
    if coefficient < 1 {
        withNoGrad { for p in parameters { if let g = p.grad { p.grad = g * coefficient } } }
    }
    return total
}

/// Clamps every gradient element into [-clipValue, clipValue] (as `torch.nn.utils.clip_grad_value_`).
public func clipGradValue(_ parameters: [Tensor], _ clipValue: Double) {
    guard clipValue >= 0 else { fatalError("Axon.clipGradValue: clipValue must be non-negative, got \(clipValue)") }
    withNoGrad { for p in parameters { if let g = p.grad { p.grad = clamp(g, min: -clipValue, max: clipValue) } } }
}
