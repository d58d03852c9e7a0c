import _AxonKernels

/// Geometry of a 2-D convolution or pooling window over NCHW input.
public struct Conv2dGeometry: Sendable {
    public let batch: Int, channels: Int, height: Int, width: Int
    public let kernelH: Int, kernelW: Int
    public let strideH: Int, strideW: Int
    public let padH: Int, padW: Int
    public let dilationH: Int, dilationW: Int

    /// A geometry (checked by the ops that make one).
    public init(batch: Int, channels: Int, height: Int, width: Int, kernelH: Int, kernelW: Int, strideH: Int, strideW: Int,
                padH: Int, padW: Int, dilationH: Int, dilationW: Int) {
        self.batch = batch; self.channels = channels; self.height = height; self.width = width
        self.kernelH = kernelH; self.kernelW = kernelW; self.strideH = strideH; self.strideW = strideW
        self.padH = padH; self.padW = padW; self.dilationH = dilationH; self.dilationW = dilationW
    }

    /// Output height.
    public var outH: Int { (height + 2 * padH - dilationH * (kernelH - 1) - 1) / strideH + 1 }
    /// Output width.
    public var outW: Int { (width + 2 * padW - dilationW * (kernelW - 1) - 1) / strideW + 1 }
    /// Output positions per image.
    public var positions: Int { outH * outW }
    /// Length of one unfolded patch: C * KH * KW.
    public var patch: Int { channels * kernelH * kernelW }
}

/// Images per chunk of a convolution. For the small-product path (few channels, short patches: LeNet's), enough
/// that a chunk's unfolded columns fill about 128 KiB, so they stay in L2 while the chunk's products run. For
/// the packed GEMM path, about 1 MiB: the GEMM blocks its operands for the caches itself, and a chunk's
/// columns are its N axis, which must be long for full micro-kernel tiles (one 14x14 image is 196 columns, three
/// 64-wide tiles and a quarter of one; four images waste 6%). It depends on the geometry only, never on the thread
/// count, so results are bitwise the same for any number of threads; and it bounds the scratch memory of a large
/// batch (10 000 images at inference) to a few chunks.
///
/// Where that makes 4 chunks or more, chunks of up to half that size may be taken instead, to make their number a
/// multiple of 4 (64 images in chunks of 5 are 13 chunks: on 2 threads one thread ran 7 and the other waited
/// through the 7th; chunks of 4 are 16).
func convChunkImages(_ g: Conv2dGeometry, outChannels o: Int) -> Int {
    let target = usesSmallProducts(g, outChannels: o) ? 1 << 15 : 1 << 18
    let per = max(1, min(g.batch, target / max(1, g.patch * g.positions)))
    if (g.batch + per - 1) / per < 4 { return per }
    for smaller in stride(from: per, through: max(1, per / 2), by: -1) where ((g.batch + smaller - 1) / smaller) % 4 == 0 {
        return smaller
    }
    return per
}

/// Unfolds images `n0..<n0+nb` of NCHW input into columns: row r = (c, kh, kw) of the kernel, column
/// i·P + p for output position p of the chunk's image i, zero where the window falls into the padding.
/// Shape [C·KH·KW, nb·P] (Caffe's layout), so that the long nb·P axis is the GEMM's N axis.
func im2col<T: AxonFloat>(_ src: UnsafePointer<T>, _ g: Conv2dGeometry, images n0: Int, _ nb: Int,
                          into out: UnsafeMutablePointer<T>) {
    if T.self == Float.self && g.strideH == 1 && g.strideW == 1 && g.dilationH == 1 && g.dilationW == 1
        && axon_im2col_s1_f32(floats(src), g.channels, g.height, g.width, g.kernelH, g.kernelW, g.outH, g.outW,
                              g.padH, g.padW, n0, nb, mutableFloats(out)) != 0 {
        return  // the common case (stride 1, padded or not), with masked vector row copies (same values)
    }
    let columns = nb * g.positions
    for r in 0..<g.patch {
        let c = r / (g.kernelH * g.kernelW), kh = (r / g.kernelW) % g.kernelH, kw = r % g.kernelW
        for i in 0..<nb {
            let plane = src + ((n0 + i) * g.channels + c) * g.height * g.width
            var dst = out + r * columns + i * g.positions
            for oh in 0..<g.outH {
                let ih = oh * g.strideH - g.padH + kh * g.dilationH
                if ih < 0 || ih >= g.height {
                    dst.initialize(repeating: 0, count: g.outW)
                    dst += g.outW
                    continue
                }
                let row = plane + ih * g.width
                let iw0 = kw * g.dilationW - g.padW
                if g.strideW == 1 {
                    // Columns [lo, hi) read row[iw0 + ow] inside the image; the rest is padding.
                    // Short rows: plain loops (a library call per row of 11-26 values costs more than the copy).
                    let lo = min(g.outW, max(0, -iw0)), hi = max(lo, min(g.outW, g.width - iw0))
                    let from = row + iw0
                    for ow in 0..<lo { dst[ow] = 0 }
                    for ow in lo..<hi { dst[ow] = from[ow] }
                    for ow in hi..<g.outW { dst[ow] = 0 }
                    dst += g.outW
                    continue
                }
                for ow in 0..<g.outW {
                    let iw = ow * g.strideW + iw0
                    dst.initialize(to: iw >= 0 && iw < g.width ? row[iw] : 0)
                    dst += 1
                }
            }
        }
    }
}

