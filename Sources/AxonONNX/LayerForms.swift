import AxonCore
import AxonNN

/// The ONNX form of each built-in layer, for opset 17 and later. Each form runs the layer on the input's value
/// (to give the next form its shape) and adds the nodes that compute the same thing.
enum ONNXForms {
    static func emit(_ module: Module, path: String, input x: ONNXValue, to g: inout ONNXGraph) throws -> ONNXValue {
        if let custom = module as? ONNXExportable { return try custom.exportONNX(x, path: path, to: &g) }
        func child(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }
        func param(_ t: Tensor, _ name: String) -> String { g.parameter(t, name: child(name)) }
        func run(_ layer: any Layer) -> Tensor { layer(x.value) }
        func out(_ name: String, _ layer: any Layer) -> ONNXValue { ONNXValue(name: name, value: run(layer)) }

        switch module {
        case let s as Sequential:
            var v = x
            for (i, layer) in s.layers.enumerated() { v = try emit(layer, path: child("\(i)"), input: v, to: &g) }
            return v
        case let r as Residual:
            let skip = try r.shortcut.map { try emit($0, path: child("shortcut"), input: x, to: &g) } ?? x
            let y = try emit(r.block, path: child("block"), input: x, to: &g)
            return ONNXValue(name: g.add1("Add", [skip.name, y.name], name: path), value: skip.value + y.value)
        case is Identity, is Dropout:
            return ONNXValue(name: x.name, value: x.value)

        case let l as Linear:
            return out(linear(x, l, path: path, to: &g), l)
        case let c as Conv2d:
            let inputs = [x.name, param(c.weight, "weight")] + (c.bias.map { [param($0, "bias")] } ?? [])
            return out(g.add1("Conv", inputs, [
                "kernel_shape": .ints(Array(c.weight.shape[2...])), "strides": .ints([c.stride.0, c.stride.1]),
                "pads": .ints([c.padding.0, c.padding.1, c.padding.0, c.padding.1]),
                "dilations": .ints([c.dilation.0, c.dilation.1]), "group": .int(c.groups),
            ], name: path), c)
        case let c as Conv1d:
            let inputs = [x.name, param(c.weight, "weight")] + (c.bias.map { [param($0, "bias")] } ?? [])
            return out(g.add1("Conv", inputs, [
                "kernel_shape": .ints([c.weight.shape[2]]), "strides": .ints([c.stride]), "pads": .ints([c.padding, c.padding]),
                "dilations": .ints([c.dilation]), "group": .int(c.groups),
            ], name: path), c)
        case let c as ConvTranspose2d:
            let inputs = [x.name, param(c.weight, "weight")] + (c.bias.map { [param($0, "bias")] } ?? [])
            return out(g.add1("ConvTranspose", inputs, [
                "kernel_shape": .ints(Array(c.weight.shape[2...])), "strides": .ints([c.stride.0, c.stride.1]),
                "pads": .ints([c.padding.0, c.padding.1, c.padding.0, c.padding.1]),
                "output_padding": .ints([c.outputPadding.0, c.outputPadding.1]),
                "dilations": .ints([c.dilation.0, c.dilation.1]), "group": .int(c.groups),
            ], name: path), c)
        case let p as MaxPool2d:
            return out(g.add1("MaxPool", [x.name], window2d(p), name: path), p)
        case let p as AvgPool2d:
            return out(g.add1("AveragePool", [x.name], window2d(p).merging(["count_include_pad": .int(1)]) { a, _ in a }, name: path), p)
        case let p as MaxPool1d:
            return out(g.add1("MaxPool", [x.name], window1d(p), name: path), p)
        case let p as AvgPool1d:
            return out(g.add1("AveragePool", [x.name], window1d(p).merging(["count_include_pad": .int(1)]) { a, _ in a }, name: path), p)
        case let p as AdaptiveAvgPool2d:
            return out(try adaptiveAveragePool(x, p.outputSize, path: path, to: &g), p)
        case let u as Upsample:
            return out(upsample(x, u, path: path, to: &g), u)
        case let f as Flatten:
            return out(flatten(x, f, path: path, to: &g), f)

        case let bn as BatchNorm:
            let c = bn.runningMean.shape[0]
            let scale = bn.weight.map { param($0, "weight") } ?? g.initializer(Tensor.ones([c], dtype: x.value.dtype), name: child("weight"))
            let shift = bn.bias.map { param($0, "bias") } ?? g.initializer(Tensor.zeros([c], dtype: x.value.dtype), name: child("bias"))
            let stats = [param(bn.runningMean, "running_mean"), param(bn.runningVar, "running_var")]
            // A [N, C] input is normalised as [N, C, 1], as PyTorch's exporter does.
            let flat = x.value.rank == 2
            let input = flat ? g.add1("Unsqueeze", [x.name, g.ints([2], name: child("axes"))], name: path) : x.name
            var y = g.add1("BatchNormalization", [input, scale, shift] + stats, ["epsilon": .float(bn.eps)], name: path)
            if flat { y = g.add1("Squeeze", [y, g.ints([2], name: child("axes"))], name: path) }
            return out(y, bn)
        case let ln as LayerNorm:
            let k = ln.normalizedShape.count
            let scale = ln.weight.map { param($0, "weight") }
                ?? g.initializer(Tensor.ones(ln.normalizedShape, dtype: x.value.dtype), name: child("weight"))
            let inputs = [x.name, scale] + (ln.bias.map { [param($0, "bias")] } ?? [])
            return out(g.add1("LayerNormalization", inputs, ["axis": .int(-k), "epsilon": .float(ln.eps)], name: path), ln)
        case let gn as GroupNorm:
            let w = gn.weight.map { param($0, "weight") }, b = gn.bias.map { param($0, "bias") }
            return out(groupNorm(x, gn, weight: w, bias: b, path: path, to: &g), gn)
        case let rn as RMSNorm:
            let axes = Array((x.value.rank - rn.normalizedShape.count)..<x.value.rank)
            let eps = rn.eps ?? (x.value.dtype == .float64 ? Double.ulpOfOne : Double(Float.ulpOfOne))
            let square = g.add1("Mul", [x.name, x.name], name: path)
            let mean = g.add1("ReduceMean", [square], ["axes": .ints(axes), "keepdims": .int(1)], name: path)
            let root = g.add1("Sqrt", [g.add1("Add", [mean, g.scalar(eps, like: x.value, name: child("eps"))], name: path)], name: path)
            var y = g.add1("Div", [x.name, root], name: path)
            if let w = rn.weight { y = g.add1("Mul", [y, param(w, "weight")], name: path) }
            return out(y, rn)
        case let t as TransformerEncoderLayer:
            return out(encoderLayer(x, t, causal: false, path: path, to: &g), t)
        case let t as TransformerEncoder:
            return out(encoder(x, t, causal: false, path: path, to: &g), t)
        case let s as SequenceLayer:
            let net = child("net")
            switch s.net {
            case let t as TransformerEncoder: return out(encoder(x, t, causal: s.causal, path: net, to: &g), s)
            case let r as LSTM: return out(recurrent(x, r, .lstm, path: net, to: &g), s)
            case let r as GRU: return out(recurrent(x, r, .gru, path: net, to: &g), s)
            default: throw ONNXError("export: SequenceLayer ('\(path)') wraps \(type(of: s.net)), which has no ONNX form")
            }
        case let m as DescribedLanguageModel:
            return try emit(m.net, path: child("net"), input: x, to: &g)
        case let m as CharLSTM:
            let e = try emit(m.embedding, path: child("embedding"), input: x, to: &g)
            let h = ONNXValue(name: recurrent(e, m.lstm, .lstm, path: child("lstm"), to: &g), value: m.lstm(e.value).0)
            return ONNXValue(name: linear(h, m.head, path: child("head"), to: &g), value: m(x.value))
        case let m as CharTransformer:
            let e = try emit(m.embedding, path: child("embedding"), input: x, to: &g)
            let p = try emit(m.position, path: child("position"), input: e, to: &g)
            let encoded = ONNXValue(name: encoder(p, m.encoder, causal: true, path: child("encoder"), to: &g), value: p.value)
            let n = try emit(m.norm, path: child("norm"), input: encoded, to: &g)
            return ONNXValue(name: linear(n, m.head, path: child("head"), to: &g), value: m(x.value))
        case let p as SinusoidalPositionalEncoding:
            return out(positions(x, table: param(p.pe, "pe"), dtype: p.pe.dtype, path: path, to: &g), p)
        case let p as LearnedPositionalEmbedding:
            return out(positions(x, table: param(p.embedding.weight, "embedding.weight"), dtype: p.embedding.weight.dtype, path: path, to: &g), p)
        case let e as Embedding:
            return out(g.add1("Gather", [param(e.weight, "weight"), x.name], ["axis": .int(0)], name: path), e)

        case let a as ReLU: return out(g.add1("Relu", [x.name], name: path), a)
        case let a as Sigmoid: return out(g.add1("Sigmoid", [x.name], name: path), a)
        case let a as Tanh: return out(g.add1("Tanh", [x.name], name: path), a)
        case let a as LeakyReLU: return out(g.add1("LeakyRelu", [x.name], ["alpha": .float(a.negativeSlope)], name: path), a)
        case let a as Softmax: return out(g.add1("Softmax", [x.name], ["axis": .int(a.axis)], name: path), a)
        case let a as LogSoftmax: return out(g.add1("LogSoftmax", [x.name], ["axis": .int(a.axis)], name: path), a)
        case let a as GELU: return out(gelu(x, approximate: a.approximate, path: path, to: &g), a)
        case let a as Step:
            let positive = g.add1("Greater", [x.name, g.scalar(0, like: x.value, name: child("zero"))], name: path)
            return out(g.add1("Cast", [positive], ["to": .int(Int(ONNXTensors.code(x.value.dtype)))], name: path), a)

        case let r as LSTM:  // the output sequence, from zero states (as a traced module calls it)
            return ONNXValue(name: recurrent(x, r, .lstm, path: path, to: &g), value: r(x.value).0)
        case let r as GRU:
            return ONNXValue(name: recurrent(x, r, .gru, path: path, to: &g), value: r(x.value).0)
        case let r as RNN:
            return ONNXValue(name: recurrent(x, r, .rnn(relu: r.nonlinearity == .relu), path: path, to: &g), value: r(x.value).0)
        case let c as LSTMCell:  // one step from zero states
            return ONNXValue(name: cell(x, c, .lstm, path: path, to: &g), value: c(x.value).0)
        case let c as GRUCell:
            return ONNXValue(name: cell(x, c, .gru, path: path, to: &g), value: c(x.value))
        case let layer as any Layer:  // a module of the user's: its forward pass, traced
            return try ONNXTrace.export(layer, path: path, input: x, to: &g)
        default:
            throw ONNXError("export: \(type(of: module))\(path.isEmpty ? "" : " ('\(path)')") has no ONNX form and is not a Layer "
                            + "(a forward pass to trace); make it ONNXExportable")
        }
    }

