import Axon
import Foundation
import XCTest

/// The optimizers and schedules by name (`OptimizerKind`, `LRSchedule`), and the typed options they carry.
final class FactoryTests: XCTestCase {
    func parameters() -> [Tensor] { [Tensor([1.0, -2.0]).requiringGrad()] }

    func testEveryOptimizerByNameIsTheOptimizerWithThoseOptions() throws {
        let types: [OptimizerKind: Optimizer.Type] = [.sgd: SGD.self, .adam: Adam.self, .adamw: AdamW.self, .rmsprop: RMSprop.self,
                                                      .adagrad: Adagrad.self, .lamb: LAMB.self, .adadelta: Adadelta.self,
                                                      .adamax: Adamax.self, .nadam: NAdam.self, .radam: RAdam.self]
        XCTAssertEqual(Set(types.keys), Set(OptimizerKind.allCases))
        for kind in OptimizerKind.allCases {
            XCTAssertEqual(OptimizerKind(name: kind.rawValue), kind)
            let optimizer = try kind.make(parameters(), lr: 0.25, momentum: 0.5, weightDecay: 0.125)
            XCTAssertTrue(type(of: optimizer) == types[kind]!, "\(kind)")
            XCTAssertEqual(optimizer.learningRates, [0.25])
            XCTAssertEqual(optimizer.stateDict()["groups.0.weight_decay"]?.item, 0.125, "\(kind)")
            let momentum = optimizer.stateDict()["groups.0.momentum"]?.item
            XCTAssertEqual(momentum, kind == .sgd || kind == .rmsprop ? 0.5 : nil, "\(kind): momentum is SGD's and RMSprop's")
        }
        XCTAssertNil(OptimizerKind(name: "adamq"))
        // The same options as the initialisers' defaults: Adamax's eps is PyTorch's 1e-8, LAMB's 1e-6.
        let adamax = try OptimizerKind.adamax.make(parameters(), lr: 0.1) as! Adamax
        XCTAssertEqual(adamax.groups[0].options.eps, Adamax(parameters()).groups[0].options.eps)
        let lamb = try OptimizerKind.lamb.make(parameters(), lr: 0.1) as! LAMB
        XCTAssertEqual(lamb.groups[0].options.eps, 1e-6)
    }

    func testABadValueIsAnErrorNamingTheParameterAndTheValue() {
        for (lr, momentum, decay, parameter, value) in [(-1.0, 0.0, 0.0, "lr", "-1.0"), (0.1, -0.5, 0.0, "momentum", "-0.5"),
                                                        (0.1, 0.0, Double.nan, "weightDecay", "nan")] {
            XCTAssertThrowsError(try OptimizerKind.sgd.make(parameters(), lr: lr, momentum: momentum, weightDecay: decay)) { error in
                let e = error as? OptimizerOptionError
                XCTAssertEqual(e?.parameter, parameter)
                XCTAssertEqual(e?.value, value)
            }
        }
        XCTAssertThrowsError(try AdamOptions(betas: (0.9, 1)).validate()) { XCTAssertEqual("\($0)", "invalid betas (0.9, 1.0) (must be in [0, 1))") }
        XCTAssertThrowsError(try SGD.Options(lr: 0.1, nesterov: true).validate()) { XCTAssertTrue("\($0)".hasPrefix("invalid nesterov true")) }
        XCTAssertThrowsError(try RMSprop.Options(alpha: 2).validate()) { XCTAssertEqual("\($0)", "invalid alpha 2.0 (must be in [0, 1])") }
        XCTAssertThrowsError(try NAdam.Options(momentumDecay: -1).validate()) { XCTAssertTrue("\($0)".contains("momentumDecay")) }
    }