/// The adjoint of im2col for one chunk: writes the NCHW gradient planes of images `n0..<n0+nb`, each element
/// the sum of its column gradients [C·KH·KW, nb·P] added onto zero in a fixed order (row r of the columns
/// ascending).
func col2im<T: AxonFloat>(_ cols: UnsafePointer<T>, _ g: Conv2dGeometry, images n0: Int, _ nb: Int,
                          into dx: UnsafeMutablePointer<T>) {
    if T.self == Float.self && g.strideH == 1 && g.strideW == 1 && g.dilationH == 1 && g.dilationW == 1
        && axon_col2im_s1_f32(floats(cols), g.channels, g.height, g.width, g.kernelH, g.kernelW, g.outH, g.outW,
                              g.padH, g.padW, n0, nb, mutableFloats(dx)) != 0 {
        return  // the common case: each input row summed in registers and stored once (the same sums)
    }
    let planeSize = g.height * g.width, columns = nb * g.positions
    (dx + n0 * g.channels * planeSize).update(repeating: 0, count: nb * g.channels * planeSize)
    for i in 0..<nb {
        for c in 0..<g.channels {
            let plane = dx + ((n0 + i) * g.channels + c) * planeSize
            for kh in 0..<g.kernelH {
                for kw in 0..<g.kernelW {
                    let r = (c * g.kernelH + kh) * g.kernelW + kw
                    var s = cols + r * columns + i * g.positions
                    for oh in 0..<g.outH {
                        let ih = oh * g.strideH - g.padH + kh * g.dilationH
                        if ih < 0 || ih >= g.height { s += g.outW; continue }
                        let row = plane + ih * g.width
                        let iw0 = kw * g.dilationW - g.padW
                        if g.strideW == 1 {
                            let lo = min(g.outW, max(0, -iw0)), hi = max(lo, min(g.outW, g.width - iw0))
                            let d = row + iw0
                            for ow in lo..<hi { d[ow] += s[ow] }
                        } else {
                            for ow in 0..<g.outW {
                                let iw = ow * g.strideW + iw0
                                if iw >= 0 && iw < g.width { row[iw] += s[ow] }
                            }
                        }
                        s += g.outW
                    }
                }
            }
        }
    }
}

/// Whether a convolution's products go through the unpacked small-product kernel: few output channels and
/// short patches (LeNet's layers), where packing would cost about as much as the arithmetic.
func usesSmallProducts(_ g: Conv2dGeometry, outChannels o: Int) -> Bool {
    o <= 32 && g.patch <= 256
}

/// Whether a float32 convolution's forward pass and weight gradient read the images in place
/// (`_AxonKernels/direct_conv.c`) instead of unfolding them: the small-product path at stride 1 without dilation,
/// with rows of at least one vector of outputs, on a CPU with vectors.
func usesDirectConvolution(_ g: Conv2dGeometry, outChannels o: Int) -> Bool {
    let lanes = axon_conv_direct_lanes(axon_conv_direct_levels())
    return lanes > 0 && g.outW >= lanes && g.strideH == 1 && g.strideW == 1 && g.dilationH == 1 && g.dilationW == 1
        && usesSmallProducts(g, outChannels: o)
}

/// Floats of scratch the direct kernels take per task.
func directConvolutionScratch(_ g: Conv2dGeometry, outChannels o: Int) -> Int {
    axon_conv_direct_scratch(g.channels, g.height, g.width, g.padH, g.padW, o, g.patch)
}

