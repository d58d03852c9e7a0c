import AxonCore
import Foundation

/// An optimizer's hyperparameters, typed: each optimizer has its own `Options` (``SGD/Options``,
/// ``Adam/Options``, ...), and each parameter group carries a value of it. The names are Swift's (`lr`,
/// `weightDecay`, `betas`); ``fields`` lists them under PyTorch's `param_groups` names (`lr`, `weight_decay`,
/// `betas`) for state dicts, so saved states stay loadable both ways.
public protocol OptimizerOptions: Sendable {
    /// The learning rate (what schedules change).
    var lr: Double { get set }
    /// The hyperparameters under PyTorch's names, for state dicts.
    static var fields: [OptimizerOption<Self>] { get }
    /// Throws an error naming the first invalid hyperparameter and its value.
    func validate() throws(OptimizerOptionError)
    /// The momentum OneCycleLR cycles: SGD's and RMSprop's momentum, the Adam family's β₁; nil when the optimizer
    /// has none.
    var cycledMomentum: Double? { get set }
}

extension OptimizerOptions {
    /// No momentum to cycle.
    public var cycledMomentum: Double? {
        get { nil }
        set {}
    }

    /// A copy with `change` applied, e.g. `defaults.with { $0.weightDecay = 0 }` for a group of biases.
    public func with(_ change: (inout Self) -> Void) -> Self {
        var copy = self
        change(&copy)
        return copy
    }

    /// The values under PyTorch's names (pairs such as `betas` as two numbers; flags as 0 and 1).
    public var namedValues: [String: [Double]] {
        Dictionary(uniqueKeysWithValues: Self.fields.map { ($0.name, $0.read(self)) })
    }
}

/// One hyperparameter of an ``OptimizerOptions`` type under its PyTorch name: a number, a flag, or a pair.
public struct OptimizerOption<Options> {
    /// PyTorch's name (`lr`, `weight_decay`, `betas`, ...).
    public let name: String
    let read: (Options) -> [Double]
    let write: (inout Options, [Double]) -> Bool

    /// A number.
    public static func number(_ name: String, _ path: WritableKeyPath<Options, Double>) -> Self {
        Self(name: name, read: { [$0[keyPath: path]] }, write: { o, v in
            guard v.count == 1 else { return false }
            o[keyPath: path] = v[0]
            return true
        })
    }

    /// A flag, saved as 0 or 1.
    public static func flag(_ name: String, _ path: WritableKeyPath<Options, Bool>) -> Self {
        Self(name: name, read: { [$0[keyPath: path] ? 1 : 0] }, write: { o, v in
            guard v.count == 1, v[0] == 0 || v[0] == 1 else { return false }
            o[keyPath: path] = v[0] == 1
            return true
        })
    }

    /// A pair of numbers (`betas`).
    public static func pair(_ name: String, _ path: WritableKeyPath<Options, (Double, Double)>) -> Self {
        Self(name: name, read: { [$0[keyPath: path].0, $0[keyPath: path].1] }, write: { o, v in
            guard v.count == 2 else { return false }
            o[keyPath: path] = (v[0], v[1])
            return true
        })
    }
}

/// An invalid hyperparameter: its name (as the options spell it), its value, and what it must be.
public struct OptimizerOptionError: Error, CustomStringConvertible, Equatable {
    /// The hyperparameter (`lr`, `weightDecay`, `betas`, ...).
    public let parameter: String
    /// Its value, as written.
    public let value: String
    /// What it must be.
    public let requirement: String
    /// "invalid lr -1.0 (must be >= 0)".
    public var description: String { "invalid \(parameter) \(value) (must be \(requirement))" }

    /// An error about `parameter`.
    public init(parameter: String, value: String, requirement: String) {
        self.parameter = parameter
        self.value = value
        self.requirement = requirement
    }

    /// Throws unless `ok`.
    public static func require(_ ok: Bool, _ parameter: String, _ value: Double, _ requirement: String) throws(OptimizerOptionError) {
        if !ok { throw OptimizerOptionError(parameter: parameter, value: "\(value)", requirement: requirement) }
    }

