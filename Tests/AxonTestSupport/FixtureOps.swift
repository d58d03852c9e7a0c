import Axon
import Foundation

/// Axon's implementation of each op in ops.json, by fixture name, and a runner that compares forward
/// values and gradients with PyTorch's. `coreOps` belong to AxonCore, `nnOps` to AxonNN.
public enum FixtureOps {
    public typealias Op = ([String: Tensor], [String: Any]) -> Tensor

    static func int(_ p: [String: Any], _ key: String, _ fallback: Int) -> Int { (p[key] as? NSNumber)?.intValue ?? fallback }
    static func pair(_ p: [String: Any], _ key: String, _ fallback: Int) -> (Int, Int) {
        if let a = p[key] as? [NSNumber], a.count == 2 { return (a[0].intValue, a[1].intValue) }
        let v = int(p, key, fallback)
        return (v, v)
    }
    static func dims(_ p: [String: Any]) -> [Int]? {
        if let d = p["dims"] as? [NSNumber] { return d.map(\.intValue) }
        if let d = p["dim"] as? NSNumber { return [d.intValue] }
        return nil
    }

    /// Core ops by fixture name: inputs by name, params -> output.
    nonisolated(unsafe) public static let coreOps: [String: ([String: Tensor], [String: Any]) -> Tensor] = [
        "add": { x, _ in x["a"]! + x["b"]! },
        "sub": { x, _ in x["a"]! - x["b"]! },
        "mul": { x, _ in x["a"]! * x["b"]! },
        "div": { x, _ in x["a"]! / x["b"]! },
        "pow": { x, p in pow(x["a"]!, (p["exponent"] as! NSNumber).doubleValue) },
        "neg": { x, _ in -x["a"]! },
        "exp": { x, _ in exp(x["a"]!) },
        "log": { x, _ in log(x["a"]!) },
        "sqrt": { x, _ in sqrt(x["a"]!) },
        "abs": { x, _ in abs(x["a"]!) },
        "sin": { x, _ in sin(x["a"]!) },
        "cos": { x, _ in cos(x["a"]!) },
        "tanh": { x, _ in tanh(x["a"]!) },
        "sigmoid": { x, _ in sigmoid(x["a"]!) },
        "relu": { x, _ in relu(x["a"]!) },
        "leaky_relu": { x, p in leakyRelu(x["a"]!, negativeSlope: (p["negativeSlope"] as? NSNumber)?.doubleValue ?? 0.01) },
        "gelu": { x, p in gelu(x["a"]!, approximate: (p["approximate"] as? String) == "tanh") },
        "softplus": { x, _ in softplus(x["a"]!) },
        "softmax": { x, p in softmax(x["a"]!, axis: int(p, "dim", -1)) },
        "log_softmax": { x, p in logSoftmax(x["a"]!, axis: int(p, "dim", -1)) },
        "sum": { x, p in x["a"]!.sum(axes: dims(p), keepDims: (p["keepDims"] as? Bool) ?? false) },
        "mean": { x, p in x["a"]!.mean(axes: dims(p), keepDims: (p["keepDims"] as? Bool) ?? false) },
        "max": { x, p in x["a"]!.max(axes: dims(p), keepDims: (p["keepDims"] as? Bool) ?? false) },
        "min": { x, p in x["a"]!.min(axes: dims(p), keepDims: (p["keepDims"] as? Bool) ?? false) },
        "logsumexp": { x, p in x["a"]!.logSumExp(axes: dims(p), keepDims: (p["keepDims"] as? Bool) ?? false) },
        "transpose": { x, p in x["a"]!.transposed(int(p, "dim0", 0), int(p, "dim1", 1)) },
        "permute": { x, p in x["a"]!.permuted((p["dims"] as! [NSNumber]).map(\.intValue)) },
        "reshape": { x, p in x["a"]!.reshaped((p["shape"] as! [NSNumber]).map(\.intValue)) },
        "concat": { x, p in concat(x.keys.sorted().map { x[$0]! }, axis: int(p, "dim", 0)) },
        "slice": { x, p in x["a"]!.sliced(axis: int(p, "dim", 0), int(p, "start", 0)..<int(p, "end", 0)) },
        "matmul": { x, _ in matmul(x["a"]!, x["b"]!) },
        "conv2d": { x, p in
            conv2d(x["input"]!, weight: x["weight"]!, bias: x["bias"], stride: pair(p, "stride", 1),
                   padding: pair(p, "padding", 0), dilation: pair(p, "dilation", 1))
        },
        "max_pool2d": { x, p in
            let k = pair(p, "kernelSize", 2)
            return maxPool2d(x["input"]!, kernelSize: k, stride: p["stride"] == nil ? k : pair(p, "stride", 1),
                             padding: pair(p, "padding", 0), dilation: pair(p, "dilation", 1))
        },
        "avg_pool2d": { x, p in
            let k = pair(p, "kernelSize", 2)
            return avgPool2d(x["input"]!, kernelSize: k, stride: p["stride"] == nil ? k : pair(p, "stride", 1),
                             padding: pair(p, "padding", 0))
        },
    ]

