import _AxonKernels

// In-place updates outside autodiff, as PyTorch's `add_`, `mul_` and `addcmul_` under `torch.no_grad()`:
// what optimizers use so that a step allocates nothing. The storage is a Swift array, so a buffer shared
// with another tensor (a `detached()` copy, a saved state) is copied on first write and never changes
// under that other tensor.

extension Tensor {
    /// Runs `body` on this tensor's elements, mutably. The array leaves the enum first so that, when no
    /// other tensor shares it, the write happens in place instead of copying.
    private func mutateFloats(_ op: String, _ f32: (UnsafeMutablePointer<Float>) -> Void,
                             _ f64: (UnsafeMutablePointer<Double>) -> Void) {
        if requiresGrad && GradMode.isEnabled {
            axonFail(op, "an in-place update of a tensor that requires gradients must run inside withNoGrad (shape \(shape))")
        }
        switch storage {
        case .float32(var a):
            storage = .int64([])
            a.withUnsafeMutableBufferPointer { if let p = $0.baseAddress { f32(p) } }
            storage = .float32(a)
        case .float64(var a):
            storage = .int64([])
            a.withUnsafeMutableBufferPointer { if let p = $0.baseAddress { f64(p) } }
            storage = .float64(a)
        case .int64:
            axonFail(op, "needs a floating-point tensor, got int64 with shape \(shape)")
        }
    }

    /// `other` in this tensor's dtype, after checking that the shapes match.
    private func operand(_ other: Tensor, _ op: String) -> Tensor {
        guard other.shape == shape else {
            axonFail(op, "shape \(other.shape) does not match the updated tensor's shape \(shape)")
        }
        return other.converted(to: dtype)
    }

    /// self ← beta·self + alpha·other, in place (`torch.Tensor.mul_(beta).add_(other, alpha=alpha)`).
    /// Same shapes; runs outside the graph (inside ``withNoGrad(_:)`` for tensors that require gradients).
    public func addInPlace(_ other: Tensor, alpha: Double = 1, scalingSelfBy beta: Double = 1) {
        let o = operand(other, "addInPlace")
        let n = count
        // The operand's elements are taken before the update (it may be this very tensor).
        let storage = o.storage
        mutateFloats("addInPlace", { p in
            if case .float32(let a) = storage { a.withUnsafeBufferPointer { axpby(p, $0.baseAddress!, n, Float(alpha), Float(beta)) } }
        }, { p in
            if case .float64(let a) = storage { a.withUnsafeBufferPointer { axpby(p, $0.baseAddress!, n, alpha, beta) } }
        })
    }

    /// self ← beta·self + alpha·a·b elementwise, in place (`mul_(beta).addcmul_(a, b, value=alpha)`).
    public func addProductInPlace(_ a: Tensor, _ b: Tensor, alpha: Double = 1, scalingSelfBy beta: Double = 1) {
        let x = operand(a, "addProductInPlace"), y = operand(b, "addProductInPlace")
        let n = count
        let (sx, sy) = (x.storage, y.storage)  // taken before the update (either may be this tensor)
        mutateFloats("addProductInPlace", { p in
            guard case .float32(let a) = sx, case .float32(let b) = sy else { return }
            a.withUnsafeBufferPointer { px in
                b.withUnsafeBufferPointer { py in axpbyProduct(p, px.baseAddress!, py.baseAddress!, n, Float(alpha), Float(beta)) }
            }
        }, { p in
            guard case .float64(let a) = sx, case .float64(let b) = sy else { return }
            a.withUnsafeBufferPointer { px in
                b.withUnsafeBufferPointer { py in axpbyProduct(p, px.baseAddress!, py.baseAddress!, n, alpha, beta) }
            }
        })
    }
}

/// y ← beta·y + alpha·x (beta = 1 skips the multiply, so the common `add_` rounds as PyTorch's).
@inline(__always)
private func axpby<T: AxonFloat>(_ y: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>, _ n: Int, _ alpha: T, _ beta: T) {
    let out = SendablePointer(pointer: y), src = SendablePointer(pointer: UnsafeMutablePointer(mutating: x))
    parallelFor(n, grain: elementwiseGrain) { range in
        let y = out.pointer, x = src.pointer
        if beta == 1 {
            for i in range { y[i] += alpha * x[i] }
        } else {
            for i in range { y[i] = y[i] * beta + alpha * x[i] }
        }
    }
}

/// y ← beta·y + alpha·a·b.
@inline(__always)
private func axpbyProduct<T: AxonFloat>(_ y: UnsafeMutablePointer<T>, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>,
                                        _ n: Int, _ alpha: T, _ beta: T) {
    let out = SendablePointer(pointer: y)
    let pa = SendablePointer(pointer: UnsafeMutablePointer(mutating: a)), pb = SendablePointer(pointer: UnsafeMutablePointer(mutating: b))
    parallelFor(n, grain: elementwiseGrain) { range in
        let y = out.pointer, a = pa.pointer, b = pb.pointer
        for i in range { y[i] = y[i] * beta + alpha * (a[i] * b[i]) }
    }
}

extension Tensor {
    /// Replaces every element x with max(x, 0), in place (`torch.relu_`), outside the graph.
    public func reluInPlace() { applyInPlace(.relu, "reluInPlace") }
    /// Replaces every element with its hyperbolic tangent, in place (`torch.tanh_`), outside the graph.
    public func tanhInPlace() { applyInPlace(.tanh, "tanhInPlace") }
    /// Replaces every element with its logistic sigmoid, in place (`torch.sigmoid_`), outside the graph.
    public func sigmoidInPlace() { applyInPlace(.sigmoid, "sigmoidInPlace") }

    private func applyInPlace(_ op: UnaryOp, _ name: String) {
        let n = count
        mutateFloats(name, { p in unaryInPlace(op, p, n) }, { p in unaryInPlace(op, p, n) })
    }
}

/// x ← op(x) elementwise, with the same arithmetic as the out-of-place kernel.
@inline(__always)
private func unaryInPlace<T: AxonFloat>(_ op: UnaryOp, _ x: UnsafeMutablePointer<T>, _ n: Int) {
    let p = SendablePointer(pointer: x)
    parallelFor(n, grain: op == .relu ? elementwiseGrain : elementwiseGrain / 8) { range in
        let x = p.pointer
        if op == .relu && T.self == Float.self {
            axon_relu_f32(floats(x + range.lowerBound), mutableFloats(x + range.lowerBound), range.count)
        } else if op == .relu {
            for i in range { x[i] = x[i] > 0 ? x[i] : 0 }
        } else {
            for i in range { x[i] = applyUnary(op, x[i]) }
        }
    }
}
