import Axon
import Foundation
import XCTest

/// Cases in the format of the shared `modules.json` (see ../shared/fixtures/README.md): a module built from
/// `config`, loaded with `state` (PyTorch's state_dict names), called on `inputs`; its outputs, the input
/// gradients and the parameter gradients of Σᵢ outputsᵢ · gradOutputsᵢ are compared with PyTorch's.
public enum ModuleFixtures {
    /// A module built for a case, and how to call it on the case's inputs, by name (`input`, `target`, `h0`,
    /// ...): every output, flattened in order.
    public typealias Built = (module: Module, call: ([String: Tensor]) -> [Tensor])

    /// Runs every case of `cases` in `dtype` on modules from `build` (which throws for a module it does not
    /// know); returns one message per mismatch, each naming the case, the dtype and what differed.
    public static func run(_ cases: [[String: Any]], dtype: DType, tolerance: Double = 1e-4,
                           build: (_ module: String, _ config: [String: Any]) throws -> Built) throws -> [String] {
        var failures: [String] = []
        for c in cases {
            let name = "\(c["name"] as? String ?? "?") [\(dtype)]"
            let (module, call) = try build(c["module"] as? String ?? "", c["config"] as? [String: Any] ?? [:])
            let state = try (c["state"] as? [String: Any] ?? [:]).mapValues { try FixtureTensor.parse($0) }
            let typed = Dictionary(uniqueKeysWithValues: module.stateDict().map { key, current in
                (key, state[key].map { $0.tensor(current.dtype.isFloatingPoint ? dtype : current.dtype) } ?? current)
            })
            try module.loadStateDict(typed)
            if (c["training"] as? Bool) == true { module.train() } else { module.eval() }
            let leaves = try (c["inputs"] as? [String: Any] ?? [:]).mapValues { json -> Tensor in
                let t = try FixtureTensor.parse(json).tensor(dtype)
                return t.dtype.isFloatingPoint ? t.requiringGrad() : t
            }
            let outputs = call(leaves)
            let expected = try (c["outputs"] as? [Any] ?? []).map { try FixtureTensor.parse($0) }
            let gradOutputs = try (c["gradOutputs"] as? [Any] ?? []).map { try FixtureTensor.parse($0).tensor(dtype) }
            guard outputs.count == expected.count, gradOutputs.count == expected.count else {
                failures.append("\(name): \(outputs.count) outputs, PyTorch has \(expected.count)")
                continue
            }
            for (i, (o, e)) in zip(outputs, expected).enumerated() {
                let err = relativeError(o.doubleScalars, e.data)
                if o.shape != e.shape || err > tolerance { failures.append("\(name): output \(i) shape \(o.shape) vs \(e.shape), error \(err)") }
            }
            zip(outputs, gradOutputs).map { ($0 * $1).sum() }.reduce(Tensor(0.0, dtype: dtype), +).backward()
            let grads = c["grads"] as? [String: Any] ?? [:]
            for (key, g) in grads["inputs"] as? [String: Any] ?? [:] where !(g is NSNull) {
                let e = try FixtureTensor.parse(g)
                let err = leaves[key]?.grad.map { relativeError($0.doubleScalars, e.data) } ?? .infinity
                if err > tolerance { failures.append("\(name): gradient of input '\(key)', error \(err)") }
            }
            let after = module.stateDict()
            for (key, b) in c["buffersAfter"] as? [String: Any] ?? [:] {
                let e = try FixtureTensor.parse(b)
                let err = after[key].map { relativeError($0.doubleScalars, e.data) } ?? .infinity
                if err > tolerance { failures.append("\(name): buffer '\(key)' after the call, error \(err)") }
            }
            let parameters = Dictionary(uniqueKeysWithValues: module.namedParameters())
            for (key, g) in grads["parameters"] as? [String: Any] ?? [:] {
                let e = try FixtureTensor.parse(g)
                guard let p = parameters[key] else { failures.append("\(name): no parameter '\(key)'"); continue }
                let err = p.grad.map { relativeError($0.doubleScalars, e.data) } ?? .infinity
                if err > tolerance { failures.append("\(name): gradient of '\(key)', error \(err)") }
            }
        }
        return failures
    }

    /// A number from a case's config.
    public static func number(_ config: [String: Any], _ key: String) -> Double? { (config[key] as? NSNumber)?.doubleValue }
    /// A shape (or one size) from a case's config.
    public static func shape(_ config: [String: Any], _ key: String) -> [Int]? {
        (config[key] as? [NSNumber])?.map(\.intValue) ?? (config[key] as? NSNumber).map { [$0.intValue] }
    }
    /// A flag from a case's config.
    public static func flag(_ config: [String: Any], _ key: String, default value: Bool) -> Bool {
        (config[key] as? Bool) ?? (config[key] as? NSNumber)?.boolValue ?? value
    }
}
