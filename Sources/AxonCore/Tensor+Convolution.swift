// 2-D convolution and pooling over NCHW tensors. Each is a primitive with its own derivative rule
// (composing them from unfold/matmul would cost a copy of every patch in the graph).

/// Output geometry, checked, for conv/pool ops; stops naming `op` and the shapes when it does not fit.
func makeGeometry(_ op: String, _ x: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int),
                  dilation: (Int, Int)) -> Conv2dGeometry {
    guard x.rank == 4 else { axonFail(op, "expects NCHW input of rank 4, got shape \(x.shape)") }
    guard kernel.0 > 0, kernel.1 > 0, stride.0 > 0, stride.1 > 0, dilation.0 > 0, dilation.1 > 0,
          padding.0 >= 0, padding.1 >= 0 else {
        axonFail(op, "kernel \(kernel), stride \(stride) and dilation \(dilation) must be positive and padding \(padding) non-negative")
    }
    let g = Conv2dGeometry(batch: x.shape[0], channels: x.shape[1], height: x.shape[2], width: x.shape[3],
                           kernelH: kernel.0, kernelW: kernel.1, strideH: stride.0, strideW: stride.1,
                           padH: padding.0, padW: padding.1, dilationH: dilation.0, dilationW: dilation.1)
    guard g.height + 2 * g.padH >= g.dilationH * (g.kernelH - 1) + 1,
          g.width + 2 * g.padW >= g.dilationW * (g.kernelW - 1) + 1 else {
        axonFail(op, "kernel \(kernel) (dilation \(dilation)) is larger than the padded input \(x.shape) with padding \(padding)")
    }
    return g
}

/// 2-D convolution (cross-correlation, as PyTorch) of NCHW `input` with `weight` [O, C, KH, KW] and an
/// optional `bias` [O].
///
/// Shapes: input `[N, C, H, W]` -> output `[N, O, (H + 2p - d(KH - 1) - 1) / s + 1, ...]`.
///
/// With `groups` > 1 the channels split into that many groups, each convolved with its own slice of the
/// output channels (weight `[O, C / groups, KH, KW]`; `groups` = C is a depthwise convolution): a
/// composite of per-group convolutions joined along the channel axis.
public func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                   padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1) -> Tensor {
    guard weight.rank == 4 else { axonFail("conv2d", "weight must be [out, in, kh, kw], got shape \(weight.shape)") }
    if groups != 1 {
        guard groups > 0, input.rank == 4, input.shape[1] % groups == 0, weight.shape[0] % groups == 0,
              weight.shape[1] * groups == input.shape[1] else {
            axonFail("conv2d", "\(groups) groups need input channels \(input.rank == 4 ? input.shape[1] : -1) = weight.shape[1] · groups "
                     + "and output channels divisible by groups (input \(input.shape), weight \(weight.shape))")
        }
        let xs = input.chunked(groups, axis: 1), ws = weight.chunked(groups, axis: 0)
        let out = concat(zip(xs, ws).map { conv2d($0, weight: $1, stride: stride, padding: padding, dilation: dilation) }, axis: 1)
        guard let bias else { return out }
        return out + bias.reshaped([1, weight.shape[0], 1, 1])
    }
    let g = makeGeometry("conv2d", input, kernel: (weight.shape[2], weight.shape[3]), stride: stride,
                         padding: padding, dilation: dilation)
    guard weight.shape[1] == g.channels else {
        axonFail("conv2d", "input shape \(input.shape) has \(g.channels) channels but weight shape \(weight.shape) expects \(weight.shape[1])")
    }
    let o = weight.shape[0]
    if let bias, bias.shape != [o] {
        axonFail("conv2d", "bias shape \(bias.shape) does not match \(o) output channels (weight \(weight.shape))")
    }
    let dtype: DType = [input, weight].contains { $0.dtype == .float64 } ? .float64 : .float32
    let x = input.converted(to: dtype).contiguous(), w = weight.converted(to: dtype).contiguous()
    let b = bias?.converted(to: dtype).contiguous()
    let out = Tensor.empty([g.batch, o, g.outH, g.outW], dtype: dtype)
    // A backend may keep what the weight gradient reuses when one will be taken (the CPU backend keeps nothing:
    // it unfolds the input again); evaluation keeps nothing.
    let saved = Backends.current.conv2d(x.strided, w.strided, b?.strided, g, into: out.strided,
                                        keepColumns: GradMode.isEnabled && w.requiresGrad)
    let inputs = [x, w] + (b.map { [$0] } ?? [])
    return Tensor.record("conv2d", inputs, out, traced: ["strides": .ints([stride.0, stride.1]), "pads": .ints([padding.0, padding.1]),
                                                          "dilations": .ints([dilation.0, dilation.1])]) { grad in
        if GradMode.isEnabled && (grad.requiresGrad || x.requiresGrad || w.requiresGrad) {
            // Recorded backward (second derivatives): both gradients are bilinear in (grad, w) and
            // (x, grad), written as differentiable ops of their own.
            var r: [Tensor?] = [x.requiresGrad ? conv2dInputGradient(grad, w, g) : nil,
                                w.requiresGrad ? conv2dWeightGradient(grad, x, g, weightShape: w.shape) : nil]
            if let b { r.append(b.requiresGrad ? grad.sum(axes: [0, 2, 3]) : nil) }
            return r
        }
        let gc = grad.converted(to: dtype).contiguous()
        let dx = x.requiresGrad ? Tensor.empty(x.shape, dtype: dtype) : nil
        let dw = w.requiresGrad ? Tensor.empty(w.shape, dtype: dtype) : nil
        let db = (b?.requiresGrad ?? false) ? Tensor.empty([o], dtype: dtype) : nil
        Backends.current.conv2dBackward(gc.strided, x.strided, w.strided, g, saved: saved, input: dx?.strided,
                                        weightGradient: dw?.strided, biasGradient: db?.strided)
        var result: [Tensor?] = [dx, dw]
        if b != nil { result.append(db) }
        return result
    }
}

