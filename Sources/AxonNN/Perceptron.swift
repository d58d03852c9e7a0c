import AxonCore

/// Rosenblatt's perceptron: y = step(w·x + b), trained by the perceptron rule
/// w += lr (target - y) x, b += lr (target - y), without gradients.
///
/// It converges in finitely many updates when the classes are linearly separable (the perceptron
/// convergence theorem) and never when they are not: XOR is the classic case (at most 3 of its
/// 4 points can be right).
public final class Perceptron: Module, Layer {
    /// Weights `[inputs]`.
    public let weight: Tensor
    /// Bias (scalar).
    public let bias: Tensor

    /// A perceptron with `inputs` inputs, weights and bias at zero.
    public init(inputs: Int) {
        weight = Tensor.zeros([inputs])
        bias = Tensor.zeros([])
    }

    /// 0/1 predictions for inputs `[N, inputs]` -> `[N]`.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        traced(step(matmul(input, weight) + bias))
    }

    /// Runs the perceptron rule over the samples for up to `epochs` passes; returns the number of passes
    /// until a pass made no mistake, or nil if some pass still erred.
    ///
    /// Shapes: inputs `[N, inputs]`, targets `[N]` of 0/1.
    @discardableResult
    public func fit(inputs: Tensor, targets: Tensor, epochs: Int = 100, lr: Double = 1) -> Int? {
        guard inputs.rank == 2, inputs.shape[1] == weight.shape[0], targets.shape == [inputs.shape[0]] else {
            fatalError("Axon.Perceptron.fit: expected inputs [N, \(weight.shape[0])] and targets [N], got \(inputs.shape) and \(targets.shape)")
        }
        var w = weight.doubleScalars, b = bias.item
        let x = inputs.doubleScalars, t = targets.doubleScalars, n = inputs.shape[0], d = w.count
        for epoch in 1...max(epochs, 1) {
            var mistakes = 0
            for i in 0..<n {
                var z = b
                for j in 0..<d { z += w[j] * x[i * d + j] }
                let error = t[i] - (z > 0 ? 1 : 0)
                if error != 0 {
                    mistakes += 1
                    for j in 0..<d { w[j] += lr * error * x[i * d + j] }
                    b += lr * error
                }
            }
            weight.assign(Tensor(shape: [d], doubles: w, dtype: weight.dtype))
            bias.assign(Tensor(shape: [], doubles: [b], dtype: bias.dtype))
            if mistakes == 0 { return epoch }
        }
        return nil
    }
}
