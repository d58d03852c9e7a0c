import AxonCore
import AxonNN

/// The ONNX ops an imported graph may use, each as Axon's differentiable tensor ops. Every op checks its inputs'
/// shapes and types before it computes, so a file whose graph does not fit gives an ``ONNXError`` naming the node,
/// never a stop in a kernel.
enum ONNXOps {
    struct Spec: Sendable {
        var minInputs: Int
        var maxInputs: Int
        var attributes: Set<String> = []
        /// Load-time checks of attribute values.
        var check: (@Sendable (ONNXNode) throws -> Void)? = nil
        var run: @Sendable (Args) throws -> [Tensor]
    }

    /// A node's input values, with checks that name the node.
    struct Args {
        let node: ONNXNode
        let values: [Tensor?]
        let opset: Int
        let maxElements: Int

        func at(_ i: Int) throws -> Tensor {
            guard i < values.count, let t = values[i] else { throw node.error("input \(i) is missing") }
            return t
        }
        func optional(_ i: Int) -> Tensor? { i < values.count ? values[i] : nil }
        func float(_ i: Int) throws -> Tensor {
            let t = try at(i)
            guard t.dtype.isFloatingPoint else { throw node.error("input \(i) must be float or double, got \(t.dtype)") }
            return t
        }
        /// An int64 input read as integers (a shape, axes), at most `limit` of them.
        func ints(_ i: Int, limit: Int = 64) throws -> [Int] {
            let t = try at(i)
            guard t.dtype == .int64, t.rank <= 1, t.count <= limit else {
                throw node.error("input \(i) must be an int64 vector of at most \(limit) values, got \(t.dtype) \(t.shape)")
            }
            return t.intScalars
        }
        /// Axes from the attribute `key` (older opsets) or input `i` (newer), nil when neither is given.
        func axes(_ key: String, input i: Int) throws -> [Int]? {
            if let a = try node.ints(key) { return a }
            return optional(i) == nil ? nil : try ints(i)
        }
        func axis(_ a: Int, rank: Int, attribute: String = "axis") throws -> Int {
            guard a >= -rank && a < Swift.max(rank, 1) else { throw node.error("axis \(a) is out of range for rank \(rank)", attribute: attribute) }
            return a < 0 ? a + rank : a
        }
        /// Requires every size of `t` to be positive (the windowed and normalising kernels need a sample, a channel
        /// and a position).
        func positive(_ t: Tensor, _ what: String) throws {
            guard t.shape.allSatisfy({ $0 > 0 }) else { throw node.error("\(what) \(t.shape) has an empty axis") }
        }
        func checkSize(_ shape: [Int]) throws {
            var count = 1
            for d in shape {
                guard d >= 0 else { throw node.error("negative size in shape \(shape)") }
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard !o, p <= maxElements else { throw node.error("shape \(shape) has more than \(maxElements) elements") }
                count = p
            }
        }
    }

    static func run(_ node: ONNXNode, _ values: [Tensor?], opset: Int, maxElements: Int) throws -> [Tensor] {
        let results = try table[node.op]!.run(Args(node: node, values: values, opset: opset, maxElements: maxElements))
        if node.outputs.count > results.count, node.outputs[results.count...].contains(where: { !$0.isEmpty }) {
            throw node.error("asks for \(node.outputs.count) outputs; \(results.count) are supported")
        }
        return results
    }

