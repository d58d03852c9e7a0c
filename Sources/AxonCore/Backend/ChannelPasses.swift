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
                let sums = Float32Sums(a, b, shiftA: shiftA, shiftB: shiftB)
                parallelFor(c, grain: channelGrain(n * s)) { r in sums.run(r, outA.pointer, outAB.pointer) }
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
        let affine = Float32Affine(a, b, into: out, shifts: shiftA != nil, shiftB != nil)
        for ch in 0..<c {
            affine.set(ch, shiftA: shiftA?[ch], shiftB: shiftB?[ch], alpha: alpha[ch], beta: beta?[ch], gamma: gamma[ch])
        }
        parallelFor(c, grain: channelGrain(n * s)) { r in affine.run(r) }
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

/// One channel's affine map for ``channelSumsThenAffine(_:_:shiftA:shiftB:withB:into:coefficients:)``: out =
/// alpha·(a − shiftA) + beta·(b − shiftB) + gamma (absent shifts are 0; beta is ignored without `b`).
package struct ChannelAffineMap {
    package var shiftA: Double?, shiftB: Double?, alpha: Double, beta: Double?, gamma: Double
    package init(shiftA: Double? = nil, shiftB: Double? = nil, alpha: Double, beta: Double? = nil, gamma: Double) {
        (self.shiftA, self.shiftB, self.alpha, self.beta, self.gamma) = (shiftA, shiftB, alpha, beta, gamma)
    }
}

/// ``channelSums(_:_:shiftA:shiftB:)`` of `a` and `b`, then ``channelAffine(_:_:shiftA:shiftB:alpha:beta:gamma:into:)``
/// of `a` (and `b` when `withB`) with each channel's map made from its two sums by `coefficients`, in one round of
/// the pool and channel block by channel block: each task sums a block of its channels and writes them while their
/// values are still in its core's cache (a batch-64 28x28 map of 32 channels is 6.4 MB, past L2; one channel of it,
/// 200 KB, is not). The same values as the two calls, whose sums and maps it makes with the same operations. Returns
/// the sums (for the caller's statistics) and the output (`output` when given, which may be `a`).
///
/// With `pool` (float32, rank 4), 2x2 max pooling with stride 2 lies on one side of the map: see ``ChannelPooling``.
package func channelSumsThenAffine(_ a: Tensor, _ b: Tensor, shiftA: [Double]? = nil, shiftB: [Double]? = nil, withB: Bool,
                                   into output: Tensor? = nil, pool: ChannelPooling? = nil,
                                   coefficients: (_ channel: Int, _ sumA: Double, _ sumAB: Double) -> ChannelAffineMap)
    -> (sumA: [Double], sumAB: [Double], output: Tensor) {
    guard a.dtype == .float32 else {  // float64 (tests, gradient checks): the two passes
        precondition(pool == nil, "Axon.channelSumsThenAffine: pooling needs float32 operands, got \(a.dtype)")
        let (sumA, sumAB) = channelSums(a, b, shiftA: shiftA, shiftB: shiftB)
        let maps = sumA.indices.map { coefficients($0, sumA[$0], sumAB[$0]) }
        let hasA = maps.contains { $0.shiftA != nil }, hasB = maps.contains { $0.shiftB != nil }
        let out = channelAffine(a, withB ? b : nil, shiftA: hasA ? maps.map { $0.shiftA ?? 0 } : nil,
                                shiftB: hasB ? maps.map { $0.shiftB ?? 0 } : nil, alpha: maps.map(\.alpha),
                                beta: withB ? maps.map { $0.beta ?? 0 } : nil, gamma: maps.map(\.gamma), into: output)
        return (sumA, sumAB, out)
    }
    precondition(a.isContiguous && b.isContiguous && (a.shape == b.shape || pool?.gradient != nil) && a.dtype == b.dtype
                 && (output.map { $0.isContiguous && $0.shape == b.shape && $0.dtype == a.dtype && pool == nil } ?? true)
                 && (pool.map { $0.fits(b.shape) } ?? true),
                 "Axon.channelSumsThenAffine: mismatched operands")
    let (n, c, s) = channelGeometry(b)
    // The forward pass's pooling writes its pooled tensor; the others a full-size output.
    let pooledOutput = pool.flatMap { $0.gradient == nil ? $0.pooled : nil }
    let out = output ?? pooledOutput ?? Tensor.empty(b.shape, dtype: b.dtype)
    var sumA = [Double](repeating: 0, count: c), sumAB = [Double](repeating: 0, count: c)
    let spec = pool.map { $0.spec(b.shape) }
    let sums = Float32Sums(a, b, shiftA: shiftA, shiftB: shiftB, unpooling: pool?.gradient == nil ? nil : spec)
    let affine = Float32Affine(a, withB ? b : nil, into: out, shifts: true, true, pool: spec)
    // Channels summed and written together: about 64k values (256 KB of each operand).
    let block = max(1, (1 << 16) / max(1, n * s))
    sumA.withUnsafeMutableBufferPointer { pa in
        sumAB.withUnsafeMutableBufferPointer { pab in
            let outA = SendablePointer(pointer: pa.baseAddress!), outAB = SendablePointer(pointer: pab.baseAddress!)
            parallelFor(c, grain: channelGrain(n * s)) { r in
                // A pooled gradient is spread over its windows once, a block of channels at a time, for both passes.
                let spread = sums.unpooling == nil ? nil : UnsafeMutablePointer<Float>.allocate(capacity: n * min(block, r.count) * s)
                defer { spread?.deallocate() }
                for lo in stride(from: r.lowerBound, to: r.upperBound, by: block) {
                    let channels = lo..<min(r.upperBound, lo + block)
                    sums.run(channels, outA.pointer, outAB.pointer, spread: spread)
                    for ch in channels {
                        let m = coefficients(ch, outA.pointer[ch], outAB.pointer[ch])
                        affine.set(ch, shiftA: m.shiftA, shiftB: m.shiftB, alpha: m.alpha, beta: m.beta, gamma: m.gamma)
                    }
                    affine.run(channels, spread: spread)
                }
            }
        }
    }
    return (sumA, sumAB, out)
}