    static func window2d(_ p: Pool2d) -> [String: ONNXAttribute] {
        ["kernel_shape": .ints([p.kernelSize.0, p.kernelSize.1]), "strides": .ints([p.stride.0, p.stride.1]),
         "pads": .ints([p.padding.0, p.padding.1, p.padding.0, p.padding.1])]
    }

    static func window1d(_ p: Pool1d) -> [String: ONNXAttribute] {
        ["kernel_shape": .ints([p.kernelSize]), "strides": .ints([p.stride]), "pads": .ints([p.padding, p.padding])]
    }

    /// Global pooling, equal windows, or (as Axon computes it) a mean over each window ⌊iL/n⌋ ..< ⌈(i+1)L/n⌉.
    static func adaptiveAveragePool(_ x: ONNXValue, _ size: (Int, Int), path: String, to g: inout ONNXGraph) throws -> String {
        guard x.value.rank == 4 else { throw ONNXError("export: AdaptiveAvgPool2d ('\(path)') needs [N, C, H, W] input, got \(x.value.shape)") }
        let h = x.value.shape[2], w = x.value.shape[3]
        if size == (1, 1) { return g.add1("GlobalAveragePool", [x.name], name: path) }
        if h % size.0 == 0 && w % size.1 == 0 {
            let k = [h / size.0, w / size.1]
            return g.add1("AveragePool", [x.name], ["kernel_shape": .ints(k), "strides": .ints(k)], name: path)
        }
        var y = x.name
        for (axis, n) in [(2, size.0), (3, size.1)] {
            let length = x.value.shape[axis]
            let parts = (0..<n).map { i -> String in
                let start = i * length / n, end = ((i + 1) * length + n - 1) / n
                let piece = g.add1("Slice", [y, g.ints([start], name: "\(path).start"), g.ints([end], name: "\(path).end"),
                                             g.ints([axis], name: "\(path).axes")], name: path)
                return g.add1("ReduceMean", [piece], ["axes": .ints([axis]), "keepdims": .int(1)], name: path)
            }
            y = g.add1("Concat", parts, ["axis": .int(axis)], name: path)
        }
        return y
    }

