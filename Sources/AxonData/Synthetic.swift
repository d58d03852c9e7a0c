import AxonCore
import Foundation

/// A built-in 2-D dataset, split into training and test sets.
public struct SyntheticData {
    /// Training points `[N, 2]` and labels (class indices `[N]` int64, or values `[N, 1]` for regression).
    public let train: TensorDataset
    /// Test points and labels, as `train`.
    public let test: TensorDataset
    /// Whether labels are classes (0/1) or real values (regression, in [-1, 1]).
    public let isClassification: Bool
}

/// TensorFlow Playground's datasets (circle, xor, gaussian, spiral; plane and multi-gaussian for
/// regression) with its generators, noise (0-50, in percent as on the page) and train/test ratio,
/// plus two moons and blobs. Points lie in about [-6, 6]²; the Playground's labels -1/1 become classes 0/1.
public enum Playground {
    /// The Playground's dataset names.
    public enum Kind: String, CaseIterable, Sendable {
        case circle, xor, gaussian, spiral, plane, multiGaussian = "multi-gaussian", moons, blobs
        /// Whether the dataset is a classification problem.
        public var isClassification: Bool { self != .plane && self != .multiGaussian }
    }

    /// `samples` points of `kind` with `noise` percent (0-50), shuffled and split with `trainRatio`
    /// percent (10-90) for training, all drawn from `generator`.
    public static func make(_ kind: Kind, samples: Int = 500, noise: Double = 0, trainRatio: Double = 50,
                            generator: Generator) -> SyntheticData {
        guard samples >= 2 else { fatalError("Axon.Playground: need at least 2 samples, got \(samples)") }
        let n = noise / 100
        let rows: [(Double, Double, Double)]
        switch kind {
        case .circle: rows = circle(samples, n, generator)
        case .xor: rows = xor(samples, n, generator)
        case .gaussian: rows = gaussian(samples, n, generator)
        case .spiral: rows = spiral(samples, n, generator)
        case .plane: rows = plane(samples, n, generator)
        case .multiGaussian: rows = multiGaussian(samples, n, generator)
        case .moons: rows = moons(samples, n, generator)
        case .blobs: rows = blobs(samples, n, generator)
        }
        let order = generator.permutation(rows.count)
        let shuffled = order.map { rows[$0] }
        let trainCount = max(1, min(rows.count - 1, Int((Double(rows.count) * trainRatio / 100).rounded(.down))))
        func dataset(_ part: ArraySlice<(Double, Double, Double)>) -> TensorDataset {
            let x = Tensor(shape: [part.count, 2], scalars: part.flatMap { [Float($0.0), Float($0.1)] })
            let y = kind.isClassification
                ? Tensor(shape: [part.count], scalars: part.map { $0.2 > 0 ? 1 : 0 })
                : Tensor(shape: [part.count, 1], scalars: part.map { Float($0.2) })
            return TensorDataset(rows: x, targets: y)
        }
        return SyntheticData(train: dataset(shuffled[..<trainCount]), test: dataset(shuffled[trainCount...]),
                             isClassification: kind.isClassification)
    }

    static func uniform(_ g: Generator, _ a: Double, _ b: Double) -> Double { a + (b - a) * g.nextUniform() }

    // The generators below follow playground.tensorflow.org's dataset.ts.
    static func circle(_ count: Int, _ noise: Double, _ g: Generator) -> [(Double, Double, Double)] {
        let radius = 5.0
        func label(_ x: Double, _ y: Double) -> Double { (x * x + y * y).squareRoot() < radius * 0.5 ? 1 : -1 }
        var out: [(Double, Double, Double)] = []
        for (lo, hi) in [(0.0, radius * 0.5), (radius * 0.7, radius)] {
            for _ in 0..<(count / 2) {
                let r = uniform(g, lo, hi), angle = uniform(g, 0, 2 * .pi)
                let x = r * sin(angle), y = r * cos(angle)
                let nx = uniform(g, -radius, radius) * noise, ny = uniform(g, -radius, radius) * noise
                out.append((x, y, label(x + nx, y + ny)))
            }
        }
        return out
    }

    static func xor(_ count: Int, _ noise: Double, _ g: Generator) -> [(Double, Double, Double)] {
        let padding = 0.3
        return (0..<count).map { _ in
            var x = uniform(g, -5, 5); x += x > 0 ? padding : -padding
            var y = uniform(g, -5, 5); y += y > 0 ? padding : -padding
            let nx = uniform(g, -5, 5) * noise, ny = uniform(g, -5, 5) * noise
            return (x, y, (x + nx) * (y + ny) >= 0 ? 1 : -1)
        }
    }