/// The float32 sums of ``channelSums(_:_:shiftA:shiftB:)`` over a range of channels: the C pass with the shifts
/// rounded to float32, then Σ (a − sA)(b − sB) = Σ (a − sA)(b − Float(sB)) − (sB − Float(sB))·Σ (a − sA).
private struct Float32Sums: @unchecked Sendable {
    let x: SendablePointer<Float>, y: SendablePointer<Float>, n: Int, c: Int, s: Int
    let shiftA: [Double]?, shiftB: [Double]?, sa: [Float], sb: [Float]
    /// The pooled gradient that stands for `a` (``ChannelPooling/gradient``), spread over its windows plane by plane.
    let unpooling: axon_pool2x2?

    init(_ a: Tensor, _ b: Tensor, shiftA: [Double]?, shiftB: [Double]?, unpooling: axon_pool2x2? = nil) {
        (n, c, s) = channelGeometry(b)
        self.unpooling = unpooling
        x = SendablePointer(pointer: a.buffer.pointer(Float.self) + a.storageOffset)
        y = SendablePointer(pointer: b.buffer.pointer(Float.self) + b.storageOffset)
        (self.shiftA, self.shiftB) = (shiftA, shiftB)
        sa = (shiftA ?? []).map { Float($0) }
        sb = (shiftB ?? []).map { Float($0) }
    }

    /// With `unpooling`, the spread planes of channels `r` are left in `spread` ([n, r.count, s]).
    func run(_ r: Range<Int>, _ outA: UnsafeMutablePointer<Double>, _ outAB: UnsafeMutablePointer<Double>,
             spread: UnsafeMutablePointer<Float>? = nil) {
        sa.withUnsafeBufferPointer { psa in
            sb.withUnsafeBufferPointer { psb in
                if var unpooling {
                    axon_channel_sums_unpooled_f32(&unpooling, y.pointer, n, c, r.lowerBound, r.upperBound,
                                                   shiftB == nil ? nil : psb.baseAddress, outA, outAB, spread)
                } else {
                    axon_channel_sums_f32(x.pointer, y.pointer, n, c, s, r.lowerBound, r.upperBound,
                                          shiftA == nil ? nil : psa.baseAddress, shiftB == nil ? nil : psb.baseAddress, outA, outAB)
                }
            }
        }
        if let shiftB {
            for ch in r { outAB[ch] -= (shiftB[ch] - Double(sb[ch])) * outA[ch] }
        }
    }
}

/// The float32 pass of ``channelAffine(_:_:shiftA:shiftB:alpha:beta:gamma:into:)`` over a range of channels, each
/// channel's map set first (`set`; tasks set and run disjoint channels). The part of each shift that float32 rounds
/// away goes into gamma: alpha·(a − s) = alpha·(a − Float(s)) − alpha·(s − Float(s)).
private final class Float32Affine: @unchecked Sendable {
    let x: SendablePointer<Float>, y: SendablePointer<Float>?, o: SendablePointer<Float>, n: Int, c: Int, s: Int
    let hasShiftA: Bool, hasShiftB: Bool
    let sa: UnsafeMutablePointer<Float>, sb: UnsafeMutablePointer<Float>, al: UnsafeMutablePointer<Float>
    let be: UnsafeMutablePointer<Float>, ga: UnsafeMutablePointer<Float>
    /// Pooling after the map (the output is `pool.pooled`) or before it (`a` is `pool.gradient` spread over its windows).
    let pool: axon_pool2x2?