/// The input gradient of a convolution, `grad` [N, O, OH, OW] through `weight`, as a recorded op: it is
/// linear in each argument, so its derivatives are a convolution (for `grad`) and a weight gradient (for
/// `weight`).
func conv2dInputGradient(_ grad: Tensor, _ weight: Tensor, _ g: Conv2dGeometry) -> Tensor {
    let gc = grad.contiguous(), w = weight.contiguous()
    let out = Tensor.empty([g.batch, g.channels, g.height, g.width], dtype: w.dtype)
    // The input argument is read only for a weight gradient, which is not asked for here: `out` stands in.
    Backends.current.conv2dBackward(gc.strided, out.strided, w.strided, g, saved: nil, input: out.strided,
                                    weightGradient: nil, biasGradient: nil)
    return Tensor.record("conv2d_input_backward", [gc, w], out) { u in
        [gc.requiresGrad ? conv2d(u, weight: w, stride: (g.strideH, g.strideW), padding: (g.padH, g.padW),
                                  dilation: (g.dilationH, g.dilationW)) : nil,
         w.requiresGrad ? conv2dWeightGradient(gc, u, g, weightShape: w.shape) : nil]
    }
}

/// The weight gradient of a convolution, from `grad` [N, O, OH, OW] and the input `x`, as a recorded op
/// (linear in each argument: its derivatives are an input gradient and a convolution).
func conv2dWeightGradient(_ grad: Tensor, _ x: Tensor, _ g: Conv2dGeometry, weightShape: [Int]) -> Tensor {
    let gc = grad.contiguous(), xc = x.contiguous()
    let out = Tensor.empty(weightShape, dtype: xc.dtype)
    // The weight argument is read only for an input gradient, which is not asked for here: `out` stands in
    // (its shape gives the output channels).
    Backends.current.conv2dBackward(gc.strided, xc.strided, out.strided, g, saved: nil, input: nil,
                                    weightGradient: out.strided, biasGradient: nil)
    return Tensor.record("conv2d_weight_backward", [gc, xc], out) { v in
        [gc.requiresGrad ? conv2d(xc, weight: v, stride: (g.strideH, g.strideW), padding: (g.padH, g.padW),
                                  dilation: (g.dilationH, g.dilationW)) : nil,
         xc.requiresGrad ? conv2dInputGradient(gc, v, g) : nil]
    }
}

