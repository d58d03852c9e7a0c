import Axon
import AxonTestSupport
import XCTest

final class Block: Module, Layer {
    let layers = [Linear(4, 4), Linear(4, 2)]
    let norm = BatchNorm1d(2)
    var scale: Tensor = Tensor.ones([2]).requiringGrad()
    func callAsFunction(_ x: Tensor) -> Tensor { norm(layers[1](relu(layers[0](x)))) * scale }
}

final class ModuleTests: XCTestCase {
    override func setUp() {
        CrashTest.runIfChild([
            "sgd-negative-lr": { _ = SGD([Tensor.ones([2]).requiringGrad()], lr: -0.1) },
            "adam-beta": { _ = Adam([Tensor.ones([2]).requiringGrad()], betas: (0.9, 1.5)) },
            "linear-input": { _ = Linear(3, 2)(Tensor.ones([4, 5])) },
        ])
    }

    func testNamesFollowPyTorch() {
        let block = Block()
        // As PyTorch's named_parameters: a module's own parameters, then its submodules' in declaration order.
        XCTAssertEqual(block.namedParameters().map(\.0),
                       ["scale", "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "norm.weight", "norm.bias"])
        XCTAssertEqual(Set(block.stateDict().keys), Set(block.namedParameters().map(\.0)
            + ["norm.running_mean", "norm.running_var", "norm.num_batches_tracked"]))
        XCTAssertEqual(block.stateDictKeys(), ["scale", "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
                                               "norm.weight", "norm.bias", "norm.running_mean", "norm.running_var",
                                               "norm.num_batches_tracked"])
        let seq = Sequential(Linear(2, 8), ReLU(), Linear(8, 1))
        XCTAssertEqual(seq.namedParameters().map(\.0), ["0.weight", "0.bias", "2.weight", "2.bias"])
        XCTAssertEqual(seq.parameterCount, 2 * 8 + 8 + 8 + 1)
        XCTAssertEqual(seq(Tensor.ones([5, 2])).shape, [5, 1])
        let res = Residual(Sequential(Linear(3, 3), Tanh()))
        XCTAssertEqual(res.namedParameters().map(\.0), ["block.0.weight", "block.0.bias"])
        XCTAssertEqual(res(Tensor.ones([2, 3])).shape, [2, 3])
        XCTAssertEqual(BatchNorm2d(3).stateDict()["num_batches_tracked"]?.dtype, .int64)
    }

    func testStateDictRoundTripAndErrors() throws {
        manualSeed(1)
        let a = Block(), b = Block()
        XCTAssertNotEqual(a.layers[0].weight.scalars, b.layers[0].weight.scalars)
        try b.loadStateDict(a.stateDict())
        XCTAssertEqual(a.layers[0].weight.scalars, b.layers[0].weight.scalars)
        let x = Tensor.randn([6, 4])
        XCTAssertEqual(a(x).scalars, b(x).scalars)

        var state = a.stateDict()
        state["layers.0.weight"] = nil
        state["extra.weight"] = Tensor.ones([1])
        state["layers.1.bias"] = Tensor.ones([3])
        let before = b.layers[1].weight.scalars
        state["layers.1.weight"] = Tensor.zeros([2, 4])
        XCTAssertThrowsError(try b.loadStateDict(state)) { error in
            let e = error as! StateDictError
            XCTAssertEqual(e.missing, ["layers.0.weight"])
            XCTAssertEqual(e.unexpected, ["extra.weight"])
            XCTAssertEqual(e.shapeMismatches, ["layers.1.bias: checkpoint [3], model [2]"])
            XCTAssertTrue(e.description.contains("missing keys: layers.0.weight"))
        }
        XCTAssertEqual(b.layers[1].weight.scalars, before, "a failed load changes nothing")
    }

    func testTrainEvalZeroGradAndDescription() {
        let net = Sequential(Linear(2, 3), Dropout(0.5), ReLU())
        XCTAssertTrue(net.layers[1].isTraining)
        net.eval()
        XCTAssertFalse(net.layers[1].isTraining)
        net.train()
        XCTAssertTrue(net.layers[1].isTraining)
        (net(Tensor.ones([1, 2])).sum()).backward()
        XCTAssertNotNil(net.parameters()[0].grad)
        net.zeroGrad()
        XCTAssertTrue(net.parameters().allSatisfy { $0.grad == nil })
        XCTAssertEqual(net.description, """
            Sequential(
              (0): Linear(in: 2, out: 3, bias: true)
              (1): Dropout(p: 0.5)
              (2): ReLU
            )
            """)
    }

    func testSummaryListsLayersShapesAndCounts() {
        let net = Net()
        let text = net.summary(inputShape: [1, 1, 28, 28], forward: net.callAsFunction)
        XCTAssertTrue(text.contains("conv1 (Conv2d)"), text)
        XCTAssertTrue(text.contains("[1, 6, 26, 26]"), text)
        XCTAssertTrue(text.contains("[1, 16, 11, 11]"), text)
        XCTAssertTrue(text.contains("fc1 (Linear)"), text)
        XCTAssertTrue(text.contains("48120"), text)
        XCTAssertTrue(text.contains("Total params: 60074"), text)
        let seqText = Sequential(Linear(2, 8), ReLU(), Linear(8, 1)).summary(inputShape: [10, 2])
        XCTAssertTrue(seqText.contains("1 (ReLU)"), seqText)
        XCTAssertTrue(seqText.contains("[10, 1]"), seqText)
    }

    func testDefaultInitialisationMatchesPyTorchDistributions() {
        // PyTorch: weight and bias ~ U(-1/sqrt(fanIn), 1/sqrt(fanIn)); variance bound²/3.
        manualSeed(0)
        let fc = Linear(784, 256)
        let bound = 1 / 784.0.squareRoot()
        XCTAssertLessThanOrEqual(fc.weight.abs().max().item, bound)
        XCTAssertGreaterThan(fc.weight.abs().max().item, 0.99 * bound)
        XCTAssertEqual(fc.weight.variance().item, bound * bound / 3, accuracy: 0.02 * bound * bound)
        XCTAssertLessThanOrEqual(fc.bias!.abs().max().item, bound)
        let conv = Conv2d(6, 16, kernelSize: 3)
        let cb = 1 / 54.0.squareRoot()
        XCTAssertLessThanOrEqual(conv.weight.abs().max().item, cb)
        XCTAssertEqual(conv.weight.variance().item, cb * cb / 3, accuracy: 0.1 * cb * cb)
        // Seeded: the same seed gives the same network.
        manualSeed(5); let a = Linear(3, 3)
        manualSeed(5); let b = Linear(3, 3)
        XCTAssertEqual(a.weight.scalars, b.weight.scalars)
    }

    func testInitialisers() {
        let g = Generator(seed: 2)
        let w = Tensor.zeros([300, 200])
        Init.xavierUniform(w, generator: g)
        let xa = (6.0 / 500).squareRoot()
        XCTAssertLessThanOrEqual(w.abs().max().item, xa)
        XCTAssertEqual(w.variance().item, xa * xa / 3, accuracy: 0.03 * xa * xa)
        Init.xavierNormal(w, generator: g)
        XCTAssertEqual(w.variance().item, 2.0 / 500, accuracy: 0.03 * 2 / 500)
        Init.kaimingUniform(w, nonlinearity: .relu, generator: g)
        let kb = (6.0 / 200).squareRoot()
        XCTAssertLessThanOrEqual(w.abs().max().item, kb)
        XCTAssertEqual(w.variance().item, 2.0 / 200, accuracy: 0.03 * 2 / 200)
        Init.kaimingNormal(w, mode: .fanOut, generator: g)
        XCTAssertEqual(w.variance().item, 2.0 / 300, accuracy: 0.03 * 2 / 300)
        Init.zeros(w); XCTAssertEqual(w.abs().max().item, 0)
        Init.constant(w, 0.5); XCTAssertEqual(w.mean().item, 0.5)
        XCTAssertEqual(Init.gain(.tanh), 5.0 / 3.0)
        XCTAssertEqual(Init.fans([16, 6, 3, 3]).fanIn, 54)
        XCTAssertEqual(Init.fans([16, 6, 3, 3]).fanOut, 144)
    }

    func testBatchNormRunningStatisticsAndEvalMode() {
        let bn = BatchNorm1d(2, momentum: 0.1)
        let x = Tensor([[1, 10], [3, 20], [5, 60]])
        let y = bn(x)
        // Training: batch statistics (biased variance) normalise each column to mean 0, var 1.
        XCTAssertEqual(y.mean(axis: 0).abs().max().item, 0, accuracy: 1e-6)
        XCTAssertEqual(y.variance(axes: [0], unbiased: false).scalars[0], 1, accuracy: 1e-4)
        // Running statistics: 0.9 * initial + 0.1 * batch (unbiased variance), as PyTorch.
        XCTAssertEqual(bn.runningMean.scalars[0], 0.3, accuracy: 1e-6)
        XCTAssertEqual(bn.runningMean.scalars[1], 3, accuracy: 1e-5)
        XCTAssertEqual(bn.runningVar.scalars[0], 0.9 + 0.1 * 4, accuracy: 1e-5)
        XCTAssertEqual(bn.numBatchesTracked.intScalars, [1])
        bn.eval()
        let e = bn(Tensor([[0.3, 3]]))
        XCTAssertEqual(e.scalars[0], 0, accuracy: 1e-6)
        XCTAssertEqual(bn.numBatchesTracked.intScalars, [1], "eval does not count batches")
        let bn2 = BatchNorm2d(3)
        XCTAssertEqual(bn2(Tensor.randn([2, 3, 4, 4])).shape, [2, 3, 4, 4])
        XCTAssertEqual(bn2.runningMean.shape, [3])
    }

    func testDropoutIsSeededAndInactiveInEval() {
        let x = Tensor.ones([1000])
        let a = Dropout(0.3, generator: Generator(seed: 4))(x), b = Dropout(0.3, generator: Generator(seed: 4))(x)
        XCTAssertEqual(a.scalars, b.scalars)
        let kept = a.scalars.filter { $0 != 0 }
        XCTAssertEqual(Double(kept.count) / 1000, 0.7, accuracy: 0.05)
        XCTAssertEqual(kept[0], Float(1 / 0.7), accuracy: 1e-6)
        let d = Dropout(0.3); d.eval()
        XCTAssertEqual(d(x).scalars, x.scalars)
    }

    /// Evaluating without gradients lets activations overwrite the previous layer's fresh output; never the
    /// caller's input nor a tensor someone else holds; the values equal those computed with recording on.
    func testSequentialEvaluationOverwritesOnlyItsOwnIntermediates() {
        let net = Sequential(Linear(3, 4), ReLU(), Linear(4, 4), Tanh(), Linear(4, 2), Sigmoid())
        let x = Tensor.randn([5, 3])
        let before = x.scalars
        let recorded = net(x).scalars
        XCTAssertEqual(withNoGrad { net(x) }.scalars, recorded)
        // An activation first, or after a layer that returns its input: the caller's tensor is left alone.
        let y = Tensor([[-1.0, 2], [3, -4]])
        XCTAssertEqual(withNoGrad { Sequential(ReLU(), Tanh())(y) }.scalars, tanh(relu(y)).scalars)
        XCTAssertEqual(withNoGrad { Sequential(Identity(), ReLU())(y) }.scalars, relu(y).scalars)
        XCTAssertEqual(y.scalars, [-1, 2, 3, -4])
        XCTAssertEqual(x.scalars, before)
        // A layer's output kept elsewhere is not overwritten.
        final class Keeper: Module, Layer {
            var kept: Tensor?
            func callAsFunction(_ input: Tensor) -> Tensor { let out = input * 2; kept = out; return out }
        }
        let keeper = Keeper()
        _ = withNoGrad { Sequential(keeper, ReLU())(y) }
        XCTAssertEqual(keeper.kept!.scalars, [-2, 4, 6, -8])
        // Batch norm overwrites too, in evaluation and in training mode (which still updates its statistics).
        for training in [false, true] {
            let conv = Conv2d(2, 3, kernelSize: 3, padding: 1), norm = BatchNorm2d(3), image = Tensor.randn([4, 2, 5, 5])
            let cnn = Sequential(conv, norm, ReLU())
            if training { cnn.train() } else { cnn.eval() }
            let mean = Buffer(wrappedValue: norm.runningMean), variance = Buffer(wrappedValue: norm.runningVar)
            let expected = relu(batchNorm(conv(image), runningMean: mean, runningVar: variance, weight: norm.weight,
                                          bias: norm.bias, training: training))
            XCTAssertEqual(withNoGrad { cnn(image) }.scalars, expected.scalars, "training \(training)")
            XCTAssertEqual(norm.runningMean.scalars, mean.wrappedValue.scalars)
            XCTAssertEqual(norm.runningVar.scalars, variance.wrappedValue.scalars)
        }
    }

    /// A ReLU before max pooling runs after it (on the pooled quarter), and 2-D pooling then ReLU as one op: the same
    /// bits as the layers in their written order, forward and backward, with ties, zeros, -0, NaN, overlapping and
    /// padded windows, in both float types.
    func testReLUThenMaxPoolGivesTheBitsOfTheWrittenOrder() {
        let windows: [(any Layer, (Tensor) -> Tensor)] = [
            (MaxPool2d(2), { maxPool2d(relu($0), 2) }),
            (MaxPool2d(3, stride: 2, padding: 1), { maxPool2d(relu($0), 3, stride: 2, padding: 1) }),
            (MaxPool1d(2), { maxPool1d(relu($0), 2) }),
        ]
        for dtype in [DType.float32, .float64] {
            for (k, (pool, written)) in windows.enumerated() {
                // Small integers give ties and all-negative windows; then -0, NaN and a lone positive.
                var values = Tensor.randint(-3, 3, [2, 3, 6, 6]).converted(to: .float64).doubleScalars
                values[0] = -0.0; values[1] = -1; values[6] = -0.0; values[7] = -0.0
                values[14] = .nan; values[40] = .nan; values[41] = 5
                let shape = k == 2 ? [2, 3, 36] : [2, 3, 6, 6]
                let x = Tensor(shape: shape, scalars: values).converted(to: dtype)
                let bits = { (t: Tensor) in t.converted(to: .float64).doubleScalars.map(\.bitPattern) }
                // Pooling then ReLU, as written or after the swap, runs as one op for 2-D windows: the same bits too.
                for net in [Sequential(ReLU(), pool), Sequential(pool, ReLU())] {
                    XCTAssertEqual(bits(withNoGrad { net(x) }), bits(written(x)), "\(dtype) window \(k), no grad")
                    let a = x.requiringGrad(), b = x.requiringGrad()
                    let ya = net(a), yb = written(b)
                    XCTAssertEqual(bits(ya), bits(yb), "\(dtype) window \(k)")
                    let weight = Tensor.randn(ya.shape, dtype: dtype)
                    (ya * weight).sum().backward()
                    (yb * weight).sum().backward()
                    XCTAssertEqual(bits(a.grad!), bits(b.grad!), "\(dtype) window \(k), gradient")
                }
            }
        }
    }

    /// A linear layer followed by a ReLU runs as one op in a `Sequential`: the bits of the two layers, forward and
    /// backward (input and parameters), with and without recording, and in evaluation (where the ReLU would overwrite).
    func testLinearThenReLUGivesTheBitsOfTheTwoLayers() {
        let bits = { (t: Tensor) in t.converted(to: .float64).doubleScalars.map(\.bitPattern) }
        for (rows, inputs, outputs) in [(3, 5, 4), (64, 784, 256)] {
            let layer = Linear(inputs, outputs), net = Sequential(layer, ReLU())
            let x = Tensor.randn([rows, inputs])
            XCTAssertEqual(bits(withNoGrad { net(x) }), bits(withNoGrad { relu(layer(x)) }), "\(rows)x\(inputs), no grad")
            let a = x.requiringGrad(), b = x.requiringGrad()
            let ya = net(a)
            let (gw, gb) = (layer.weight.grad, layer.bias!.grad)
            XCTAssertNil(gw); XCTAssertNil(gb)
            let upstream = Tensor.randn(ya.shape)
            ya.backward(upstream)
            let (wa, ba) = (layer.weight.grad!, layer.bias!.grad!)
            layer.zeroGrad()
            let yb = relu(layer(b))
            yb.backward(upstream)
            XCTAssertEqual(bits(ya), bits(yb), "\(rows)x\(inputs)")
            XCTAssertEqual(bits(a.grad!), bits(b.grad!), "\(rows)x\(inputs), input gradient")
            XCTAssertEqual(bits(wa), bits(layer.weight.grad!), "\(rows)x\(inputs), weight gradient")
            XCTAssertEqual(bits(ba), bits(layer.bias!.grad!), "\(rows)x\(inputs), bias gradient")
        }
    }

    /// 2-D batch norm in training followed by 2x2 max pooling (and a ReLU, before or after it) runs as one op in a
    /// `Sequential`: the bits of the layers run one by one, forward, backward (input, weight and bias) and in the
    /// running statistics, with negative weights (the window's minimum wins), ties, odd sizes, on 1, 2 and 3 threads;
    /// and the same second derivatives when the backward pass is recorded.
    func testBatchNormThenMaxPoolGivesTheBitsOfTheLayers() {
        let bits = { (t: Tensor) in t.converted(to: .float64).doubleScalars.map(\.bitPattern) }
        let saved = Threading.threadCount
        defer { Threading.threadCount = saved }
        for (shape, threads) in [([4, 3, 6, 6], 1), ([2, 5, 7, 9], 2), ([8, 16, 28, 28], 2), ([8, 16, 28, 28], 3), ([3, 40, 14, 14], 1)] {
            Threading.threadCount = threads
            let c = shape[1]
            // Small integers give ties within windows; the scale makes the batch statistics non-trivial.
            let x = Tensor.randint(-4, 4, shape).converted(to: .float32) * 0.75 + Tensor.randn(shape) * 0.01
            for (k, order) in [[0, 1, 2], [0, 2, 1], [0, 2]].enumerated() {
                let norm = BatchNorm2d(c), pool = MaxPool2d(2)
                withNoGrad {
                    norm.weight!.addInPlace(Tensor.randn([c]), scalingSelfBy: 0)
                    norm.bias!.addInPlace(Tensor.randn([c]), scalingSelfBy: 0)
                }
                let layers: [any Layer] = [norm, ReLU(), pool]
                let net = Sequential(layers: order.map { layers[$0] })
                let mean = Buffer(wrappedValue: norm.runningMean), variance = Buffer(wrappedValue: norm.runningVar)
                let label = "\(shape) on \(threads) threads, order \(k)"

                let a = x.requiringGrad()
                let ya = net(a)
                XCTAssertEqual(ya.gradFn?.name, "batch_norm_max_pool2d", label)
                let upstream = Tensor.randn(ya.shape)
                ya.backward(upstream)
                let (wa, ba) = (norm.weight!.grad!, norm.bias!.grad!)
                norm.zeroGrad()

                let b = x.requiringGrad()
                let normalized = batchNorm(b, runningMean: mean, runningVar: variance, weight: norm.weight, bias: norm.bias,
                                           training: true)
                let yb = k == 2 ? maxPool2d(normalized, 2) : maxPool2d(relu(normalized), 2)
                yb.backward(upstream)
                XCTAssertEqual(ya.shape, yb.shape, label)
                XCTAssertEqual(bits(ya), bits(yb), label)
                XCTAssertEqual(bits(a.grad!), bits(b.grad!), "\(label), input gradient")
                XCTAssertEqual(bits(wa), bits(norm.weight!.grad!), "\(label), weight gradient")
                XCTAssertEqual(bits(ba), bits(norm.bias!.grad!), "\(label), bias gradient")
                XCTAssertEqual(bits(norm.runningMean), bits(mean.wrappedValue), "\(label), running mean")
                XCTAssertEqual(bits(norm.runningVar), bits(variance.wrappedValue), "\(label), running variance")
                XCTAssertEqual(bits(withNoGrad { net(x) }), bits(ya), "\(label), without recording")
            }
        }
        // Recorded backward passes (second derivatives): the derivative of Σ(∂L/∂x)² with respect to the weight agrees.
        let norm = BatchNorm2d(3), net = Sequential(norm, ReLU(), MaxPool2d(2))
        let x = Tensor.randn([4, 3, 6, 6])
        func secondDerivative(_ forward: (Tensor) -> Tensor) -> Tensor {
            let input = x.requiringGrad()
            let y = forward(input)
            let dx = gradients(of: (y * y).sum(), withRespectTo: [input], createGraph: true)[0]
            return gradients(of: (dx * dx).sum(), withRespectTo: [norm.weight!])[0]
        }
        let fused = secondDerivative { net($0) }
        let separate = secondDerivative {
            maxPool2d(relu(batchNorm($0, runningMean: nil, runningVar: nil, weight: norm.weight, bias: norm.bias, training: true)), 2)
        }
        XCTAssertEqual(fused.shape, [3])
        XCTAssertEqual(fused.doubleScalars, separate.doubleScalars)
    }

    func testActivationLayers() {
        let x = Tensor([-2, 0.5])
        XCTAssertEqual(ReLU()(x).scalars, [0, 0.5])
        XCTAssertEqual(LeakyReLU(negativeSlope: 0.1)(x).scalars, [-0.2, 0.5])
        XCTAssertEqual(Step()(x).scalars, [0, 1])
        XCTAssertEqual(Sigmoid()(x).scalars, sigmoid(x).scalars)
        XCTAssertEqual(Tanh()(x).scalars, tanh(x).scalars)
        XCTAssertEqual(GELU()(x).scalars, gelu(x).scalars)
        XCTAssertEqual(Softmax()(x).sum().item, 1, accuracy: 1e-6)
        XCTAssertEqual(LogSoftmax()(x).scalars, logSoftmax(x).scalars)
        XCTAssertEqual(Identity()(x).scalars, x.scalars)
        XCTAssertEqual(Flatten()(Tensor.ones([2, 3, 4])).shape, [2, 12])
        XCTAssertEqual(MaxPool2d(2)(Tensor.ones([1, 1, 4, 4])).shape, [1, 1, 2, 2])
        XCTAssertEqual(AvgPool2d(2)(Tensor.ones([1, 1, 4, 4])).scalars, [1, 1, 1, 1])
    }

    func testInvalidHyperparametersAreRefusedByName() {
        for (name, mentions) in [("sgd-negative-lr", ["Axon.SGD", "invalid lr -0.1 (must be >= 0)"]),
                                 ("adam-beta", ["Axon.Adam", "invalid betas (0.9, 1.5) (must be in [0, 1))"]),
                                 ("linear-input", ["Axon.Linear", "[4, 5]", "3 features"])] {
            let (status, stderr) = CrashTest.run(name, testID: CrashTest.testID(self, function: #function))
            XCTAssertNotEqual(status, 0, name)
            for m in mentions { XCTAssert(stderr.contains(m), "\(name): \(m) not in \(stderr.suffix(400))") }
        }
        XCTAssertThrowsError(try SGD.Options(lr: -1).validate()) { XCTAssertEqual("\($0)", "invalid lr -1.0 (must be >= 0)") }
        XCTAssertNoThrow(try AdamOptions(lr: 0.1, betas: (0.9, 0.99)).validate())
    }
}

/// Concurrent inference: 8 tasks share one model through `InferenceModel` and get, bitwise, what serial calls give.
final class InferenceModelTests: XCTestCase {
    static func outputsFromConcurrentTasks<M: Layer>(_ shared: InferenceModel<M>, _ inputs: [Tensor], rounds: Int) async -> [[[Float]]] {
        await withTaskGroup(of: (Int, [[Float]]).self) { group in
            for (i, x) in inputs.enumerated() {
                group.addTask { (i, (0..<rounds).map { _ in shared(x).scalars }) }
            }
            var results = [[[Float]]](repeating: [], count: inputs.count)
            for await (i, outputs) in group { results[i] = outputs }
            return results
        }
    }

    func testEightTasksShareOneModelAndGetTheSerialResults() async throws {
        manualSeed(21)
        let cnn = Sequential(Conv2d(1, 8, kernelSize: 3, padding: 1), BatchNorm2d(8), ReLU(), MaxPool2d(2), Flatten(),
                             Linear(8 * 7 * 7, 32), Dropout(0.5), Tanh(), Linear(32, 10))
        _ = cnn(Tensor.randn([16, 1, 14, 14]))  // training mode: BatchNorm's running statistics move off their start
        let sharedCNN = InferenceModel(cnn)
        XCTAssertFalse(cnn.isTraining)
        let images = (0..<8).map { _ in Tensor.randn([4, 1, 14, 14]) }
        let serialCNN = images.map { sharedCNN($0).scalars }

        let lstm = CharLSTM(vocabSize: 20, embeddingDim: 8, hiddenSize: 16, numLayers: 2)
        let sharedLSTM = InferenceModel(lstm)
        let texts = (0..<8).map { i in Tensor(shape: [2, 12], scalars: (0..<24).map { ($0 * 7 + i) % 20 }) }
        let serialLSTM = texts.map { sharedLSTM($0).scalars }

        async let concurrentCNN = Self.outputsFromConcurrentTasks(sharedCNN, images, rounds: 20)
        async let concurrentLSTM = Self.outputsFromConcurrentTasks(sharedLSTM, texts, rounds: 20)
        let (cnnResults, lstmResults) = await (concurrentCNN, concurrentLSTM)
        for i in 0..<8 {
            XCTAssertEqual(Set(cnnResults[i].map { $0.map(\.bitPattern) }), [serialCNN[i].map(\.bitPattern)], "CNN task \(i)")
            XCTAssertEqual(Set(lstmResults[i].map { $0.map(\.bitPattern) }), [serialLSTM[i].map(\.bitPattern)], "LSTM task \(i)")
        }
    }
}