/// Whether a float32 convolution runs through Winograd's F(2x2, 3x3) (`_AxonKernels/winograd.c`): 3x3 kernels at
/// stride 1 without dilation, with at least 16 input and output channels (the products run over the input
/// channels; fewer would leave them too short), where the small-product path does not apply. It takes 16
/// multiplications per pair of channels and 2x2 outputs, where the direct form takes 36.
func usesWinograd(_ g: Conv2dGeometry, outChannels o: Int) -> Bool {
    g.kernelH == 3 && g.kernelW == 3 && g.strideH == 1 && g.strideW == 1 && g.dilationH == 1 && g.dilationW == 1
        && g.channels >= 16 && o >= 16 && !usesSmallProducts(g, outChannels: o)
}

/// The input gradient of a 3x3, stride-1 convolution with padding p <= 2 is itself such a convolution: of the
/// output gradient, padded by 2 - p, with the kernel turned by 180 degrees and its channel axes swapped. Its
/// geometry, where that holds and runs through Winograd.
func winogradAdjoint(_ g: Conv2dGeometry, outChannels o: Int) -> Conv2dGeometry? {
    guard g.kernelH == 3 && g.kernelW == 3 && g.strideH == 1 && g.strideW == 1 && g.dilationH == 1 && g.dilationW == 1
          && g.padH <= 2 && g.padW <= 2 else { return nil }
    let a = Conv2dGeometry(batch: g.batch, channels: o, height: g.outH, width: g.outW, kernelH: 3, kernelW: 3,
                           strideH: 1, strideW: 1, padH: 2 - g.padH, padW: 2 - g.padW, dilationH: 1, dilationW: 1)
    return usesWinograd(a, outChannels: g.channels) ? a : nil
}

/// conv2d forward through Winograd's F(2x2, 3x3): the kernel transformed once, then each chunk of images in C,
/// tile block by tile block (input transform, 16 products, output transform with the bias).
func winogradForward(_ src: UnsafePointer<Float>, _ wp: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                     _ g: Conv2dGeometry, outChannels o: Int, into output: UnsafeMutablePointer<Float>) {
    let variant = GEMM.bestVariant
    let c = g.channels, mr = Int(variant.mr), slivers = (o + mr - 1) / mr
    let u = UnsafeMutablePointer<Float>.allocate(capacity: 16 * slivers * mr * c)
    defer { u.deallocate() }
    axon_winograd_filter_f32(wp, o, c, mr, u)
    let us = SendablePointer(pointer: u), out = SendablePointer(pointer: output)
    let x = SendablePointer(pointer: UnsafeMutablePointer(mutating: src))
    let b = bias.map { SendablePointer(pointer: UnsafeMutablePointer(mutating: $0)) }
    let scratch = axon_winograd_scratch(c, mr, Int(variant.nr), convChunkImages(g, outChannels: o), g.outH, g.outW)
    forEachConvChunk(g, outChannels: o, scratchCount: scratch) {
        (_, n0, nb, scratch: UnsafeMutablePointer<Float>) in
        axon_winograd_conv_f32(x.pointer, c, g.height, g.width, g.padH, g.padW, us.pointer, o, g.outH, g.outW,
                               b.map { UnsafePointer($0.pointer) }, n0, nb, variant, scratch, out.pointer)
    }
}

/// The input gradient through Winograd (see ``winogradAdjoint(_:outChannels:)``): the kernel [O, C, 3, 3] turned
/// and transposed to [C, O, 3, 3], then a forward convolution of the output gradient.
func winogradInputGradient(_ grad: UnsafePointer<Float>, _ wp: UnsafePointer<Float>, _ g: Conv2dGeometry,
                           adjoint a: Conv2dGeometry, outChannels o: Int, into dx: UnsafeMutablePointer<Float>) {
    let c = g.channels
    let turned = UnsafeMutablePointer<Float>.allocate(capacity: o * c * 9)
    defer { turned.deallocate() }
    for i in 0..<o {
        for j in 0..<c {
            for k in 0..<9 { turned[(j * o + i) * 9 + k] = wp[(i * c + j) * 9 + 8 - k] }
        }
    }
    winogradForward(grad, turned, nil, a, outChannels: c, into: dx)
}

