import AxonCore

/// A whole LSTM direction as one custom op: from the direction's input `input` `[T, B, F]`, its input weights
/// `weightIH` `[4H, F]` and `bias` `[4H]` (b_ih + b_hh, or nil), the initial state `h0`, `c0` `[B, H]` and the hidden
/// weights `weightHH` `[4H, H]`, the states of every step packed as `[T, B, 2H]` (h_t, then c_t). `reverse` runs from
/// the last step to the first; `lengths` (one per sequence) stops a sequence's state from changing past its length.
///
/// The input projection of every step, x·W_ihᵀ + b, is one product written straight into the buffer where the gates
/// are then activated in place, step by step (a separate linear layer's output had to be copied there), and its
/// derivatives are taken from the gates' gradient with the products a linear layer's backward pass makes. Time-major,
/// so that a step's gates, states and their gradients are contiguous blocks, with no transposes either way.
///
/// The forward pass makes one product per step (h·W_hhᵀ added into the projection) and runs the activations
/// through the vectorised kernels. The backward pass walks the steps in reverse with one product per step for
/// the recurrent gradient, and then takes the weight gradient as a single product over all steps,
/// dW_hh = Σ_t dGates_tᵀ·h_{t−1}, as cuDNN and PyTorch's CPU kernels do; recorded step by step, it was 64 thin
/// products and 64 accumulations of a [4H, H] gradient per sequence. When the backward pass is recorded
/// (second derivatives), the derivative comes from the same recurrence built from differentiable ops.
func lstmRecurrence(_ input: Tensor, weightIH: Tensor, bias: Tensor?, _ h0: Tensor, _ c0: Tensor, weightHH: Tensor, reverse: Bool,
                    lengths: [Int]?) -> Tensor {
    // Mixed float dtypes promote as in the products they replace.
    let given = [input, weightIH, h0, c0, weightHH] + (bias.map { [$0] } ?? [])
    let dtype: DType = given.contains { $0.dtype == .float64 } ? .float64 : input.dtype
    let inputs = given.map { $0.converted(to: dtype) }
    let t = input.shape[0], b = input.shape[1], f = input.shape[2], h = h0.shape[1]
    guard input.rank == 3, weightIH.shape == [4 * h, f], bias.map({ $0.shape == [4 * h] }) ?? true, h0.shape == [b, h],
          c0.shape == [b, h], weightHH.shape == [4 * h, h], inputs.allSatisfy({ $0.dtype.isFloatingPoint }) else {
        fatalError("Axon.LSTM: input \(input.shape) (\(input.dtype)), weight_ih \(weightIH.shape), bias \(bias?.shape ?? []), h0 \(h0.shape), c0 \(c0.shape) and weight_hh \(weightHH.shape) do not fit")
    }
    let order = reverse ? Array((0..<t).reversed()) : Array(0..<t)
    // Kept by the forward pass: the input as rows [T·B, F], the activated gates (i, f, g, o) and tanh(c_t) of every
    // step, time-major.
    var kept: (rows: Tensor, gates: Tensor, tanhC: Tensor)? = nil
    return customOp("lstm", inputs: inputs, forward: { v in
        let dtype = v[0].dtype
        let rows = v[0].reshaped([t * b, f])
        let gates = Tensor.empty([t, b, 4 * h], dtype: dtype)  // x·W_ihᵀ + b, activated in place step by step
        if v.count > 5 {
            Backends.current.matmul(rows.strided, v[1].strided, transposeA: false, transposeB: true, bias: v[5].strided,
                                    into: gates.reshaped([t * b, 4 * h]).strided)
        } else {
            Backends.current.matmul(rows.strided, v[1].strided, transposeA: false, transposeB: true,
                                    into: gates.reshaped([t * b, 4 * h]).strided, accumulate: false)
        }
        let tanhC = Tensor.empty([t, b, h], dtype: dtype), states = Tensor.empty([t, b, 2 * h], dtype: dtype)
        var hPrev = v[2].contiguous(), cPrev = v[3].contiguous()
        for step in order {
            let g = gates.sliced(axis: 0, step..<step + 1).reshaped([b, 4 * h])
            Backends.current.matmul(hPrev.strided, v[4].strided, transposeA: false, transposeB: true, into: g.strided, accumulate: true)
            let tc = tanhC.sliced(axis: 0, step..<step + 1).reshaped([b, h])
            let hNext = Tensor.empty([b, h], dtype: dtype), cNext = Tensor.empty([b, h], dtype: dtype)
            if dtype == .float64 {
                g.sliced(axis: 1, 0..<2 * h).sigmoidInPlace()
                g.sliced(axis: 1, 2 * h..<3 * h).tanhInPlace()
                g.sliced(axis: 1, 3 * h..<4 * h).sigmoidInPlace()
                lstmStepForward(g, cPrev, tc, hPrev, hNext, cNext, states, step, lengths, Double.self)
            } else {
                lstmStepForward(g, cPrev, tc, hPrev, hNext, cNext, states, step, lengths)
            }
            hPrev = hNext
            cPrev = cNext
        }
        kept = (rows, gates, tanhC)
        return states
    }, backward: { gradient, v, states in
        if GradMode.isEnabled {  // recorded: the derivative of the recurrence written with differentiable ops
            let rows = v[0].reshaped([t * b, f])
            let projected = linear(rows, weight: v[1], bias: v.count > 5 ? v[5] : nil).reshaped([t, b, 4 * h])
            let d = lstmRecurrenceRecordedBackward(gradient, projected, v[2], v[3], weightHH: v[4], order: order, lengths: lengths)
            let dRows = d[0].reshaped([t * b, 4 * h])
            return [matmul(dRows, v[1]).reshaped([t, b, f]), matmul(dRows.T, rows), d[1], d[2], d[3]]
                + (v.count > 5 ? [dRows.sum(axes: [0])] : [])
        }
        let (rows, gates, tanhC) = kept!
        let dtype = gradient.dtype, d = gradient.contiguous()
        let dGates = Tensor.empty([t, b, 4 * h], dtype: dtype)
        let previous = Tensor.empty([t, b, h], dtype: dtype)  // h_{t−1} of every step, for the weight gradient
        var dh = Tensor.zeros([b, h], dtype: dtype), dc = Tensor.zeros([b, h], dtype: dtype)
        let h0 = v[2].contiguous(), c0 = v[3].contiguous()
        let weight = readableInPlace(v[4], rows: b)  // read by every step's product: not packed at each one
        for (i, step) in order.enumerated().reversed() {
            let prior = i > 0 ? order[i - 1] : nil
            let dg = dGates.sliced(axis: 0, step..<step + 1).reshaped([b, 4 * h])
            let dcPrev = Tensor.empty([b, h], dtype: dtype), dhPass = Tensor.empty([b, h], dtype: dtype)
            let inputs = LSTMStepGradients(gates: gates, tanhC: tanhC, states: states, d: d, h0: h0, c0: c0, dh: dh, dc: dc, dGates: dg,
                                           dcPrev: dcPrev, dhPass: dhPass, previous: previous, step: step, prior: prior)
            if dtype == .float64 { lstmStepBackward(inputs, lengths, Double.self) } else { lstmStepBackward(inputs, lengths, Float.self) }
            // dh_{t−1} = dGates_t·W_hh, plus the gradient that passes through the finished sequences unchanged.
            Backends.current.matmul(dg.strided, weight.strided, transposeA: false, transposeB: false, into: dhPass.strided, accumulate: true)
            dh = dhPass
            dc = dcPrev
        }
        let flatGates = dGates.reshaped([t * b, 4 * h])
        let dWeight = Tensor.empty([4 * h, h], dtype: dtype)
        Backends.current.matmul(flatGates.strided, previous.reshaped([t * b, h]).strided, transposeA: true, transposeB: false,
                                into: dWeight.strided, accumulate: false)
        // The input projection's derivatives, as a linear layer's: dX = dGates·W_ih, dW_ih = dGatesᵀ·X, db = Σ dGates.
        let dRows = Tensor.empty([t * b, f], dtype: dtype), dWeightIH = Tensor.empty([4 * h, f], dtype: dtype)
        Backends.current.matmul(flatGates.strided, v[1].strided, transposeA: false, transposeB: false, into: dRows.strided,
                                accumulate: false)
        Backends.current.matmul(flatGates.strided, rows.strided, transposeA: true, transposeB: false, into: dWeightIH.strided,
                                accumulate: false)
        return [dRows.reshaped([t, b, f]), dWeightIH, dh, dc, dWeight] + (v.count > 5 ? [flatGates.sum(axes: [0])] : [])
    })
}

