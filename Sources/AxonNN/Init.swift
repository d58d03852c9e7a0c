import AxonCore
import Foundation

/// Weight initialisers, as `torch.nn.init`: each fills a tensor in place, drawing from `generator`
/// (the global one, seeded by `manualSeed`, by default).
public enum Init {
    /// Nonlinearities for the recommended gain.
    public enum Nonlinearity: Sendable {
        case linear, sigmoid, tanh, relu, leakyRelu(negativeSlope: Double)
    }

    /// Fan mode for He/Kaiming initialisation.
    public enum FanMode: Sendable { case fanIn, fanOut }

    /// The recommended gain for a nonlinearity (`torch.nn.init.calculate_gain`).
    public static func gain(_ nonlinearity: Nonlinearity) -> Double {
        switch nonlinearity {
        case .linear, .sigmoid: return 1
        case .tanh: return 5.0 / 3.0
        case .relu: return 2.0.squareRoot()
        case .leakyRelu(let a): return (2.0 / (1 + a * a)).squareRoot()
        }
    }

    /// (fan in, fan out) of a weight: [out, in] for linear, [out, in, kh, kw] for convolutions.
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        guard shape.count >= 2 else { fatalError("Axon.Init.fans: needs at least 2 dimensions, got shape \(shape)") }
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// U(low, high).
    public static func uniform(_ t: Tensor, low: Double = 0, high: Double = 1, generator: Generator = .global) {
        t.assign(Tensor.uniform(t.shape, low: low, high: high, dtype: t.dtype, generator: generator))
    }

    /// N(mean, std²).
    public static func normal(_ t: Tensor, mean: Double = 0, std: Double = 1, generator: Generator = .global) {
        t.assign(Tensor.normal(t.shape, mean: mean, std: std, dtype: t.dtype, generator: generator))
    }

    /// All `value`.
    public static func constant(_ t: Tensor, _ value: Double) { t.assign(Tensor.full(t.shape, value, dtype: t.dtype)) }
    /// All zeros.
    public static func zeros(_ t: Tensor) { constant(t, 0) }
    /// All ones.
    public static func ones(_ t: Tensor) { constant(t, 1) }

    /// Glorot/Xavier uniform: U(-a, a) with a = gain * sqrt(6 / (fanIn + fanOut)).
    public static func xavierUniform(_ t: Tensor, gain: Double = 1, generator: Generator = .global) {
        let (fi, fo) = fans(t.shape)
        let a = gain * (6.0 / Double(fi + fo)).squareRoot()
        uniform(t, low: -a, high: a, generator: generator)
    }

    /// Glorot/Xavier normal: N(0, std²) with std = gain * sqrt(2 / (fanIn + fanOut)).
    public static func xavierNormal(_ t: Tensor, gain: Double = 1, generator: Generator = .global) {
        let (fi, fo) = fans(t.shape)
        normal(t, std: gain * (2.0 / Double(fi + fo)).squareRoot(), generator: generator)
    }

    /// He/Kaiming uniform: U(-b, b) with b = gain * sqrt(3 / fan); `a` is the leaky-ReLU slope used
    /// in the gain (PyTorch's default Linear/Conv init is a = sqrt(5), i.e. b = 1 / sqrt(fanIn)).
    public static func kaimingUniform(_ t: Tensor, a: Double = 0, mode: FanMode = .fanIn,
                                      nonlinearity: Nonlinearity = .leakyRelu(negativeSlope: 0),
                                      generator: Generator = .global) {
        // U(-b, b) has standard deviation b / sqrt(3).
        let bound = kaimingStd(t.shape, a: a, mode: mode, nonlinearity: nonlinearity) * 3.0.squareRoot()
        uniform(t, low: -bound, high: bound, generator: generator)
    }

    /// He/Kaiming normal: N(0, std²) with std = gain / sqrt(fan).
    public static func kaimingNormal(_ t: Tensor, a: Double = 0, mode: FanMode = .fanIn,
                                     nonlinearity: Nonlinearity = .leakyRelu(negativeSlope: 0),
                                     generator: Generator = .global) {
        normal(t, std: kaimingStd(t.shape, a: a, mode: mode, nonlinearity: nonlinearity), generator: generator)
    }

    /// He/Kaiming's standard deviation gain / sqrt(fan); for leaky ReLU the slope is `a`.
    static func kaimingStd(_ shape: [Int], a: Double, mode: FanMode, nonlinearity: Nonlinearity) -> Double {
        let (fi, fo) = fans(shape)
        let fan = Double(mode == .fanIn ? fi : fo)
        let g: Double
        if case .leakyRelu = nonlinearity { g = gain(.leakyRelu(negativeSlope: a)) } else { g = gain(nonlinearity) }
        return g / fan.squareRoot()
    }

    /// PyTorch's default for Linear and Conv2d weights: kaiming_uniform with a = sqrt(5), which is
    /// U(-1/sqrt(fanIn), 1/sqrt(fanIn)); biases get the same bound.
    static func pytorchDefault(weight: Tensor, bias: Tensor?, generator: Generator) {
        kaimingUniform(weight, a: 5.0.squareRoot(), generator: generator)
        if let bias {
            let bound = 1 / Double(fans(weight.shape).fanIn).squareRoot()
            uniform(bias, low: -bound, high: bound, generator: generator)
        }
    }
}

/// L1 penalty λ Σ|p| over parameters, to add to a loss.
public func l1Penalty(_ parameters: [Tensor], lambda: Double) -> Tensor {
    guard let first = parameters.first else { return Tensor(0.0) }
    return parameters.dropFirst().reduce(abs(first).sum()) { $0 + abs($1).sum() } * lambda
}

/// L2 penalty (λ/2) Σ p² over parameters, to add to a loss (its gradient is λ p, as weight decay).
public func l2Penalty(_ parameters: [Tensor], lambda: Double) -> Tensor {
    guard let first = parameters.first else { return Tensor(0.0) }
    return parameters.dropFirst().reduce((first * first).sum()) { $0 + ($1 * $1).sum() } * (lambda / 2)
}