    init(_ a: Tensor, _ b: Tensor?, into out: Tensor, shifts hasShiftA: Bool, _ hasShiftB: Bool, pool: axon_pool2x2? = nil) {
        (n, c, s) = pool == nil ? channelGeometry(a) : (out.shape[0], out.shape[1], pool!.height * pool!.width)
        self.pool = pool
        x = SendablePointer(pointer: a.buffer.pointer(Float.self) + a.storageOffset)
        y = b.map { SendablePointer(pointer: $0.buffer.pointer(Float.self) + $0.storageOffset) }
        o = SendablePointer(pointer: out.buffer.pointer(Float.self) + out.storageOffset)
        (self.hasShiftA, self.hasShiftB) = (hasShiftA, hasShiftB)
        let all = UnsafeMutablePointer<Float>.allocate(capacity: 5 * max(1, c))
        all.initialize(repeating: 0, count: 5 * max(1, c))
        (sa, sb, al, be, ga) = (all, all + c, all + 2 * c, all + 3 * c, all + 4 * c)
    }
    deinit { sa.deallocate() }

    /// Channel ch's map (absent shifts 0; without beta, beta = alpha, as channelAffine's unused default).
    func set(_ ch: Int, shiftA: Double?, shiftB: Double?, alpha: Double, beta: Double?, gamma: Double) {
        var g = gamma
        if let shiftA { sa[ch] = Float(shiftA); g -= alpha * (shiftA - Double(sa[ch])) }
        if y != nil, let shiftB, let beta { sb[ch] = Float(shiftB); g -= beta * (shiftB - Double(sb[ch])) }
        else if let shiftB { sb[ch] = Float(shiftB) }
        al[ch] = Float(alpha)
        be[ch] = Float(beta ?? alpha)
        ga[ch] = Float(g)
    }

    /// Backward with pooling, `a` is read from `spread` (``Float32Sums/run(_:_:_:spread:)``'s for the same channels).
    func run(_ r: Range<Int>, spread: UnsafeMutablePointer<Float>? = nil) {
        let shiftA = hasShiftA ? UnsafePointer(sa) : nil, shiftB = hasShiftB ? UnsafePointer(sb) : nil
        guard var pool else {
            axon_channel_affine_f32(x.pointer, y?.pointer, o.pointer, n, c, s, r.lowerBound, r.upperBound, shiftA, shiftB, al, be, ga)
            return
        }
        if pool.gradient == nil {
            axon_channel_affine_maxpool2x2_f32(&pool, x.pointer, n, c, r.lowerBound, r.upperBound, shiftA, al, ga)
        } else {
            axon_channel_affine_spread_f32(spread, y!.pointer, o.pointer, n, c, s, r.lowerBound, r.upperBound, shiftB, al, be, ga)
        }
    }
}

/// 2x2 max pooling with stride 2 on the far side of ``channelSumsThenAffine(_:_:shiftA:shiftB:withB:into:pool:coefficients:)``'s
/// map, for batch norm followed by max pooling: the full-size map is never written. Forward (`gradient` nil), the map
/// of `a` is pooled into `pooled` (and rectified, with `relu`), each window's winner noted in `codes` when given, and
/// the output is `pooled`. Backward, `a` is `gradient` (the pooled values' gradient) spread back over the winners (none
/// where the ReLU zeroed the maximum), and the output is full size. The same bits as the pooling, ReLU and passes run
/// apart.
package struct ChannelPooling {
    package let pooled: Tensor, codes: PoolWindowCodes?, gradient: Tensor?, relu: Bool

    /// The forward pass's pooling into `pooled` [N, C, H / 2, W / 2], the winners into `codes` (that many).
    package init(into pooled: Tensor, codes: PoolWindowCodes?, relu: Bool) {
        (self.pooled, self.codes, self.gradient, self.relu) = (pooled, codes, nil, relu)
    }

    /// The backward pass's `a`: `gradient` spread over the winners in `codes`, with the `pooled` output of the forward pass.
    package init(gradient: Tensor, pooled: Tensor, codes: PoolWindowCodes, relu: Bool) {
        (self.pooled, self.codes, self.gradient, self.relu) = (pooled, codes, gradient, relu)
    }

    /// Whether the pooled tensors are contiguous float32 (and the codes as many) for 2x2 windows of `shape` [N, C, H, W].
    func fits(_ shape: [Int]) -> Bool {
        let pooledShape = shape.count == 4 ? [shape[0], shape[1], shape[2] / 2, shape[3] / 2] : []
        return pooled.shape == pooledShape && pooled.isContiguous && pooled.dtype == .float32
            && (codes.map { $0.count == pooled.count } ?? (gradient == nil))
            && (gradient.map { $0.shape == pooledShape && $0.isContiguous && $0.dtype == .float32 } ?? true)
    }

    /// The C kernels' description, for input planes of `shape`. The tensors outlive the passes (the caller holds them).
    func spec(_ shape: [Int]) -> axon_pool2x2 {
        axon_pool2x2(height: shape[2], width: shape[3], out_h: shape[2] / 2, out_w: shape[3] / 2, relu: relu ? 1 : 0,
                     pooled: pooled.buffer.pointer(Float.self) + pooled.storageOffset, codes: codes?.bytes,
                     gradient: gradient.map { UnsafePointer($0.buffer.pointer(Float.self) + $0.storageOffset) })
    }
}

