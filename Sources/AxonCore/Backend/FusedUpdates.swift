import _AxonKernels

/// Adam's step in one pass (`_AxonKernels/optim.c`): `output = base − ((m / c1) / (√v / sqrtC2 + eps))·lr`, with
/// the same float32 operations and roundings as the composed tensor ops, split across threads by element.
/// `output` may be `base`. Returns false, having done nothing, unless every tensor is float32, contiguous and of
/// one shape and the current backend is the CPU's (the caller then composes the ops). Like the other in-place
/// updates it runs outside the graph and bumps the output's version counter.
package func adamUpdate(base: Tensor, m: Tensor, v: Tensor, into output: Tensor, c1: Double, sqrtC2: Double, eps: Double,
                        lr: Double) -> Bool {
    guard fusable([base, m, v, output]) else { return false }
    output.checkInPlace("adamUpdate")
    let b = floatPointer(base), pm = floatPointer(m), pv = floatPointer(v), o = floatPointer(output)
    let c1f = Float(c1), s2f = Float(sqrtC2), epsf = Float(eps), lrf = Float(lr)
    parallelFor(base.count, grain: 1 << 15) { r in
        axon_adam_update_f32(b.pointer + r.lowerBound, pm.pointer + r.lowerBound, pv.pointer + r.lowerBound,
                             o.pointer + r.lowerBound, r.count, c1f, s2f, epsf, lrf)
    }
    output.buffer.bumpVersion("adamUpdate")
    return true
}

/// SGD's momentum step in one pass: `buffer ← buffer·momentum + gradient·(1 − dampening)`, then
/// `param ← param − lr·buffer`, each element read and written once instead of once per update. The same
/// operations and roundings as the two `addInPlace` calls it replaces, so the same bits. The same conditions as
/// ``adamUpdate(base:m:v:into:c1:sqrtC2:eps:lr:)``: it returns false, having done nothing, unless every tensor
/// is float32, contiguous and of one shape on the CPU backend.
package func sgdMomentumUpdate(param: Tensor, buffer: Tensor, gradient: Tensor, momentum: Double, dampening: Double,
                               lr: Double) -> Bool {
    guard fusable([param, buffer, gradient]) else { return false }
    param.checkInPlace("sgdMomentumUpdate")
    buffer.checkInPlace("sgdMomentumUpdate")
    let p = floatPointer(param), b = floatPointer(buffer), g = floatPointer(gradient)
    let mu = Float(momentum), alpha = Float(1 - dampening), step = Float(-lr)
    parallelFor(param.count, grain: elementwiseGrain) { r in
        let p = p.pointer, b = b.pointer, g = g.pointer
        for i in r {
            let v = b[i] * mu + alpha * g[i]
            b[i] = v
            p[i] += step * v
        }
    }
    buffer.buffer.bumpVersion("sgdMomentumUpdate")
    param.buffer.bumpVersion("sgdMomentumUpdate")
    return true
}

/// Whether the fused updates can run on `tensors`: float32, contiguous, one shape, on the CPU backend.
private func fusable(_ tensors: [Tensor]) -> Bool {
    Backends.current is CPUBackend && tensors.allSatisfy { $0.dtype == .float32 && $0.isContiguous && $0.shape == tensors[0].shape }
}

private func floatPointer(_ t: Tensor) -> SendablePointer<Float> {
    SendablePointer(pointer: t.buffer.pointer(Float.self) + t.storageOffset)
}
