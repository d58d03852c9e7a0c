import AxonCore

/// Standardises features with statistics from the training split: (x − mean) / std per feature
/// (axis 0), or over all elements with `perFeature: false` (images).
public struct Standardizer: Sendable {
    /// Means, one per feature (or one).
    public let mean: [Double]
    /// Standard deviations (1 where a feature is constant).
    public let std: [Double]

    /// Fits on `x` `[N, ...]`.
    public init(fitting x: Tensor, perFeature: Bool = true) {
        // One pass in Double (sums of x and x²), then the biased variance E[x²] − E[x]².
        let columns = perFeature ? x.count / max(x.shape[0], 1) : 1
        let rows = x.count / max(columns, 1)
        var sum = [Double](repeating: 0, count: columns), squares = [Double](repeating: 0, count: columns)
        x.scalars.withUnsafeBufferPointer { v in
            for r in 0..<rows {
                for c in 0..<columns {
                    let value = Double(v[r * columns + c])
                    sum[c] += value
                    squares[c] += value * value
                }
            }
        }
        let n = Double(max(rows, 1))
        mean = sum.map { $0 / n }
        std = zip(squares, mean).map { sq, m in
            let variance = max(sq / n - m * m, 0)
            return variance > 1e-12 ? variance.squareRoot() : 1
        }
    }

    /// Statistics given directly (e.g. from a checkpoint).
    public init(mean: [Double], std: [Double]) {
        self.mean = mean
        self.std = std
    }

    /// `x` standardised.
    public func transform(_ x: Tensor) -> Tensor {
        if mean.count == 1 { return (x - mean[0]) / std[0] }
        let shape = x.shape
        let flat = x.reshaped([shape[0], -1])
        guard flat.shape[1] == mean.count else {
            // The command checks a dataset's features against the fitted statistics first (a clear error).
            fatalError("Axon.Standardizer: input has \(flat.shape[1]) features per row, fitted on \(mean.count)")
        }
        let m = Tensor(shape: [mean.count], doubles: mean, dtype: x.dtype), s = Tensor(shape: [std.count], doubles: std, dtype: x.dtype)
        return ((flat - m) / s).reshaped(shape)
    }

    /// A dataset with standardised inputs.
    public func transform(_ d: TensorDataset) -> TensorDataset {
        TensorDataset(rows: transform(d.inputs), targets: d.targets)
    }
}