/// A byte per 2x2 pooling window of [N, C, H, W] planes: which of its four inputs won (0 top left, 1 top right, 2 bottom
/// left, 3 bottom right), or 4 where the ReLU after the pooling zeroed the maximum. Kept between a fused op's forward and
/// backward passes instead of eight-byte positions.
package final class PoolWindowCodes: @unchecked Sendable {
    /// The input's shape [N, C, H, W].
    package let shape: [Int]
    let bytes: UnsafeMutablePointer<UInt8>
    /// One per window: N·C·(H / 2)·(W / 2).
    var count: Int { shape[0] * shape[1] * (shape[2] / 2) * (shape[3] / 2) }

    package init(shape: [Int]) {
        self.shape = shape
        // 15 bytes to spare (zeros): the backward kernel reads 16 codes at a time.
        let windows = shape[0] * shape[1] * (shape[2] / 2) * (shape[3] / 2)
        bytes = .allocate(capacity: windows + 15)
        (bytes + windows).initialize(repeating: 0, count: 15)
    }
    deinit { bytes.deallocate() }

    /// The winners' flat positions in the input (int64, shaped like the pooled output), as max pooling's indices; a window
    /// coded 4 gets its first input.
    package func positions() -> Tensor {
        let (h, w, oh, ow) = (shape[2], shape[3], shape[2] / 2, shape[3] / 2)
        var flat = [Int](repeating: 0, count: count)
        for plane in 0..<(shape[0] * shape[1]) {
            for i in 0..<oh {
                for j in 0..<ow {
                    let o = (plane * oh + i) * ow + j, k = Int(bytes[o])
                    flat[o] = plane * h * w + (2 * i + (k < 4 ? k >> 1 : 0)) * w + 2 * j + (k < 4 ? k & 1 : 0)
                }
            }
        }
        return Tensor(shape: [shape[0], shape[1], oh, ow], scalars: flat)
    }
}

/// Layer normalisation's float32 rows (`T` is `Float`; contiguous rows of `width`), through batch norm's passes in C,
/// each row a channel's plane: x̂ = rstd·(x − mean) into `xhat`, x̂·weight + bias into `out` (with neither, `out` is
/// not written: pass `xhat`), and each row's 1/√(var + ε) into `rstd`.
package func layerNormRows<T>(_ x: UnsafeMutablePointer<T>, xhat: UnsafeMutablePointer<T>, out: UnsafeMutablePointer<T>,
                              weight: UnsafeMutablePointer<T>?, bias: UnsafeMutablePointer<T>?, rows: Int, width: Int, eps: Double,
                              rstd: UnsafeMutablePointer<Double>) {
    axon_layer_norm_rows_f32(floats(x), mutableFloats(xhat), mutableFloats(out), weight.map(floats), bias.map(floats), rows, width,
                             eps, rstd)
}

/// The derivative of ``layerNormRows(_:xhat:out:weight:bias:rows:width:eps:rstd:)``: g' = g·weight (or g) and
/// rstd·(g' − mean(g') − x̂·mean(g'·x̂)) into `dx`, row by row.
package func layerNormRowsBackward<T>(_ g: UnsafeMutablePointer<T>, weight: UnsafeMutablePointer<T>?, xhat: UnsafeMutablePointer<T>,
                                      dx: UnsafeMutablePointer<T>, rows: Int, width: Int, rstd: UnsafePointer<Double>) {
    axon_layer_norm_backward_rows_f32(floats(g), weight.map(floats), floats(xhat), mutableFloats(dx), rows, width, rstd)
}
