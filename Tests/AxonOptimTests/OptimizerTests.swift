import Axon
import XCTest

final class OptimizerTests: XCTestCase {
    func testLAMBMatchesItsDefinition() {
        // Reference: You et al. 2019, Algorithm 2 (with bias correction), computed here in Double.
        let p0: [Double] = [0.5, -1.0, 2.0], grads: [[Double]] = [[0.1, -0.2, 0.3], [0.05, 0.4, -0.1], [-0.3, 0.1, 0.2]]
        let lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-6, wd = 0.1
        var p = p0, m = [0.0, 0, 0], v = [0.0, 0, 0]
        let x = Tensor(shape: [3], scalars: p0).requiringGrad()
        let optimizer = LAMB([x], lr: lr, betas: (b1, b2), eps: eps, weightDecay: wd)
        for (t, g) in grads.enumerated() {
            var r = [0.0, 0, 0]
            for i in 0..<3 {
                m[i] = b1 * m[i] + (1 - b1) * g[i]
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                let mh = m[i] / (1 - pow(b1, Double(t + 1))), vh = v[i] / (1 - pow(b2, Double(t + 1)))
                r[i] = mh / (vh.squareRoot() + eps) + wd * p[i]
            }
            let pn = p.map { $0 * $0 }.reduce(0, +).squareRoot(), rn = r.map { $0 * $0 }.reduce(0, +).squareRoot()
            for i in 0..<3 { p[i] -= lr * (pn / rn) * r[i] }
            x.grad = Tensor(shape: [3], scalars: g)
            optimizer.step()
            for i in 0..<3 { XCTAssertEqual(x.doubleScalars[i], p[i], accuracy: 1e-12, "step \(t + 1)") }
        }
    }

    /// OneCycleLR's cases the shared fixtures lack: three phases with linear annealing, and the momentum (SGD)
    /// or β₁ (Adam) cycled against the rate. Expected values from PyTorch 2.15 (bench/onecycle_reference.py).
    func testOneCycleMatchesPyTorchInThreePhasesAndCyclesMomentum() {
        func run(_ optimizer: Optimizer, _ schedule: OneCycleLR, steps: Int) -> ([Double], [Double]) {
            var lrs: [Double] = [], momenta: [Double] = []
            for _ in 0..<steps {
                lrs.append(optimizer.learningRates[0])
                momenta.append(optimizer.cycledMomenta[0]!)  // SGD's momentum, Adam's β₁
                schedule.step()
            }
            return (lrs, momenta)
        }
        let sgd = SGD([Tensor.zeros([1]).requiringGrad()], lr: 0.1, momentum: 0.9)
        let (lrs, momenta) = run(sgd, OneCycleLR(sgd, maxLR: 0.5, totalSteps: 10, annealStrategy: .linear, threePhase: true), steps: 10)
        let torchLRs = [0.02, 0.26, 0.5, 0.26, 0.020000000000000018, 0.016000399999999998, 0.012000799999999999, 0.0080012,
                        0.0040015999999999975, 1.9999999999985307e-06]
        let torchMomenta = [0.95, 0.8999999999999999, 0.85, 0.8999999999999999, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]
        for (a, b) in zip(lrs, torchLRs) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        for (a, b) in zip(momenta, torchMomenta) { XCTAssertEqual(a, b, accuracy: 1e-12) }

        let adam = Adam([Tensor.zeros([1]).requiringGrad()], lr: 0.1)
        let (adamLRs, betas) = run(adam, OneCycleLR(adam, maxLR: 0.01, totalSteps: 8, pctStart: 0.25), steps: 8)
        let torchAdamLRs = [0.0003999999999999993, 0.01, 0.00933012969841412, 0.00750001, 0.00500002, 0.0025000300000000016,
                            0.0006699103015858822, 4e-08]
        let torchBetas = [0.95, 0.85, 0.856698729810778, 0.875, 0.8999999999999999, 0.9249999999999999, 0.9433012701892219, 0.95]
        for (a, b) in zip(adamLRs, torchAdamLRs) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        for (a, b) in zip(betas, torchBetas) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        XCTAssertEqual(adam.groups[0].options.betas.0, torchBetas.last!, "Adam's β₁ is what cycles")
        XCTAssertEqual(adam.groups[0].options.betas.1, 0.999)
        // An optimizer without momentum keeps its options; only the rate moves.
        let adagrad = Adagrad([Tensor.zeros([1]).requiringGrad()], lr: 0.1)
        let cycle = OneCycleLR(adagrad, maxLR: 0.5, totalSteps: 4)
        cycle.step()
        XCTAssertEqual(adagrad.cycledMomenta, [nil])
        XCTAssertEqual(adagrad.groups[0].options.lrDecay, 0)
    }