/// The weight gradient through Winograd (`axon_winograd_weight_grad_f32`): per chunk of images, the 16 products
/// M[ξ] (O x C) over the chunk's tiles; the chunks' M summed in chunk order, then turned into dW [O, C, 3, 3] once.
func winogradWeightGradient(_ grad: UnsafePointer<Float>, _ xp: UnsafePointer<Float>, _ g: Conv2dGeometry,
                            outChannels o: Int, into dw: UnsafeMutablePointer<Float>) {
    let c = g.channels, size = 16 * o * c
    guard g.batch > 0 else { dw.update(repeating: 0, count: o * c * 9); return }  // no tiles: nothing summed
    // The products' columns are the input channels: the tile for that many, as in the GEMM.
    let variant = GEMM.variant(columns: c)
    let per = convChunkImages(g, outChannels: o), chunks = (g.batch + per - 1) / per
    let partial = UnsafeMutablePointer<Float>.allocate(capacity: chunks * size)
    defer { partial.deallocate() }
    let ps = SendablePointer(pointer: partial), x = SendablePointer(pointer: UnsafeMutablePointer(mutating: xp))
    let dy = SendablePointer(pointer: UnsafeMutablePointer(mutating: grad))
    let scratch = axon_winograd_weight_scratch(c, o, Int(variant.mr), Int(variant.nr), per, g.outH, g.outW)
    forEachConvChunk(g, outChannels: o, scratchCount: scratch) { (ci, n0, nb, scratch: UnsafeMutablePointer<Float>) in
        axon_winograd_weight_grad_f32(x.pointer, c, g.height, g.width, g.padH, g.padW, dy.pointer, o, g.outH, g.outW,
                                      n0, nb, variant, scratch, ps.pointer + ci * size)
    }
    for ci in 1..<max(1, chunks) {
        let part = partial + ci * size
        for j in 0..<size { partial[j] += part[j] }
    }
    axon_winograd_filter_grad_f32(partial, o, c, dw)
}

/// Runs `body(chunk, n0, nb, scratch)` for every chunk of images, in parallel, each with its own scratch
/// buffer of `scratchCount` elements.
func forEachConvChunk<T: AxonFloat>(_ g: Conv2dGeometry, outChannels o: Int, scratchCount: Int,
                                    _ body: (_ chunk: Int, _ n0: Int, _ nb: Int, _ scratch: UnsafeMutablePointer<T>) -> Void) {
    let per = convChunkImages(g, outChannels: o)
    let chunks = (g.batch + per - 1) / per
    let work = g.batch * g.patch * g.positions
    // Small convolutions stay on the calling thread (one chunk at a time, the same arithmetic).
    let tasks = work < (1 << 15) ? 1 : chunks
    runTasks(tasks) { t in
        let scratch = UnsafeMutablePointer<T>.allocate(capacity: scratchCount)
        defer { scratch.deallocate() }
        for ci in (tasks == 1 ? 0..<chunks : t..<(t + 1)) {
            let n0 = ci * per
            body(ci, n0, min(per, g.batch - n0), scratch)
        }
    }
}

