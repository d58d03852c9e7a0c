import AxonCore

/// Marks a tensor property of a ``Module`` as a buffer: saved in the state dict and moved with the model,
/// but not a parameter (not trained). BatchNorm's running statistics are buffers.
@propertyWrapper
public final class Buffer {
    /// The buffer's current value.
    public var wrappedValue: Tensor
    /// Wraps an initial value.
    public init(wrappedValue: Tensor) { self.wrappedValue = wrappedValue }
}

/// A module that maps one tensor to another: what ``Sequential`` chains. Built-in layers conform; a
/// custom module with `func callAsFunction(_ x: Tensor) -> Tensor` conforms with `extension Net: Layer {}`.
public protocol Layer: Module {
    /// Applies the layer.
    func callAsFunction(_ input: Tensor) -> Tensor
}

/// Parameters whose names are computed rather than declared (a recurrent net's `weight_ih_l0_reverse`): a
/// module that stores them lists each under its own name, not the property's.
public struct NamedParameters {
    /// The parameters, in order, with their `state_dict` names.
    public let entries: [(name: String, tensor: Tensor)]
    /// Parameters with these names.
    public init(_ entries: [(name: String, tensor: Tensor)]) { self.entries = entries }
    /// The parameter called `name`.
    public subscript(_ name: String) -> Tensor? { entries.first { $0.name == name }?.tensor }
}

/// The base class of networks and layers, as `torch.nn.Module`.
///
/// Parameters, buffers and submodules are found by reflection over stored properties, in declaration
/// order: a `Tensor` (or `Tensor?`) property is a parameter, a `@Buffer` property a buffer, a `Module`
/// property a submodule; arrays of tensors or modules are numbered (`layers.0.weight`). Names follow
/// PyTorch's state_dict: Swift's camelCase properties become snake_case (`runningMean` is
/// `running_mean`), so a checkpoint loads into the same architecture written in PyTorch.
///
/// ## Modules across tasks
/// A module is a mutable reference type and is not `Sendable`: training, ``train(_:)``/``eval()``,
/// ``loadStateDict(_:strict:)`` and forward passes in training mode (BatchNorm updates its running statistics) change it.
/// To serve one trained model to concurrent requests, wrap it in an ``InferenceModel``, which is `Sendable`: it
/// keeps the model in evaluation mode and runs each forward pass without recording, which reads the parameters and
/// buffers and writes nothing shared, so every task gets the result a serial run gives, bitwise.
///
/// ## Topics
///
/// ### Parameters and submodules
/// - ``parameters()``
/// - ``namedParameters()``
/// - ``parameterCount``
/// - ``namedChildren()``
/// - ``zeroGrad()``
///
/// ### Modes
/// - ``isTraining``
/// - ``train(_:)``
/// - ``eval()``
///
/// ### Saving and loading weights
/// - ``stateDict()``
/// - ``stateDictKeys()``
/// - ``loadStateDict(_:strict:)``
///
/// ### Describing the model
/// - ``summary(inputShape:forward:)``
/// - ``layerDescription``
/// - ``traced(_:)``
open class Module {
    /// Whether the module is in training mode (dropout active, batch statistics in BatchNorm).
    public private(set) var isTraining = true

    /// Creates a module in training mode.
    public init() {}

    /// A direct member found by reflection.
    enum Member {
        case parameter(Tensor)
        case buffer(Buffer)
        case module(Module)
    }

    /// Direct members in declaration order (superclass properties first).
    func members() -> [(String, Member)] {
        var mirrors: [Mirror] = []
        var m: Mirror? = Mirror(reflecting: self)
        while let current = m { mirrors.append(current); m = current.superclassMirror }
        var out: [(String, Member)] = []
        for mirror in mirrors.reversed() {
            for child in mirror.children {
                guard var label = child.label else { continue }
                if child.value is Buffer, label.hasPrefix("_") { label.removeFirst() }
                Module.collect(Module.snakeCase(label), child.value, into: &out)
            }
        }
        return out
    }