    /// Resize, nearest, asymmetric and floor: output i reads ⌊i · in / out⌋, as Axon's and PyTorch's nearest.
    static func upsample(_ x: ONNXValue, _ u: Upsample, path: String, to g: inout ONNXGraph) -> String {
        let attributes: [String: ONNXAttribute] = ["mode": .string("nearest"), "coordinate_transformation_mode": .string("asymmetric"),
                                                    "nearest_mode": .string("floor")]
        if let s = u.scaleFactor {
            let scales = g.initializer(Tensor(shape: [x.value.rank], scalars: [1, 1] + Array(repeating: Float(s), count: x.value.rank - 2)),
                                       name: "\(path).scales")
            return g.add1("Resize", [x.name, "", scales], attributes, name: path)
        }
        // The batch and channel sizes come from the input, so any batch size runs.
        let shape = g.add1("Shape", [x.name], name: path)
        let leading = g.add1("Slice", [shape, g.ints([0], name: "\(path).start"), g.ints([2], name: "\(path).end")], name: path)
        let sizes = g.add1("Concat", [leading, g.ints(u.size!, name: "\(path).size")], ["axis": .int(0)], name: path)
        return g.add1("Resize", [x.name, "", "", sizes], attributes, name: path)
    }

    /// Flatten (the usual case: all axes after the batch's) or a Reshape that copies the leading axes.
    static func flatten(_ x: ONNXValue, _ f: Flatten, path: String, to g: inout ONNXGraph) -> String {
        let r = x.value.rank
        let start = f.startDim < 0 ? f.startDim + r : f.startDim, end = f.endDim < 0 ? f.endDim + r : f.endDim
        if start == 1 && end == r - 1 { return g.add1("Flatten", [x.name], ["axis": .int(1)], name: path) }
        let target = [Int](repeating: 0, count: start) + [-1] + Array(x.value.shape[(end + 1)...])
        return g.add1("Reshape", [x.name, g.ints(target, name: "\(path).shape")], name: path)
    }