/// conv2d forward: Winograd's F(2x2, 3x3) where ``usesWinograd(_:outChannels:)`` says so; the direct kernel where
/// ``usesDirectConvolution(_:outChannels:)`` does (the small-product path's values, without the unfolding);
/// otherwise chunk by chunk, im2col, then either the small-product kernel, which writes each image's NCHW output with its bias in
/// place (few channels, float32), or one GEMM W[O, CKK] x cols[CKK, nb·P] -> Y[O, nb·P] whose rows are copied
/// into NCHW with the bias added.
func conv2dForward<T: AxonFloat>(_ src: UnsafePointer<T>, _ wp: UnsafePointer<T>, _ bias: UnsafePointer<T>?,
                                 _ g: Conv2dGeometry, outChannels o: Int, into output: UnsafeMutablePointer<T>) {
    if T.self == Float.self && usesWinograd(g, outChannels: o) {
        winogradForward(floats(src), floats(wp), bias.map { floats($0) }, g, outChannels: o, into: mutableFloats(output))
        return
    }
    if T.self == Float.self && usesDirectConvolution(g, outChannels: o) {
        let x = SendablePointer(pointer: UnsafeMutablePointer(mutating: floats(src)))
        let w = SendablePointer(pointer: UnsafeMutablePointer(mutating: floats(wp)))
        let b = bias.map { SendablePointer(pointer: UnsafeMutablePointer(mutating: floats($0))) }
        let y = SendablePointer(pointer: mutableFloats(output))
        forEachConvChunk(g, outChannels: o, scratchCount: directConvolutionScratch(g, outChannels: o)) {
            (_, n0, nb, scratch: UnsafeMutablePointer<Float>) in
            _ = axon_conv_direct_f32(x.pointer, g.channels, g.height, g.width, g.kernelH, g.kernelW, g.padH, g.padW,
                                     w.pointer, b?.pointer, o, g.outH, g.outW, n0, nb, y.pointer, scratch)
        }
        return
    }
    let per = convChunkImages(g, outChannels: o)
    let smallProduct = T.self == Float.self && usesSmallProducts(g, outChannels: o)
    let colCount = g.patch * per * g.positions
    // Per-task scratch: the columns, and Y for the packed path only.
    let scratchCount = colCount + (smallProduct ? 0 : o * per * g.positions)
    let out = SendablePointer(pointer: output)
    let biasp = bias.map { SendablePointer(pointer: UnsafeMutablePointer(mutating: $0)) }
    let x = SendablePointer(pointer: UnsafeMutablePointer(mutating: src)), w = SendablePointer(pointer: UnsafeMutablePointer(mutating: wp))
    forEachConvChunk(g, outChannels: o, scratchCount: scratchCount) { (_, n0, nb, scratch: UnsafeMutablePointer<T>) in
        let src = UnsafePointer(x.pointer), wp = UnsafePointer(w.pointer)
        let columns = nb * g.positions
        let cols = scratch
        im2col(src, g, images: n0, nb, into: cols)
        if smallProduct {
            // Straight into each image's NCHW output, bias first: no packing, no copy.
            for i in 0..<nb {
                axon_sgemm_small(floats(wp), g.patch, 1, floats(cols + i * g.positions), columns,
                                 mutableFloats(out.pointer + (n0 + i) * o * g.positions), g.positions,
                                 o, g.positions, g.patch, biasp.map { floats($0.pointer) })
            }
            return
        }
        let y = scratch + colCount
        T.gemm(m: o, n: columns, k: g.patch,
               a: MatrixView(base: wp, rowStride: g.patch, columnStride: 1),
               b: MatrixView(base: UnsafePointer(cols), rowStride: columns, columnStride: 1),
               c: y, ldc: columns, accumulate: false)
        // out[n, c, p] = y[c, i·P + p] + bias[c].
        for i in 0..<nb {
            for c in 0..<o {
                let s = y + c * columns + i * g.positions
                let d = out.pointer + ((n0 + i) * o + c) * g.positions
                let b = biasp?.pointer[c] ?? 0
                for p in 0..<g.positions { d[p] = s[p] + b }
            }
        }
    }
}

