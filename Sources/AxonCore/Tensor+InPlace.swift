// In-place updates outside autodiff, as PyTorch's `add_`, `mul_`, `addcmul_` and `relu_` under
// `torch.no_grad()`: what optimizers use so that a step allocates nothing. They write through views (into
// the base's buffer) and bump the buffer's version counter, so a recorded operation that still needs the
// old values stops the backward pass with a clear error instead of using the new ones.

extension Tensor {
    /// `other` in this tensor's dtype, after checking that the shapes match.
    private func operand(_ other: Tensor, _ op: String) -> Tensor {
        guard other.shape == shape else {
            axonFail(op, "shape \(other.shape) does not match the updated tensor's shape \(shape)")
        }
        guard dtype.isFloatingPoint else { axonFail(op, "needs a floating-point tensor, got \(dtype) with shape \(shape)") }
        return other.converted(to: dtype)
    }

    /// self ← beta·self + alpha·other, in place (`torch.Tensor.mul_(beta).add_(other, alpha=alpha)`).
    /// Same shapes; runs outside the graph (inside ``withNoGrad(_:)`` for tensors that require gradients).
    public func addInPlace(_ other: Tensor, alpha: Double = 1, scalingSelfBy beta: Double = 1) {
        let o = operand(other, "addInPlace")
        checkInPlace("addInPlace")
        Backends.current.axpby(strided, o.strided, alpha: alpha, beta: beta)
        buffer.bumpVersion("addInPlace")
    }

    /// self ← beta·self + alpha·a·b elementwise, in place (`mul_(beta).addcmul_(a, b, value=alpha)`).
    public func addProductInPlace(_ a: Tensor, _ b: Tensor, alpha: Double = 1, scalingSelfBy beta: Double = 1) {
        let x = operand(a, "addProductInPlace"), y = operand(b, "addProductInPlace")
        checkInPlace("addProductInPlace")
        Backends.current.axpbyProduct(strided, x.strided, y.strided, alpha: alpha, beta: beta)
        buffer.bumpVersion("addProductInPlace")
    }

    /// Sets every element to `value`, in place (`torch.Tensor.fill_`), outside the graph.
    public func fillInPlace(_ value: Double) {
        checkInPlace("fillInPlace")
        Backends.current.fill(strided, with: value)
        buffer.bumpVersion("fillInPlace")
    }

    /// Replaces every element x with max(x, 0), in place (`torch.relu_`), outside the graph.
    public func reluInPlace() { applyInPlace(.relu, "reluInPlace") }
    /// Replaces every element with its hyperbolic tangent, in place (`torch.tanh_`), outside the graph.
    public func tanhInPlace() { applyInPlace(.tanh, "tanhInPlace") }
    /// Replaces every element with its logistic sigmoid, in place (`torch.sigmoid_`), outside the graph.
    public func sigmoidInPlace() { applyInPlace(.sigmoid, "sigmoidInPlace") }

    private func applyInPlace(_ op: UnaryOp, _ name: String) {
        guard dtype.isFloatingPoint else { axonFail(name, "needs a floating-point tensor, got \(dtype) with shape \(shape)") }
        checkInPlace(name)
        Backends.current.unary(op, strided, into: strided)
        buffer.bumpVersion(name)
    }
}