    /// The checks most optimizers share: lr, weight decay and epsilon non-negative (NaN fails each).
    public static func requireCommon(lr: Double, weightDecay: Double, eps: Double? = nil) throws(OptimizerOptionError) {
        try require(lr >= 0, "lr", lr, ">= 0")
        try require(weightDecay >= 0, "weightDecay", weightDecay, ">= 0")
        if let eps { try require(eps >= 0, "eps", eps, ">= 0") }
    }

    /// Both betas in [0, 1).
    public static func requireBetas(_ betas: (Double, Double)) throws(OptimizerOptionError) {
        for b in [betas.0, betas.1] where !(b >= 0 && b < 1) {
            throw OptimizerOptionError(parameter: "betas", value: "(\(betas.0), \(betas.1))", requirement: "in [0, 1)")
        }
    }
}

/// A set of parameters with their own hyperparameters, as one entry of torch's `param_groups`.
public struct ParameterGroup<Options: OptimizerOptions> {
    /// The parameters this group updates.
    public var parameters: [Tensor]
    /// Their hyperparameters.
    public var options: Options

    /// A group, e.g. `ParameterGroup(biases, options: defaults.with { $0.weightDecay = 0 })`.
    public init(_ parameters: [Tensor], options: Options) {
        self.parameters = parameters
        self.options = options
    }
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

/// What every optimizer offers, whatever its options: stepping, the learning rates schedules move, and state
/// dicts. Optimizers are ``TypedOptimizer`` subclasses; code that holds any optimizer holds this type.
///
/// ## Topics
///
/// ### Stepping
/// - ``zeroGrad()``
/// - ``step()``
/// - ``parameters``
///
/// ### What schedules change
/// - ``learningRates``
/// - ``cycledMomenta``
///
/// ### Saving and restoring
/// - ``stateDict()``
/// - ``loadStateDict(_:)``
///
/// ### The optimizers
/// - ``SGD``
/// - ``Adam``
/// - ``AdamW``
/// - ``RMSprop``
/// - ``Adagrad``
/// - ``Adadelta``
/// - ``Adamax``
/// - ``NAdam``
/// - ``RAdam``
/// - ``LAMB``
/// - ``OptimizerKind``
///
/// ### Writing an optimizer
/// - ``TypedOptimizer``
/// - ``OptimizerOptions``
/// - ``ParameterGroup``
/// - ``ParameterState``
open class Optimizer {
    init() {}

    /// All parameters, group by group.
    open var parameters: [Tensor] { fatalError("Axon.Optimizer: \(Self.self) must subclass TypedOptimizer") }
    /// Each group's learning rate.
    open var learningRates: [Double] {
        get { fatalError("Axon.Optimizer: \(Self.self) must subclass TypedOptimizer") }
        set { fatalError("Axon.Optimizer: \(Self.self) must subclass TypedOptimizer") }
    }
    /// Each group's cycled momentum (``OptimizerOptions/cycledMomentum``); setting nil leaves a group as it is.
    open var cycledMomenta: [Double?] {
        get { fatalError("Axon.Optimizer: \(Self.self) must subclass TypedOptimizer") }
        set { fatalError("Axon.Optimizer: \(Self.self) must subclass TypedOptimizer") }
    }
    /// Applies one update to every parameter that has a gradient.
    open func step() { fatalError("Axon.Optimizer: \(Self.self) must subclass TypedOptimizer") }
    /// The optimizer's state as flat named tensors (see ``TypedOptimizer/stateDict()``).
    open func stateDict() -> [String: Tensor] { fatalError("Axon.Optimizer: \(Self.self) must subclass TypedOptimizer") }
    /// Restores a state written by ``stateDict()``.
    open func loadStateDict(_ dict: [String: Tensor]) throws { fatalError("Axon.Optimizer: \(Self.self) must subclass TypedOptimizer") }