/// conv2d backward. The input gradient goes through Winograd where ``winogradAdjoint(_:outChannels:)`` allows, the
/// weight gradient where ``usesWinograd(_:outChannels:)`` does, or from the images in place where
/// ``usesDirectConvolution(_:outChannels:)`` does; the rest chunk by chunk: with G[O, nb·P] the chunk's
/// output gradient, dW = G·colsᵀ (the input unfolded again; one partial per chunk, summed in chunk order), dcols =
/// Wᵀ·G then col2im into the chunk's images, and the bias gradient sums G's rows (per chunk, then in chunk order).
/// G is gathered only for the products that need it as one matrix. Each gradient is written only where its pointer
/// is given.
func conv2dBackward<T: AxonFloat>(_ gradp: UnsafePointer<T>, _ xp: UnsafePointer<T>, _ wp: UnsafePointer<T>,
                                  _ g: Conv2dGeometry, outChannels o: Int, dx: UnsafeMutablePointer<T>?,
                                  dw: UnsafeMutablePointer<T>?, db: UnsafeMutablePointer<T>?) {
    if T.self == Float.self, let dx, let adjoint = winogradAdjoint(g, outChannels: o) {
        winogradInputGradient(floats(gradp), floats(wp), g, adjoint: adjoint, outChannels: o, into: mutableFloats(dx))
        if dw != nil || db != nil { conv2dBackward(gradp, xp, wp, g, outChannels: o, dx: nil, dw: dw, db: db) }
        return
    }
    if T.self == Float.self, let dw, usesWinograd(g, outChannels: o) {
        winogradWeightGradient(floats(gradp), floats(xp), g, outChannels: o, into: mutableFloats(dw))
        if dx != nil || db != nil { conv2dBackward(gradp, xp, wp, g, outChannels: o, dx: dx, dw: nil, db: db) }
        return
    }
    let per = convChunkImages(g, outChannels: o)
    let chunks = (g.batch + per - 1) / per
    let colCount = g.patch * per * g.positions, gCount = o * per * g.positions
    let smallProduct = T.self == Float.self && usesSmallProducts(g, outChannels: o)
    let direct = T.self == Float.self && usesDirectConvolution(g, outChannels: o)
    // Per-chunk partial sums of dW (O x CKK) and db (O).
    var partialW = [T](repeating: 0, count: dw != nil ? chunks * o * g.patch : 0)
    var partialB = [T](repeating: 0, count: db != nil ? chunks * o : 0)
    let gradS = SendablePointer(pointer: UnsafeMutablePointer(mutating: gradp))
    let xS = SendablePointer(pointer: UnsafeMutablePointer(mutating: xp)), wS = SendablePointer(pointer: UnsafeMutablePointer(mutating: wp))
    let dxp = dx.map { SendablePointer(pointer: $0) }
    partialW.withUnsafeMutableBufferPointer { ppw in
      partialB.withUnsafeMutableBufferPointer { ppb in
        // Each present only when needed: an empty array's base address is not a flag (it may be non-nil).
        let pwOut = dw != nil ? ppw.baseAddress.map { SendablePointer(pointer: $0) } : nil
        let pbOut = db != nil ? ppb.baseAddress.map { SendablePointer(pointer: $0) } : nil
        // Scratch for what this call unfolds and gathers: the columns (for the input gradient, and for the weight
        // gradient off the direct path), G where it is gathered (see `inPlace` below), the direct kernel's own.
        let gathered = dx != nil || (smallProduct && !direct)
        let colSpace = dx != nil || (dw != nil && !direct) ? colCount : 0, gSpace = gathered ? gCount : 0
        let directSpace = dw != nil && direct ? directConvolutionScratch(g, outChannels: o) : 0
        forEachConvChunk(g, outChannels: o, scratchCount: colSpace + gSpace + directSpace) { (ci, n0, nb, scratch: UnsafeMutablePointer<T>) in
            let gradp = UnsafePointer(gradS.pointer), xp = UnsafePointer(xS.pointer), wp = UnsafePointer(wS.pointer)
            let columns = nb * g.positions
            let cols = scratch, gm = scratch + colSpace
            // Without an input gradient on the packed or the direct path, G is read in place, image by image;
            // otherwise it is gathered once: G[c, i·P + p] = gradOut[n0 + i, c, p].
            let inPlace = !gathered
            if !inPlace {
                for c in 0..<o {
                    for i in 0..<nb {
                        (gm + c * columns + i * g.positions)
                            .update(from: gradp + ((n0 + i) * o + c) * g.positions, count: g.positions)
                    }
                }
            }
            if let pbOut {
                // Each channel's sum: of its gathered row, or of its image rows in order, added in image order.
                let rows = inPlace ? nb : 1, length = inPlace ? g.positions : columns
                for c in 0..<o {
                    var total: T = 0
                    for i in 0..<rows {
                        let row = inPlace ? gradp + ((n0 + i) * o + c) * g.positions : UnsafePointer(gm + c * columns)
                        var s: T = 0
                        if T.self == Float.self {
                            s = T(axon_sum_f32(floats(row), length))
                        } else {
                            for j in 0..<length { s += row[j] }
                        }
                        total = i == 0 ? s : total + s
                    }
                    pbOut.pointer[ci * o + c] = total
                }
            }
            if let pwOut {
                // dW[c, r] = Σ_j G[c, j]·cols[r, j]: this chunk's partial; read from the images in place, or every
                // row pair of G and the unfolded columns dotted.
                if direct {
                    _ = axon_conv_direct_wgrad_f32(floats(xp), g.channels, g.height, g.width, g.kernelH, g.kernelW,
                                                   g.padH, g.padW, floats(gradp), o, g.outH, g.outW, n0, nb,
                                                   mutableFloats(pwOut.pointer + ci * o * g.patch),
                                                   mutableFloats(gm + gSpace))
                } else if smallProduct {
                    im2col(xp, g, images: n0, nb, into: cols)
                    rowDots(UnsafePointer(gm), o, UnsafePointer(cols), g.patch, columns,
                            into: pwOut.pointer + ci * o * g.patch)
                } else {  // G · colsᵀ through the packed GEMM (colsᵀ read as a transposed view)
                    im2col(xp, g, images: n0, nb, into: cols)
                    for i in 0..<(inPlace ? nb : 1) {  // in place: K split by image, added in image order
                        T.gemm(m: o, n: g.patch, k: inPlace ? g.positions : columns,
                               a: inPlace ? MatrixView(base: gradp + (n0 + i) * o * g.positions, rowStride: g.positions, columnStride: 1)
                                          : MatrixView(base: UnsafePointer(gm), rowStride: columns, columnStride: 1),
                               b: MatrixView(base: UnsafePointer(cols + i * g.positions), rowStride: 1, columnStride: columns),
                               c: pwOut.pointer + ci * o * g.patch, ldc: g.patch, accumulate: i > 0)
                    }
                }
            }
            if let dxp {
                // dcols = Wᵀ·G (into the columns' scratch), then added back into the images.
                if smallProduct {
                    axon_sgemm_small(floats(wp), 1, g.patch, floats(gm), columns, mutableFloats(cols), columns,
                                     g.patch, columns, o, nil)
                } else {
                    T.gemm(m: g.patch, n: columns, k: o,
                           a: MatrixView(base: wp, rowStride: 1, columnStride: g.patch),
                           b: MatrixView(base: UnsafePointer(gm), rowStride: columns, columnStride: 1),
                           c: cols, ldc: columns, accumulate: false)
                }
                col2im(cols, g, images: n0, nb, into: dxp.pointer)
            }
        }
      }
    }
    func sumChunks(_ partial: [T], _ size: Int, into total: UnsafeMutablePointer<T>) {
        total.update(repeating: 0, count: size)
        for ci in 0..<chunks { for j in 0..<size { total[j] += partial[ci * size + j] } }
    }
    if let dw { sumChunks(partialW, o * g.patch, into: dw) }
    if let db { sumChunks(partialB, o, into: db) }
}