    /// As PyTorch's exporter writes group norm for opset 17: instance norm over [N, G, rest], then the affine map.
    static func groupNorm(_ x: ONNXValue, _ gn: GroupNorm, weight: String?, bias: String?, path: String,
                          to g: inout ONNXGraph) -> String {
        let dtype = x.value.dtype
        let grouped = g.add1("Reshape", [x.name, g.ints([0, gn.numGroups, -1], name: "\(path).grouped_shape")], name: path)
        let ones = g.initializer(Tensor.ones([gn.numGroups], dtype: dtype), name: "\(path).group_scale")
        let zeros = g.initializer(Tensor.zeros([gn.numGroups], dtype: dtype), name: "\(path).group_bias")
        let normalized = g.add1("InstanceNormalization", [grouped, ones, zeros], ["epsilon": .float(gn.eps)], name: path)
        var y = g.add1("Reshape", [normalized, g.add1("Shape", [x.name], name: path)], name: path)
        let channelShape = g.ints([gn.numChannels] + [Int](repeating: 1, count: x.value.rank - 2), name: "\(path).channel_shape")
        if let weight { y = g.add1("Mul", [y, g.add1("Reshape", [weight, channelShape], name: path)], name: path) }
        if let bias { y = g.add1("Add", [y, g.add1("Reshape", [bias, channelShape], name: path)], name: path) }
        return y
    }

    /// Gelu from opset 20; before it, x·½·(1 + erf(x/√2)), or the tanh form.
    static func gelu(_ x: ONNXValue, approximate: Bool, path: String, to g: inout ONNXGraph) -> String {
        if g.opset >= 20 { return g.add1("Gelu", [x.name], ["approximate": .string(approximate ? "tanh" : "none")], name: path) }
        func c(_ v: Double, _ n: String) -> String { g.scalar(v, like: x.value, name: "\(path).\(n)") }
        let inner: String
        if approximate {
            let cube = g.add1("Mul", [g.add1("Mul", [x.name, x.name], name: path), x.name], name: path)
            let sum = g.add1("Add", [x.name, g.add1("Mul", [cube, c(0.044715, "k")], name: path)], name: path)
            inner = g.add1("Tanh", [g.add1("Mul", [sum, c((2 / Double.pi).squareRoot(), "s")], name: path)], name: path)
        } else {
            inner = g.add1("Erf", [g.add1("Div", [x.name, c(2.0.squareRoot(), "root2")], name: path)], name: path)
        }
        let onePlus = g.add1("Add", [inner, c(1, "one")], name: path)
        return g.add1("Mul", [g.add1("Mul", [x.name, onePlus], name: path), c(0.5, "half")], name: path)
    }

