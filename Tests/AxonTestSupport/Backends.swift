import Axon

/// Runs `body` once on every built-in backend (the fast CPU one and the plain reference), with that backend
/// current, then restores the one that was current. Suites that must hold on both call it.
public func onEveryBackend(_ body: (any Backend) throws -> Void) rethrows {
    for backend in Backends.builtIn {
        try Backends.with(backend) { try body(backend) }
    }
}

/// The largest elementwise difference of two tensors of one shape (infinity when the shapes differ).
public func maxDifference(_ a: Tensor, _ b: Tensor) -> Double {
    guard a.shape == b.shape else { return .infinity }
    return zip(a.doubleScalars, b.doubleScalars).map { abs($0 - $1) }.max() ?? 0
}

/// A test case that draws its gradient-check inputs from `inputs`: `r` for uniform values, `away` for
/// values away from 0 and from each other, `g` for the generator itself.
public protocol DrawsCheckInputs {
    /// Where the inputs come from.
    var inputs: CheckInputs { get }
}

extension DrawsCheckInputs {
    /// The generator the inputs are drawn from.
    public var g: Generator { inputs.generator }
    /// Uniform float64 values in `[low, high)`.
    public func r(_ shape: [Int], low: Double = -2, high: Double = 2) -> Tensor { inputs.uniform(shape, low: low, high: high) }
    /// float64 values at least 0.3 from 0 and 0.17 from each other.
    public func away(_ shape: [Int]) -> Tensor { inputs.distinct(shape) }
}

/// float64 inputs for gradient checks: uniform values, and values kept away from 0 and from each other
/// (for ops with a kink at 0 or ties).
public struct CheckInputs {
    /// The generator every input is drawn from.
    public let generator: Generator
    /// Inputs drawn from `Generator(seed:)`.
    public init(seed: UInt64) { generator = Generator(seed: seed) }

    /// Uniform values in `[low, high)`.
    public func uniform(_ shape: [Int], low: Double = -2, high: Double = 2) -> Tensor {
        Tensor.uniform(shape, low: low, high: high, dtype: .float64, generator: generator)
    }

    /// ±(0.3 + 0.17 i) in a random order: at least 0.3 from 0 and 0.17 from each other.
    public func distinct(_ shape: [Int]) -> Tensor {
        let n = shape.reduce(1, *)
        let vals = (0..<n).map { i -> Double in (i % 2 == 0 ? 1 : -1) * (0.3 + 0.17 * Double(i)) }
        return Tensor(shape: shape, scalars: generator.permutation(n).map { vals[$0] })
    }
}