    /// Resets the gradients of every parameter.
    public func zeroGrad() {
        for p in parameters { p.zeroGrad() }
    }
}

/// The base of all optimizers, as `torch.optim.Optimizer`: it walks parameter groups and parameters, keeps
/// per-parameter state, and calls the subclass's per-parameter rule ``update(_:gradient:state:options:)``.
/// A new optimizer writes its `Options` (with their checks) and that rule.
open class TypedOptimizer<Options: OptimizerOptions>: Optimizer {
    /// The parameter groups, with their hyperparameters. Invalid values set here stop with a message naming them.
    public var groups: [ParameterGroup<Options>] {
        didSet { Self.checkOrStop(groups) }
    }
    /// State of each parameter, by identity.
    public private(set) var state: [ObjectIdentifier: ParameterState] = [:]

    /// An optimizer over `groups`; checks every group's options and parameters.
    public init(groups: [ParameterGroup<Options>]) {
        Self.checkOrStop(groups)
        var seen = Set<ObjectIdentifier>()
        for g in groups {
            for p in g.parameters {
                guard p.dtype.isFloatingPoint else { fatalError("Axon.\(Self.self): parameters must be floating point, got \(p.dtype)") }
                guard seen.insert(ObjectIdentifier(p)).inserted else {
                    fatalError("Axon.\(Self.self): a parameter appears in more than one group (shape \(p.shape))")
                }
            }
        }
        self.groups = groups
        super.init()
    }

    private static func checkOrStop(_ groups: [ParameterGroup<Options>]) {
        for (i, g) in groups.enumerated() {
            do { try g.options.validate() } catch { fatalError("Axon.\(Self.self): group \(i): \(error)") }
        }
    }

    /// The per-parameter update rule: returns the new value of `parameter` given its gradient, its state (to
    /// update) and its group's options. Runs with recording off. A rule may instead update `parameter` in place
    /// (``/AxonCore/Tensor/addInPlace(_:alpha:scalingSelfBy:)``) and return it.
    open func update(_ parameter: Tensor, gradient: Tensor, state: inout ParameterState, options: Options) -> Tensor {
        fatalError("Axon.TypedOptimizer: \(Self.self) must override update(_:gradient:state:options:)")
    }

    // Closures, not key paths: a key path into this generic class's types is instantiated at run time on every call
    // (by name, through the runtime's demangler), which showed in the profile of every step's zeroGrad().
    public override var parameters: [Tensor] { groups.flatMap { $0.parameters } }

    public override var learningRates: [Double] {
        get { groups.map { $0.options.lr } }
        set {
            precondition(newValue.count == groups.count, "Axon.\(Self.self): \(newValue.count) learning rates for \(groups.count) groups")
            for i in groups.indices { groups[i].options.lr = newValue[i] }
        }
    }

    public override var cycledMomenta: [Double?] {
        get { groups.map { $0.options.cycledMomentum } }
        set {
            precondition(newValue.count == groups.count, "Axon.\(Self.self): \(newValue.count) momenta for \(groups.count) groups")
            for i in groups.indices where newValue[i] != nil { groups[i].options.cycledMomentum = newValue[i] }
        }
    }

    /// SGD's fused momentum steps, gathered while ``step()`` runs and run together, in one pass, at its end.
    var fusedSGDSteps: SGDMomentumBatch?

    public override func step() {
        withNoGrad {
            let fused = SGDMomentumBatch()
            fusedSGDSteps = fused
            defer {
                fusedSGDSteps = nil
                fused.run()
            }
            for group in groups {
                for p in group.parameters {
                    guard let g = p.grad else { continue }
                    let key = ObjectIdentifier(p)
                    var s = state[key] ?? ParameterState()
                    s.step += 1
                    let updated = update(p, gradient: g, state: &s, options: group.options)
                    if updated !== p { p.assign(updated) }
                    state[key] = s
                }
            }
        }
    }