    /// Runs one case in `dtype`; returns failures as messages.
    public static func run(_ c: OpCase, dtype: DType, tolerance: Double) -> [String] {
        guard let op = coreOps[c.op] ?? nnOps[c.op] else { return ["\(c.name): no Axon implementation of op \(c.op)"] }
        var inputs: [String: Tensor] = [:]
        for (k, v) in c.inputs {
            let t = v.tensor(dtype)
            t.requiresGrad = t.dtype.isFloatingPoint && c.grads[k] != nil
            inputs[k] = t
        }
        let out = op(inputs, c.params)
        var failures: [String] = []
        if out.shape != c.output.shape {
            return ["\(c.name) [\(dtype), \(Backends.current.name)]: output shape \(out.shape), expected \(c.output.shape)"]
        }
        let e = relativeError(out.doubleScalars, c.output.data)
        if e > tolerance { failures.append("\(c.name) [\(dtype), \(Backends.current.name)]: output rel. error \(e)") }
        if let go = c.gradOutput, out.requiresGrad {
            out.backward(go.tensor(dtype))
            for (k, expected) in c.grads {
                guard let g = inputs[k]?.grad else { failures.append("\(c.name) [\(dtype), \(Backends.current.name)]: no gradient for \(k)"); continue }
                if g.shape != expected.shape { failures.append("\(c.name): grad \(k) shape \(g.shape) vs \(expected.shape)"); continue }
                let ge = relativeError(g.doubleScalars, expected.data)
                if ge > tolerance { failures.append("\(c.name) [\(dtype), \(Backends.current.name)]: grad \(k) rel. error \(ge)") }
            }
        }
        return failures
    }


    static func reduction(_ p: [String: Any]) -> Reduction { Reduction(rawValue: (p["reduction"] as? String) ?? "mean") ?? .mean }
    static func double(_ p: [String: Any], _ key: String, _ fallback: Double) -> Double { (p[key] as? NSNumber)?.doubleValue ?? fallback }

    nonisolated(unsafe) public static let nnOps: [String: Op] = [
        "linear": { x, _ in linear(x["input"]!, weight: x["weight"]!, bias: x["bias"]) },
        "batch_norm": { x, p in
            batchNorm(x["input"]!, weight: x["weight"], bias: x["bias"], training: (p["training"] as? Bool) ?? true,
                      eps: double(p, "eps", 1e-5))
        },
        "cross_entropy": { x, p in
            crossEntropy(x["input"]!, x["target"]!, labelSmoothing: double(p, "labelSmoothing", 0), reduction: reduction(p))
        },
        "nll_loss": { x, p in nllLoss(x["input"]!, x["target"]!, reduction: reduction(p)) },
        "binary_cross_entropy": { x, p in binaryCrossEntropy(x["input"]!, x["target"]!, reduction: reduction(p)) },
        "binary_cross_entropy_with_logits": { x, p in
            binaryCrossEntropyWithLogits(x["input"]!, x["target"]!, reduction: reduction(p))
        },
        "mse_loss": { x, p in mseLoss(x["input"]!, x["target"]!, reduction: reduction(p)) },
        "l1_loss": { x, p in l1Loss(x["input"]!, x["target"]!, reduction: reduction(p)) },
        "huber_loss": { x, p in huberLoss(x["input"]!, x["target"]!, delta: double(p, "delta", 1), reduction: reduction(p)) },
    ]

    /// Runs every case whose op is in `ops` in float64 and float32; returns (cases run, failures).
    public static func runAll(_ ops: [String: Op], tolerance: Double = 1e-4) throws -> (Int, [String]) {
        let cases = try Fixtures.opCases().filter { ops[$0.op] != nil }
        var failures: [String] = []
        for c in cases {
            failures += run(c, dtype: .float64, tolerance: tolerance)
            failures += run(c, dtype: .float32, tolerance: tolerance)
        }
        return (cases.count, failures)
    }
}
