import Foundation
import _AxonKernels

// The reverse-mode engine, in one place (micrograd's shape): every recorded operation keeps its inputs
// and a closure that maps the gradient of its output to the gradients of its inputs; the backward pass
// sorts the graph topologically and runs the closures in reverse, accumulating into leaves' `.grad`.
// Derivative rules live beside each primitive's forward code (Tensor+*.swift) and are written with
// tensor operations. They run with recording off, unless the caller asks for the gradient's own graph
// (`createGraph`), which is how second and higher derivatives are taken.
//
// The primitives, the only ops with a derivative rule of their own:
// - elementwise: add (with alpha; sub is add with alpha -1), mul, div, pow, maximum, where, exp, log,
//   log1p (accuracy near 0), sqrt, sin, erf, tanh, sigmoid, relu, to(dtype);
// - reductions: sum, max; logSoftmax over the last axis;
// - products: matmul (matrices and batches), addmm (the linear layer);
// - convolution and pooling: conv2d and its input and weight gradients, maxPool2d, avgPool2d and its adjoint;
// - movement: reshape, permute, expand, slice, unfold, concat, clone, gather and scatter-add by flat index;
// - customOp (rules written outside the core).
// Everything else is a composite: neg = x·(-1), cos = sin(x + π/2), abs = maximum(x, -x),
// minimum = -maximum(-a, -b), min = -max(-x), softmax, logsumexp, mean, variance, gelu, softplus, ...
// Fused exceptions (tanh/sigmoid/relu backward, logSoftmax, addmm, conv2d) say why in a comment, and use
// their composite form when the backward pass is recorded.

/// A recorded operation: its name, its inputs, its derivative rule, and the versions of the tensors the
/// rule reads (PyTorch's saved tensors).
package final class GradFn {
    package let name: String
    package let inputs: [Tensor]
    /// What an export needs to write the op (its axes, windows, ...): set only while ``ExportTrace`` is active.
    package var traced: [String: TracedAttribute] = [:]
    /// Maps the output's gradient to one gradient per input (nil where the input needs none).
    let backward: (Tensor) -> [Tensor?]
    /// The version of each input's buffer when the operation ran, -1 for inputs the rule does not read
    /// (nil when it reads none). Plain integers: recording them retains nothing.
    let inputVersions: [Int]?
    /// Other tensors the rule reads (the output, a mask), with their versions.
    let otherSaved: [SavedVersion]
    /// For a slice: the region of the input's shape that the output views. The backward pass then adds the
    /// gradient into that region of the input's accumulated gradient, instead of building a zero tensor of the
    /// input's shape for each slice (a recurrent net slices every time step out of one projection).
    var regionOfInput: ((Tensor) -> Tensor)? = nil

    init(name: String, inputs: [Tensor], inputVersions: [Int]?, otherSaved: [SavedVersion],
         backward: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.inputVersions = inputVersions
        self.otherSaved = otherSaved
        self.backward = backward
    }

    /// Stops, naming this operation and the in-place one, when a tensor the rule reads has changed.
    func checkSavedVersions() {
        if let versions = inputVersions {
            for (t, v) in zip(inputs, versions) where v >= 0 && t.buffer.version != v {
                fail("input", t.shape, t.buffer, v)
            }
        }
        for s in otherSaved where s.buffer.version != s.version { fail(s.role, s.shape, s.buffer, s.version) }
    }

    private func fail(_ role: String, _ shape: [Int], _ buffer: TensorBuffer, _ version: Int) -> Never {
        axonFail("backward", "\(name) needs its \(role) (shape \(shape)) as it was when \(name) ran, but the "
                 + "in-place operation \(buffer.lastWriter) modified it afterwards (version \(version) -> "
                 + "\(buffer.version)); change a clone() instead, or run backward before the in-place change")
    }
}

/// A tensor other than an input that a derivative rule reads, and its buffer's version at record time.
struct SavedVersion {
    let buffer: TensorBuffer
    let version: Int
    let shape: [Int]
    /// "output" or "input", for the error message.
    let role: String
}

/// An attribute an op records while a model is traced for export (ONNX): see ``ExportTrace``.
package enum TracedAttribute {
    case int(Int)
    case ints([Int])
    case tensor(Tensor)
    case object(AnyObject)
}

