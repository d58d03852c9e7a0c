import _AxonKernels

// The two passes batch normalisation is made of, over the channel axis (1) of contiguous [N, C, ...] tensors:
// per-channel sums, and a per-channel affine combination. Float32 runs the C kernels (norm.c), float64 plain
// loops. Channels are split across the worker pool; each channel is computed by one task in a fixed order,
// so the results are bitwise the same for any number of threads.

/// The [N, C, S] view of a contiguous tensor of rank >= 2 (S: the positions of one channel of one sample).
private func channelGeometry(_ t: Tensor) -> (n: Int, c: Int, s: Int) {
    let c = t.shape[1], n = t.shape[0]
    return (n, c, n * c == 0 ? 0 : t.count / (n * c))
}

/// Channels per task: about 32k values each, so that small tensors stay on the calling thread.
private func channelGrain(_ perChannel: Int) -> Int { max(1, (1 << 15) / max(1, perChannel)) }

/// For each channel ch: Σ (a − shiftA[ch]) and Σ (a − shiftA[ch])·(b − shiftB[ch]), accumulated in float64.
/// `a` and `b` are contiguous, of the same shape and dtype (float32 or float64), rank >= 2. `shiftA` must hold
/// values of that dtype (a channel's own values); `shiftB` may be any number (a mean): float32 kernels subtract
/// it rounded, and the part rounded away, times Σ (a − shiftA), is taken off the products afterwards.
package func channelSums(_ a: Tensor, _ b: Tensor, shiftA: [Double]? = nil, shiftB: [Double]? = nil) -> (sumA: [Double], sumAB: [Double]) {
    precondition(a.isContiguous && b.isContiguous && a.shape == b.shape && a.dtype == b.dtype, "Axon.channelSums: mismatched operands")
    // A NaN shift (from a NaN input) is a float32 value too: its sums are NaN, as PyTorch's are.
    precondition(a.dtype != .float32 || (shiftA ?? []).allSatisfy { $0.isNaN || Double(Float($0)) == $0 },
                 "Axon.channelSums: shiftA must be float32 values for float32 operands")
    let (n, c, s) = channelGeometry(a)
    var sumA = [Double](repeating: 0, count: c), sumAB = [Double](repeating: 0, count: c)
    sumA.withUnsafeMutableBufferPointer { pa in
        sumAB.withUnsafeMutableBufferPointer { pab in
            let outA = SendablePointer(pointer: pa.baseAddress!), outAB = SendablePointer(pointer: pab.baseAddress!)
            if a.dtype == .float32 {
                let sa = (shiftA ?? []).map { Float($0) }, sb = (shiftB ?? []).map { Float($0) }
                let x = a.buffer.pointer(Float.self) + a.storageOffset, y = b.buffer.pointer(Float.self) + b.storageOffset
                let px = SendablePointer(pointer: x), py = SendablePointer(pointer: y)
                sa.withUnsafeBufferPointer { psa in
                    sb.withUnsafeBufferPointer { psb in
                        let shA = shiftA == nil ? nil : psa.baseAddress, shB = shiftB == nil ? nil : psb.baseAddress
                        parallelFor(c, grain: channelGrain(n * s)) { r in
                            axon_channel_sums_f32(px.pointer, py.pointer, n, c, s, r.lowerBound, r.upperBound, shA, shB,
                                                  outA.pointer, outAB.pointer)
                        }
                    }
                }
                // Σ (a − sA)(b − sB) = Σ (a − sA)(b − Float(sB)) − (sB − Float(sB))·Σ (a − sA).
                if let shiftB {
                    for ch in 0..<c { outAB.pointer[ch] -= (shiftB[ch] - Double(sb[ch])) * outA.pointer[ch] }
                }
            } else {
                precondition(a.dtype == .float64, "Axon.channelSums: needs float32 or float64, got \(a.dtype)")
                let x = SendablePointer(pointer: a.buffer.pointer(Double.self) + a.storageOffset)
                let y = SendablePointer(pointer: b.buffer.pointer(Double.self) + b.storageOffset)
                parallelFor(c, grain: channelGrain(n * s)) { r in
                    for ch in r {
                        let sa = shiftA?[ch] ?? 0, sb = shiftB?[ch] ?? 0
                        var ta = 0.0, tab = 0.0
                        for i in 0..<n {
                            let at = (i * c + ch) * s
                            for j in at..<(at + s) {
                                let u = x.pointer[j] - sa
                                ta += u
                                tab += u * (y.pointer[j] - sb)
                            }
                        }
                        outA.pointer[ch] = ta
                        outAB.pointer[ch] = tab
                    }
                }
            }
        }
    }
    return (sumA, sumAB)
}

