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

/// Unfolds NCHW input into patches: row (n * OH * OW + p) holds the C x KH x KW window at output
/// position p, zero where it falls into the padding. Shape [N * OH * OW, C * KH * KW].
func im2col<T: AxonFloat>(_ x: [T], _ g: Conv2dGeometry) -> [T] {
    let rows = g.batch * g.positions, patch = g.patch
    return [T](unsafeUninitializedCapacity: rows * patch) { buffer, initialized in
        let out = SendablePointer(pointer: buffer.baseAddress!)
        x.withUnsafeBufferPointer { px in
            let src = px.baseAddress!
            parallelFor(rows, grain: 64) { range in
                for r in range {
                    let n = r / g.positions, p = r % g.positions
                    let oh = p / g.outW, ow = p % g.outW
                    var dst = out.pointer + r * patch
                    for c in 0..<g.channels {
                        let plane = src + (n * g.channels + c) * g.height * g.width
                        for kh in 0..<g.kernelH {
                            let ih = oh * g.strideH - g.padH + kh * g.dilationH
                            let rowInside = ih >= 0 && ih < g.height
                            for kw in 0..<g.kernelW {
                                let iw = ow * g.strideW - g.padW + kw * g.dilationW
                                dst.initialize(to: rowInside && iw >= 0 && iw < g.width ? plane[ih * g.width + iw] : 0)
                                dst += 1
                            }
                        }
                    }
                }
            }
        }
        initialized = rows * patch
    }
}