    /// The optimizer's state as flat named tensors, with torch's `state_dict` names: "groups.G.NAME" (float64; a
    /// pair such as `betas` has two elements), and "state.I.step" (int64) and "state.I.NAME" per parameter index I
    /// (group order). The checkpoint code saves this. The tensors are copies (PyTorch's alias the live state), so
    /// a saved state stays as it was while training goes on.
    public override func stateDict() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (gi, g) in groups.enumerated() {
            for (name, values) in g.options.namedValues {
                out["groups.\(gi).\(name)"] = values.count == 1 ? Tensor(values[0], dtype: .float64) : Tensor(values, dtype: .float64)
            }
        }
        for (i, p) in parameters.enumerated() {
            guard let s = state[ObjectIdentifier(p)] else { continue }
            out["state.\(i).step"] = Tensor(shape: [], scalars: [s.step])
            for (k, t) in s.tensors { out["state.\(i).\(k)"] = t.detached().clone() }
        }
        return out
    }

    /// Restores a state written by ``stateDict()`` for the same parameters; checks names, indices, shapes and
    /// values before changing anything. Group options saved by earlier versions of Axon (camelCase names, `beta1` and
    /// `beta2`) load too.
    public override func loadStateDict(_ dict: [String: Tensor]) throws {
        let params = parameters
        var newGroups = groups
        var newState: [Int: ParameterState] = [:]
        let fields = Dictionary(uniqueKeysWithValues: Options.fields.map { ($0.name, $0) })
        for (key, value) in dict.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: ".", maxSplits: 2).map(String.init)
            guard parts.count == 3, let index = Int(parts[1]), index >= 0 else { throw OptimizerStateError("malformed key '\(key)'") }
            switch parts[0] {
            case "groups":
                guard index < groups.count else { throw OptimizerStateError("'\(key)' does not match \(groups.count) parameter groups") }
                var name = Self.pytorchName(parts[2])
                var values = value.count <= 2 ? value.doubleScalars : []
                if name == "beta1" || name == "beta2", let betas = fields["betas"], values.count == 1 {  // an older file
                    var pair = betas.read(newGroups[index].options)
                    pair[name == "beta1" ? 0 : 1] = values[0]
                    (name, values) = ("betas", pair)
                }
                guard let field = fields[name] else { throw OptimizerStateError("'\(key)': \(Self.self) has no option '\(parts[2])'") }
                guard field.write(&newGroups[index].options, values) else {
                    throw OptimizerStateError("'\(key)' has shape \(value.shape) or values that do not fit option '\(name)'")
                }
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
        for (i, g) in newGroups.enumerated() {
            do { try g.options.validate() } catch { throw OptimizerStateError("group \(i): \(error)") }
        }
        groups = newGroups
        state = [:]
        for (i, s) in newState { state[ObjectIdentifier(params[i])] = s }
    }

    /// PyTorch's snake_case for a camelCase name (`weightDecay` → `weight_decay`).
    static func pytorchName(_ name: String) -> String {
        name.reduce(into: "") { out, c in
            if c.isUppercase { out += "_" + c.lowercased() } else { out.append(c) }
        }
    }

    /// One group of `parameters` with `options`.
    static func single(_ parameters: [Tensor], _ options: Options) -> [ParameterGroup<Options>] {
        [ParameterGroup(parameters, options: options)]
    }
}

/// A problem with an optimizer state being loaded.
public struct OptimizerStateError: Error, CustomStringConvertible {
    /// What was wrong.
    public let description: String
    init(_ description: String) { self.description = "optimizer state: " + description }
}

/// Scales all gradients so that their global `normType`-norm is at most `maxNorm` (as
/// `torch.nn.utils.clip_grad_norm_`); returns the norm before clipping.
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Double, normType: Double = 2) -> Double {
    guard maxNorm >= 0, normType > 0 else { fatalError("Axon.clipGradNorm: maxNorm \(maxNorm) and normType \(normType) must be positive") }
    let grads = parameters.compactMap { $0.grad }
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
