import Axon
import AxonTestSupport
import Foundation
import XCTest

/// Every case of optimizers.json, optimizers_more.json, schedules.json and schedules_more.json against PyTorch.
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
        case "Adadelta":
            return Adadelta(parameters, lr: lr ?? 1, rho: number(p, "rho") ?? 0.9, eps: number(p, "eps") ?? 1e-6,
                            weightDecay: number(p, "weightDecay") ?? 0)
        case "Adamax":
            return Adamax(parameters, lr: lr ?? 2e-3, betas: betas, eps: number(p, "eps") ?? 1e-8, weightDecay: number(p, "weightDecay") ?? 0)
        case "NAdam":
            return NAdam(parameters, lr: lr ?? 2e-3, betas: betas, eps: number(p, "eps") ?? 1e-8, weightDecay: number(p, "weightDecay") ?? 0,
                         momentumDecay: number(p, "momentumDecay") ?? 4e-3, decoupledWeightDecay: flag(p, "decoupledWeightDecay"))
        case "RAdam":
            return RAdam(parameters, lr: lr ?? 1e-3, betas: betas, eps: number(p, "eps") ?? 1e-8, weightDecay: number(p, "weightDecay") ?? 0,
                         decoupledWeightDecay: flag(p, "decoupledWeightDecay"))
        default:
            throw FixtureError.malformed("unknown optimizer \(String(describing: p["optimizer"]))")
        }
    }

    /// The schedule a fixture case names, attached to `optimizer`.
    static func makeSchedule(_ p: [String: Any], _ optimizer: Optimizer) throws -> LRScheduler {
        switch p["schedule"] as? String {
        case "StepLR": return StepLR(optimizer, stepSize: Int(number(p, "stepSize") ?? 1), gamma: number(p, "gamma") ?? 0.1)
        case "ExponentialLR": return ExponentialLR(optimizer, gamma: number(p, "gamma") ?? 0.1)
        case "CosineAnnealingLR": return CosineAnnealingLR(optimizer, tMax: Int(number(p, "tMax") ?? 1), etaMin: number(p, "etaMin") ?? 0)
        case "LinearLR":
            return LinearLR(optimizer, startFactor: number(p, "startFactor") ?? 1.0 / 3, endFactor: number(p, "endFactor") ?? 1,
                            totalIters: Int(number(p, "totalIters") ?? 5))
        case "MultiStepLR":
            return MultiStepLR(optimizer, milestones: (p["milestones"] as? [NSNumber] ?? []).map(\.intValue), gamma: number(p, "gamma") ?? 0.1)
        case "PolynomialLR": return PolynomialLR(optimizer, totalIters: Int(number(p, "totalIters") ?? 5), power: number(p, "power") ?? 1)
        case "CosineAnnealingWarmRestarts":
            return CosineAnnealingWarmRestarts(optimizer, t0: Int(number(p, "t0") ?? 1), tMult: Int(number(p, "tMult") ?? 1),
                                               etaMin: number(p, "etaMin") ?? 0)
        case "OneCycleLR":
            guard let maxLR = number(p, "maxLR"), let total = number(p, "totalSteps") else {
                throw FixtureError.malformed("OneCycleLR needs maxLR and totalSteps")
            }
            guard let strategy = OneCycleLR.AnnealStrategy(rawValue: p["annealStrategy"] as? String ?? "cos") else {
                throw FixtureError.malformed("unknown annealStrategy \(String(describing: p["annealStrategy"]))")
            }
            return OneCycleLR(optimizer, maxLR: maxLR, totalSteps: Int(total), pctStart: number(p, "pctStart") ?? 0.3,
                              annealStrategy: strategy, divFactor: number(p, "divFactor") ?? 25,
                              finalDivFactor: number(p, "finalDivFactor") ?? 1e4, threePhase: flag(p, "threePhase"))
        default: throw FixtureError.malformed("unknown schedule \(String(describing: p["schedule"]))")
        }
    }

    func testEveryOptimizerCaseMatchesPyTorch() throws { try checkOptimizerCases("optimizers.json") }
    func testEveryCaseOfTheMoreOptimizersMatchesPyTorch() throws { try checkOptimizerCases("optimizers_more.json") }
    func testEveryScheduleCaseMatchesPyTorch() throws { try checkScheduleCases("schedules.json") }
    func testEveryCaseOfTheMoreSchedulesMatchesPyTorch() throws { try checkScheduleCases("schedules_more.json") }

    /// Steps each case's optimizer with its recorded gradients and compares every step with PyTorch.
    func checkOptimizerCases(_ file: String) throws {
        try onEveryBackend { _ in
            guard let cases = try Fixtures.json(file)["cases"] as? [[String: Any]] else {
                throw FixtureError.malformed("\(file) has no cases")
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
            print("checked \(cases.count) optimizer cases of \(file) in float64 and float32")
        }
    }

    /// Steps each case's schedule and compares the rate at every epoch with PyTorch's.
    func checkScheduleCases(_ file: String) throws {
        try onEveryBackend { _ in
            guard let cases = try Fixtures.json(file)["cases"] as? [[String: Any]] else {
                throw FixtureError.malformed("\(file) has no cases")
            }
            XCTAssertFalse(cases.isEmpty)
            for c in cases {
                let name = c["name"] as? String ?? "?"
                let p = c["params"] as? [String: Any] ?? [:]
                let expected = (c["lrs"] as? [NSNumber] ?? []).map(\.doubleValue)
                let optimizer = SGD([Tensor.zeros([1]).requiringGrad()], lr: Self.number(p, "lr") ?? 0.1)
                let scheduler = try Self.makeSchedule(p, optimizer)
                var actual: [Double] = []
                for _ in expected {
                    actual.append(optimizer.learningRates[0])
                    // An epoch of training would run here.
                    scheduler.step()
                }
                XCTAssertLessThanOrEqual(relativeError(actual, expected, floor: 1e-12), 1e-9, "\(name): \(actual) vs \(expected)")
            }
        }
    }
}