/// Whether ops record their attributes for an export on this thread. An export runs the model's forward pass with
/// this on, then reads the recorded graph; ops that are not differentiable (comparisons, the step) are recorded too.
/// A thread-local depth in C, as grad mode: every recorded op reads it, so it must cost nothing.
package enum ExportTrace {
    package static var isActive: Bool { axon_export_trace_depth() > 0 }

    /// Runs `body` with tracing on (on this thread).
    package static func tracing<R>(_ body: () throws -> R) rethrows -> R {
        axon_export_trace_push()
        defer { axon_export_trace_pop() }
        return try body()
    }
}

extension Tensor {
    /// `detached()`, except while an export traces the forward pass: there the value must stay in the graph it reads.
    package func detachedUnlessTraced() -> Tensor { ExportTrace.isActive ? self : detached() }
}

/// Whether operations are being recorded on this thread.
public enum GradMode {
    /// False inside ``withNoGrad(_:)``.
    public static var isEnabled: Bool { axon_grad_disabled_depth() == 0 }
}

/// Runs `body` with recording off on this thread, as `torch.no_grad()`: no graph is built, so
/// evaluation costs no memory for backward.
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
    axon_grad_disabled_push()
    defer { axon_grad_disabled_pop() }
    return try body()
}

/// Runs `body` with recording on (inside ``withNoGrad(_:)`` too), as `torch.enable_grad()`.
public func withGrad<R>(_ body: () throws -> R) rethrows -> R {
    var popped = 0
    while axon_grad_disabled_depth() > 0 { axon_grad_disabled_pop(); popped += 1 }
    defer { for _ in 0..<popped { axon_grad_disabled_push() } }
    return try body()
}

/// Numbers backward passes (visit marks on tensors compare against it).
private let passLock = NSLock()
nonisolated(unsafe) private var passCounter = 0

extension Tensor {
    /// A new backward-pass number.
    static func nextPass() -> Int {
        passLock.lock(); defer { passLock.unlock() }
        passCounter += 1
        return passCounter
    }

    /// Records `output` as the result of `name` applied to `inputs` when any input requires gradients
    /// and recording is on. `saving` lists the tensors the derivative reads (all inputs when nil) and
    /// `savingOutput` whether it reads the output: their versions are checked by the backward pass.
    /// Returns `output`.
    /// `traced` gives the op's attributes for an export, evaluated only while ``ExportTrace`` is active.
    @discardableResult
    package static func record(_ name: String, _ inputs: [Tensor], _ output: Tensor, saving: [Tensor]? = nil,
                               savingOutput: Bool = false, traced: @autoclosure () -> [String: TracedAttribute] = [:],
                               backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        guard GradMode.isEnabled, inputs.contains(where: { $0.requiresGrad }) else { return output }
        var versions: [Int]? = nil, others: [SavedVersion] = []
        if let saving, !saving.isEmpty {  // a subset of the inputs, or tensors that are not inputs
            var marked = [Int](repeating: -1, count: inputs.count)
            for t in saving {
                if let i = inputs.firstIndex(where: { $0 === t }) {
                    marked[i] = t.buffer.version
                } else {
                    others.append(SavedVersion(buffer: t.buffer, version: t.buffer.version, shape: t.shape, role: "input"))
                }
            }
            versions = marked
        } else if saving == nil {
            versions = inputs.map { $0.buffer.version }
        }
        if savingOutput {
            others.append(SavedVersion(buffer: output.buffer, version: output.buffer.version, shape: output.shape, role: "output"))
        }
        // Only an export's trace records ops with integer or bool outputs (comparisons): those have no gradient.
        if output.dtype.isFloatingPoint { output.requiresGrad = true }
        output.gradFn = GradFn(name: name, inputs: inputs, inputVersions: versions, otherSaved: others, backward: backward)
        if ExportTrace.isActive { output.gradFn!.traced = traced() }
        return output
    }

    /// Creates a leaf tensor for parameters and checked inputs (sharing this tensor's buffer).
    public func requiringGrad(_ flag: Bool = true) -> Tensor {
        let t = detached()
        t.requiresGrad = flag
        return t
    }