    func testParameterGroupsLeaveBiasesOutOfWeightDecay() {
        // The seeds' regularised gradient D = (1/n)Δ + λΘ for j ≠ 0: decay on weights, none on the bias.
        let layer = Linear(3, 1)
        let w0 = layer.weight.scalars, b0 = layer.bias!.scalars
        let defaults = SGD.Options(lr: 0.1)
        let optimizer = SGD(groups: [ParameterGroup([layer.weight], options: defaults.with { $0.weightDecay = 0.5 }),
                                     ParameterGroup([layer.bias!], options: defaults.with { $0.weightDecay = 0 })])
        layer.weight.grad = Tensor.zeros([1, 3])
        layer.bias!.grad = Tensor.zeros([1])
        optimizer.step()
        for (a, b) in zip(layer.weight.scalars, w0) { XCTAssertEqual(a, b * (1 - 0.1 * 0.5), accuracy: 1e-7) }
        XCTAssertEqual(layer.bias!.scalars, b0)
        XCTAssertEqual(optimizer.groups[0].options.lr, 0.1)
    }

    func testGradientClipping() {
        let a = Tensor([3.0]).requiringGrad(), b = Tensor([0.0, 0.0]).requiringGrad()
        a.grad = Tensor([3]); b.grad = Tensor([4, 0])
        let norm = clipGradNorm([a, b], maxNorm: 1)
        XCTAssertEqual(norm, 5, accuracy: 1e-6)
        XCTAssertEqual(a.grad!.scalars[0], 0.6, accuracy: 1e-5)
        XCTAssertEqual(b.grad!.scalars[0], 0.8, accuracy: 1e-5)
        XCTAssertEqual(clipGradNorm([a, b], maxNorm: 10), 1, accuracy: 1e-5)  // already small: unchanged
        XCTAssertEqual(a.grad!.scalars[0], 0.6, accuracy: 1e-5)
        b.grad = Tensor([-5, 0.5])
        clipGradValue([b], 1)
        XCTAssertEqual(b.grad!.scalars, [-1, 0.5])
    }

    func testStateSaveAndRestoreContinuesIdentically() throws {
        // Run 3 Adam steps, save, run 3 more; restoring into a fresh optimizer reproduces the last 3 bitwise.
        let grads = (0..<6).map { i in Tensor([Double(i) * 0.1 - 0.2, 0.3, -Double(i) * 0.05]) }
        let p = Tensor([1, 2, 3]).requiringGrad()
        let adam = Adam([p], lr: 0.05, amsgrad: true)
        for g in grads.prefix(3) { p.grad = g; adam.step() }
        let saved = adam.stateDict(), savedValue = p.detached().clone()  // detached() shares the buffer, as PyTorch's detach()
        XCTAssertEqual(saved["state.0.step"]?.intScalars, [3])
        XCTAssertNotNil(saved["state.0.exp_avg"])
        XCTAssertEqual(saved["groups.0.lr"]?.item, 0.05)
        for g in grads.suffix(3) { p.grad = g; adam.step() }

        let q = savedValue.requiringGrad()
        let resumed = Adam([q], lr: 0.9)  // the saved lr replaces this one
        try resumed.loadStateDict(saved)
        XCTAssertEqual(resumed.groups[0].options.lr, 0.05)
        for g in grads.suffix(3) { q.grad = g; resumed.step() }
        XCTAssertEqual(q.scalars, p.scalars)

        var bad = saved
        bad["state.0.exp_avg"] = Tensor.zeros([5])
        XCTAssertThrowsError(try resumed.loadStateDict(bad)) { error in
            XCTAssertTrue("\(error)".contains("state.0.exp_avg"))
        }
    }

