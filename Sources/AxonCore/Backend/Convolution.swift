/// Geometry of a 2-D convolution or pooling window over NCHW input.
struct Conv2dGeometry {
    let batch: Int, channels: Int, height: Int, width: Int
    let kernelH: Int, kernelW: Int
    let strideH: Int, strideW: Int
    let padH: Int, padW: Int
    let dilationH: Int, dilationW: Int

    var outH: Int { (height + 2 * padH - dilationH * (kernelH - 1) - 1) / strideH + 1 }
    var outW: Int { (width + 2 * padW - dilationW * (kernelW - 1) - 1) / strideW + 1 }
    /// Output positions per image.
    var positions: Int { outH * outW }
    /// Length of one unfolded patch: C * KH * KW.
    var patch: Int { channels * kernelH * kernelW }
}

/// Unfolds NCHW input into columns: row r = (c, kh, kw) of the kernel, column n·P + p for output
/// position p of image n, zero where the window falls into the padding. Shape [C·KH·KW, N·P] (Caffe's
/// layout), so that the long N·P axis is the GEMM's N axis, which the micro-kernel tiles widest.
func im2col<T: AxonFloat>(_ x: [T], _ g: Conv2dGeometry) -> [T] {
    let rows = g.patch, columns = g.batch * g.positions
    return [T](unsafeUninitializedCapacity: rows * columns) { buffer, initialized in
        let out = SendablePointer(pointer: buffer.baseAddress!)
        x.withUnsafeBufferPointer { px in
            let src = px.baseAddress!
            // One task unit per (kernel row, image): P contiguous outputs.
            parallelFor(rows * g.batch, grain: max(1, 4096 / max(g.positions, 1))) { range in
                for unit in range {
                    let r = unit / g.batch, n = unit % g.batch
                    let c = r / (g.kernelH * g.kernelW), kh = (r / g.kernelW) % g.kernelH, kw = r % g.kernelW
                    let plane = src + (n * g.channels + c) * g.height * g.width
                    var dst = out.pointer + r * columns + n * g.positions
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
                            let lo = min(g.outW, max(0, -iw0)), hi = max(lo, min(g.outW, g.width - iw0))
                            dst.initialize(repeating: 0, count: lo)
                            (dst + lo).initialize(from: row + iw0 + lo, count: hi - lo)
                            (dst + hi).initialize(repeating: 0, count: g.outW - hi)
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
        initialized = rows * columns
    }
}

/// The adjoint of im2col: sums column gradients [C·KH·KW, N·P] back into an NCHW gradient. Each
/// (image, channel) plane is one task with a fixed order inside, so the result does not depend on the
/// thread count.
func col2im<T: AxonFloat>(_ cols: [T], _ g: Conv2dGeometry) -> [T] {
    let planeSize = g.height * g.width, columns = g.batch * g.positions
    var dx = [T](repeating: 0, count: g.batch * g.channels * planeSize)
    cols.withUnsafeBufferPointer { pc in
        dx.withUnsafeMutableBufferPointer { pd in
            let src = pc.baseAddress!, dst = SendablePointer(pointer: pd.baseAddress!)
            parallelFor(g.batch * g.channels, grain: 1) { planes in
                for unit in planes {
                    let n = unit / g.channels, c = unit % g.channels
                    let plane = dst.pointer + unit * planeSize
                    for kh in 0..<g.kernelH {
                        for kw in 0..<g.kernelW {
                            let r = (c * g.kernelH + kh) * g.kernelW + kw
                            var s = src + r * columns + n * g.positions
                            for oh in 0..<g.outH {
                                let ih = oh * g.strideH - g.padH + kh * g.dilationH
                                if ih < 0 || ih >= g.height { s += g.outW; continue }
                                let row = plane + ih * g.width
                                let iw0 = kw * g.dilationW - g.padW
                                for ow in 0..<g.outW {
                                    let iw = ow * g.strideW + iw0
                                    if iw >= 0 && iw < g.width { row[iw] += s[ow] }
                                }
                                s += g.outW
                            }
                        }
                    }
                }
            }
        }
    }
    return dx
}

/// conv2d forward: im2col, one GEMM W[O, CKK] x cols[CKK, N·P] -> Y[O, N·P], then Y's rows copied into
/// NCHW with the bias added.
func conv2dForward<T: AxonFloat>(_ x: [T], _ w: [T], _ bias: [T]?, _ g: Conv2dGeometry, outChannels o: Int) -> [T] {
    let cols = im2col(x, g)
    let columns = g.batch * g.positions
    var y = [T](repeating: 0, count: o * columns)
    cols.withUnsafeBufferPointer { pc in
        w.withUnsafeBufferPointer { pw in
            y.withUnsafeMutableBufferPointer { py in
                T.gemm(m: o, n: columns, k: g.patch,
                       a: MatrixView(base: pw.baseAddress!, rowStride: g.patch, columnStride: 1),
                       b: MatrixView(base: pc.baseAddress!, rowStride: columns, columnStride: 1),
                       c: py.baseAddress!, ldc: columns, accumulate: false)
            }
        }
    }
    return y.withUnsafeBufferPointer { py in
        let src = py.baseAddress!
        return makeArray(g.batch * o * g.positions, grain: 1 << 14) { out, range in
            // out[n, c, p] = y[c, n·P + p] + bias[c], row by row.
            var i = range.lowerBound
            while i < range.upperBound {
                let row = i / g.positions, p0 = i % g.positions
                let n = row / o, c = row % o
                let count = min(g.positions - p0, range.upperBound - i)
                let s = src + c * columns + n * g.positions + p0
                let b = bias?[c] ?? 0
                for j in 0..<count { out[i + j] = s[j] + b }
                i += count
            }
        }
    }
}

/// conv2d backward: with G[O, N·P] the output gradient's rows, dW = G·colsᵀ (cols recomputed),
/// dcols = Wᵀ·G then col2im, and the bias gradient sums G's rows.
func conv2dBackward<T: AxonFloat>(_ gradOut: [T], _ x: [T], _ w: [T], _ g: Conv2dGeometry, outChannels o: Int,
                                  needInput: Bool, needWeight: Bool, needBias: Bool) -> (dx: [T]?, dw: [T]?, db: [T]?) {
    let columns = g.batch * g.positions
    // G[c, n·P + p] = gradOut[n, c, p]: contiguous rows of P.
    let g2 = gradOut.withUnsafeBufferPointer { pg in
        let src = pg.baseAddress!
        return makeArray(o * columns, grain: 1 << 14) { out, range in
            var i = range.lowerBound
            while i < range.upperBound {
                let c = i / columns, rem = i % columns, n = rem / g.positions, p0 = rem % g.positions
                let count = min(g.positions - p0, range.upperBound - i)
                let s = src + (n * o + c) * g.positions + p0
                for j in 0..<count { out[i + j] = s[j] }
                i += count
            }
        }
    }
    var dx: [T]? = nil, dw: [T]? = nil, db: [T]? = nil
    g2.withUnsafeBufferPointer { pg in
        let gp = pg.baseAddress!
        if needWeight {
            let cols = im2col(x, g)
            var out = [T](repeating: 0, count: o * g.patch)
            cols.withUnsafeBufferPointer { pc in
                out.withUnsafeMutableBufferPointer { po in
                    T.gemm(m: o, n: g.patch, k: columns,
                           a: MatrixView(base: gp, rowStride: columns, columnStride: 1),
                           b: MatrixView(base: pc.baseAddress!, rowStride: 1, columnStride: columns),
                           c: po.baseAddress!, ldc: g.patch, accumulate: false)
                }
            }
            dw = out
        }
        if needInput {
            var dcols = [T](repeating: 0, count: g.patch * columns)
            w.withUnsafeBufferPointer { pw in
                dcols.withUnsafeMutableBufferPointer { pd in
                    T.gemm(m: g.patch, n: columns, k: o,
                           a: MatrixView(base: pw.baseAddress!, rowStride: 1, columnStride: g.patch),
                           b: MatrixView(base: gp, rowStride: columns, columnStride: 1),
                           c: pd.baseAddress!, ldc: columns, accumulate: false)
                }
            }
            dx = col2im(dcols, g)
        }
        if needBias {
            db = (0..<o).map { c in
                var s: T = 0
                let row = gp + c * columns
                for j in 0..<columns { s += row[j] }
                return s
            }
        }
    }
    return (dx, dw, db)
}

/// Max pooling forward: values and the flat input index of each maximum (for backward).
func maxPool2dForward<T: AxonFloat>(_ x: [T], _ g: Conv2dGeometry) -> ([T], [Int]) {
    let planes = g.batch * g.channels, oh = g.outH, ow = g.outW
    var values = [T](repeating: 0, count: planes * oh * ow)
    var indices = [Int](repeating: 0, count: planes * oh * ow)
    x.withUnsafeBufferPointer { px in
        values.withUnsafeMutableBufferPointer { pv in
            indices.withUnsafeMutableBufferPointer { pi in
                let src = px.baseAddress!
                let v = SendablePointer(pointer: pv.baseAddress!), ix = SendablePointer(pointer: pi.baseAddress!)
                parallelFor(planes, grain: 4) { range in
                    for plane in range {
                        let base = plane * g.height * g.width
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
                                ix.pointer[o] = bestIndex
                            }
                        }
                    }
                }
            }
        }
    }
    return (values, indices)
}

/// Average pooling forward (PyTorch's divisor rule with count_include_pad = true).
func avgPool2d<T: AxonFloat>(_ x: [T], _ g: Conv2dGeometry, backwardFrom grad: [T]? = nil) -> [T] {
    let planes = g.batch * g.channels, oh = g.outH, ow = g.outW
    var out = [T](repeating: 0, count: grad == nil ? planes * oh * ow : planes * g.height * g.width)
    out.withUnsafeMutableBufferPointer { po in
        let dst = SendablePointer(pointer: po.baseAddress!)
        x.withUnsafeBufferPointer { px in
            let src = px.baseAddress
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
    }
    return out
}