    /// Backpropagates from this tensor: accumulates d(self)/d(leaf) · `gradient` into `.grad` of every
    /// leaf that requires gradients. `gradient` defaults to 1 and may be omitted only for one-element
    /// tensors. With `createGraph`, the gradients are themselves recorded (so they can be differentiated
    /// again); the graph is released afterwards unless `retainGraph` is true (its default is `createGraph`,
    /// as PyTorch's).
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool? = nil, createGraph: Bool = false) {
        _ = Tensor.runBackward(from: self, seed: gradient, targets: nil, createGraph: createGraph,
                               retainGraph: retainGraph ?? createGraph)
    }

    /// Runs `hook` with this leaf each time a backward pass has finished accumulating into its `.grad`, while
    /// the rest of the pass may still be running, as PyTorch's `register_post_accumulate_grad_hook`.
    /// `DistributedDataParallel` starts a bucket's all-reduce from it. Not run by
    /// ``gradients(of:withRespectTo:gradOutputs:createGraph:retainGraph:)``, which leaves `.grad` untouched.
    public func registerPostAccumulateGradHook(_ hook: @escaping (Tensor) -> Void) {
        guard isLeaf else { axonFail("registerPostAccumulateGradHook", "only leaves accumulate .grad, got a tensor made by \(gradFn!.name) with shape \(shape)") }
        postAccumulateGradHooks.append(hook)
    }

    /// Removes every hook added by ``registerPostAccumulateGradHook(_:)``.
    public func removePostAccumulateGradHooks() { postAccumulateGradHooks = [] }

    /// The engine: the reverse topological walk from `root`. Accumulates into leaves' `.grad` when
    /// `targets` is nil; otherwise returns the gradient of each target (zeros where none flows) and
    /// leaves every `.grad` untouched.
    static func runBackward(from root: Tensor, seed gradient: Tensor?, targets: [Tensor]?, createGraph: Bool,
                            retainGraph: Bool) -> [Tensor]? {
        guard root.requiresGrad else {
            axonFail("backward", "tensor does not require gradients and has no recorded history")
        }
        let seed: Tensor
        if let gradient {
            guard gradient.shape == root.shape else {
                axonFail("backward", "gradient shape \(gradient.shape) does not match tensor shape \(root.shape)")
            }
            seed = gradient.converted(to: root.dtype)
        } else {
            guard root.count == 1 else {
                axonFail("backward", "implicit gradient needs a one-element tensor, got shape \(root.shape); pass a gradient")
            }
            seed = Tensor.ones(root.shape, dtype: root.dtype)
        }

        // Topological order by iterative depth-first search (deep graphs must not overflow the stack).
        let pass = Tensor.nextPass()
        var order: [Tensor] = [], stack: [(Tensor, Bool)] = []
        order.reserveCapacity(64)  // a small net's graph without regrowing either array
        stack.reserveCapacity(64)
        stack.append((root, false))
        while let (node, expanded) = stack.popLast() {
            if expanded { order.append(node); continue }
            if node.visitedInPass == pass { continue }
            node.visitedInPass = pass
            node.pendingGrad = nil
            stack.append((node, true))
            for input in node.gradFn?.inputs ?? [] where input.requiresGrad && input.visitedInPass != pass {
                stack.append((input, false))
            }
        }

        root.pendingGrad = seed
        let found = createGraph ? withGrad { walk(order, targets: targets) } : withNoGrad { walk(order, targets: targets) }
        if !retainGraph {
            for node in order where node.gradFn != nil { node.gradFn = nil }
        }
        guard let targets else { return nil }
        return targets.enumerated().map { i, t in found[i] ?? Tensor.zeros(like: t) }
    }

    /// Runs the derivative rules of `order` in reverse. Accumulates into leaves' `.grad` when `targets` is
    /// nil; otherwise returns each target's gradient, taken when the walk reaches it (every consumer has run).
    private static func walk(_ order: [Tensor], targets: [Tensor]?) -> [Tensor?] {
        var found = [Tensor?](repeating: nil, count: targets?.count ?? 0)
        // Gradients this walk allocated itself and no one else holds: accumulated into in place (outside a
        // recorded backward pass). Others (an op may hand its incoming gradient on unchanged) are never written.
        var owned = Set<ObjectIdentifier>()
        for node in order.reversed() {
            guard let g = node.pendingGrad else { continue }
            node.pendingGrad = nil
            if let targets {
                for (i, t) in targets.enumerated() where t === node { found[i] = g }
            } else if node.gradFn == nil {
                // A leaf's .grad is a tensor of its own layout: an expanded or strided view (the gradient
                // of a sum, a slice) is made contiguous, as PyTorch's AccumulateGrad does.
                node.grad = node.grad.map { $0 + g } ?? (g.isContiguous ? g : g.contiguous())
                for hook in node.postAccumulateGradHooks { hook(node) }
                continue
            }
            guard let fn = node.gradFn else { continue }
            fn.checkSavedVersions()
            if let region = fn.regionOfInput, !GradMode.isEnabled, let input = fn.inputs.first, input.requiresGrad,
               g.dtype == input.dtype, g.shape == node.shape {
                region(accumulator(for: input, &owned)).addInPlace(g)
                continue
            }
            let inputGrads = fn.backward(g)
            guard inputGrads.count == fn.inputs.count else {
                axonFail("backward", "\(fn.name) returned \(inputGrads.count) gradients for \(fn.inputs.count) inputs")
            }
            for (input, ig) in zip(fn.inputs, inputGrads) where input.requiresGrad {
                guard let ig else { continue }
                if ig.shape != input.shape {
                    axonFail("backward", "\(fn.name) produced gradient of shape \(ig.shape) for input of shape \(input.shape)")
                }
                let typed = ig.dtype == input.dtype ? ig : ig.converted(to: input.dtype)
                if !owned.isEmpty, let p = input.pendingGrad, owned.contains(ObjectIdentifier(p)) {  // only outside a recorded pass
                    p.addInPlace(typed)
                } else {
                    input.pendingGrad = input.pendingGrad.map { $0 + typed } ?? typed
                }
            }
        }
        return found
    }

    /// The gradient `input` is accumulating, as a buffer this pass owns (made from zeros and what it had so far
    /// the first time), so that contributions can be added into it in place.
    private static func accumulator(for input: Tensor, _ owned: inout Set<ObjectIdentifier>) -> Tensor {
        if let p = input.pendingGrad, owned.contains(ObjectIdentifier(p)) { return p }
        let z = Tensor.zeros(input.shape, dtype: input.dtype)
        if let p = input.pendingGrad { z.addInPlace(p) }
        owned.insert(ObjectIdentifier(z))
        input.pendingGrad = z
        return z
    }
}