/// The derivative of the recurrence written with differentiable ops (for second derivatives): the forward
/// steps again, then backpropagation through time, step by step, as recorded ops. (A nested
/// `gradients(of:)` call here would share the pending gradients of the backward pass it runs inside.)
private func lstmRecurrenceRecordedBackward(_ gradient: Tensor, _ projected: Tensor, _ h0: Tensor, _ c0: Tensor, weightHH: Tensor,
                                            order: [Int], lengths: [Int]?) -> [Tensor] {
    let b = projected.shape[1], h = h0.shape[1]
    var hPrev = h0, cPrev = c0
    var saved: [Int: (i: Tensor, f: Tensor, g: Tensor, o: Tensor, tc: Tensor, hPrev: Tensor, cPrev: Tensor, live: Tensor?)] = [:]
    for step in order {
        let q = (projected.sliced(axis: 0, step..<step + 1).reshaped([b, 4 * h]) + matmul(hPrev, transposed: weightHH)).chunked(4, axis: 1)
        let i = sigmoid(q[0]), f = sigmoid(q[1]), g = AxonCore.tanh(q[2]), o = sigmoid(q[3])
        var cNext = f * cPrev + i * g
        let tc = AxonCore.tanh(cNext)
        var hNext = o * tc
        let live = lengths.map { l in Tensor(shape: [b, 1], doubles: l.map { step < $0 ? 1 : 0 }, dtype: projected.dtype) }
        if let live {
            hNext = hNext * live + hPrev * (1 - live)
            cNext = cNext * live + cPrev * (1 - live)
        }
        saved[step] = (i, f, g, o, tc, hPrev, cPrev, live)
        hPrev = hNext
        cPrev = cNext
    }
    var dh = Tensor.zeros([b, h], dtype: projected.dtype), dc = Tensor.zeros([b, h], dtype: projected.dtype)
    var dProjected = [Tensor?](repeating: nil, count: order.count)
    var dWeight = Tensor.zeros(weightHH.shape, dtype: projected.dtype)
    for step in order.reversed() {
        let s = saved[step]!, d = gradient.sliced(axis: 0, step..<step + 1).reshaped([b, 2 * h])
        let dhT = d.sliced(axis: 1, 0..<h) + dh, dcT = d.sliced(axis: 1, h..<2 * h) + dc
        let dcTotal = dcT + dhT * s.o * (1 - s.tc * s.tc)
        var dGates = concat([dcTotal * s.g * s.i * (1 - s.i), dcTotal * s.cPrev * s.f * (1 - s.f), dcTotal * s.i * (1 - s.g * s.g),
                             dhT * s.tc * s.o * (1 - s.o)], axis: 1)
        var dcNext = dcTotal * s.f
        if let live = s.live { dGates = dGates * live; dcNext = dcNext * live + dcT * (1 - live) }
        dProjected[step] = dGates
        dWeight = dWeight + matmul(dGates.T, s.hPrev)
        dh = matmul(dGates, weightHH) + (s.live.map { dhT * (1 - $0) } ?? Tensor.zeros([b, h], dtype: projected.dtype))
        dc = dcNext
    }
    return [stack(dProjected.map { $0! }, axis: 0), dh, dc, dWeight]
}