    /// NumPy broadcasting of two shapes, or nil.
    static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let r = max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let x = i < r - a.count ? 1 : a[i - (r - a.count)], y = i < r - b.count ? 1 : b[i - (r - b.count)]
            guard x == y || x == 1 || y == 1 else { return nil }
            out[i] = x == 1 ? y : x
        }
        return out
    }

    static func binary(_ f: @escaping @Sendable (Tensor, Tensor) -> Tensor, integerDivision: Bool = false) -> Spec {
        Spec(minInputs: 2, maxInputs: 2) { a in
            let x = try a.at(0), y = try a.at(1)
            guard let shape = broadcast(x.shape, y.shape) else { throw a.node.error("shapes \(x.shape) and \(y.shape) do not broadcast") }
            try a.checkSize(shape)
            guard x.dtype.isFloatingPoint == y.dtype.isFloatingPoint else {
                throw a.node.error("operands of types \(x.dtype) and \(y.dtype) differ")
            }
            if integerDivision && x.dtype == .int64 && y.dtype == .int64 {
                guard !y.intScalars.contains(0) else { throw a.node.error("integer division by zero") }
                return [(x.converted(to: .float64) / y.converted(to: .float64)).converted(to: .int64)]
            }
            return [f(x, y)]
        }
    }

    static func unary(_ f: @escaping @Sendable (Tensor) -> Tensor, attributes: Set<String> = [], floatOnly: Bool = true) -> Spec {
        Spec(minInputs: 1, maxInputs: 1, attributes: attributes) { a in [f(floatOnly ? try a.float(0) : try a.at(0))] }
    }

    /// Softmax and LogSoftmax: over one axis from opset 13, over the axes from `axis` on (flattened) before it.
    static func softmaxLike(_ f: @escaping @Sendable (Tensor, Int) -> Tensor) -> Spec {
        Spec(minInputs: 1, maxInputs: 1, attributes: ["axis"]) { a in
            let x = try a.float(0)
            let axis = try a.axis(try a.node.int("axis", a.opset >= 13 ? -1 : 1), rank: x.rank)
            if a.opset >= 13 || axis == x.rank - 1 { return [f(x, axis)] }
            let rows = x.shape[..<axis].reduce(1, *)
            return [f(x.reshaped([rows, x.count / Swift.max(rows, 1)]), 1).reshaped(x.shape)]
        }
    }

    static func reduce(_ name: String, _ f: @escaping @Sendable (Tensor, [Int], Bool) -> Tensor) -> Spec {
        Spec(minInputs: 1, maxInputs: 2, attributes: ["axes", "keepdims", "noop_with_empty_axes"]) { a in
            let x = try a.at(0)
            let keep = try a.node.int("keepdims", 1) != 0
            var axes = try a.axes("axes", input: 1) ?? []
            if axes.isEmpty {
                if try a.node.int("noop_with_empty_axes", 0) != 0 { return [x] }
                axes = Array(0..<x.rank)
            }
            axes = try axes.map { try a.axis($0, rank: x.rank, attribute: "axes") }
            guard Set(axes).count == axes.count else { throw a.node.error("repeated axes \(axes)", attribute: "axes") }
            if name != "ReduceSum" && axes.contains(where: { x.shape[$0] == 0 }) { throw a.node.error("reduces an empty axis") }
            return [f(x, axes, keep)]
        }
    }

    /// The pads of a window op: symmetric `[begin..., end...]` as per-axis amounts, or `VALID` (none).
    static func pads(_ a: Args, spatial: Int) throws -> [Int] {
        try a.node.require("auto_pad", in: ["NOTSET", "VALID"])
        let p = try a.node.ints("pads") ?? [Int](repeating: 0, count: 2 * spatial)
        guard p.count == 2 * spatial, p.allSatisfy({ $0 >= 0 }) else {
            throw a.node.error("\(p) does not give a begin and an end for \(spatial) axes", attribute: "pads")
        }
        return p
    }

    /// A spatial attribute (`strides`, `dilations`) with `spatial` positive values, 1 by default.
    static func spatialInts(_ a: Args, _ key: String, _ spatial: Int) throws -> [Int] {
        let v = try a.node.ints(key) ?? [Int](repeating: 1, count: spatial)
        guard v.count == spatial, v.allSatisfy({ $0 > 0 }) else { throw a.node.error("needs \(spatial) positive values, got \(v)", attribute: key) }
        return v
    }

    static func pool(max isMax: Bool) -> Spec {
        Spec(minInputs: 1, maxInputs: 1, attributes: ["auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads",
                                                     "storage_order", "strides"], check: { n in
            try n.require("ceil_mode", equals: 0)
            try n.require("storage_order", equals: 0)
        }) { a in
            let x = try a.float(0)
            try a.positive(x, "input")
            guard x.rank == 3 || x.rank == 4 else { throw a.node.error("input \(x.shape) must be [N, C, L] or [N, C, H, W]") }
            let spatial = x.rank - 2
            guard let k = try a.node.ints("kernel_shape"), k.count == spatial, k.allSatisfy({ $0 > 0 }) else {
                throw a.node.error("needs \(spatial) positive sizes", attribute: "kernel_shape")
            }
            let s = try spatialInts(a, "strides", spatial), d = try spatialInts(a, "dilations", spatial)
            let p = try pads(a, spatial: spatial)
            var padding: [Int] = []
            for i in 0..<spatial {
                guard p[i] == p[i + spatial] else { throw a.node.error("uneven padding \(p) is not supported", attribute: "pads") }
                guard p[i] * 2 <= k[i] else { throw a.node.error("padding \(p) must be at most half the kernel \(k)", attribute: "pads") }
                guard x.shape[2 + i] + 2 * p[i] >= d[i] * (k[i] - 1) + 1 else {
                    throw a.node.error("the window \(k) does not fit input \(x.shape) with padding \(p)")
                }
                padding.append(p[i])
            }
            if !isMax {
                guard d.allSatisfy({ $0 == 1 }) else { throw a.node.error("dilated average pooling is not supported", attribute: "dilations") }
                if try a.node.int("count_include_pad", 0) == 0 && padding.contains(where: { $0 > 0 }) {
                    throw a.node.error("0 with padding is not supported (padding counts, as PyTorch's default)", attribute: "count_include_pad")
                }
            }
            let x4 = spatial == 1 ? x.unsqueezed(axis: 2) : x
            let k2 = spatial == 1 ? (1, k[0]) : (k[0], k[1]), s2 = spatial == 1 ? (1, s[0]) : (s[0], s[1])
            let p2 = spatial == 1 ? (0, padding[0]) : (padding[0], padding[1]), d2 = spatial == 1 ? (1, d[0]) : (d[0], d[1])
            let y = isMax ? maxPool2d(x4, kernelSize: k2, stride: s2, padding: p2, dilation: d2)
                : avgPool2d(x4, kernelSize: k2, stride: s2, padding: p2)
            return [spatial == 1 ? y.squeezed(axis: 2) : y]
        }
    }

    static func conv(_ a: Args) throws -> [Tensor] {
        let x = try a.float(0), w = try a.float(1), b = a.optional(2)
        try a.positive(x, "input")
        try a.positive(w, "weight")
        guard x.rank == 3 || x.rank == 4, w.rank == x.rank else {
            throw a.node.error("input \(x.shape) and weight \(w.shape) must both be [N, C, L] or [N, C, H, W]")
        }
        let spatial = x.rank - 2, group = try a.node.int("group", 1)
        guard group > 0, x.shape[1] == w.shape[1] * group, w.shape[0] % group == 0 else {
            throw a.node.error("input \(x.shape), weight \(w.shape) and \(group) groups do not fit", attribute: "group")
        }
        if let k = try a.node.ints("kernel_shape"), k != Array(w.shape[2...]) {
            throw a.node.error("\(k) differs from the weight's \(Array(w.shape[2...]))", attribute: "kernel_shape")
        }
        if let b, b.shape != [w.shape[0]] { throw a.node.error("bias \(b.shape) must be [\(w.shape[0])]") }
        let s = try spatialInts(a, "strides", spatial), d = try spatialInts(a, "dilations", spatial)
        let p = try pads(a, spatial: spatial)
        var input = x
        var padding = [Int](repeating: 0, count: spatial)
        if (0..<spatial).allSatisfy({ p[$0] == p[$0 + spatial] }) {
            padding = Array(p[..<spatial])
        } else {  // uneven: pad first (pad lists (before, after) from the last axis)
            input = AxonNN.pad(x, (0..<spatial).reversed().flatMap { [p[$0], p[$0 + spatial]] })
        }
        for i in 0..<spatial where input.shape[2 + i] + 2 * padding[i] < d[i] * (w.shape[2 + i] - 1) + 1 {
            throw a.node.error("the kernel \(Array(w.shape[2...])) does not fit input \(x.shape) with pads \(p)")
        }
        try a.checkSize([x.shape[0], w.shape[0]] + (0..<spatial).map { (input.shape[2 + $0] + 2 * padding[$0] - d[$0] * (w.shape[2 + $0] - 1) - 1) / s[$0] + 1 })
        if spatial == 1 {
            return [conv1d(input, weight: w, bias: b, stride: s[0], padding: padding[0], dilation: d[0], groups: group)]
        }
        return [conv2d(input, weight: w, bias: b, stride: (s[0], s[1]), padding: (padding[0], padding[1]), dilation: (d[0], d[1]), groups: group)]
    }

    static func convTranspose(_ a: Args) throws -> [Tensor] {
        let x = try a.float(0), w = try a.float(1), b = a.optional(2)
        try a.positive(x, "input")
        try a.positive(w, "weight")
        guard x.rank == 4, w.rank == 4, x.shape[1] == w.shape[0] else {
            throw a.node.error("input \(x.shape) and weight \(w.shape) must be [N, C, H, W] and [C, M, kH, kW]")
        }
        if let b, b.shape != [w.shape[1]] { throw a.node.error("bias \(b.shape) must be [\(w.shape[1])]") }
        let s = try spatialInts(a, "strides", 2), d = try spatialInts(a, "dilations", 2), p = try pads(a, spatial: 2)
        let op = try a.node.ints("output_padding") ?? [0, 0]
        guard p[0] == p[2], p[1] == p[3] else { throw a.node.error("uneven padding \(p) is not supported", attribute: "pads") }
        guard op.count == 2, op[0] >= 0, op[1] >= 0, op[0] < Swift.max(s[0], d[0]), op[1] < Swift.max(s[1], d[1]) else {
            throw a.node.error("\(op) must be below the stride or dilation", attribute: "output_padding")
        }
        for i in 0..<2 {
            let size = (x.shape[2 + i] - 1) * s[i] - 2 * p[i] + d[i] * (w.shape[2 + i] - 1) + op[i] + 1
            guard size > 0 else { throw a.node.error("the output would be empty for input \(x.shape)") }
        }
        try a.checkSize([x.shape[0], w.shape[1], (x.shape[2] - 1) * s[0] + d[0] * w.shape[2], (x.shape[3] - 1) * s[1] + d[1] * w.shape[3]])
        return [convTranspose2d(x, weight: w, bias: b, stride: (s[0], s[1]), padding: (p[0], p[1]), outputPadding: (op[0], op[1]),
                                dilation: (d[0], d[1]))]
    }

    /// The shape a channel vector takes to broadcast over [N, C, ...].
    static func channel(_ t: Tensor, _ x: Tensor, _ a: Args, _ what: String) throws -> Tensor {
        guard t.shape == [x.shape[1]] else { throw a.node.error("\(what) \(t.shape) must be [\(x.shape[1])] for input \(x.shape)") }
        return t.reshaped([x.shape[1]] + [Int](repeating: 1, count: x.rank - 2))
    }

    static func batchNormalization(_ a: Args) throws -> [Tensor] {
        let x = try a.float(0)
        guard x.rank >= 2 else { throw a.node.error("input \(x.shape) must be [N, C, ...]") }
        let scale = try channel(try a.float(1), x, a, "scale"), shift = try channel(try a.float(2), x, a, "bias")
        let mean = try channel(try a.float(3), x, a, "mean"), variance = try channel(try a.float(4), x, a, "var")
        let eps = try a.node.float("epsilon", 1e-5)
        return [(x - mean) * (scale / sqrt(variance + eps)) + shift]
    }

    static func layerNormalization(_ a: Args) throws -> [Tensor] {
        let x = try a.float(0), scale = try a.float(1), bias = a.optional(2)
        let axis = try a.axis(try a.node.int("axis", -1), rank: x.rank)
        let normalized = Array(x.shape[axis...])
        try a.positive(x, "input")
        guard scale.shape == normalized, bias == nil || bias!.shape == normalized else {
            throw a.node.error("scale \(scale.shape) and bias \(bias?.shape ?? []) must be \(normalized) for input \(x.shape)")
        }
        return [layerNorm(x, normalizedShape: normalized, weight: scale, bias: bias, eps: try a.node.float("epsilon", 1e-5))]
    }

    static func instanceNormalization(_ a: Args) throws -> [Tensor] {
        let x = try a.float(0)
        try a.positive(x, "input")
        guard x.rank >= 3 else { throw a.node.error("input \(x.shape) must be [N, C, D, ...]") }
        let scale = try a.float(1), bias = try a.float(2)
        guard scale.shape == [x.shape[1]], bias.shape == [x.shape[1]] else {
            throw a.node.error("scale \(scale.shape) and bias \(bias.shape) must be [\(x.shape[1])]")
        }
        return [groupNorm(x, numGroups: x.shape[1], weight: scale, bias: bias, eps: try a.node.float("epsilon", 1e-5))]
    }

    static func gemm(_ a: Args) throws -> [Tensor] {
        var x = try a.float(0), w = try a.float(1)
        guard x.rank == 2, w.rank == 2 else { throw a.node.error("A \(x.shape) and B \(w.shape) must be matrices") }
        let alpha = try a.node.float("alpha", 1), beta = try a.node.float("beta", 1)
        let transA = try a.node.int("transA", 0) != 0, transB = try a.node.int("transB", 0) != 0
        if transA { x = x.transposed() }
        let inner = transB ? w.shape[1] : w.shape[0], n = transB ? w.shape[0] : w.shape[1]
        guard x.shape[1] == inner else { throw a.node.error("A \(x.shape) and B \(w.shape) do not multiply (transB \(transB))") }
        try a.checkSize([x.shape[0], n])
        let c = a.optional(2)
        if let c, broadcast(c.shape, [x.shape[0], n]) != [x.shape[0], n] {
            throw a.node.error("C \(c.shape) does not broadcast to [\(x.shape[0]), \(n)]")
        }
        if transB && alpha == 1 && beta == 1 && (c == nil || c!.shape == [n]) { return [linear(x, weight: w, bias: c)] }
        var y = matmul(x, transB ? w.transposed() : w)
        if alpha != 1 { y = y * alpha }
        if let c { y = y + (beta == 1 ? c : c * beta) }
        return [y]
    }

    static func matMul(_ a: Args) throws -> [Tensor] {
        let x = try a.float(0), w = try a.float(1)
        guard x.rank >= 1, w.rank >= 1 else { throw a.node.error("operands must have a dimension, got \(x.shape) and \(w.shape)") }
        let k = w.rank == 1 ? w.shape[0] : w.shape[w.rank - 2]
        guard x.shape.last == k else { throw a.node.error("\(x.shape) and \(w.shape) do not multiply") }
        var batch: [Int] = []
        if x.rank >= 2 && w.rank >= 2 {
            guard let b = broadcast(Array(x.shape.dropLast(2)), Array(w.shape.dropLast(2))) else {
                throw a.node.error("batch dimensions of \(x.shape) and \(w.shape) do not broadcast")
            }
            batch = b
        }
        try a.checkSize(batch + [x.rank >= 2 ? x.shape[x.rank - 2] : 1, w.rank >= 2 ? w.shape[w.rank - 1] : 1])
        if x.rank > 2 && w.rank == 2 {  // a batch of rows by one matrix: one matrix product
            return [matmul(x.reshaped([x.count / k, k]), w).reshaped(Array(x.shape.dropLast()) + [w.shape[1]])]
        }
        return [matmul(x, w)]
    }

    static func reshape(_ a: Args) throws -> [Tensor] {
        let x = try a.at(0)
        var target = try a.ints(1)
        let allowZero = try a.node.int("allowzero", 0) != 0
        for (i, d) in target.enumerated() where d == 0 && !allowZero {
            guard i < x.rank else { throw a.node.error("0 at position \(i) copies no axis of \(x.shape)") }
            target[i] = x.shape[i]
        }
        let unknown = target.indices.filter { target[$0] == -1 }
        guard unknown.count <= 1, target.allSatisfy({ $0 >= -1 }) else { throw a.node.error("shape \(target) is invalid") }
        try a.checkSize(target.map { $0 == -1 ? 1 : $0 })  // the known sizes' product, without overflow
        let known = target.filter { $0 != -1 }.reduce(1, *)
        if let u = unknown.first {
            guard known > 0, x.count % known == 0 else { throw a.node.error("cannot reshape \(x.shape) to \(target)") }
            target[u] = x.count / known
        }
        guard target.reduce(1, *) == x.count else { throw a.node.error("cannot reshape \(x.shape) (\(x.count) values) to \(target)") }
        return [x.reshaped(target)]
    }

    static func gather(_ a: Args) throws -> [Tensor] {
        let x = try a.at(0), indices = try a.at(1)
        guard x.rank >= 1 else { throw a.node.error("data must have a dimension") }
        guard indices.dtype == .int64 else { throw a.node.error("indices must be integers, got \(indices.dtype)") }
        let axis = try a.axis(try a.node.int("axis", 0), rank: x.rank)
        let n = x.shape[axis]
        try a.checkSize(Array(x.shape[..<axis]) + indices.shape + Array(x.shape[(axis + 1)...]))
        var flat = indices.intScalars
        for (i, v) in flat.enumerated() {
            guard v >= -n && v < n else { throw a.node.error("index \(v) is out of range for axis \(axis) of \(x.shape)") }
            if v < 0 { flat[i] = v + n }
        }
        let picked = x.indexSelected(axis: axis, indices: Tensor(shape: [flat.count], scalars: flat))
        return [picked.reshaped(Array(x.shape[..<axis]) + indices.shape + Array(x.shape[(axis + 1)...]))]
    }

    static func slice(_ a: Args) throws -> [Tensor] {
        let x = try a.at(0)
        let starts = try a.node.ints("starts") ?? a.ints(1), ends = try a.node.ints("ends") ?? a.ints(2)
        let axes = try a.axes("axes", input: 3) ?? Array(0..<starts.count)
        let steps = a.optional(4) == nil ? [Int](repeating: 1, count: starts.count) : try a.ints(4)
        guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
            throw a.node.error("starts \(starts), ends \(ends), axes \(axes) and steps \(steps) differ in length")
        }
        guard steps.allSatisfy({ $0 == 1 }) else { throw a.node.error("steps \(steps) are not supported (only 1 is)") }
        var y = x
        for (i, axis) in axes.enumerated() {
            let ax = try a.axis(axis, rank: x.rank, attribute: "axes"), n = x.shape[ax]
            func clamp(_ v: Int) -> Int { Swift.min(Swift.max(v < 0 ? v + n : v, 0), n) }
            let s = clamp(starts[i]), e = Swift.max(clamp(ends[i]), s)
            y = y.sliced(axis: ax, s..<e)
        }
        return [y]
    }

    static func unsqueeze(_ a: Args) throws -> [Tensor] {
        let x = try a.at(0)
        guard let raw = try a.axes("axes", input: 1) else { throw a.node.error("needs axes") }
        let rank = x.rank + raw.count
        let axes = try raw.map { try a.axis($0, rank: rank, attribute: "axes") }.sorted()
        guard Set(axes).count == axes.count else { throw a.node.error("repeated axes \(raw)", attribute: "axes") }
        var shape = x.shape
        for axis in axes { shape.insert(1, at: axis) }
        return [x.reshaped(shape)]
    }

    static func squeeze(_ a: Args) throws -> [Tensor] {
        let x = try a.at(0)
        let axes = try (a.axes("axes", input: 1) ?? x.shape.indices.filter { x.shape[$0] == 1 }).map { try a.axis($0, rank: x.rank, attribute: "axes") }
        for axis in axes where x.shape[axis] != 1 { throw a.node.error("axis \(axis) of \(x.shape) is not 1", attribute: "axes") }
        return [x.reshaped(x.shape.indices.filter { !axes.contains($0) }.map { x.shape[$0] })]
    }

    static func concatenate(_ a: Args) throws -> [Tensor] {
        let parts = try (0..<a.values.count).map { try a.at($0) }
        guard let first = parts.first else { throw a.node.error("needs an input") }
        let axis = try a.axis(try a.node.int("axis", 0), rank: first.rank)
        for p in parts {
            guard p.rank == first.rank, p.dtype == first.dtype,
                  p.shape.indices.allSatisfy({ $0 == axis || p.shape[$0] == first.shape[$0] }) else {
                throw a.node.error("inputs \(parts.map(\.shape)) of types \(parts.map(\.dtype)) do not join on axis \(axis)")
            }
        }
        try a.checkSize(Array(first.shape[..<axis]) + [parts.map { $0.shape[axis] }.reduce(0, +)] + Array(first.shape[(axis + 1)...]))
        return [concat(parts, axis: axis)]
    }

    static func constant(_ a: Args) throws -> [Tensor] {
        let n = a.node
        switch (n.attributes["value"], n.attributes["value_float"], n.attributes["value_floats"], n.attributes["value_int"], n.attributes["value_ints"]) {
        case (.tensor(let t)?, nil, nil, nil, nil): return [t]
        case (nil, .float(let v)?, nil, nil, nil): return [Tensor.full([], v)]
        case (nil, nil, .floats(let v)?, nil, nil): return [Tensor(shape: [v.count], scalars: v.map(Float.init))]
        case (nil, nil, nil, .int(let v)?, nil): return [Tensor(shape: [], scalars: [v])]
        case (nil, nil, nil, nil, .ints(let v)?): return [Tensor(shape: [v.count], scalars: v)]
        default: throw n.error("needs exactly one of value, value_float(s), value_int(s)")
        }
    }

    static func cast(_ a: Args) throws -> [Tensor] {
        let x = try a.at(0)
        let to = try ONNXTensors.dtype(Int32(clamping: try a.node.int("to", 1)), context: "node '\(a.node.name)' (Cast), attribute 'to'")
        return [x.converted(to: to)]
    }

    static func expand(_ a: Args) throws -> [Tensor] {
        let x = try a.at(0), shape = try a.ints(1)
        guard let target = broadcast(x.shape, shape) else { throw a.node.error("\(x.shape) does not broadcast to \(shape)") }
        try a.checkSize(target)
        return [x.broadcasted(to: target)]
    }

    static func constantOfShape(_ a: Args) throws -> [Tensor] {
        let shape = try a.ints(0)
        try a.checkSize(shape)
        var value = Tensor.zeros([1])
        if case .tensor(let t)? = a.node.attributes["value"] {
            guard t.count == 1 else { throw a.node.error("needs one value, got \(t.shape)", attribute: "value") }
            value = t
        }
        return [value.reshaped([]).broadcasted(to: shape).contiguous()]
    }

    static func split(_ a: Args) throws -> [Tensor] {
        let x = try a.at(0)
        let axis = try a.axis(try a.node.int("axis", 0), rank: x.rank), n = x.shape[axis]
        let parts = a.node.outputs.count
        var sizes = try a.node.ints("split") ?? (a.optional(1) == nil ? nil : try a.ints(1, limit: 4096))
        if sizes == nil {
            guard parts > 0 else { throw a.node.error("has no outputs") }
            let size = (n + parts - 1) / parts
            sizes = (0..<parts).map { Swift.max(0, Swift.min(size, n - $0 * size)) }
        }
        guard let sizes, sizes.count == parts, sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == n else {
            throw a.node.error("split \(sizes ?? []) does not divide axis \(axis) of \(x.shape) into \(parts) parts", attribute: "split")
        }
        var start = 0
        return sizes.map { s in defer { start += s }; return x.sliced(axis: axis, start..<start + s) }
    }

    static func resize(_ a: Args) throws -> [Tensor] {
        let x = try a.float(0)
        guard x.rank >= 3 else { throw a.node.error("input \(x.shape) must be [N, C, ...]") }
        var sizes: [Int]
        if a.optional(3) != nil {
            sizes = try a.ints(3)
        } else if let s = a.optional(2), s.count > 0 {
            guard s.dtype.isFloatingPoint, s.count == x.rank else { throw a.node.error("scales \(s.shape) must give one float per axis") }
            let scales = s.doubleScalars
            guard scales.allSatisfy({ $0 > 0 && $0 <= 1024 }) else { throw a.node.error("scales \(scales) must be in (0, 1024]") }
            sizes = zip(x.shape, scales).map { Int((Double($0) * $1).rounded(.down)) }
        } else {
            throw a.node.error("needs scales or sizes")
        }
        guard sizes.count == x.rank, sizes[0] == x.shape[0], sizes[1] == x.shape[1], sizes.allSatisfy({ $0 > 0 }) else {
            throw a.node.error("sizes \(sizes) must keep N and C of \(x.shape) and be positive")
        }
        try a.checkSize(sizes)
        return [upsampleNearest(x, size: Array(sizes[2...]))]
    }

    static func clip(_ a: Args) throws -> [Tensor] {
        let x = try a.float(0)
        func bound(_ i: Int, _ key: String) throws -> Double? {
            if let t = a.optional(i) {
                guard t.count == 1 else { throw a.node.error("input \(i) must be a scalar, got \(t.shape)") }
                return t.item
            }
            return a.node.attributes[key] == nil ? nil : try a.node.float(key, 0)
        }
        return [clamp(x, min: try bound(1, "min"), max: try bound(2, "max"))]
    }

    static func gelu(_ a: Args) throws -> [Tensor] {
        [AxonCore.gelu(try a.float(0), approximate: try a.node.string("approximate", "none") == "tanh")]
    }

    /// ONNX's LSTM (gates i, o, f, c), GRU (gates z, r, h) and RNN (tanh or ReLU), one layer in one or both directions,
    /// as a loop of Axon's tensor ops (differentiable, so an imported recurrent model can be fine-tuned). Default
    /// activations only (and ReLU for RNN).
    static func recurrent(gates: Int) -> Spec {
        let lstm = gates == 4, rnn = gates == 1
        var attributes: Set<String> = ["activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size", "layout"]
        if !rnn { attributes.insert(lstm ? "input_forget" : "linear_before_reset") }
        return Spec(minInputs: 3, maxInputs: lstm ? 8 : 6, attributes: attributes, check: { n in
            try n.require("direction", in: ["forward", "reverse", "bidirectional"])
            if lstm { try n.require("input_forget", equals: 0) }
            for key in ["clip", "activation_alpha", "activation_beta"] + (rnn ? [] : ["activations"]) where n.attributes[key] != nil {
                throw n.error("is not supported (only the default activations, unclipped)", attribute: key)
            }
            if rnn, let a = n.attributes["activations"] {
                guard case .strings(let names) = a, let first = names.first, ["Tanh", "Relu"].contains(first), Set(names).count == 1 else {
                    throw n.error("only Tanh or Relu, the same for every direction, is supported", attribute: "activations")
                }
            }
            if lstm && n.inputs.count > 7 && !n.inputs[7].isEmpty { throw n.error("peephole weights (input P) are not supported") }
        }) { a in
            let layout = try a.node.int("layout", 0)
            guard layout == 0 || layout == 1 else { throw a.node.error("\(layout) is not 0 or 1", attribute: "layout") }
            var x = try a.float(0)
            guard x.rank == 3 else { throw a.node.error("X \(x.shape) must have rank 3") }
            if layout == 1 { x = x.transposed(0, 1) }  // [T, B, I]
            let w = try a.float(1), r = try a.float(2)
            let reverse = try a.node.string("direction", "forward") == "reverse"
            let directions = try a.node.string("direction", "forward") == "bidirectional" ? 2 : 1
            let (t, b, i) = (x.shape[0], x.shape[1], x.shape[2])
            let h = r.rank == 3 ? r.shape[2] : 0
            try a.positive(x, "X")
            guard h > 0, w.shape == [directions, gates * h, i], r.shape == [directions, gates * h, h] else {
                throw a.node.error("W \(w.shape) and R \(r.shape) do not fit X \(x.shape) with \(directions) direction(s)")
            }
            try a.checkSize([t, directions, b, gates * h])
            if let size = try a.node.ints("hidden_size"), size != [h] { throw a.node.error("\(size) differs from R's \(h)", attribute: "hidden_size") }
            let bias = a.optional(3)
            if let bias, bias.shape != [directions, 2 * gates * h] { throw a.node.error("B \(bias.shape) must be [\(directions), \(2 * gates * h)]") }
            if let lengths = a.optional(4), lengths.intScalars.contains(where: { $0 != t }) {
                throw a.node.error("sequence_lens other than the full length \(t) are not supported")
            }
            func state(_ index: Int, _ what: String) throws -> Tensor? {
                guard var s = a.optional(index) else { return nil }
                if layout == 1 { s = s.transposed(0, 1) }
                guard s.shape == [directions, b, h] else { throw a.node.error("\(what) \(s.shape) must be [\(directions), \(b), \(h)]") }
                return s
            }
            let h0 = try state(5, "initial_h"), c0 = lstm ? try state(6, "initial_c") : nil
            let beforeReset = try a.node.int("linear_before_reset", 0) != 0
            var relu = false
            if case .strings(let names)? = a.node.attributes["activations"] { relu = names.first == "Relu" }
            var ys: [Tensor] = [], hs: [Tensor] = [], cs: [Tensor] = []
            for d in 0..<directions {
                let wd = w[d], rd = r[d]
                let wb = bias.map { $0[d].sliced(axis: 0, 0..<gates * h) }, rb = bias.map { $0[d].sliced(axis: 0, gates * h..<2 * gates * h) }
                let projected = linear(x.reshaped([t * b, i]), weight: wd, bias: wb).reshaped([t, b, gates * h])
                var hidden = h0?[d] ?? Tensor.zeros([b, h], dtype: x.dtype)
                var cell = c0?[d] ?? Tensor.zeros([b, h], dtype: x.dtype)
                var steps = [Tensor?](repeating: nil, count: t)
                for step in (reverse || d == 1) ? Array((0..<t).reversed()) : Array(0..<t) {
                    let xs = projected[step]
                    if rnn {
                        let z = xs + linear(hidden, weight: rd, bias: rb)
                        hidden = relu ? AxonCore.relu(z) : tanh(z)
                    } else if lstm {
                        let g = xs + linear(hidden, weight: rd, bias: rb)
                        let q = g.chunked(4, axis: 1)
                        let input = sigmoid(q[0]), output = sigmoid(q[1]), forget = sigmoid(q[2]), candidate = tanh(q[3])
                        cell = forget * cell + input * candidate
                        hidden = output * tanh(cell)
                    } else {
                        let xq = xs.chunked(3, axis: 1), rq = rd.chunked(3, axis: 0), bq = rb?.chunked(3, axis: 0)
                        let z = sigmoid(xq[0] + linear(hidden, weight: rq[0], bias: bq?[0]))
                        let reset = sigmoid(xq[1] + linear(hidden, weight: rq[1], bias: bq?[1]))
                        let n = beforeReset ? tanh(xq[2] + reset * linear(hidden, weight: rq[2], bias: bq?[2]))
                            : tanh(xq[2] + linear(reset * hidden, weight: rq[2], bias: bq?[2]))
                        hidden = (1 - z) * n + z * hidden
                    }
                    steps[step] = hidden
                }
                ys.append(stack(steps.map { $0! }, axis: 0))  // [T, B, H]
                hs.append(hidden)
                cs.append(cell)
            }
            var y = stack(ys, axis: 1), yh = stack(hs, axis: 0), yc = stack(cs, axis: 0)  // [T, D, B, H], [D, B, H]
            if layout == 1 { y = y.permuted([2, 0, 1, 3]); yh = yh.transposed(0, 1); yc = yc.transposed(0, 1) }
            return lstm ? [y, yh, yc] : [y, yh]
        }
    }

    static let table: [String: Spec] = {
        var t: [String: Spec] = [
            "Add": binary(+), "Sub": binary(-), "Mul": binary(*), "Div": binary(/, integerDivision: true),
            "Pow": Spec(minInputs: 2, maxInputs: 2) { a in
                let x = try a.float(0), y = try a.at(1)
                guard let shape = broadcast(x.shape, y.shape) else { throw a.node.error("shapes \(x.shape) and \(y.shape) do not broadcast") }
                try a.checkSize(shape)
                return [pow(x, y.converted(to: x.dtype))]
            },
            "Equal": binary { $0 .== $1 }, "Greater": binary { $0 .> $1 }, "GreaterOrEqual": binary { $0 .>= $1 },
            "Less": binary { $0 .< $1 }, "LessOrEqual": binary { $0 .<= $1 },
            "Max": binary(maximum), "Min": binary(minimum),
            "Mod": Spec(minInputs: 2, maxInputs: 2, attributes: ["fmod"]) { a in
                let x = try a.at(0), y = try a.at(1)
                guard let shape = broadcast(x.shape, y.shape), x.dtype == y.dtype else {
                    throw a.node.error("operands \(x.dtype) \(x.shape) and \(y.dtype) \(y.shape) do not broadcast")
                }
                try a.checkSize(shape)
                let fmod = try a.node.int("fmod", 0) != 0
                guard fmod || !x.dtype.isFloatingPoint else { throw a.node.error("fmod 0 needs integers", attribute: "fmod") }
                if x.dtype == .int64 {
                    guard !y.intScalars.contains(0) else { throw a.node.error("integer modulo by zero") }
                    let q = (x.converted(to: .float64) / y.converted(to: .float64))
                    // fmod truncates the quotient; Python's mod (fmod 0) floors it, so the result takes the divisor's sign.
                    let whole = fmod ? sign(q) * floorOfMagnitude(q) : floorOf(q)
                    return [(x.converted(to: .float64) - whole * y.converted(to: .float64)).converted(to: .int64)]
                }
                let q = x / y
                return [x - sign(q) * floorOfMagnitude(q) * y]
            },
            "Where": Spec(minInputs: 3, maxInputs: 3) { a in
                let c = try a.at(0), x = try a.at(1), y = try a.at(2)
                guard let xy = broadcast(x.shape, y.shape), let shape = broadcast(c.shape, xy) else {
                    throw a.node.error("shapes \(c.shape), \(x.shape) and \(y.shape) do not broadcast")
                }
                try a.checkSize(shape)
                return [`where`(c.dtype == .bool ? c : c .!= 0, x, y)]
            },
            "Relu": unary(relu), "Sigmoid": unary(sigmoid), "Tanh": unary(tanh), "Exp": unary(exp), "Log": unary(log),
            "Sqrt": unary(sqrt), "Erf": unary(erf), "Sin": unary(sin), "Cos": unary(cos), "Softplus": unary(softplus),
            "Reciprocal": unary { 1 / $0 }, "Neg": unary({ -$0 }, floatOnly: false), "Abs": unary(abs, floatOnly: false),
            "Identity": unary({ $0 }, floatOnly: false),
            "Dropout": Spec(minInputs: 1, maxInputs: 3, attributes: ["seed"], check: { n in
                guard n.outputs.count <= 1 || n.outputs[1].isEmpty else { throw n.error("the mask output is not supported") }
            }) { a in [try a.at(0)] },
            "LeakyRelu": Spec(minInputs: 1, maxInputs: 1, attributes: ["alpha"]) { a in
                [leakyRelu(try a.float(0), negativeSlope: try a.node.float("alpha", 0.01))]
            },
            "Gelu": Spec(minInputs: 1, maxInputs: 1, attributes: ["approximate"], check: { try $0.require("approximate", in: ["none", "tanh"]) }, run: gelu),
            "Clip": Spec(minInputs: 1, maxInputs: 3, attributes: ["min", "max"], run: clip),
            "Softmax": softmaxLike { softmax($0, axis: $1) }, "LogSoftmax": softmaxLike { logSoftmax($0, axis: $1) },
            "Gemm": Spec(minInputs: 2, maxInputs: 3, attributes: ["alpha", "beta", "transA", "transB"], run: gemm),
            "MatMul": Spec(minInputs: 2, maxInputs: 2, run: matMul),
            "Conv": Spec(minInputs: 2, maxInputs: 3, attributes: ["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"],
                         check: { try $0.require("auto_pad", in: ["NOTSET", "VALID"]) }, run: conv),
            "ConvTranspose": Spec(minInputs: 2, maxInputs: 3, attributes: ["auto_pad", "dilations", "group", "kernel_shape", "output_padding",
                                                                          "pads", "strides"], check: { n in
                try n.require("auto_pad", in: ["NOTSET", "VALID"])
                try n.require("group", equals: 1)
            }, run: convTranspose),
            "MaxPool": pool(max: true), "AveragePool": pool(max: false),
            "LSTM": recurrent(gates: 4), "GRU": recurrent(gates: 3), "RNN": recurrent(gates: 1),
            "GlobalAveragePool": Spec(minInputs: 1, maxInputs: 1) { a in
                let x = try a.float(0)
                guard x.rank >= 3, x.shape[2...].allSatisfy({ $0 > 0 }) else { throw a.node.error("input \(x.shape) must be [N, C, D, ...]") }
                return [x.mean(axes: Array(2..<x.rank), keepDims: true)]
            },
            "GlobalMaxPool": Spec(minInputs: 1, maxInputs: 1) { a in
                let x = try a.float(0)
                guard x.rank >= 3, x.shape[2...].allSatisfy({ $0 > 0 }) else { throw a.node.error("input \(x.shape) must be [N, C, D, ...]") }
                return [x.max(axes: Array(2..<x.rank), keepDims: true)]
            },
            "BatchNormalization": Spec(minInputs: 5, maxInputs: 5, attributes: ["epsilon", "momentum", "training_mode", "spatial"], check: { n in
                try n.require("training_mode", equals: 0)
                guard n.outputs.dropFirst().allSatisfy(\.isEmpty) else { throw n.error("the training outputs are not supported") }
            }, run: batchNormalization),
            "LayerNormalization": Spec(minInputs: 2, maxInputs: 3, attributes: ["axis", "epsilon", "stash_type"], check: { n in
                guard n.outputs.dropFirst().allSatisfy(\.isEmpty) else { throw n.error("the mean and inverse deviation outputs are not supported") }
            }, run: layerNormalization),
            "InstanceNormalization": Spec(minInputs: 3, maxInputs: 3, attributes: ["epsilon"], run: instanceNormalization),
            "Flatten": Spec(minInputs: 1, maxInputs: 1, attributes: ["axis"]) { a in
                let x = try a.at(0)
                let axis = try a.axis(try a.node.int("axis", 1), rank: x.rank + 1)
                let rows = x.shape[..<axis].reduce(1, *)
                return [x.reshaped([rows, rows == 0 ? 0 : x.count / rows])]
            },
            "Reshape": Spec(minInputs: 2, maxInputs: 2, attributes: ["allowzero"], run: reshape),
            "Transpose": Spec(minInputs: 1, maxInputs: 1, attributes: ["perm"]) { a in
                let x = try a.at(0)
                let perm = try a.node.ints("perm") ?? Array((0..<x.rank).reversed())
                guard perm.sorted() == Array(0..<x.rank) else { throw a.node.error("\(perm) is not a permutation of \(x.rank) axes", attribute: "perm") }
                return [x.permuted(perm)]
            },
            "Concat": Spec(minInputs: 1, maxInputs: 4096, attributes: ["axis"], run: concatenate),
            "Gather": Spec(minInputs: 2, maxInputs: 2, attributes: ["axis"], run: gather),
            "Shape": Spec(minInputs: 1, maxInputs: 1, attributes: ["start", "end"]) { a in
                let x = try a.at(0), r = x.rank
                func clamped(_ v: Int) -> Int { Swift.min(Swift.max(v < 0 ? v + r : v, 0), r) }
                let s = clamped(try a.node.int("start", 0)), e = Swift.max(clamped(try a.node.int("end", r)), s)
                return [Tensor(shape: [e - s], scalars: Array(x.shape[s..<e]))]
            },
            "Size": Spec(minInputs: 1, maxInputs: 1) { a in [Tensor(shape: [], scalars: [try a.at(0).count])] },
            "Unsqueeze": Spec(minInputs: 1, maxInputs: 2, attributes: ["axes"], run: unsqueeze),
            "Squeeze": Spec(minInputs: 1, maxInputs: 2, attributes: ["axes"], run: squeeze),
            "Slice": Spec(minInputs: 1, maxInputs: 5, attributes: ["starts", "ends", "axes"], run: slice),
            "Constant": Spec(minInputs: 0, maxInputs: 0, attributes: ["value", "value_float", "value_floats", "value_int", "value_ints"], run: constant),
            "Cast": Spec(minInputs: 1, maxInputs: 1, attributes: ["to", "saturate"], run: cast),
            "Expand": Spec(minInputs: 2, maxInputs: 2, run: expand),
            "ConstantOfShape": Spec(minInputs: 1, maxInputs: 1, attributes: ["value"], run: constantOfShape),
            "Split": Spec(minInputs: 1, maxInputs: 2, attributes: ["axis", "split", "num_outputs"], run: split),
            "Resize": Spec(minInputs: 1, maxInputs: 4, attributes: ["mode", "coordinate_transformation_mode", "nearest_mode",
                                                                   "cubic_coeff_a", "exclude_outside", "extrapolation_value"], check: { n in
                try n.require("mode", in: ["nearest"])
                try n.require("coordinate_transformation_mode", in: ["asymmetric"])
                try n.require("nearest_mode", in: ["floor"])
            }, run: resize),
        ]
        t["ReduceMean"] = reduce("ReduceMean") { $0.mean(axes: $1, keepDims: $2) }
        t["ReduceSum"] = reduce("ReduceSum") { $0.sum(axes: $1, keepDims: $2) }
        t["ReduceMax"] = reduce("ReduceMax") { $0.max(axes: $1, keepDims: $2) }
        t["ReduceMin"] = reduce("ReduceMin") { $0.min(axes: $1, keepDims: $2) }
        return t
    }()
}

/// ⌊|q|⌋ and ⌊q⌋ for float64 tensors of integer quotients (the values Mod divides), from Axon's int64 conversion,
/// which truncates toward zero.
private func floorOfMagnitude(_ q: Tensor) -> Tensor { abs(q).converted(to: .int64).converted(to: q.dtype) }
private func floorOf(_ q: Tensor) -> Tensor {
    let truncated = q.converted(to: .int64).converted(to: q.dtype)
    return truncated - (q .< truncated).converted(to: q.dtype)
}