/// 2-D transposed convolution, as `torch.nn.functional.conv_transpose2d`: the adjoint of `conv2d`,
/// so it runs as a convolution's input gradient (differentiable twice, like it). `outputPadding` (less than
/// the stride or the dilation) adds rows and columns at the bottom and right that a strided convolution
/// would not have read.
///
/// Shapes: input `[N, Cin, H, W]`, weight `[Cin, Cout, KH, KW]`, bias `[Cout]` -> `[N, Cout, H', W']` with
/// H' = (H − 1)·s − 2p + d(KH − 1) + outputPadding + 1.
public func convTranspose2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                            padding: (Int, Int) = (0, 0), outputPadding: (Int, Int) = (0, 0),
                            dilation: (Int, Int) = (1, 1)) -> Tensor {
    guard input.rank == 4, weight.rank == 4, input.shape[1] == weight.shape[0] else {
        axonFail("convTranspose2d", "needs input [N, Cin, H, W] and weight [Cin, Cout, KH, KW] with the same Cin, got \(input.shape) and \(weight.shape)")
    }
    guard stride.0 > 0, stride.1 > 0, dilation.0 > 0, dilation.1 > 0, padding.0 >= 0, padding.1 >= 0,
          outputPadding.0 >= 0, outputPadding.1 >= 0,
          outputPadding.0 < max(stride.0, dilation.0), outputPadding.1 < max(stride.1, dilation.1) else {
        axonFail("convTranspose2d", "stride \(stride) and dilation \(dilation) must be positive, padding \(padding) non-negative, and "
                 + "outputPadding \(outputPadding) smaller than the stride or the dilation")
    }
    let n = input.shape[0], cout = weight.shape[1]
    let h = (input.shape[2] - 1) * stride.0 - 2 * padding.0 + dilation.0 * (weight.shape[2] - 1) + outputPadding.0 + 1
    let w = (input.shape[3] - 1) * stride.1 - 2 * padding.1 + dilation.1 * (weight.shape[3] - 1) + outputPadding.1 + 1
    guard h > 0 && w > 0 else {
        axonFail("convTranspose2d", "input \(input.shape) with weight \(weight.shape), stride \(stride) and padding \(padding) gives an empty output")
    }
    // The convolution whose input gradient this is: it maps [N, Cout, h, w] to the input's [N, Cin, H, W].
    let g = Conv2dGeometry(batch: n, channels: cout, height: h, width: w, kernelH: weight.shape[2], kernelW: weight.shape[3],
                           strideH: stride.0, strideW: stride.1, padH: padding.0, padW: padding.1,
                           dilationH: dilation.0, dilationW: dilation.1)
    let dtype: DType = [input, weight].contains { $0.dtype == .float64 } ? .float64 : .float32
    let out = conv2dInputGradient(input.converted(to: dtype), weight.converted(to: dtype), g)
    guard let bias else { return out }
    guard bias.shape == [cout] else {
        axonFail("convTranspose2d", "bias shape \(bias.shape) does not match \(cout) output channels (weight \(weight.shape))")
    }
    return out + bias.converted(to: dtype).reshaped([1, cout, 1, 1])
}

/// 2-D convolution with square stride, padding and dilation.
public func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int, padding: Int = 0,
                   dilation: Int = 1, groups: Int = 1) -> Tensor {
    conv2d(input, weight: weight, bias: bias, stride: (stride, stride), padding: (padding, padding),
           dilation: (dilation, dilation), groups: groups)
}

/// 2-D max pooling over NCHW input; `stride` defaults to the kernel size, padding counts as -inf.
/// The gradient goes to the first maximal element of each window.
public func maxPool2d(_ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil,
                      padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1)) -> Tensor {
    maxPool2d(input, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, relu: false)
}

/// `relu(maxPool2d(input, ...))` as one op, the same values and gradients: a `Sequential`'s pooling and the ReLU after
/// it, run by each thread on its own planes while they are in its cache (the ReLU alone, on a pooled LeNet activation,
/// is below the size at which elementwise ops split across threads).
package func maxPool2dReLU(_ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil,
                           padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1)) -> Tensor {
    maxPool2d(input, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, relu: true)
}

private func maxPool2d(_ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int)?, padding: (Int, Int),
                       dilation: (Int, Int), relu: Bool) -> Tensor {
    let g = makeGeometry("maxPool2d", input, kernel: kernelSize, stride: stride ?? kernelSize, padding: padding,
                         dilation: dilation)
    guard padding.0 * 2 <= kernelSize.0, padding.1 * 2 <= kernelSize.1 else {
        axonFail("maxPool2d", "padding \(padding) must be at most half the kernel size \(kernelSize)")
    }
    let x = input.contiguous()
    let out = Tensor.empty([g.batch, g.channels, g.outH, g.outW], dtype: x.dtype)
    // The argmax indices are kept only for a backward pass (evaluation saves their memory).
    let indices = GradMode.isEnabled && input.requiresGrad ? Tensor.empty(out.shape, dtype: .int64) : nil
    if relu {
        Backends.current.maxPool2dReLU(x.strided, g, into: out.strided, indices: indices?.strided)
    } else {
        Backends.current.maxPool2d(x.strided, g, into: out.strided, indices: indices?.strided)
    }
    guard let indices else { return out }
    guard relu else {
        return Tensor.record("maxPool2d", [x], out, saving: [], traced: window(kernelSize, stride ?? kernelSize, padding, dilation)) {
            grad in [recordedPoolAdjoint(grad, rectified: nil, indices: indices, g)]
        }
    }
    return Tensor.record("maxPool2dReLU", [x], out, saving: [], savingOutput: true) { [unowned out, shape = x.shape] grad in
        if GradMode.isEnabled && grad.requiresGrad {  // recorded (second derivatives): ReLU's rule, then pooling's
            return [recordedPoolAdjoint(grad, rectified: out, indices: indices, g)]
        }
        let gc = grad.contiguous(), dx = Tensor.empty(shape, dtype: gc.dtype)
        Backends.current.maxPool2dReLUBackward(gc.strided, pooled: out.strided, indices: indices.strided, g, into: dx.strided)
        return [dx]
    }
}

