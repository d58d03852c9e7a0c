import AxonTestSupport
import Foundation
import XCTest
@testable import AxonCore

/// Runs every case of ops.json whose op belongs to the core against Axon, forward and backward,
/// in float32 and float64. Other ops (linear, batch_norm, losses) are the nn tests' part.
final class FixtureOpsTests: XCTestCase {
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
    nonisolated(unsafe) static let ops: [String: ([String: Tensor], [String: Any]) -> Tensor] = [
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
    static func run(_ c: OpCase, dtype: DType, tolerance: Double) -> [String] {
        guard let op = ops[c.op] else { return [] }
        var inputs: [String: Tensor] = [:]
        for (k, v) in c.inputs {
            let t = v.tensor(dtype)
            t.requiresGrad = t.dtype.isFloatingPoint && c.grads[k] != nil
            inputs[k] = t
        }
        let out = op(inputs, c.params)
        var failures: [String] = []
        if out.shape != c.output.shape {
            return ["\(c.name) [\(dtype)]: output shape \(out.shape), expected \(c.output.shape)"]
        }
        let e = relativeError(out.doubleScalars, c.output.data)
        if e > tolerance { failures.append("\(c.name) [\(dtype)]: output rel. error \(e)") }
        if let go = c.gradOutput, out.requiresGrad {
            out.backward(go.tensor(dtype))
            for (k, expected) in c.grads {
                guard let g = inputs[k]?.grad else { failures.append("\(c.name) [\(dtype)]: no gradient for \(k)"); continue }
                if g.shape != expected.shape { failures.append("\(c.name): grad \(k) shape \(g.shape) vs \(expected.shape)"); continue }
                let ge = relativeError(g.doubleScalars, expected.data)
                if ge > tolerance { failures.append("\(c.name) [\(dtype)]: grad \(k) rel. error \(ge)") }
            }
        }
        return failures
    }

    func testEveryCoreCaseMatchesPyTorch() throws {
        let cases = try Fixtures.opCases()
        let core = cases.filter { Self.ops[$0.op] != nil }
        XCTAssertFalse(core.isEmpty, "no core cases found in \(Fixtures.folder.path)")
        var failures: [String] = []
        for c in core {
            failures += Self.run(c, dtype: .float64, tolerance: 1e-4)
            failures += Self.run(c, dtype: .float32, tolerance: 1e-4)
        }
        XCTAssert(failures.isEmpty, failures.joined(separator: "\n"))
        print("checked \(core.count) core fixture cases in float64 and float32")
    }
}