    /// y = x Wᵀ + b: Gemm for matrices, MatMul and Add for higher ranks. W keeps its state_dict name.
    static func linear(_ x: ONNXValue, _ l: Linear, path: String, to g: inout ONNXGraph) -> String {
        let w = g.parameter(l.weight, name: "\(path).weight"), b = l.bias.map { g.parameter($0, name: "\(path).bias") }
        if x.value.rank == 2 { return g.add1("Gemm", [x.name, w] + (b.map { [$0] } ?? []), ["transB": .int(1)], name: path) }
        let wt = g.add1("Transpose", [w], ["perm": .ints([1, 0])], name: path)
        let y = g.add1("MatMul", [x.name, wt], name: path)
        return b.map { g.add1("Add", [y, $0], name: path) } ?? y
    }

    /// The input plus rows 0..<T of a position table.
    static func positions(_ x: ONNXValue, table: String, dtype: DType, path: String, to g: inout ONNXGraph) -> String {
        let length = x.value.shape[1]
        var rows = g.add1("Slice", [table, g.ints([0], name: "\(path).start"), g.ints([length], name: "\(path).end"),
                                    g.ints([0], name: "\(path).axes")], name: path)
        if dtype != x.value.dtype { rows = g.add1("Cast", [rows], ["to": .int(Int(ONNXTensors.code(x.value.dtype)))], name: path) }
        return g.add1("Add", [x.name, rows], name: path)
    }

    /// Self-attention of a batch-first [B, L, E] value: the packed input projection, heads as [B, H, L, D], softmax of
    /// the scaled scores (plus −∞ above the diagonal when `causal`), the output projection.
    static func selfAttention(_ x: ONNXValue, _ m: MultiheadAttention, causal: Bool, path: String, to g: inout ONNXGraph) -> String {
        let e = m.embedDim, h = m.numHeads, d = e / h, l = x.value.shape[1]
        let w = g.parameter(m.inProjWeight, name: "\(path).in_proj_weight")
        var packed = g.add1("MatMul", [x.name, g.add1("Transpose", [w], ["perm": .ints([1, 0])], name: path)], name: path)
        if let b = m.inProjBias { packed = g.add1("Add", [packed, g.parameter(b, name: "\(path).in_proj_bias")], name: path) }
        let qkv = g.add("Split", [packed, g.ints([e, e, e], name: "\(path).split")], ["axis": .int(2)], name: path, outputs: 3)
        let headShape = g.ints([0, 0, h, d], name: "\(path).head_shape")
        let heads = qkv.map { g.add1("Transpose", [g.add1("Reshape", [$0, headShape], name: path)], ["perm": .ints([0, 2, 1, 3])], name: path) }
        let keysT = g.add1("Transpose", [heads[1]], ["perm": .ints([0, 1, 3, 2])], name: path)
        var scores = g.add1("Mul", [g.add1("MatMul", [heads[0], keysT], name: path),
                                    g.scalar(1 / Double(d).squareRoot(), like: x.value, name: "\(path).scale")], name: path)
        if causal {
            let mask = (0..<l * l).map { $0 % l > $0 / l ? -Double.infinity : 0 }
            scores = g.add1("Add", [scores, g.initializer(Tensor(shape: [l, l], doubles: mask, dtype: x.value.dtype), name: "\(path).causal_mask")],
                            name: path)
        }
        let weights = g.add1("Softmax", [scores], ["axis": .int(-1)], name: path)
        let joined = g.add1("Transpose", [g.add1("MatMul", [weights, heads[2]], name: path)], ["perm": .ints([0, 2, 1, 3])], name: path)
        let merged = g.add1("Reshape", [joined, g.ints([0, 0, e], name: "\(path).merged_shape")], name: path)
        let value = ONNXValue(name: merged, value: Tensor.zeros(Array(x.value.shape.dropLast()) + [e], dtype: x.value.dtype))
        return linear(value, m.outProj, path: "\(path).out_proj", to: &g)
    }