    private static func collect(_ name: String, _ value: Any, into out: inout [(String, Member)]) {
        switch value {
        case let t as Tensor: out.append((name, .parameter(t)))
        case let b as Buffer: out.append((name, .buffer(b)))
        case let m as Module: out.append((name, .module(m)))
        case let named as NamedParameters: for (n, t) in named.entries { out.append((n, .parameter(t))) }
        case let ts as [Tensor]: for (i, t) in ts.enumerated() { out.append(("\(name).\(i)", .parameter(t))) }
        case let ms as [Module]: for (i, m) in ms.enumerated() { out.append(("\(name).\(i)", .module(m))) }
        default:
            let mirror = Mirror(reflecting: value)
            if mirror.displayStyle == .optional, let wrapped = mirror.children.first?.value {
                collect(name, wrapped, into: &out)
            } else if mirror.displayStyle == .collection {
                for (i, element) in mirror.children.enumerated() where element.value is Module || element.value is Tensor {
                    collect("\(name).\(i)", element.value, into: &out)
                }
            }
        }
    }

    /// camelCase to snake_case (`runningMean` -> `running_mean`; `conv1` and `fc3` stay as they are).
    static func snakeCase(_ name: String) -> String {
        var out = ""
        for c in name {
            if c.isUppercase {
                if !out.isEmpty && out.last != "_" && out.last != "." { out.append("_") }
                out.append(contentsOf: c.lowercased())
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// Direct submodules with their names (overridden by containers that name children by index).
    open func namedChildren() -> [(String, Module)] {
        members().compactMap { if case .module(let m) = $1 { return ($0, m) }; return nil }
    }

    /// This module and all submodules, depth first, with dotted names ("" for this one).
    public func namedModules(prefix: String = "") -> [(String, Module)] {
        var out = [(prefix, self)]
        for (name, child) in namedChildren() {
            out += child.namedModules(prefix: prefix.isEmpty ? name : "\(prefix).\(name)")
        }
        return out
    }

    /// Every parameter with its dotted name, in declaration order, each once.
    public func namedParameters() -> [(String, Tensor)] {
        var seen = Set<ObjectIdentifier>()
        var out: [(String, Tensor)] = []
        for (prefix, module) in namedModules() {
            for (name, member) in module.members() {
                if case .parameter(let t) = member, seen.insert(ObjectIdentifier(t)).inserted {
                    out.append((prefix.isEmpty ? name : "\(prefix).\(name)", t))
                }
            }
        }
        return out
    }

    /// Every parameter, in declaration order (what an optimizer takes).
    public func parameters() -> [Tensor] { namedParameters().map { $0.1 } }

    /// Every buffer with its dotted name.
    public func namedBuffers() -> [(String, Buffer)] {
        var out: [(String, Buffer)] = []
        for (prefix, module) in namedModules() {
            for (name, member) in module.members() {
                if case .buffer(let b) = member { out.append((prefix.isEmpty ? name : "\(prefix).\(name)", b)) }
            }
        }
        return out
    }

    /// Number of scalar parameters.
    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

    /// Parameters and buffers by PyTorch state_dict name, detached from any graph. The tensors are copies
    /// (PyTorch's alias the parameters), so a saved state stays as it was while training goes on.
    public func stateDict() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (name, t) in namedParameters() { out[name] = t.detached().clone() }
        for (name, b) in namedBuffers() { out[name] = b.wrappedValue.detached().clone() }
        return out
    }

    /// State-dict names in PyTorch's order: each module's parameters, then its buffers, then its
    /// submodules' entries (what a checkpoint writer lists).
    public func stateDictKeys() -> [String] {
        var out: [String] = []
        for (prefix, module) in namedModules() {
            let qualified = { (name: String) in prefix.isEmpty ? name : "\(prefix).\(name)" }
            let members = module.members()
            for (name, member) in members { if case .parameter = member { out.append(qualified(name)) } }
            for (name, member) in members { if case .buffer = member { out.append(qualified(name)) } }
        }
        return out
    }

    /// Copies values from `state` into parameters and buffers, as `load_state_dict`. With `strict`
    /// (the default) every name must be present and no other name may appear; shapes must match.
    /// Nothing is changed unless every check passes.
    public func loadStateDict(_ state: [String: Tensor], strict: Bool = true) throws {
        var targets: [String: (Tensor?, Buffer?)] = [:]
        for (name, t) in namedParameters() { targets[name] = (t, nil) }
        for (name, b) in namedBuffers() { targets[name] = (nil, b) }
        let missing = targets.keys.filter { state[$0] == nil }.sorted()
        let unexpected = state.keys.filter { targets[$0] == nil }.sorted()
        var mismatched: [String] = []
        for (name, value) in state {
            guard let (t, b) = targets[name] else { continue }
            let expected = t?.shape ?? b!.wrappedValue.shape
            if value.shape != expected { mismatched.append("\(name): checkpoint \(value.shape), model \(expected)") }
        }
        if !mismatched.isEmpty || (strict && (!missing.isEmpty || !unexpected.isEmpty)) {
            throw StateDictError(missing: strict ? missing : [], unexpected: strict ? unexpected : [],
                                 shapeMismatches: mismatched.sorted())
        }
        for (name, value) in state {
            guard let (t, b) = targets[name] else { continue }
            if let t { t.assign(value) }
            if let b { b.wrappedValue = value.detached().converted(to: b.wrappedValue.dtype).clone() }
        }
    }

    /// Sets training mode on this module and every submodule.
    @discardableResult
    public func train(_ mode: Bool = true) -> Self {
        for (_, m) in namedModules() { m.isTraining = mode }
        return self
    }

    /// Sets evaluation mode (as `train(false)`).
    @discardableResult
    public func eval() -> Self { train(false) }

    /// Resets every parameter's gradient.
    public func zeroGrad() { for p in parameters() { p.zeroGrad() } }

    /// The layer's type name and its configuration, e.g. `Linear(in: 2, out: 8, bias: true)`.
    open var layerDescription: String { String(describing: type(of: self)) }

    /// Records `output` for ``summary(inputShape:forward:)`` when a summary is being traced.
    public func traced(_ output: Tensor) -> Tensor {
        SummaryTrace.current?.record(self, output)
        return output
    }

    /// Records `output`, made from `input`, for a summary; while a model is traced for export, also marks it as this
    /// module's output (a view recorded as one op from `input`), so the export writes the module's own form for it
    /// instead of the ops inside. Built-in layers call this at the end of their forward pass.
    public func traced(_ output: Tensor, from input: Tensor) -> Tensor {
        SummaryTrace.current?.record(self, output)
        guard ExportTrace.isActive, GradMode.isEnabled, input.requiresGrad else { return output }
        return Tensor.record("module", [input], output.detached(), saving: [], traced: ["module": .object(self)]) { _ in [nil] }
    }
}

extension Module: CustomStringConvertible {
    /// A PyTorch-style tree of the module and its children.
    public var description: String {
        let children = namedChildren()
        if children.isEmpty { return layerDescription }
        let inner = children.map { name, m in
            "  (\(name)): " + m.description.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\n  ")
        }
        return "\(String(describing: type(of: self)))(\n" + inner.joined(separator: "\n") + "\n)"
    }
}

/// The errors `loadStateDict` reports, each naming the entries at fault.
public struct StateDictError: Error, CustomStringConvertible, Equatable {
    /// Names the model has and the state lacks.
    public let missing: [String]
    /// Names the state has and the model lacks.
    public let unexpected: [String]
    /// "name: checkpoint [shape], model [shape]" for each shape mismatch.
    public let shapeMismatches: [String]

    /// All problems in one message.
    public var description: String {
        var parts: [String] = []
        if !missing.isEmpty { parts.append("missing keys: \(missing.joined(separator: ", "))") }
        if !unexpected.isEmpty { parts.append("unexpected keys: \(unexpected.joined(separator: ", "))") }
        if !shapeMismatches.isEmpty { parts.append("shape mismatches: \(shapeMismatches.joined(separator: "; "))") }
        return "loadStateDict failed: " + parts.joined(separator: "; ")
    }
}

/// Collects (layer, output shape) pairs while a summary's forward pass runs. The trace is task-local: a summary
/// traces only the forward pass it runs, whatever runs on other tasks or threads meanwhile.
final class SummaryTrace: @unchecked Sendable {  // written only by the forward pass of the summary that bound it
    @TaskLocal static var current: SummaryTrace?
    var rows: [(Module, [Int])] = []
    func record(_ module: Module, _ output: Tensor) { rows.append((module, output.shape)) }
}

extension Module {
    /// A Keras-style summary: each layer that runs, its output shape for an input of `inputShape`,
    /// and its parameter count; then totals. `forward` runs the model (e.g. `net.callAsFunction`).
    /// It switches the model to evaluation mode for the pass, so run it while no other task uses the model.
    public func summary(inputShape: [Int], forward: (Tensor) -> Tensor) -> String {
        let trace = SummaryTrace()
        let wasTraining = isTraining
        eval()
        let output = SummaryTrace.$current.withValue(trace) { withNoGrad { forward(Tensor.zeros(inputShape)) } }
        train(wasTraining)
        var names: [ObjectIdentifier: String] = [:]
        for (name, m) in namedModules() where names[ObjectIdentifier(m)] == nil { names[ObjectIdentifier(m)] = name }
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
        var lines = [pad("Layer (type)", 34) + pad("Output shape", 22) + "Param #", String(repeating: "=", count: 66)]
        lines.append(pad("input", 34) + pad("\(inputShape)", 22) + "0")
        for (m, shape) in trace.rows {
            let own = m.members().reduce(0) { n, member in
                if case .parameter(let t) = member.1 { return n + t.count }
                return n
            }
            let label = "\(names[ObjectIdentifier(m)] ?? "?") (\(type(of: m)))"
            lines.append(pad(label, 34) + pad("\(shape)", 22) + "\(own)")
        }
        let trainable = parameters().filter(\.requiresGrad).reduce(0) { $0 + $1.count }
        lines.append(String(repeating: "=", count: 66))
        lines.append("Output: \(output.shape)")
        lines.append("Total params: \(parameterCount)")
        lines.append("Trainable params: \(trainable)")
        lines.append("Non-trainable params: \(parameterCount - trainable)")
        return lines.joined(separator: "\n")
    }
}

extension Layer {
    /// Keras-style summary for an input of `inputShape` (see ``Module/summary(inputShape:forward:)``).
    public func summary(inputShape: [Int]) -> String {
        summary(inputShape: inputShape) { self($0) }
    }
}

/// A model frozen for inference, which tasks may share: a server keeps one for all its requests.
///
/// Making one puts the model in evaluation mode; each call runs a forward pass under ``/AxonCore/withNoGrad(_:)``. A forward
/// pass in evaluation mode writes nothing the model holds, and the kernels and worker pool are safe for concurrent
/// callers, so any number of tasks may call it at once and each gets what a serial call gives. Do not train or
/// change ``model`` while an `InferenceModel` of it is in use.
public final class InferenceModel<Model: Layer>: @unchecked Sendable {  // read-only use of the model, as documented
    /// The model (in evaluation mode).
    public let model: Model

    /// Freezes `model` for inference (switches it to evaluation mode).
    public init(_ model: Model) {
        model.eval()
        self.model = model
    }

    /// The model's output for `input`, without recording.
    public func callAsFunction(_ input: Tensor) -> Tensor { withNoGrad { model(input) } }
}
