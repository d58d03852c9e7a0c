import Axon
import Foundation

/// Everything the page can set: data, features, network, training. Every field is bounded; `validated()`
/// names the first value out of range.
public struct PlaygroundConfig: Codable, Sendable, Equatable {
    /// circle, xor, gaussian, spiral (classification); plane, multi-gaussian (regression); upload.
    public var dataset = "circle"
    /// Noise in percent, 0-50.
    public var noise = 0.0
    /// Percent of points used for training, 10-90.
    public var trainRatio = 50.0
    /// Points generated, 50-2000.
    public var samples = 500
    /// Minibatch size, 1-30.
    public var batchSize = 10
    /// Input features among x1, x2, x1Squared, x2Squared, x1x2, sinX1, sinX2.
    public var features = ["x1", "x2"]
    /// Neurons per hidden layer: 0-6 layers of 1-8 neurons.
    public var hiddenLayers = [4, 2]
    /// relu, tanh, sigmoid, linear, step.
    public var activation = "tanh"
    /// 0.00001 to 10.
    public var learningRate = 0.03
    /// none, L1, L2.
    public var regularization = "none"
    /// Regularisation rate, 0 to 10.
    public var regularizationRate = 0.0
    /// classification or regression.
    public var problem = "classification"
    /// sgd, momentum, adam, rmsprop, adagrad.
    public var optimizer = "sgd"
    /// mse or cross-entropy (classification only).
    public var loss = "mse"
    /// Seed of the data and the initial weights.
    public var seed: UInt64 = 1

    /// The defaults of TensorFlow Playground's first screen: circle, two hidden layers, tanh.
    public init() {}

    /// The optimizer's momentum: 0.9 for "momentum" (SGD with momentum), none for the others.
    var optimizerMomentum: Double { optimizer == "momentum" ? 0.9 : 0 }

    /// The input features the page offers, in its order.
    public static let allFeatures = ["x1", "x2", "x1Squared", "x2Squared", "x1x2", "sinX1", "sinX2"]
    static let datasets = ["circle", "xor", "gaussian", "spiral", "plane", "multi-gaussian", "upload"]

    /// Self, or an error naming the first invalid field and value.
    public func validated() throws -> PlaygroundConfig {
        func fail(_ s: String) -> PlaygroundError { PlaygroundError(status: 400, s) }
        guard Self.datasets.contains(dataset) else { throw fail("dataset '\(dataset)' is not one of \(Self.datasets.joined(separator: ", "))") }
        guard (0...50).contains(noise) else { throw fail("noise \(noise) is outside 0-50") }
        guard (10...90).contains(trainRatio) else { throw fail("trainRatio \(trainRatio) is outside 10-90") }
        guard (50...2000).contains(samples) else { throw fail("samples \(samples) is outside 50-2000") }
        guard (1...30).contains(batchSize) else { throw fail("batchSize \(batchSize) is outside 1-30") }
        guard !features.isEmpty, features.count <= 7, Set(features).count == features.count,
              features.allSatisfy(Self.allFeatures.contains) else {
            throw fail("features \(features) must be distinct, from \(Self.allFeatures.joined(separator: ", "))")
        }
        guard hiddenLayers.count <= 6, hiddenLayers.allSatisfy({ (1...8).contains($0) }) else {
            throw fail("hiddenLayers \(hiddenLayers) must be 0-6 layers of 1-8 neurons")
        }
        guard Activation(name: activation) != nil else { throw fail("activation '\(activation)' is not one of \(Activation.names)") }
        guard learningRate >= 0.00001 && learningRate <= 10 else { throw fail("learningRate \(learningRate) is outside 0.00001-10") }
        guard ["none", "L1", "L2"].contains(regularization) else { throw fail("regularization '\(regularization)' is not none, L1 or L2") }
        guard (0...10).contains(regularizationRate) else { throw fail("regularizationRate \(regularizationRate) is outside 0-10") }
        guard ["classification", "regression"].contains(problem) else { throw fail("problem '\(problem)' is not classification or regression") }
        guard let kind = optimizer == "momentum" ? .sgd : OptimizerKind(name: optimizer) else {
            throw fail("optimizer '\(optimizer)' is not one of momentum (SGD with momentum 0.9), \(OptimizerKind.names)")
        }
        do { _ = try kind.make([], lr: learningRate, momentum: optimizerMomentum) } catch { throw fail("optimizer \(optimizer): \(error)") }
        guard ["mse", "cross-entropy"].contains(loss) else { throw fail("loss '\(loss)' is not mse or cross-entropy") }
        guard loss == "mse" || problem == "classification" else { throw fail("cross-entropy needs a classification problem") }
        let regressionSets = ["plane", "multi-gaussian"]
        if dataset != "upload" && regressionSets.contains(dataset) != (problem == "regression") {
            throw fail("dataset '\(dataset)' is a \(regressionSets.contains(dataset) ? "regression" : "classification") set but problem is \(problem)")
        }
        return self
    }
}

/// An error the API reports with an HTTP status and a message.
public struct PlaygroundError: Error, CustomStringConvertible, Sendable {
    /// HTTP status code (4xx).
    public let code: Int
    /// What was wrong.
    public let description: String
    init(status: Int, _ description: String) {
        self.code = status
        self.description = description
    }
}

/// What the page draws after each update.
public struct Snapshot: Codable, Sendable {
    /// Epochs trained.
    public var epoch: Int
    /// Loss on the training points.
    public var trainLoss: Double
    /// Loss on the test points.
    public var testLoss: Double
    /// Whether the session is training continuously.
    public var playing: Bool
    /// Changes whenever the points change (the page then fetches them).
    public var dataVersion: Int
    /// Loss per epoch, train and test (at most the last 1000 epochs).
    public var trainHistory: [Double]
    /// Test loss per epoch.
    public var testHistory: [Double]
    /// Network output over a `gridSize` x `gridSize` grid of [-6, 6]², rows from top (x2 = 6) to bottom.
    public var gridSize: Int
    /// Output values, row by row.
    public var output: [Float]
    /// Per layer (inputs first), per neuron: its activation over a `neuronGridSize`² grid.
    public var neuronGridSize: Int
    /// Activations by layer, neuron and grid point.
    public var neurons: [[[Float]]]
    /// Per layer: weights [out][in] and biases [out].
    public var weights: [[[Float]]]
    /// Biases by layer.
    public var biases: [[Float]]
    /// Per layer: the L2 norm of the weight gradient in the last step, and its history (one per epoch).
    public var gradientNorms: [Double]
    /// Gradient norm per layer and epoch.
    public var gradientHistory: [[Double]]
    /// The configuration that produced this state.
    public var config: PlaygroundConfig
}

/// The points, sent when the data changes.
public struct PointsPayload: Codable, Sendable {
    /// Changes whenever the points change (the page then fetches them).
    public var dataVersion: Int
    /// [x1, x2, label] per point.
    public var train: [[Float]]
    /// Test points, [x1, x2, label] each.
    public var test: [[Float]]
}