/// out[i·rowsB + j] = Σ_k a[i, k]·b[j, k]: the C kernel for float32, a plain loop for float64.
func rowDots<T: AxonFloat>(_ a: UnsafePointer<T>, _ rowsA: Int, _ b: UnsafePointer<T>, _ rowsB: Int, _ n: Int,
                           into out: UnsafeMutablePointer<T>) {
    if T.self == Float.self {
        axon_sdot_rows(UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), rowsA,
                       UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), rowsB, n,
                       UnsafeMutableRawPointer(out).assumingMemoryBound(to: Float.self))
        return
    }
    for i in 0..<rowsA {
        for j in 0..<rowsB {
            var s: T = 0
            for k in 0..<n { s += a[i * n + k] * b[j * n + k] }
            out[i * rowsB + j] = s
        }
    }
}

/// Max pooling forward: values and, when `indices`, the flat input index of each maximum (for backward). With
/// `relu`, each thread rectifies its own planes' maxima (v <= 0 ? 0 : v, as ReLU) right after pooling them, while
/// they are in its cache.
func maxPool2dForward<T: AxonFloat>(_ src: UnsafePointer<T>, _ g: Conv2dGeometry, into values: UnsafeMutablePointer<T>,
                                    indices: UnsafeMutablePointer<Int>?, relu: Bool = false) {
    let planes = g.batch * g.channels, oh = g.outH, ow = g.outW
    let keepIndices = indices != nil
    var dummy = 0
    withUnsafeMutablePointer(to: &dummy) { dummyPointer in
                let v = SendablePointer(pointer: values), ix = SendablePointer(pointer: indices ?? dummyPointer)
                let inside = g.padH == 0 && g.padW == 0
                let twoByTwo = inside && g.kernelH == 2 && g.kernelW == 2 && g.strideH == 2 && g.strideW == 2
                    && g.dilationH == 1 && g.dilationW == 1
                let cLoop = twoByTwo && T.self == Float.self  // branch-free C loop, which rectifies as it pools
                func pool(_ range: Range<Int>) {
                    if cLoop {
                        axon_maxpool2x2_f32(floats(src), range.lowerBound, range.upperBound, g.height, g.width, oh, ow,
                                            mutableFloats(v.pointer), keepIndices ? ix.pointer : nil, relu ? 1 : 0)
                        return
                    }
                    for plane in range {
                        let base = plane * g.height * g.width
                        if twoByTwo {
                            // 2x2 windows, stride 2 (LeNet's, VGG's): four loads and three comparisons per output.
                            for i in 0..<oh {
                                let r0 = base + 2 * i * g.width, r1 = r0 + g.width
                                let o0 = (plane * oh + i) * ow
                                for j in 0..<ow {
                                    let a0 = r0 + 2 * j, a1 = a0 + 1, a2 = r1 + 2 * j, a3 = a2 + 1
                                    var best = src[a0], bestIndex = a0
                                    let v1 = src[a1], v2 = src[a2], v3 = src[a3]
                                    if !(v1 <= best) && !best.isNaN { best = v1; bestIndex = a1 }
                                    if !(v2 <= best) && !best.isNaN { best = v2; bestIndex = a2 }
                                    if !(v3 <= best) && !best.isNaN { best = v3; bestIndex = a3 }
                                    v.pointer[o0 + j] = best
                                    if keepIndices { ix.pointer[o0 + j] = bestIndex }
                                }
                            }
                            continue
                        }
                        if inside {
                            // Every window lies inside the image: no bounds tests (the usual, unpadded case).
                            for i in 0..<oh {
                                for j in 0..<ow {
                                    let start = base + i * g.strideH * g.width + j * g.strideW
                                    var best = src[start], bestIndex = start
                                    for kh in 0..<g.kernelH {
                                        let rowStart = start + kh * g.dilationH * g.width
                                        for kw in 0..<g.kernelW {
                                            let at = rowStart + kw * g.dilationW
                                            let val = src[at]
                                            if !(val <= best) && !best.isNaN { best = val; bestIndex = at }
                                        }
                                    }
                                    let o = (plane * oh + i) * ow + j
                                    v.pointer[o] = best
                                    if keepIndices { ix.pointer[o] = bestIndex }
                                }
                            }
                            continue
                        }
                        for i in 0..<oh {
                            for j in 0..<ow {
                                // Window bounds clipped to the image (padding counts as -inf, so it never wins).
                                let h0 = i * g.strideH - g.padH, w0 = j * g.strideW - g.padW
                                var best = -T.infinity, bestIndex = -1
                                for kh in 0..<g.kernelH {
                                    let h = h0 + kh * g.dilationH
                                    if h < 0 || h >= g.height { continue }
                                    let rowStart = base + h * g.width
                                    for kw in 0..<g.kernelW {
                                        let w = w0 + kw * g.dilationW
                                        if w < 0 || w >= g.width { continue }
                                        let val = src[rowStart + w]
                                        // !(val <= best) takes the first maximum, and NaN wherever it appears.
                                        if bestIndex < 0 || !(val <= best) && !best.isNaN { best = val; bestIndex = rowStart + w }
                                    }
                                }
                                let o = (plane * oh + i) * ow + j
                                v.pointer[o] = best
                                if keepIndices { ix.pointer[o] = bestIndex }
                            }
                        }
                    }
                }
                parallelFor(planes, grain: 4) { range in
                    pool(range)
                    guard relu, !cLoop else { return }
                    let first = range.lowerBound * oh * ow, count = range.count * oh * ow
                    if T.self == Float.self {
                        axon_relu_f32(mutableFloats(v.pointer) + first, mutableFloats(v.pointer) + first, count)
                    } else {
                        for i in first..<(first + count) { v.pointer[i] = applyUnary(.relu, v.pointer[i]) }
                    }
                }
    }
}