    /// An encoder layer as PyTorch's: attention and feed-forward blocks with residuals, layer norm after each
    /// block (or before it with `normFirst`). Sequence-first layers are transposed around the batch-first form.
    static func encoderLayer(_ x: ONNXValue, _ t: TransformerEncoderLayer, causal: Bool, path: String, to g: inout ONNXGraph) -> String {
        let batchFirst = t.selfAttn.batchFirst
        let shape = batchFirst ? x.value.shape : [x.value.shape[1], x.value.shape[0], x.value.shape[2]]
        let zeros = Tensor.zeros(shape, dtype: x.value.dtype)
        func value(_ name: String) -> ONNXValue { ONNXValue(name: name, value: zeros) }
        func norm(_ n: LayerNorm, _ v: String, _ name: String, _ g: inout ONNXGraph) -> String {
            var inputs = [v, g.parameter(n.weight!, name: "\(path).\(name).weight")]
            if let b = n.bias { inputs.append(g.parameter(b, name: "\(path).\(name).bias")) }
            return g.add1("LayerNormalization", inputs, ["axis": .int(-1), "epsilon": .float(n.eps)], name: "\(path).\(name)")
        }
        func feedForward(_ v: String, _ g: inout ONNXGraph) -> String {
            let hidden = linear(value(v), t.linear1, path: "\(path).linear1", to: &g)
            let active = t.activation == .relu ? g.add1("Relu", [hidden], name: path)
                : gelu(ONNXValue(name: hidden, value: zeros), approximate: false, path: path, to: &g)
            return linear(ONNXValue(name: active, value: Tensor.zeros(Array(shape.dropLast()) + [t.linear1.outFeatures])), t.linear2,
                          path: "\(path).linear2", to: &g)
        }
        let src = batchFirst ? x.name : g.add1("Transpose", [x.name], ["perm": .ints([1, 0, 2])], name: path)
        let y: String
        if t.normFirst {
            let a = g.add1("Add", [src, selfAttention(value(norm(t.norm1, src, "norm1", &g)), t.selfAttn, causal: causal,
                                                      path: "\(path).self_attn", to: &g)], name: path)
            y = g.add1("Add", [a, feedForward(norm(t.norm2, a, "norm2", &g), &g)], name: path)
        } else {
            let a = norm(t.norm1, g.add1("Add", [src, selfAttention(value(src), t.selfAttn, causal: causal, path: "\(path).self_attn", to: &g)],
                                         name: path), "norm1", &g)
            y = norm(t.norm2, g.add1("Add", [a, feedForward(a, &g)], name: path), "norm2", &g)
        }
        return batchFirst ? y : g.add1("Transpose", [y], ["perm": .ints([1, 0, 2])], name: path)
    }

    static func encoder(_ x: ONNXValue, _ t: TransformerEncoder, causal: Bool, path: String, to g: inout ONNXGraph) -> String {
        var v = x
        for (i, layer) in t.layers.enumerated() {
            v = ONNXValue(name: encoderLayer(v, layer, causal: causal, path: "\(path).layers.\(i)", to: &g), value: x.value)
        }
        guard let n = t.norm else { return v.name }
        let inputs = [v.name, g.parameter(n.weight!, name: "\(path).norm.weight")] + (n.bias.map { [g.parameter($0, name: "\(path).norm.bias")] } ?? [])
        return g.add1("LayerNormalization", inputs, ["axis": .int(-1), "epsilon": .float(n.eps)], name: "\(path).norm")
    }

    /// The recurrent ops: ONNX's LSTM (gates i, o, f, c), GRU (gates z, r, h; PyTorch's reset, linear_before_reset = 1)
    /// and RNN (tanh or ReLU).
    enum Recurrence {
        case lstm, gru, rnn(relu: Bool)
        var op: String { switch self { case .lstm: "LSTM"; case .gru: "GRU"; case .rnn: "RNN" } }
        /// PyTorch's gate blocks in ONNX's order.
        var order: [Int] { switch self { case .lstm: [0, 3, 1, 2]; case .gru: [1, 0, 2]; case .rnn: [0] } }
        var outputs: Int { if case .lstm = self { 3 } else { 2 } }
    }