/// Max pooling's input gradient (windows `g`) from the pooled values' gradient `grad`, as differentiable ops (recorded
/// when the backward pass is): masked by ReLU's derivative where `rectified` (the pooled and rectified output) is
/// given, then spread to the winners at `indices` (the spread's derivative is a gather).
private func recordedPoolAdjoint(_ grad: Tensor, rectified: Tensor?, indices: Tensor, _ g: Conv2dGeometry) -> Tensor {
    let masked = rectified.map { `where`($0 .<= 0, grad.scalarLike(0), grad) } ?? grad
    return masked.scatteredFlat(indices, shape: [g.batch, g.channels, g.height, g.width], poolWindows: g)
}

/// ``recordedPoolAdjoint`` for 2x2 windows with stride 2 over input of `shape` [N, C, H, W]: the backward pass of a
/// pooling fused into the op before it, when it is recorded (second derivatives).
package func maxPool2x2Adjoint(_ grad: Tensor, rectified: Tensor?, indices: Tensor, shape: [Int]) -> Tensor {
    recordedPoolAdjoint(grad, rectified: rectified, indices: indices,
                        Conv2dGeometry(batch: shape[0], channels: shape[1], height: shape[2], width: shape[3], kernelH: 2,
                                       kernelW: 2, strideH: 2, strideW: 2, padH: 0, padW: 0, dilationH: 1, dilationW: 1))
}

/// 2-D max pooling with a square window (the seed's `max_pool2d(x, 2)`).
public func maxPool2d(_ input: Tensor, _ kernelSize: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
    maxPool2d(input, kernelSize: (kernelSize, kernelSize), stride: stride.map { ($0, $0) }, padding: (padding, padding))
}

/// 2-D average pooling over NCHW input; `stride` defaults to the kernel size; zero padding counts in the
/// divisor (PyTorch's count_include_pad = true).
public func avgPool2d(_ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil,
                      padding: (Int, Int) = (0, 0)) -> Tensor {
    let g = makeGeometry("avgPool2d", input, kernel: kernelSize, stride: stride ?? kernelSize, padding: padding,
                         dilation: (1, 1))
    guard padding.0 * 2 <= kernelSize.0, padding.1 * 2 <= kernelSize.1 else {
        axonFail("avgPool2d", "padding \(padding) must be at most half the kernel size \(kernelSize)")
    }
    let x = input.contiguous()
    let out = Tensor.empty([g.batch, g.channels, g.outH, g.outW], dtype: x.dtype)
    Backends.current.avgPool2d(x.strided, g, into: out.strided)
    return Tensor.record("avgPool2d", [x], out, saving: [], traced: window(kernelSize, stride ?? kernelSize, padding, (1, 1))) {
        grad in [avgPool2dBackward(grad, g)]
    }
}

/// The adjoint of average pooling, as a recorded op (its own derivative is average pooling).
func avgPool2dBackward(_ grad: Tensor, _ g: Conv2dGeometry) -> Tensor {
    let gc = grad.contiguous()
    let out = Tensor.empty([g.batch, g.channels, g.height, g.width], dtype: gc.dtype)
    Backends.current.avgPool2dBackward(gc.strided, g, into: out.strided)
    return Tensor.record("avgPool2d_backward", [gc], out, saving: []) { u in
        [avgPool2d(u, kernelSize: (g.kernelH, g.kernelW), stride: (g.strideH, g.strideW), padding: (g.padH, g.padW))]
    }
}

/// 2-D average pooling with a square window.
public func avgPool2d(_ input: Tensor, _ kernelSize: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
    avgPool2d(input, kernelSize: (kernelSize, kernelSize), stride: stride.map { ($0, $0) }, padding: (padding, padding))
}

/// A pooling window's attributes for an export's trace.
private func window(_ k: (Int, Int), _ s: (Int, Int), _ p: (Int, Int), _ d: (Int, Int)) -> [String: TracedAttribute] {
    ["kernel": .ints([k.0, k.1]), "strides": .ints([s.0, s.1]), "pads": .ints([p.0, p.1]), "dilations": .ints([d.0, d.1])]
}