/// Average pooling (PyTorch's divisor rule with count_include_pad = true): the forward pass from `x` into
/// `output`, or, with `grad`, its adjoint, which spreads each output gradient over its window into `output`
/// (the input's shape).
func avgPool2d<T: AxonFloat>(_ x: UnsafePointer<T>?, _ g: Conv2dGeometry, backwardFrom grad: UnsafePointer<T>? = nil,
                             into output: UnsafeMutablePointer<T>) {
    let planes = g.batch * g.channels, oh = g.outH, ow = g.outW
    output.update(repeating: 0, count: grad == nil ? planes * oh * ow : planes * g.height * g.width)
    let dst = SendablePointer(pointer: output)
    let src = x
    parallelFor(planes, grain: 4) { range in
        for plane in range {
            let base = plane * g.height * g.width
            for i in 0..<oh {
                for j in 0..<ow {
                    let h0 = i * g.strideH - g.padH, w0 = j * g.strideW - g.padW
                    let h1 = min(h0 + g.kernelH, g.height + g.padH), w1 = min(w0 + g.kernelW, g.width + g.padW)
                    let divisor = T((h1 - h0) * (w1 - w0))
                    let hs = max(h0, 0), ws = max(w0, 0), he = min(h1, g.height), we = min(w1, g.width)
                    let o = (plane * oh + i) * ow + j
                    if let grad {
                        let share = grad[o] / divisor
                        for h in hs..<max(hs, he) { for w in ws..<max(ws, we) { dst.pointer[base + h * g.width + w] += share } }
                    } else {
                        var s: T = 0
                        for h in hs..<max(hs, he) { for w in ws..<max(ws, we) { s += src![base + h * g.width + w] } }
                        dst.pointer[o] = s / divisor
                    }
                }
            }
        }
    }
}
