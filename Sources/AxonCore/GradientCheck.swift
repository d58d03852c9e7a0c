/// The outcome of ``checkGradients(_:at:epsilon:relativeTolerance:absoluteTolerance:)``.
public struct GradientCheckReport: CustomStringConvertible, Sendable {
    /// Whether every analytic gradient matched its finite-difference estimate within tolerance.
    public let passed: Bool
    /// Largest |analytic - numeric| over all checked elements.
    public let maxAbsoluteError: Double
    /// Largest |analytic - numeric| / max(|numeric|, 1e-8) over checked elements.
    public let maxRelativeError: Double
    /// The first failing element, as "input i, element j: analytic a, numeric n".
    public let firstFailure: String?

    /// One-line summary.
    public var description: String {
        "gradient check \(passed ? "passed" : "FAILED"): max abs error \(maxAbsoluteError), max rel error \(maxRelativeError)"
            + (firstFailure.map { "; first failure: \($0)" } ?? "")
    }
}

/// Compares the gradients autodiff gives for `function` with central finite differences, in float64.
///
/// Each floating-point input is converted to float64 and made a leaf; the output is reduced to a
/// scalar by a fixed random weighting (so every output element matters). Integer inputs (indices) are
/// passed through unchanged. An element passes when |analytic - numeric| <= absoluteTolerance +
/// relativeTolerance * |numeric|; with epsilon = 1e-6 the central difference has truncation error
/// O(eps²) ~ 1e-12 and rounding error ~ 1e-16 / eps ~ 1e-10, far inside the default tolerances.
public func checkGradients(_ function: @escaping ([Tensor]) -> Tensor, at inputs: [Tensor], epsilon: Double = 1e-6,
                           relativeTolerance: Double = 1e-5, absoluteTolerance: Double = 1e-7) -> GradientCheckReport {
    let leaves = inputs.map { $0.dtype.isFloatingPoint ? $0.converted(to: .float64).requiringGrad() : $0 }
    let probe = function(leaves)
    let weights = Tensor.uniform(probe.shape, low: 0.5, high: 1.5, dtype: .float64, generator: Generator(seed: 1234))
    let objective = { (xs: [Tensor]) -> Double in (function(xs).converted(to: .float64) * weights).sum().item }
    let loss = (probe.converted(to: .float64) * weights).sum()
    if loss.requiresGrad { loss.backward() }

    var maxAbs = 0.0, maxRel = 0.0, failure: String? = nil
    for (i, leaf) in leaves.enumerated() where leaf.dtype == .float64 {
        let analytic = leaf.grad?.doubleScalars ?? [Double](repeating: 0, count: leaf.count)
        let base = leaf.doubleScalars
        for j in 0..<leaf.count {
            var plus = base, minus = base
            plus[j] += epsilon
            minus[j] -= epsilon
            let numeric = withNoGrad { () -> Double in
                var xp = leaves, xm = leaves
                xp[i] = Tensor(shape: leaf.shape, scalars: plus)
                xm[i] = Tensor(shape: leaf.shape, scalars: minus)
                return (objective(xp) - objective(xm)) / (2 * epsilon)
            }
            let err = Swift.abs(analytic[j] - numeric)
            maxAbs = Swift.max(maxAbs, err)
            maxRel = Swift.max(maxRel, err / Swift.max(Swift.abs(numeric), 1e-8))
            if err > absoluteTolerance + relativeTolerance * Swift.abs(numeric) && failure == nil {
                failure = "input \(i), element \(j): analytic \(analytic[j]), numeric \(numeric)"
            }
        }
    }
    return GradientCheckReport(passed: failure == nil, maxAbsoluteError: maxAbs, maxRelativeError: maxRel,
                               firstFailure: failure)
}