    static func gaussian(_ count: Int, _ noise: Double, _ g: Generator) -> [(Double, Double, Double)] {
        let variance = 0.5 + (4 - 0.5) * (noise / 0.5)  // the Playground's scale: noise 0..0.5 -> variance 0.5..4
        let std = variance.squareRoot()
        var out: [(Double, Double, Double)] = []
        for (c, label) in [(2.0, 1.0), (-2.0, -1.0)] {
            for _ in 0..<(count / 2) { out.append((c + std * g.nextNormal(), c + std * g.nextNormal(), label)) }
        }
        return out
    }

    static func spiral(_ count: Int, _ noise: Double, _ g: Generator) -> [(Double, Double, Double)] {
        let n = count / 2
        var out: [(Double, Double, Double)] = []
        for (delta, label) in [(0.0, 1.0), (Double.pi, -1.0)] {
            for i in 0..<n {
                let r = Double(i) / Double(n) * 5
                let t = 1.75 * Double(i) / Double(n) * 2 * .pi + delta
                out.append((r * sin(t) + uniform(g, -1, 1) * noise, r * cos(t) + uniform(g, -1, 1) * noise, label))
            }
        }
        return out
    }

    static func plane(_ count: Int, _ noise: Double, _ g: Generator) -> [(Double, Double, Double)] {
        let radius = 6.0
        return (0..<count).map { _ in
            let x = uniform(g, -radius, radius), y = uniform(g, -radius, radius)
            let nx = uniform(g, -radius, radius) * noise, ny = uniform(g, -radius, radius) * noise
            return (x, y, (x + nx + y + ny) / 10)  // label scale: [-10, 10] -> [-1, 1]
        }
    }

    static func multiGaussian(_ count: Int, _ noise: Double, _ g: Generator) -> [(Double, Double, Double)] {
        let radius = 6.0
        let centers: [(Double, Double, Double)] = [(-4, 2.5, 1), (0, 2.5, -1), (4, 2.5, 1), (-4, -2.5, -1), (0, -2.5, 1), (4, -2.5, -1)]
        func label(_ x: Double, _ y: Double) -> Double {
            var best = 0.0
            for (cx, cy, sign) in centers {
                let d = ((x - cx) * (x - cx) + (y - cy) * (y - cy)).squareRoot()
                let v = sign * max(0, min(1, 1 - d / 2))  // scale: distance [0, 2] -> [1, 0], clamped
                if abs(v) > abs(best) { best = v }
            }
            return best
        }
        return (0..<count).map { _ in
            let x = uniform(g, -radius, radius), y = uniform(g, -radius, radius)
            let nx = uniform(g, -radius, radius) * noise, ny = uniform(g, -radius, radius) * noise
            return (x, y, label(x + nx, y + ny))
        }
    }

    /// Two interleaving half circles (as scikit-learn's make_moons), scaled to the Playground's range.
    static func moons(_ count: Int, _ noise: Double, _ g: Generator) -> [(Double, Double, Double)] {
        var out: [(Double, Double, Double)] = []
        let half = count / 2
        for i in 0..<half {
            let t = Double.pi * Double(i) / Double(max(half - 1, 1))
            out.append(((cos(t) - 0.5) * 3 + g.nextNormal() * noise * 3, (sin(t) - 0.25) * 3 + g.nextNormal() * noise * 3, 1))
            out.append(((1 - cos(t) - 0.5) * 3 + g.nextNormal() * noise * 3, (0.5 - sin(t) - 0.25) * 3 + g.nextNormal() * noise * 3, -1))
        }
        return out
    }

    /// Two Gaussian blobs at random centres in [-4, 4]² (as scikit-learn's make_blobs with 2 centres).
    static func blobs(_ count: Int, _ noise: Double, _ g: Generator) -> [(Double, Double, Double)] {
        let centers = (0..<2).map { _ in (uniform(g, -4, 4), uniform(g, -4, 4)) }
        let std = 0.5 + noise * 4
        var out: [(Double, Double, Double)] = []
        for (k, c) in centers.enumerated() {
            for _ in 0..<(count / 2) { out.append((c.0 + std * g.nextNormal(), c.1 + std * g.nextNormal(), k == 0 ? 1 : -1)) }
        }
        return out
    }
}