/// c_t = f·c_{t−1} + i·g and h_t = o·tanh(c_t) from the activated gates `g` of one step (rows past their
/// sequence's length keep the previous state), into `hNext`, `cNext` and the packed `states`: the rule, for any float
/// type (float64 here; float32 runs the vectorised pass below, with the same operations).
private func lstmStepForward<T: BinaryFloatingPoint>(_ g: Tensor, _ cPrev: Tensor, _ tc: Tensor, _ hPrev: Tensor, _ hNext: Tensor,
                                                     _ cNext: Tensor, _ states: Tensor, _ step: Int, _ lengths: [Int]?, _: T.Type) {
    let b = hPrev.shape[0], h = hPrev.shape[1]
    let pg = pointer(g, T.self), pc = pointer(cPrev, T.self), pt = pointer(tc, T.self), ph = pointer(hPrev, T.self)
    let hn = pointer(hNext, T.self), cn = pointer(cNext, T.self), ps = pointer(states, T.self)
    for r in 0..<b {
        let gr = pg + r * 4 * h, c = pc + r * h, cOut = cn + r * h
        for j in 0..<h { cOut[j] = gr[h + j] * c[j] + gr[j] * gr[2 * h + j] }
    }
    // tanh(c_t), vectorised, into the kept buffer.
    Backends.current.unary(.tanh, cNext.strided, into: tc.strided)
    for r in 0..<b {
        let live = lengths.map { step < $0[r] } ?? true
        let gr = pg + r * 4 * h, tr = pt + r * h, hOut = hn + r * h, cOut = cn + r * h
        let s = ps + (step * b + r) * 2 * h
        if live {
            for j in 0..<h { hOut[j] = gr[3 * h + j] * tr[j] }
        } else {
            for j in 0..<h { hOut[j] = ph[r * h + j]; cOut[j] = pc[r * h + j] }
        }
        for j in 0..<h { s[j] = hOut[j]; s[h + j] = cOut[j] }
    }
}