/// The adjoint of im2col: sums patch gradients back into an NCHW gradient. Images run in parallel;
/// within an image the order is fixed, so the result does not depend on the thread count.
func col2im<T: AxonFloat>(_ cols: [T], _ g: Conv2dGeometry) -> [T] {
    let imageSize = g.channels * g.height * g.width, patch = g.patch
    var dx = [T](repeating: 0, count: g.batch * imageSize)
    cols.withUnsafeBufferPointer { pc in
        dx.withUnsafeMutableBufferPointer { pd in
            let src = pc.baseAddress!, dst = SendablePointer(pointer: pd.baseAddress!)
            parallelFor(g.batch, grain: 1) { images in
                for n in images {
                    for p in 0..<g.positions {
                        let oh = p / g.outW, ow = p % g.outW
                        let row = src + (n * g.positions + p) * patch
                        var col = 0
                        for c in 0..<g.channels {
                            let plane = dst.pointer + n * imageSize + c * g.height * g.width
                            for kh in 0..<g.kernelH {
                                let ih = oh * g.strideH - g.padH + kh * g.dilationH
                                for kw in 0..<g.kernelW {
                                    let iw = ow * g.strideW - g.padW + kw * g.dilationW
                                    if ih >= 0 && ih < g.height && iw >= 0 && iw < g.width {
                                        plane[ih * g.width + iw] += row[col]
                                    }
                                    col += 1
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    return dx
}

/// [N * P, O] (rows per position) to NCHW [N, O, P], adding `bias[o]` when given.
func positionsToNCHW<T: AxonFloat>(_ y: [T], batch: Int, positions: Int, channels: Int, bias: [T]?) -> [T] {
    y.withUnsafeBufferPointer { py in
        let src = py.baseAddress!
        return makeArray(batch * channels * positions, grain: 1 << 14) { out, range in
            for i in range {
                let n = i / (channels * positions), rem = i % (channels * positions)
                let o = rem / positions, p = rem % positions
                out[i] = src[(n * positions + p) * channels + o] + (bias?[o] ?? 0)
            }
        }
    }
}

/// NCHW [N, O, P] to rows per position [N * P, O].
func nchwToPositions<T: AxonFloat>(_ g: [T], batch: Int, positions: Int, channels: Int) -> [T] {
    g.withUnsafeBufferPointer { pg in
        let src = pg.baseAddress!
        return makeArray(batch * channels * positions, grain: 1 << 14) { out, range in
            for i in range {
                let r = i / channels, o = i % channels
                let n = r / positions, p = r % positions
                out[i] = src[(n * channels + o) * positions + p]
            }
        }
    }
}

/// conv2d forward: im2col, then one GEMM [N*P, CKK] x [CKK, O] (the weight read transposed in place).
func conv2dForward<T: AxonFloat>(_ x: [T], _ w: [T], _ bias: [T]?, _ g: Conv2dGeometry, outChannels: Int) -> [T] {
    let cols = im2col(x, g)
    let rows = g.batch * g.positions
    var y = [T](repeating: 0, count: rows * outChannels)
    cols.withUnsafeBufferPointer { pc in
        w.withUnsafeBufferPointer { pw in
            y.withUnsafeMutableBufferPointer { py in
                T.gemm(m: rows, n: outChannels, k: g.patch,
                       a: MatrixView(base: pc.baseAddress!, rowStride: g.patch, columnStride: 1),
                       b: MatrixView(base: pw.baseAddress!, rowStride: 1, columnStride: g.patch),
                       c: py.baseAddress!, ldc: outChannels, accumulate: false)
            }
        }
    }
    return positionsToNCHW(y, batch: g.batch, positions: g.positions, channels: outChannels, bias: bias)
}

/// conv2d backward: gradients for input (GEMM then col2im), weight (GEMM with the recomputed im2col)
/// and bias (sum over batch and positions).
func conv2dBackward<T: AxonFloat>(_ gradOut: [T], _ x: [T], _ w: [T], _ g: Conv2dGeometry, outChannels o: Int,
                                  needInput: Bool, needWeight: Bool, needBias: Bool) -> (dx: [T]?, dw: [T]?, db: [T]?) {
    let rows = g.batch * g.positions
    let g2 = nchwToPositions(gradOut, batch: g.batch, positions: g.positions, channels: o)
    var dx: [T]? = nil, dw: [T]? = nil, db: [T]? = nil
    g2.withUnsafeBufferPointer { pg in
        let gp = pg.baseAddress!
        if needWeight {
            let cols = im2col(x, g)
            var out = [T](repeating: 0, count: o * g.patch)
            cols.withUnsafeBufferPointer { pc in
                out.withUnsafeMutableBufferPointer { po in
                    T.gemm(m: o, n: g.patch, k: rows,
                           a: MatrixView(base: gp, rowStride: 1, columnStride: o),
                           b: MatrixView(base: pc.baseAddress!, rowStride: g.patch, columnStride: 1),
                           c: po.baseAddress!, ldc: g.patch, accumulate: false)
                }
            }
            dw = out
        }
        if needInput {
            var dcols = [T](repeating: 0, count: rows * g.patch)
            w.withUnsafeBufferPointer { pw in
                dcols.withUnsafeMutableBufferPointer { pd in
                    T.gemm(m: rows, n: g.patch, k: o,
                           a: MatrixView(base: gp, rowStride: o, columnStride: 1),
                           b: MatrixView(base: pw.baseAddress!, rowStride: g.patch, columnStride: 1),
                           c: pd.baseAddress!, ldc: g.patch, accumulate: false)
                }
            }
            dx = col2im(dcols, g)
        }
        if needBias {
            var b = [T](repeating: 0, count: o)
            for r in 0..<rows { for c in 0..<o { b[c] += gp[r * o + c] } }
            db = b
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
                                var best = -T.infinity, bestIndex = -1
                                for kh in 0..<g.kernelH {
                                    let h = i * g.strideH - g.padH + kh * g.dilationH
                                    if h < 0 || h >= g.height { continue }
                                    for kw in 0..<g.kernelW {
                                        let w = j * g.strideW - g.padW + kw * g.dilationW
                                        if w < 0 || w >= g.width { continue }
                                        let val = src[base + h * g.width + w]
                                        if val > best || val.isNaN || bestIndex < 0 { best = val; bestIndex = base + h * g.width + w }
                                        if val.isNaN { break }
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