    /// State dicts use PyTorch's `param_groups` names (`weight_decay`, `betas` as a pair), and files written with the
    /// earlier camelCase names still load. A value that the options refuse is refused before anything changes.
    func testStateDictsUsePyTorchNamesAndReadTheEarlierOnes() throws {
        let adam = Adam(parameters(), lr: 0.01, betas: (0.8, 0.9), weightDecay: 0.1, amsgrad: true)
        let saved = adam.stateDict()
        XCTAssertEqual(Set(saved.keys), ["groups.0.lr", "groups.0.betas", "groups.0.eps", "groups.0.weight_decay", "groups.0.amsgrad"])
        XCTAssertEqual(saved["groups.0.betas"]?.doubleScalars, [0.8, 0.9])
        XCTAssertEqual(saved["groups.0.amsgrad"]?.item, 1)

        let fresh = Adam(parameters())
        try fresh.loadStateDict(saved)
        XCTAssertEqual(fresh.groups[0].options.betas.0, 0.8)
        XCTAssertEqual(fresh.groups[0].options.weightDecay, 0.1)
        XCTAssertTrue(fresh.groups[0].options.amsgrad)

        let earlier: [String: Tensor] = ["groups.0.lr": Tensor(0.02, dtype: .float64), "groups.0.beta1": Tensor(0.7, dtype: .float64),
                                         "groups.0.beta2": Tensor(0.95, dtype: .float64), "groups.0.weightDecay": Tensor(0.3, dtype: .float64)]
        try fresh.loadStateDict(earlier)
        XCTAssertEqual(fresh.groups[0].options.lr, 0.02)
        XCTAssertEqual(fresh.groups[0].options.betas.0, 0.7)
        XCTAssertEqual(fresh.groups[0].options.betas.1, 0.95)
        XCTAssertEqual(fresh.groups[0].options.weightDecay, 0.3)

        for (key, value, mentions) in [("groups.0.momentum", Tensor(0.9, dtype: .float64), "Adam has no option 'momentum'"),
                                       ("groups.0.betas", Tensor([0.9, 1.5], dtype: .float64), "invalid betas (0.9, 1.5)"),
                                       ("groups.0.amsgrad", Tensor(0.5, dtype: .float64), "option 'amsgrad'"),
                                       ("groups.0.lr", Tensor(-1, dtype: .float64), "invalid lr -1.0")] {
            XCTAssertThrowsError(try fresh.loadStateDict([key: value]), key) { XCTAssertTrue("\($0)".contains(mentions), "\($0)") }
            XCTAssertEqual(fresh.groups[0].options.lr, 0.02, "nothing changed")
        }
    }

    func testGroupsCarryTypedOptions() {
        let weight = Tensor([1.0, 2.0]).requiringGrad(), bias = Tensor([0.5]).requiringGrad()
        let defaults = AdamOptions(lr: 0.1, weightDecay: 0.01)
        let adamw = AdamW(groups: [ParameterGroup([weight], options: defaults), ParameterGroup([bias], options: defaults.with { $0.weightDecay = 0 })])
        XCTAssertEqual(adamw.groups.map(\.options.weightDecay), [0.01, 0])
        adamw.learningRates = [0.2, 0.3]
        XCTAssertEqual(adamw.groups.map(\.options.lr), [0.2, 0.3])
        XCTAssertEqual(adamw.stateDict()["groups.1.weight_decay"]?.item, 0)
    }

    func testSchedulesByTheirTextForm() throws {
        let cases: [(String, LRSchedule)] = [
            ("none", .none), ("cosine", .cosine), ("step:2:0.5", .step(epochs: 2, gamma: 0.5)), ("exponential:0.9", .exponential(gamma: 0.9)),
            ("multistep:1,3:0.5", .multiStep(milestones: [1, 3], gamma: 0.5)), ("polynomial:2", .polynomial(power: 2)),
            ("cosine-restarts:2", .cosineRestarts(t0: 2, tMult: 1)), ("cosine-restarts:2:3", .cosineRestarts(t0: 2, tMult: 3)),
            ("onecycle:0.5", .oneCycle(maxLR: 0.5)), ("warmup:2", .warmup(epochs: 2)),
        ]
        for (text, schedule) in cases { XCTAssertEqual(try LRSchedule(parsing: text), schedule, text) }
        let optimizer = SGD(parameters(), lr: 1)
        XCTAssertNil(try LRSchedule.none.make(optimizer, epochs: 5))
        let step = try LRSchedule(parsing: "step:2:0.5").make(optimizer, epochs: 5)!
        step.step(); step.step()
        XCTAssertEqual(optimizer.learningRates, [0.5])
        XCTAssertTrue(try LRSchedule.cosine.make(SGD(parameters(), lr: 1), epochs: 4) is CosineAnnealingLR)
        for (text, mentions) in [("multistep:2,x:0.5", "multistep needs multistep:E1,E2,...:GAMMA"), ("onecycle", "onecycle needs onecycle:MAXLR"),
                                 ("step:0:0.5", "step needs step:EPOCHS:GAMMA"), ("zigzag", "unknown schedule 'zigzag'"), ("cosine:3", "unknown schedule")] {
            XCTAssertThrowsError(try LRSchedule(parsing: text), text) { XCTAssertTrue("\($0)".contains(mentions), "\($0)") }
        }
        XCTAssertThrowsError(try LRSchedule.warmup(epochs: 5).make(optimizer, epochs: 5)) { XCTAssertTrue("\($0)".contains("below the run's 5 epochs")) }
    }
}