/// The float32 step: each sequence's gates activated and its state computed in one vectorised pass (the same
/// operations as the generic rule, so its bits), the sequences shared among the threads. On the calling thread alone,
/// the activations over strided slices of the gates, the state's loops and the backward step's pass took 15% of that
/// thread's samples in an LSTM LM's training on 2 threads (perf), the other thread idle meanwhile.
private func lstmStepForward(_ g: Tensor, _ cPrev: Tensor, _ tc: Tensor, _ hPrev: Tensor, _ hNext: Tensor,
                             _ cNext: Tensor, _ states: Tensor, _ step: Int, _ lengths: [Int]?) {
    let b = hPrev.shape[0], h = hPrev.shape[1]
    let pg = pointer(g, Float.self), pc = pointer(cPrev, Float.self), pt = pointer(tc, Float.self)
    let ph = pointer(hPrev, Float.self), hn = pointer(hNext, Float.self), cn = pointer(cNext, Float.self)
    let ps = pointer(states, Float.self)
    // About as many sigmoid and tanh evaluations per task as a unary op's grain.
    parallelFor(b, grain: max(1, (elementwiseGrain / 8) / (5 * h))) { rows in
        for r in rows {
            let hOut = hn + r * h, cOut = cn + r * h
            lstmCellForward(units: h, gates: pg + r * 4 * h, cPrev: pc + r * h, cNext: cOut, tanhC: pt + r * h,
                            hNext: hOut)
            if let lengths, step >= lengths[r] {  // a finished sequence keeps its state
                hOut.update(from: ph + r * h, count: h)
                cOut.update(from: pc + r * h, count: h)
            }
            let s = ps + (step * b + r) * 2 * h
            s.update(from: hOut, count: h)
            (s + h).update(from: cOut, count: h)
        }
    }
}