    /// One recurrent layer over a time-major [T, B, F] value, from the parameters of each direction (weight_ih,
    /// weight_hh, bias_ih, bias_hh; the biases may be nil). The weights keep their state_dict names; Slice and Concat
    /// nodes put PyTorch's gate order into ONNX's. Returns Y [T, D, B, H].
    static func recurrentLayer(_ x: String, _ kind: Recurrence, directions: [(ih: Tensor, hh: Tensor, bih: Tensor?, bhh: Tensor?, names: [String])],
                               hidden h: Int, path: String, to g: inout ONNXGraph) -> String {
        func reordered(_ t: Tensor, _ name: String, _ g: inout ONNXGraph) -> String {
            let source = g.parameter(t, name: name)
            if kind.order == [0] { return source }
            let axes = g.ints([0], name: "\(path).axes")
            let parts = kind.order.map { k in
                g.add1("Slice", [source, g.ints([k * h], name: "\(path).start"), g.ints([(k + 1) * h], name: "\(path).end"), axes], name: path)
            }
            return g.add1("Concat", parts, ["axis": .int(0)], name: path)
        }
        func stacked(_ parts: [String], _ g: inout ONNXGraph) -> String {
            let unsqueezed = parts.map { g.add1("Unsqueeze", [$0, g.ints([0], name: "\(path).axes")], name: path) }
            return unsqueezed.count == 1 ? unsqueezed[0] : g.add1("Concat", unsqueezed, ["axis": .int(0)], name: path)
        }
        var inputs = [x, stacked(directions.map { reordered($0.ih, $0.names[0], &g) }, &g),
                      stacked(directions.map { reordered($0.hh, $0.names[1], &g) }, &g)]
        if directions[0].bih != nil {
            inputs.append(stacked(directions.map { d in
                g.add1("Concat", [reordered(d.bih!, d.names[2], &g), reordered(d.bhh!, d.names[3], &g)], ["axis": .int(0)], name: path)
            }, &g))
        }
        var attributes: [String: ONNXAttribute] = ["hidden_size": .int(h), "direction": .string(directions.count == 2 ? "bidirectional" : "forward")]
        switch kind {
        case .gru: attributes["linear_before_reset"] = .int(1)
        case .rnn(let relu): attributes["activations"] = .strings([String](repeating: relu ? "Relu" : "Tanh", count: directions.count))
        case .lstm: break
        }
        return g.add(kind.op, inputs, attributes, name: path, outputs: kind.outputs)[0]
    }

    /// A stacked, optionally bidirectional LSTM, GRU or RNN, layer by layer; its output sequence.
    static func recurrent(_ x: ONNXValue, _ r: RecurrentNet, _ kind: Recurrence, path: String, to g: inout ONNXGraph) -> String {
        var y = r.batchFirst ? g.add1("Transpose", [x.name], ["perm": .ints([1, 0, 2])], name: path) : x.name
        for layer in 0..<r.numLayers {
            let directions = (r.bidirectional ? ["", "_reverse"] : [""]).map { suffix in
                let names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"].map { "\($0)_l\(layer)\(suffix)" }
                return (ih: r.weights[names[0]]!, hh: r.weights[names[1]]!, bih: r.weights[names[2]], bhh: r.weights[names[3]],
                        names: names.map { "\(path).\($0)" })
            }
            let output = recurrentLayer(y, kind, directions: directions, hidden: r.hiddenSize, path: "\(path).l\(layer)", to: &g)
            // Y [T, D, B, H] -> [T, B, D·H]
            let timeMajor = g.add1("Transpose", [output], ["perm": .ints([0, 2, 1, 3])], name: path)
            y = g.add1("Reshape", [timeMajor, g.ints([0, 0, -1], name: "\(path).shape")], name: path)
        }
        return r.batchFirst ? g.add1("Transpose", [y], ["perm": .ints([1, 0, 2])], name: path) : y
    }

    /// One step of a cell from a zero state: the recurrent op over a sequence of one; its hidden state [B, H].
    static func cell(_ x: ONNXValue, _ c: RecurrentCellLayer, _ kind: Recurrence, path: String, to g: inout ONNXGraph) -> String {
        let sequence = g.add1("Unsqueeze", [x.name, g.ints([0], name: "\(path).axes")], name: path)
        let names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"].map { "\(path).\($0)" }
        let y = recurrentLayer(sequence, kind, directions: [(ih: c.weightIh, hh: c.weightHh, bih: c.biasIh, bhh: c.biasHh, names: names)],
                               hidden: c.weightHh.shape[1], path: path, to: &g)
        return g.add1("Squeeze", [y, g.ints([0, 1], name: "\(path).axes")], name: path)
    }
}