/// alpha[ch]·(a − shiftA[ch]) + beta[ch]·(b − shiftB[ch]) + gamma[ch] per channel (without `b`, without that term;
/// absent shifts are 0), as a new contiguous tensor. `a` (and `b`) are contiguous, of the same shape and dtype
/// (float32 or float64), rank >= 2. Subtracting the shift first keeps (x − mean)·scale accurate when the mean is
/// large against the spread, where x·scale − mean·scale would round away the difference.
///
/// With `output` (contiguous, shaped and typed like `a`; it may be `a` itself), writes there and returns it.
package func channelAffine(_ a: Tensor, _ b: Tensor? = nil, shiftA: [Double]? = nil, shiftB: [Double]? = nil,
                           alpha: [Double], beta: [Double]? = nil, gamma: [Double], into output: Tensor? = nil) -> Tensor {
    precondition(a.isContiguous && (b.map { $0.isContiguous && $0.shape == a.shape && $0.dtype == a.dtype } ?? true)
                 && (output.map { $0.isContiguous && $0.shape == a.shape && $0.dtype == a.dtype } ?? true),
                 "Axon.channelAffine: mismatched operands")
    let (n, c, s) = channelGeometry(a)
    let out = output ?? Tensor.empty(a.shape, dtype: a.dtype)
    if a.dtype == .float32 {
        let sa = (shiftA ?? []).map { Float($0) }, sb = (shiftB ?? []).map { Float($0) }
        // The part of each shift that float32 rounds away goes into gamma: alpha·(a − s) = alpha·(a − Float(s)) − alpha·(s − Float(s)).
        var ga = gamma
        for ch in 0..<c {
            if let shiftA { ga[ch] -= alpha[ch] * (shiftA[ch] - Double(sa[ch])) }
            if b != nil, let shiftB, let beta { ga[ch] -= beta[ch] * (shiftB[ch] - Double(sb[ch])) }
        }
        let al = alpha.map { Float($0) }, be = (beta ?? alpha).map { Float($0) }
        let x = SendablePointer(pointer: a.buffer.pointer(Float.self) + a.storageOffset)
        let y = b.map { SendablePointer(pointer: $0.buffer.pointer(Float.self) + $0.storageOffset) }
        let o = SendablePointer(pointer: out.buffer.pointer(Float.self) + out.storageOffset)
        al.withUnsafeBufferPointer { pal in
            be.withUnsafeBufferPointer { pbe in
                ga.map { Float($0) }.withUnsafeBufferPointer { pga in
                    sa.withUnsafeBufferPointer { psa in
                        sb.withUnsafeBufferPointer { psb in
                            let shA = shiftA == nil ? nil : psa.baseAddress, shB = shiftB == nil ? nil : psb.baseAddress
                            parallelFor(c, grain: channelGrain(n * s)) { r in
                                axon_channel_affine_f32(x.pointer, y?.pointer, o.pointer, n, c, s, r.lowerBound, r.upperBound,
                                                        shA, shB, pal.baseAddress, pbe.baseAddress, pga.baseAddress)
                            }
                        }
                    }
                }
            }
        }
    } else {
        precondition(a.dtype == .float64, "Axon.channelAffine: needs float32 or float64, got \(a.dtype)")
        let x = SendablePointer(pointer: a.buffer.pointer(Double.self) + a.storageOffset)
        let y = b.map { SendablePointer(pointer: $0.buffer.pointer(Double.self) + $0.storageOffset) }
        let o = SendablePointer(pointer: out.buffer.pointer(Double.self) + out.storageOffset)
        parallelFor(c, grain: channelGrain(n * s)) { r in
            for i in 0..<n {
                for ch in r {
                    let at = (i * c + ch) * s, al = alpha[ch], ga = gamma[ch], be = beta?[ch] ?? 0
                    let sa = shiftA?[ch] ?? 0, sb = shiftB?[ch] ?? 0
                    for j in at..<(at + s) {
                        o.pointer[j] = al * (x.pointer[j] - sa) + (y.map { be * ($0.pointer[j] - sb) } ?? 0) + ga
                    }
                }
            }
        }
    }
    return out
}
