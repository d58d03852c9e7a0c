import Foundation
import _AxonKernels

// The reverse-mode engine, in one place (micrograd's shape): every recorded operation keeps its inputs
// and a closure that maps the gradient of its output to the gradients of its inputs; `backward()` sorts
// the graph topologically and runs the closures in reverse, accumulating into leaves' `.grad`.
// Derivative rules live beside each primitive's forward code (Tensor+*.swift) and are written with
// tensor operations, which run with recording off.

/// A recorded operation: its name, its inputs, and its derivative rule.
final class GradFn {
    let name: String
    let inputs: [Tensor]
    /// Maps the output's gradient to one gradient per input (nil where the input needs none).
    let backward: (Tensor) -> [Tensor?]

    init(name: String, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.backward = backward
    }
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
    /// and recording is on. Returns `output`.
    @discardableResult
    static func record(_ name: String, _ inputs: [Tensor], _ output: Tensor,
                       backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        guard GradMode.isEnabled, inputs.contains(where: { $0.requiresGrad }) else { return output }
        output.requiresGrad = true
        output.gradFn = GradFn(name: name, inputs: inputs, backward: backward)
        return output
    }

    /// Creates a leaf tensor for parameters and checked inputs.
    public func requiringGrad(_ flag: Bool = true) -> Tensor {
        let t = detached()
        t.requiresGrad = flag
        return t
    }

    /// Backpropagates from this tensor: accumulates d(self)/d(leaf) · `gradient` into `.grad` of every
    /// leaf that requires gradients. `gradient` defaults to 1 and may be omitted only for one-element
    /// tensors. The graph is released afterwards unless `retainGraph` is true.
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool = false) {
        guard requiresGrad else {
            axonFail("backward", "tensor does not require gradients and has no recorded history")
        }
        let seed: Tensor
        if let gradient {
            guard gradient.shape == shape else {
                axonFail("backward", "gradient shape \(gradient.shape) does not match tensor shape \(shape)")
            }
            seed = gradient.converted(to: dtype)
        } else {
            guard count == 1 else {
                axonFail("backward", "implicit gradient needs a one-element tensor, got shape \(shape); pass a gradient")
            }
            seed = Tensor.ones(shape, dtype: dtype)
        }

        // Topological order by iterative depth-first search (deep graphs must not overflow the stack).
        let pass = Tensor.nextPass()
        var order: [Tensor] = []
        var stack: [(Tensor, Bool)] = [(self, false)]
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

        pendingGrad = seed
        withNoGrad {
            for node in order.reversed() {
                guard let g = node.pendingGrad else { continue }
                node.pendingGrad = nil
                guard let fn = node.gradFn else {
                    node.grad = node.grad.map { $0 + g } ?? g
                    continue
                }
                let inputGrads = fn.backward(g)
                for (input, ig) in zip(fn.inputs, inputGrads) where input.requiresGrad {
                    guard let ig else { continue }
                    if ig.shape != input.shape {
                        axonFail("backward", "\(fn.name) produced gradient of shape \(ig.shape) for input of shape \(input.shape)")
                    }
                    input.pendingGrad = input.pendingGrad.map { $0 + ig } ?? ig
                }
            }
        }
        if !retainGraph {
            for node in order where node.gradFn != nil { node.gradFn = nil }
        }
    }
}