    func testEveryOptimizerTrainsALinearRegression() {
        // y = x·w* + 0.5 with 8 features: each optimizer drives the loss far down from its start.
        let g = Generator(seed: 21)
        let x = Tensor.randn([64, 8], generator: g), wStar = Tensor.randn([8, 1], generator: g)
        let makers: [(String, ([Tensor]) -> Optimizer)] = [
            ("SGD", { SGD($0, lr: 0.1, momentum: 0.9, nesterov: true) }), ("Adagrad", { Adagrad($0, lr: 0.5) }),
            ("RMSprop", { RMSprop($0, lr: 0.01, centered: true) }), ("Adam", { Adam($0, lr: 0.05) }),
            ("AdamW", { AdamW($0, lr: 0.05, weightDecay: 0) }), ("LAMB", { LAMB($0, lr: 0.05) }),
        ]
        for (name, make) in makers {
            manualSeed(2)
            // LAMB's steps are lr·‖p‖ long, so a lone scalar (a bias) can never cross 0: it fits y = x·w*
            // without a bias, rotating the 8-element weight vector instead.
            let model = Linear(8, 1, bias: name != "LAMB")
            let y = matmul(x, wStar) + (name == "LAMB" ? 0 : 0.5)
            let optimizer = make(model.parameters())
            let start = mseLoss(model(x), y).item
            for _ in 0..<300 {
                optimizer.zeroGrad()
                mseLoss(model(x), y).backward()
                optimizer.step()
            }
            let end = withNoGrad { mseLoss(model(x), y).item }
            XCTAssertLessThan(end, start * 1e-2, "\(name): \(start) -> \(end)")
        }
    }

    func testReduceLROnPlateauAndWarmupCosine() {
        let optimizer = SGD([Tensor.zeros([1]).requiringGrad()], lr: 1)
        let plateau = ReduceLROnPlateau(optimizer, factor: 0.5, patience: 2)
        for metric in [1.0, 0.9, 0.95, 0.95, 0.95] { plateau.step(metric: metric) }  // 3 bad epochs > patience 2
        XCTAssertEqual(optimizer.groups[0].options.lr, 0.5)
        plateau.step(metric: 0.5)
        XCTAssertEqual(optimizer.groups[0].options.lr, 0.5)
        XCTAssertEqual(plateau.best, 0.5)

        let opt2 = SGD([Tensor.zeros([1]).requiringGrad()], lr: 1)
        let schedule = WarmupCosineLR(opt2, warmupEpochs: 2, totalEpochs: 6, startFactor: 0.5)
        var lrs: [Double] = []
        for _ in 0..<7 { lrs.append(opt2.groups[0].options.lr); schedule.step() }
        XCTAssertEqual(lrs[0], 0.5, accuracy: 1e-12)
        XCTAssertEqual(lrs[1], 0.75, accuracy: 1e-12)
        XCTAssertEqual(lrs[2], 1, accuracy: 1e-12)
        XCTAssertEqual(lrs[4], 0.5, accuracy: 1e-12)
        XCTAssertEqual(lrs[6], 0, accuracy: 1e-12)
        schedule.setEpoch(1)
        XCTAssertEqual(opt2.groups[0].options.lr, 0.75, accuracy: 1e-12)
    }
}
