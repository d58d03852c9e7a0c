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
    let batch = SGDMomentumBatch()
    guard batch.add(param: param, buffer: buffer, gradient: gradient, momentum: momentum, dampening: dampening, lr: lr) else {
        return false
    }
    batch.run()
    return true
}

/// SGD momentum steps of several parameters, gathered by ``add(param:buffer:gradient:momentum:dampening:lr:)`` and
/// run by ``run()`` as one pass over all their elements, split across threads as one range (as PyTorch's
/// multi-tensor `foreach` step). A model's small tensors (biases, a last layer) then no longer run one after another
/// on one thread, each in its own round of the pool. Element by element it is ``sgdMomentumUpdate(param:buffer:gradient:momentum:dampening:lr:)``,
/// so the bits do not depend on how the parameters are gathered or split.
package final class SGDMomentumBatch {
    private struct Item {
        let param: SendablePointer<Float>, buffer: SendablePointer<Float>, gradient: SendablePointer<Float>
        let start: Int, count: Int
        let momentum: Float, alpha: Float, step: Float
    }
    private var items: [Item] = []
    private var written: [Tensor] = []  // the parameters and buffers: run() bumps their versions
    private var gradients: [Tensor] = []  // kept alive until run()
    private var total = 0

    package init() {}

    /// Adds one parameter's step, or returns false, having done nothing, where the fused pass cannot run (see
    /// ``sgdMomentumUpdate(param:buffer:gradient:momentum:dampening:lr:)``).
    package func add(param: Tensor, buffer: Tensor, gradient: Tensor, momentum: Double, dampening: Double, lr: Double) -> Bool {
        guard fusable([param, buffer, gradient]) else { return false }
        param.checkInPlace("sgdMomentumUpdate")
        buffer.checkInPlace("sgdMomentumUpdate")
        items.append(Item(param: floatPointer(param), buffer: floatPointer(buffer), gradient: floatPointer(gradient),
                          start: total, count: param.count, momentum: Float(momentum), alpha: Float(1 - dampening),
                          step: Float(-lr)))
        written += [param, buffer]
        gradients.append(gradient)
        total += param.count
        return true
    }

    /// Runs every gathered step, then empties the batch.
    package func run() {
        let items = self.items
        // A quarter of the elementwise grain: the step reads three values and writes two per element, mostly from
        // beyond L2, and the gradients it reads were made by every thread. LeNet's 60k parameters, below twice the
        // elementwise grain, ran on one thread: 65 µs a step on 2 threads of an Intel Xeon, 41-43 µs split (1 thread: 62).
        parallelFor(total, grain: elementwiseGrain / 4) { r in
            // The items this range covers (a few per model: a linear scan).
            for item in items where item.start < r.upperBound && item.start + item.count > r.lowerBound {
                let lo = Swift.max(r.lowerBound, item.start) - item.start, hi = Swift.min(r.upperBound, item.start + item.count) - item.start
                axon_sgd_momentum_f32(item.param.pointer + lo, item.buffer.pointer + lo, item.gradient.pointer + lo, hi - lo,
                                      item.momentum, item.alpha, item.step)
            }
        }
        for t in written { t.buffer.bumpVersion("sgdMomentumUpdate") }
        self.items = []
        written = []
        gradients = []
        total = 0
    }
}

/// Whether the fused updates can run on `tensors`: float32, contiguous, one shape, on the CPU backend.
private func fusable(_ tensors: [Tensor]) -> Bool {
    Backends.current is CPUBackend && tensors.allSatisfy { $0.dtype == .float32 && $0.isContiguous && $0.shape == tensors[0].shape }
}

private func floatPointer(_ t: Tensor) -> SendablePointer<Float> {
    SendablePointer(pointer: t.buffer.pointer(Float.self) + t.storageOffset)
}
