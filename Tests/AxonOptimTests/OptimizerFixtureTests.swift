import Axon
import AxonTestSupport
import Foundation
import XCTest

/// Every case of optimizers.json and schedules.json against PyTorch.
final class OptimizerFixtureTests: XCTestCase {
    static func number(_ p: [String: Any], _ key: String) -> Double? { (p[key] as? NSNumber)?.doubleValue }
    static func flag(_ p: [String: Any], _ key: String) -> Bool { (p[key] as? Bool) ?? ((p[key] as? NSNumber)?.boolValue ?? false) }

    /// The optimizer a fixture case names, with its hyperparameters (PyTorch's defaults where absent).
    static func makeOptimizer(_ p: [String: Any], _ parameters: [Tensor]) throws -> Optimizer {
        let lr = number(p, "lr")
        let betas = (number(p, "beta1") ?? 0.9, number(p, "beta2") ?? 0.999)
        switch p["optimizer"] as? String {
        case "SGD":
            return SGD(parameters, lr: lr ?? 0.001, momentum: number(p, "momentum") ?? 0, dampening: number(p, "dampening") ?? 0,
                       weightDecay: number(p, "weightDecay") ?? 0, nesterov: flag(p, "nesterov"))
        case "Adagrad":
            return Adagrad(parameters, lr: lr ?? 0.01, lrDecay: number(p, "lrDecay") ?? 0, weightDecay: number(p, "weightDecay") ?? 0,
                           initialAccumulatorValue: number(p, "initialAccumulatorValue") ?? 0, eps: number(p, "eps") ?? 1e-10)
        case "RMSprop":
            return RMSprop(parameters, lr: lr ?? 0.01, alpha: number(p, "alpha") ?? 0.99, eps: number(p, "eps") ?? 1e-8,
                           weightDecay: number(p, "weightDecay") ?? 0, momentum: number(p, "momentum") ?? 0, centered: flag(p, "centered"))
        case "Adam":
            return Adam(parameters, lr: lr ?? 1e-3, betas: betas, eps: number(p, "eps") ?? 1e-8,
                        weightDecay: number(p, "weightDecay") ?? 0, amsgrad: flag(p, "amsgrad"))
        case "AdamW":
            return AdamW(parameters, lr: lr ?? 1e-3, betas: betas, eps: number(p, "eps") ?? 1e-8,
                         weightDecay: number(p, "weightDecay") ?? 0.01, amsgrad: flag(p, "amsgrad"))
        case "LAMB":
            return LAMB(parameters, lr: lr ?? 1e-3, betas: betas, eps: number(p, "eps") ?? 1e-6, weightDecay: number(p, "weightDecay") ?? 0)
        default:
            throw FixtureError.malformed("unknown optimizer \(String(describing: p["optimizer"]))")
        }
    }

    func testEveryOptimizerCaseMatchesPyTorch() throws {
        try onEveryBackend { _ in
            guard let cases = try Fixtures.json("optimizers.json")["cases"] as? [[String: Any]] else {
                throw FixtureError.malformed("optimizers.json has no cases")
            }
            XCTAssertFalse(cases.isEmpty)
            for dtype in [DType.float64, .float32] {
                for c in cases {
                    let name = c["name"] as? String ?? "?"
                    let params = c["params"] as? [String: Any] ?? [:]
                    let parameter = try FixtureTensor.parse(c["initial"] as Any).tensor(dtype).requiringGrad()
                    let optimizer = try Self.makeOptimizer(params, [parameter])
                    let grads = try (c["grads"] as? [Any] ?? []).map { try FixtureTensor.parse($0) }
                    let after = try (c["after"] as? [Any] ?? []).map { try FixtureTensor.parse($0) }
                    XCTAssertEqual(grads.count, after.count, name)
                    for (i, (g, expected)) in zip(grads, after).enumerated() {
                        optimizer.zeroGrad()
                        parameter.grad = g.tensor(dtype)
                        optimizer.step()
                        let e = relativeError(parameter.doubleScalars, expected.data)
                        XCTAssertLessThanOrEqual(e, 1e-4, "\(name) [\(dtype)] after step \(i + 1)")
                    }
                }
            }
            print("checked \(cases.count) optimizer cases in float64 and float32")
        }
    }

    func testEveryScheduleCaseMatchesPyTorch() throws {
        try onEveryBackend { _ in
            guard let cases = try Fixtures.json("schedules.json")["cases"] as? [[String: Any]] else {
                throw FixtureError.malformed("schedules.json has no cases")
            }
            XCTAssertFalse(cases.isEmpty)
            for c in cases {
                let name = c["name"] as? String ?? "?"
                let p = c["params"] as? [String: Any] ?? [:]
                let expected = (c["lrs"] as? [NSNumber] ?? []).map(\.doubleValue)
                let optimizer = SGD([Tensor.zeros([1]).requiringGrad()], lr: Self.number(p, "lr") ?? 0.1)
                let scheduler: LRScheduler
                switch p["schedule"] as? String {
                case "StepLR": scheduler = StepLR(optimizer, stepSize: Int(Self.number(p, "stepSize") ?? 1), gamma: Self.number(p, "gamma") ?? 0.1)
                case "ExponentialLR": scheduler = ExponentialLR(optimizer, gamma: Self.number(p, "gamma") ?? 0.1)
                case "CosineAnnealingLR":
                    scheduler = CosineAnnealingLR(optimizer, tMax: Int(Self.number(p, "tMax") ?? 1), etaMin: Self.number(p, "etaMin") ?? 0)
                case "LinearLR":
                    scheduler = LinearLR(optimizer, startFactor: Self.number(p, "startFactor") ?? 1.0 / 3,
                                         endFactor: Self.number(p, "endFactor") ?? 1, totalIters: Int(Self.number(p, "totalIters") ?? 5))
                default: throw FixtureError.malformed("unknown schedule \(String(describing: p["schedule"]))")
                }
                var actual: [Double] = []
                for _ in expected {
                    actual.append(optimizer.groups[0].learningRate)
                    // An epoch of training would run here.
                    scheduler.step()
                }
                XCTAssertLessThanOrEqual(relativeError(actual, expected, floor: 1e-12), 1e-9, "\(name): \(actual) vs \(expected)")
            }
        }
    }
}