/// The gradients of `output` with respect to each of `inputs`, as `torch.autograd.grad`, without touching
/// any `.grad`. `gradOutputs` weights the output (it may be omitted for a one-element output). With
/// `createGraph`, the gradients are recorded and can be differentiated again (Hessian-vector products,
/// gradient penalties); the graph is kept unless `retainGraph` is false (its default is `createGraph`).
/// An input that the output does not depend on gets zeros.
public func gradients(of output: Tensor, withRespectTo inputs: [Tensor], gradOutputs: Tensor? = nil,
                      createGraph: Bool = false, retainGraph: Bool? = nil) -> [Tensor] {
    Tensor.runBackward(from: output, seed: gradOutputs, targets: inputs, createGraph: createGraph,
                       retainGraph: retainGraph ?? createGraph)!
}

/// A differentiable operation defined outside the core, as `torch.autograd.Function`: `forward` computes
/// the output from `inputs` (with recording off), and `backward(gradOutput, inputs, output)` returns one
/// gradient per input (nil where none flows). Write `backward` with tensor operations and it can be
/// differentiated again (`createGraph`). The version counter guards the inputs and the output: changing
/// one in place before the backward pass stops with an error naming `name`.
public func customOp(_ name: String, inputs: [Tensor], forward: ([Tensor]) -> Tensor,
                     backward: @escaping (_ gradOutput: Tensor, _ inputs: [Tensor], _ output: Tensor) -> [Tensor?]) -> Tensor {
    let computed = withNoGrad { forward(inputs) }
    // A forward that hands back one of its inputs (or any recorded tensor) gets a fresh view to record on.
    let output = computed.gradFn == nil && !inputs.contains(where: { $0 === computed }) ? computed : computed.detached()
    return Tensor.record(name, inputs, output, savingOutput: true) { [unowned output] g in
        let grads = backward(g, inputs, output)
        guard grads.count == inputs.count else {
            axonFail(name, "backward returned \(grads.count) gradients for \(inputs.count) inputs")
        }
        return grads
    }
}

/// The protocol form of ``customOp(_:inputs:forward:backward:)``: a type with a forward and a backward,
/// applied with `apply(_:)`.
public protocol DifferentiableFunction {
    /// The name used in graph printouts and errors.
    static var name: String { get }
    /// The output for `inputs` (runs with recording off).
    static func forward(_ inputs: [Tensor]) -> Tensor
    /// One gradient per input from the output's gradient.
    static func backward(_ gradOutput: Tensor, _ inputs: [Tensor], _ output: Tensor) -> [Tensor?]
}

extension DifferentiableFunction {
    /// Runs the function on `inputs`, recording it for autodiff.
    public static func apply(_ inputs: Tensor...) -> Tensor {
        customOp(name, inputs: inputs, forward: forward, backward: backward)
    }
}
