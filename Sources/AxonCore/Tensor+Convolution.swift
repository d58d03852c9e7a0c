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
public func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                   padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1)) -> Tensor {
    guard weight.rank == 4 else { axonFail("conv2d", "weight must be [out, in, kh, kw], got shape \(weight.shape)") }
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
    let x = input.converted(to: dtype), w = weight.converted(to: dtype), b = bias?.converted(to: dtype)
    let outShape = [g.batch, o, g.outH, g.outW]
    let out: Tensor
    // The unfolded input is kept for the weight gradient when one will be taken (it costs C·KH·KW values
    // per output position; evaluation keeps nothing).
    let keep = GradMode.isEnabled && w.requiresGrad
    var saved32: [Float]? = nil, saved64: [Double]? = nil
    switch dtype {
    case .float64:
        let r = conv2dForward(x.f64, w.f64, b?.f64, g, outChannels: o, keepColumns: keep)
        out = Tensor(shape: outShape, storage: .float64(r.out)); saved64 = r.columns
    default:
        let r = conv2dForward(x.f32, w.f32, b?.f32, g, outChannels: o, keepColumns: keep)
        out = Tensor(shape: outShape, storage: .float32(r.out)); saved32 = r.columns
    }
    let inputs = [x, w] + (b.map { [$0] } ?? [])
    return Tensor.record("conv2d", inputs, out) { grad in
        func wrap<T: AxonFloat>(_ r: (dx: [T]?, dw: [T]?, db: [T]?), _ make: ([T], [Int]) -> Tensor) -> [Tensor?] {
            var result: [Tensor?] = [r.dx.map { make($0, x.shape) }, r.dw.map { make($0, w.shape) }]
            if let b { result.append(r.db.map { make($0, b.shape) }) }
            return result
        }
        let needB = b?.requiresGrad ?? false
        switch dtype {
        case .float64:
            return wrap(conv2dBackward(grad.f64, x.f64, w.f64, g, outChannels: o, needInput: x.requiresGrad,
                                       needWeight: w.requiresGrad, needBias: needB, savedColumns: saved64)) { Tensor(shape: $1, storage: .float64($0)) }
        default:
            return wrap(conv2dBackward(grad.f32, x.f32, w.f32, g, outChannels: o, needInput: x.requiresGrad,
                                       needWeight: w.requiresGrad, needBias: needB, savedColumns: saved32)) { Tensor(shape: $1, storage: .float32($0)) }
        }
    }
}

/// 2-D convolution with square stride, padding and dilation.
public func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int, padding: Int = 0,
                   dilation: Int = 1) -> Tensor {
    conv2d(input, weight: weight, bias: bias, stride: (stride, stride), padding: (padding, padding),
           dilation: (dilation, dilation))
}

/// 2-D max pooling over NCHW input; `stride` defaults to the kernel size, padding counts as -inf.
/// The gradient goes to the first maximal element of each window.
public func maxPool2d(_ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil,
                      padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1)) -> Tensor {
    let g = makeGeometry("maxPool2d", input, kernel: kernelSize, stride: stride ?? kernelSize, padding: padding,
                         dilation: dilation)
    guard padding.0 * 2 <= kernelSize.0, padding.1 * 2 <= kernelSize.1 else {
        axonFail("maxPool2d", "padding \(padding) must be at most half the kernel size \(kernelSize)")
    }
    let outShape = [g.batch, g.channels, g.outH, g.outW]
    let out: Tensor, indices: [Int]
    // The argmax indices are kept only for a backward pass (evaluation saves their memory).
    let needIndices = GradMode.isEnabled && input.requiresGrad
    switch input.storage {
    case .float32(let a):
        let (v, i) = maxPool2dForward(a, g, indices: needIndices); out = Tensor(shape: outShape, storage: .float32(v)); indices = i
    case .float64(let a):
        let (v, i) = maxPool2dForward(a, g, indices: needIndices); out = Tensor(shape: outShape, storage: .float64(v)); indices = i
    case .int64: axonFail("maxPool2d", "needs a floating-point tensor, got int64 with shape \(input.shape)")
    }
    return Tensor.record("maxPool2d", [input], out) { [shape = input.shape, dtype = input.dtype] grad in
        [Tensor.scatterAdd(grad, indices: indices, shape: shape, dtype: dtype)]
    }
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
    let outShape = [g.batch, g.channels, g.outH, g.outW]
    let out: Tensor
    switch input.storage {
    case .float32(let a): out = Tensor(shape: outShape, storage: .float32(avgPool2d(a, g)))
    case .float64(let a): out = Tensor(shape: outShape, storage: .float64(avgPool2d(a, g)))
    case .int64: axonFail("avgPool2d", "needs a floating-point tensor, got int64 with shape \(input.shape)")
    }
    return Tensor.record("avgPool2d", [input], out) { [shape = input.shape] grad in
        switch grad.storage {
        case .float64(let gv): return [Tensor(shape: shape, storage: .float64(avgPool2d([], g, backwardFrom: gv)))]
        default: return [Tensor(shape: shape, storage: .float32(avgPool2d([], g, backwardFrom: grad.f32)))]
        }
    }
}

/// 2-D average pooling with a square window.
public func avgPool2d(_ input: Tensor, _ kernelSize: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
    avgPool2d(input, kernelSize: (kernelSize, kernelSize), stride: stride.map { ($0, $0) }, padding: (padding, padding))
}