/// What one backward step reads and writes (every tensor contiguous).
private struct LSTMStepGradients {
    let gates: Tensor, tanhC: Tensor, states: Tensor, d: Tensor, h0: Tensor, c0: Tensor, dh: Tensor, dc: Tensor
    let dGates: Tensor, dcPrev: Tensor, dhPass: Tensor, previous: Tensor
    let step: Int, prior: Int?
}

/// One step of the LSTM's backward pass: d(gates) of the step, d(c_{t−1}), the part of d(h_{t−1}) that passes
/// through finished sequences (the rest is the product with W_hh), and h_{t−1} for the weight gradient.
private func lstmStepBackward<T: BinaryFloatingPoint>(_ x: LSTMStepGradients, _ lengths: [Int]?, _: T.Type) {
    let b = x.h0.shape[0], h = x.h0.shape[1], step = x.step
    let pg = pointer(x.gates, T.self) + step * b * 4 * h, pt = pointer(x.tanhC, T.self) + step * b * h
    let ps = pointer(x.states, T.self), pd = pointer(x.d, T.self), ph0 = pointer(x.h0, T.self), pc0 = pointer(x.c0, T.self)
    let pdh = pointer(x.dh, T.self), pdc = pointer(x.dc, T.self), pdg = pointer(x.dGates, T.self)
    let pcp = pointer(x.dcPrev, T.self), php = pointer(x.dhPass, T.self), pprev = pointer(x.previous, T.self) + step * b * h
    // Each sequence writes its own rows; the sequences are shared among the threads (as in the forward step).
    parallelFor(b, grain: max(1, (elementwiseGrain / 8) / (5 * h))) { rows in
        for r in rows {
            let live = lengths.map { step < $0[r] } ?? true
            let g = pg + r * 4 * h, tc = pt + r * h, dOut = pd + (step * b + r) * 2 * h
            let dg = pdg + r * 4 * h, dcp = pcp + r * h, dhp = php + r * h, prev = pprev + r * h
            let hPrev = x.prior.map { ps + ($0 * b + r) * 2 * h } ?? (ph0 + r * h)
            let cPrev = x.prior.map { ps + ($0 * b + r) * 2 * h + h } ?? (pc0 + r * h)
            if live && T.self == Float.self {  // the vectorised C pass, lstmGateGradients' bits
                func f(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> { UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self) }
                lstmCellBackward(units: h, gates: f(g), tanhC: f(tc), cPrev: f(cPrev), dhOut: f(dOut), dcOut: f(dOut + h),
                                 dhNext: f(pdh + r * h), dcNext: f(pdc + r * h), dGates: f(dg), dcPrev: f(dcp))
                for j in 0..<h { prev[j] = hPrev[j]; dhp[j] = 0 }
                continue
            }
            for j in 0..<h {
                let dh = dOut[j] + pdh[r * h + j], dcIn = dOut[h + j] + pdc[r * h + j]
                prev[j] = hPrev[j]
                if live {
                    let dx = lstmGateGradients(i: g[j], f: g[h + j], g: g[2 * h + j], o: g[3 * h + j], tanhC: tc[j], cPrev: cPrev[j], dh: dh, dc: dcIn)
                    dg[j] = dx.i; dg[h + j] = dx.f; dg[2 * h + j] = dx.g; dg[3 * h + j] = dx.o
                    dcp[j] = dx.cPrev
                    dhp[j] = 0
                } else {  // the state passed through unchanged
                    dg[j] = 0; dg[h + j] = 0; dg[2 * h + j] = 0; dg[3 * h + j] = 0
                    dcp[j] = dcIn
                    dhp[j] = dh
                }
            }
        }
    }
}
