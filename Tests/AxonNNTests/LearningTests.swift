import AxonTestSupport
import Axon
import XCTest

/// What the seeds teach about learning, checked: XOR needs a hidden layer, the logistic-regression
/// step by hand, fitting sin(x), vanishing gradients in deep sigmoid nets, and the perceptron.
final class LearningTests: XCTestCase {
    let xorInputs = Tensor([[0, 0], [0, 1], [1, 0], [1, 1]])
    let xorLabels = Tensor([[0], [1], [1], [0]])

    /// Trains `model` on XOR with binary cross-entropy on logits; returns the final accuracy.
    func trainXOR(_ model: any Layer, optimizer: Optimizer, steps: Int) -> Double {
        for _ in 0..<steps {
            optimizer.zeroGrad()
            binaryCrossEntropyWithLogits(model(xorInputs), xorLabels).backward()
            optimizer.step()
        }
        let predictions = withNoGrad { model(xorInputs) .> 0 }
        return (predictions .== xorLabels).mean().item
    }

    func testXORNeedsAHiddenLayer() {
        onEveryBackend { _ in
            for (name, activation) in [("ReLU", ReLU() as any Layer), ("sigmoid", Sigmoid())] {
                manualSeed(3)
                let net = Sequential(Linear(2, 8), activation, Linear(8, 1))
                let accuracy = trainXOR(net, optimizer: Adam(net.parameters(), lr: 0.05), steps: 500)
                XCTAssertEqual(accuracy, 1, "one hidden layer with \(name) learns XOR")
            }
            // Logistic regression is a linear boundary: at most 3 of the 4 XOR points can be right.
            manualSeed(3)
            let logistic = Linear(2, 1)
            let accuracy = trainXOR(logistic, optimizer: Adam(logistic.parameters(), lr: 0.05), steps: 2000)
            XCTAssertLessThanOrEqual(accuracy, 0.75)
        }
    }

    func testLogisticRegressionStepFromTheSeed() throws {
        try onEveryBackend { _ in
            // w = [0.8, 0.2], b = 0.1, x = (0.1, 0.7), y = 1, α = 0.5.
            let model = Linear(2, 1)
            try model.loadStateDict(["weight": Tensor([[0.8, 0.2]]), "bias": Tensor([0.1])])
            let x = Tensor([[0.1, 0.7]]), y = Tensor([[1]])
            let optimizer = SGD(model.parameters(), lr: 0.5)
            optimizer.zeroGrad()
            binaryCrossEntropy(sigmoid(model(x)), y).backward()
            let gw = model.weight.grad!.scalars, gb = model.bias!.grad!.scalars
            XCTAssertEqual(gw[0], -0.04207, accuracy: 1e-3)
            XCTAssertEqual(gw[1], -0.29447, accuracy: 1e-3)
            XCTAssertEqual(gb[0], -0.4207, accuracy: 1e-3)
            optimizer.step()
            XCTAssertEqual(model.weight.scalars[0], 0.82103, accuracy: 1e-3)
            XCTAssertEqual(model.weight.scalars[1], 0.3472, accuracy: 1e-3)
            XCTAssertEqual(model.bias!.scalars[0], 0.31033, accuracy: 1e-3)
            let loss = binaryCrossEntropy(sigmoid(model(x)), y)
            XCTAssertEqual(loss.item, 0.42505, accuracy: 1e-3)
        }
    }

    func testRegressionNetFitsSine() {
        onEveryBackend { _ in
            manualSeed(0)
            let x = Tensor.linspace(-Double.pi, Double.pi, steps: 200).unsqueezed(axis: 1)
            let y = sin(x)
            let net = Sequential(Linear(1, 32), Tanh(), Linear(32, 32), Tanh(), Linear(32, 1))
            let optimizer = Adam(net.parameters(), lr: 0.01)
            var loss = Tensor(1.0)
            for _ in 0..<1500 {
                optimizer.zeroGrad()
                loss = mseLoss(net(x), y)
                loss.backward()
                optimizer.step()
            }
            let final = withNoGrad { mseLoss(net(x), y).item }
            XCTAssertLessThan(final, 1e-3, "MSE on sin(x) after 1500 Adam steps")
        }
    }

    func testVanishingGradientsInDeepSigmoidNets() {
        onEveryBackend { _ in
            // Same 6-layer shape, same seed: the first layer's gradient norm with sigmoid is far smaller than
            // with ReLU, since σ' <= 1/4 shrinks the signal at every layer.
            func firstLayerGradientNorm(_ activation: () -> any Layer) -> Double {
                manualSeed(11)
                var layers: [any Layer] = []
                for i in 0..<6 { layers.append(Linear(i == 0 ? 10 : 32, 32)); layers.append(activation()) }
                layers.append(Linear(32, 1))
                let net = Sequential(layers: layers)
                let x = Tensor.randn([64, 10]), y = Tensor.randn([64, 1])
                mseLoss(net(x), y).backward()
                let g = (net.layers[0] as! Linear).weight.grad!
                return sqrt((g * g).sum()).item
            }
            let sigmoidNorm = firstLayerGradientNorm { Sigmoid() }
            let reluNorm = firstLayerGradientNorm { ReLU() }
            XCTAssertLessThan(sigmoidNorm / reluNorm, 0.05, "sigmoid \(sigmoidNorm) vs ReLU \(reluNorm)")
        }
    }

    func testPerceptronConvergesOnSeparableDataButNotOnXOR() {
        onEveryBackend { _ in
            // AND is linearly separable: the perceptron rule converges.
            let and = Perceptron(inputs: 2)
            let epochs = and.fit(inputs: xorInputs, targets: Tensor([0, 0, 0, 1]), epochs: 100)
            XCTAssertNotNil(epochs)
            XCTAssertEqual(and(xorInputs).scalars, [0, 0, 0, 1])
            // A random separable set: points labelled by a fixed line.
            let g = Generator(seed: 3)
            let pts = Tensor.uniform([100, 2], low: -1, high: 1, generator: g)
            let labels = ((pts.sliced(axis: 1, 0..<1) * 2 - pts.sliced(axis: 1, 1..<2) + 0.1) .> 0).reshaped([100])
            let p = Perceptron(inputs: 2)
            XCTAssertNotNil(p.fit(inputs: pts, targets: labels, epochs: 1000, lr: 0.1))
            XCTAssertEqual((p(pts) .== labels).mean().item, 1)
            // XOR is not: no pass is ever error-free, and at most 3 of 4 points are right.
            let xor = Perceptron(inputs: 2)
            XCTAssertNil(xor.fit(inputs: xorInputs, targets: Tensor([0, 1, 1, 0]), epochs: 1000))
            XCTAssertLessThanOrEqual((xor(xorInputs) .== Tensor([0, 1, 1, 0])).mean().item, 0.75)
        }
    }
}
