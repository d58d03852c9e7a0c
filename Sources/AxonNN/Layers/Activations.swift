import AxonCore

/// A layer that can overwrite its input (Sequential uses it when evaluating without gradients): the
/// activations, and batch normalisation.
protocol InPlaceLayer {
    func applyInPlace(_ x: Tensor)
}

/// A layer that can apply a ReLU to its own output as one op (Sequential uses it for the layer and the ReLU after
/// it): linear layers, and 2-D max pooling.
protocol ReLUFusing {
    /// `relu(self(input))`, the same values and gradients.
    func rectified(_ input: Tensor) -> Tensor
}

/// ReLU layer, max(x, 0).
public final class ReLU: Module, Layer, InPlaceLayer {
    /// A ReLU layer.
    public override init() {}
    /// Applies ReLU.
    public func callAsFunction(_ input: Tensor) -> Tensor { traced(relu(input), from: input) }
    func applyInPlace(_ x: Tensor) { x.reluInPlace() }
}

/// Leaky ReLU layer: x for x > 0, else `negativeSlope` · x.
public final class LeakyReLU: Module, Layer {
    /// Slope for negative inputs.
    public let negativeSlope: Double
    /// A leaky ReLU with the given slope (PyTorch's default 0.01).
    public init(negativeSlope: Double = 0.01) { self.negativeSlope = negativeSlope }
    /// Applies leaky ReLU.
    public func callAsFunction(_ input: Tensor) -> Tensor { traced(leakyRelu(input, negativeSlope: negativeSlope), from: input) }
    /// The layer and its configuration, as printed in a model description.
    public override var layerDescription: String { "LeakyReLU(negativeSlope: \(negativeSlope))" }
}

/// Logistic sigmoid layer.
public final class Sigmoid: Module, Layer, InPlaceLayer {
    /// A sigmoid layer.
    public override init() {}
    /// Applies the sigmoid.
    public func callAsFunction(_ input: Tensor) -> Tensor { traced(sigmoid(input), from: input) }
    func applyInPlace(_ x: Tensor) { x.sigmoidInPlace() }
}

/// Hyperbolic tangent layer.
public final class Tanh: Module, Layer, InPlaceLayer {
    /// A tanh layer.
    public override init() {}
    /// Applies tanh.
    public func callAsFunction(_ input: Tensor) -> Tensor { traced(tanh(input), from: input) }
    func applyInPlace(_ x: Tensor) { x.tanhInPlace() }
}

/// GELU layer (exact erf form unless `approximate`).
public final class GELU: Module, Layer {
    /// Whether the tanh approximation is used.
    public let approximate: Bool
    /// A GELU layer; `approximate: true` uses the tanh approximation.
    public init(approximate: Bool = false) { self.approximate = approximate }
    /// Applies GELU.
    public func callAsFunction(_ input: Tensor) -> Tensor { traced(gelu(input, approximate: approximate), from: input) }
}

/// Softmax layer along `axis`.
public final class Softmax: Module, Layer {
    /// The axis normalised over.
    public let axis: Int
    /// Softmax over `axis` (the last by default).
    public init(axis: Int = -1) { self.axis = axis }
    /// Applies softmax.
    public func callAsFunction(_ input: Tensor) -> Tensor { traced(softmax(input, axis: axis), from: input) }
}

/// Log-softmax layer along `axis`.
public final class LogSoftmax: Module, Layer {
    /// The axis normalised over.
    public let axis: Int
    /// Log-softmax over `axis` (the last by default).
    public init(axis: Int = -1) { self.axis = axis }
    /// Applies log-softmax.
    public func callAsFunction(_ input: Tensor) -> Tensor { traced(logSoftmax(input, axis: axis), from: input) }
}

/// Heaviside step layer (1 where x > 0, else 0): the perceptron's activation. It has no useful gradient
/// (zero almost everywhere), which is why gradient descent replaced it with sigmoids and ReLUs.
public final class Step: Module, Layer {
    /// A step layer.
    public override init() {}
    /// Applies the step.
    public func callAsFunction(_ input: Tensor) -> Tensor { traced(step(input), from: input) }
}

/// The activation functions by name, for settings that arrive as text (a model description, the command's
/// `--activation`, the Playground's settings).
public enum Activation: String, CaseIterable, Sendable {
    case relu, tanh, sigmoid
    case leakyReLU = "leaky-relu"
    case gelu, step
    /// No activation (the identity).
    case linear

    /// The activation called `name` ("relu", "leaky-relu", ...), or nil.
    public init?(name: String) { self.init(rawValue: name) }

    /// The names, for messages.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// The layer that applies it (`linear` is ``Identity``); `slope` is the leaky ReLU's negative slope.
    public func layer(slope: Double = 0.01) -> any Layer {
        switch self {
        case .relu: return ReLU()
        case .tanh: return Tanh()
        case .sigmoid: return Sigmoid()
        case .leakyReLU: return LeakyReLU(negativeSlope: slope)
        case .gelu: return GELU()
        case .step: return Step()
        case .linear: return Identity()
        }
    }
}
