import _AxonKernels

/// Adam's step in one pass (`_AxonKernels/optim.c`): `output = base − ((m / c1) / (√v / sqrtC2 + eps))·lr`, with
/// the same float32 operations and roundings as the composed tensor ops, split across threads by element.
/// `output` may be `base`. Returns false, having done nothing, unless every tensor is float32, contiguous and of
/// one shape and the current backend is the CPU's (the caller then composes the ops). Like the other in-place
/// updates it runs outside the graph and bumps the output's version counter.
package func adamUpdate(base: Tensor, m: Tensor, v: Tensor, into output: Tensor, c1: Double, sqrtC2: Double, eps: Double,
                        lr: Double) -> Bool {
    let all = [base, m, v, output]
    guard Backends.current is CPUBackend, all.allSatisfy({ $0.dtype == .float32 && $0.isContiguous && $0.shape == base.shape }) else {
        return false
    }
    output.checkInPlace("adamUpdate")
    func pointer(_ t: Tensor) -> SendablePointer<Float> { SendablePointer(pointer: t.buffer.pointer(Float.self) + t.storageOffset) }
    let b = pointer(base), pm = pointer(m), pv = pointer(v), o = pointer(output)
    let c1f = Float(c1), s2f = Float(sqrtC2), epsf = Float(eps), lrf = Float(lr)
    parallelFor(base.count, grain: 1 << 15) { r in
        axon_adam_update_f32(b.pointer + r.lowerBound, pm.pointer + r.lowerBound, pv.pointer + r.lowerBound,
                             o.pointer + r.lowerBound, r.count, c1f, s2f, epsf, lrf)
    }
    output.buffer.bumpVersion("adamUpdate")
    return true
}
