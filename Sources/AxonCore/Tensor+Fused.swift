// Fused forms of compositions that training runs every step, for the losses in AxonNN (`package`
// access: part of Axon's implementation, not its API). Each is one recorded node with a one-pass
// derivative instead of a chain of small tensors, and computes what the composition computes.

extension Tensor {
    /// Σ (a − b)², divided by the element count when `mean`: `mseLoss` with reduction mean or sum.
    /// Same shapes, checked by the caller.
    package static func squaredErrorLoss(_ input: Tensor, _ target: Tensor, mean: Bool) -> Tensor {
        let (a, b) = promoted(input, target)
        let n = a.count
        let scale = mean ? 1 / Double(Swift.max(n, 1)) : 1
        func forward<T: AxonFloat>(_ x: [T], _ y: [T]) -> T {
            var s: T = 0
            for i in 0..<n { let d = x[i] - y[i]; s += d * d }
            return mean ? s / T(n) : s
        }
        func backward<T: AxonFloat>(_ x: [T], _ y: [T], _ g: T) -> [T] {
            let c = 2 * T(scale) * g  // PyTorch's order: (2/n · g) · (a − b)
            return [T](unsafeUninitializedCapacity: n) { buffer, initialized in
                for i in 0..<n { buffer[i] = c * (x[i] - y[i]) }
                initialized = n
            }
        }
        let out: Tensor
        switch (a.storage, b.storage) {
        case (.float32(let x), .float32(let y)): out = Tensor(shape: [], storage: .float32([forward(x, y)]))
        case (.float64(let x), .float64(let y)): out = Tensor(shape: [], storage: .float64([forward(x, y)]))
        default: axonFail("mseLoss", "needs floating-point tensors, got \(a.dtype) and \(b.dtype)")
        }
        return record("mseLoss", [a, b], out) { g in
            let d: Tensor
            switch (a.storage, b.storage, g.converted(to: a.dtype).storage) {
            case (.float32(let x), .float32(let y), .float32(let gs)): d = Tensor(shape: a.shape, storage: .float32(backward(x, y, gs[0])))
            case (.float64(let x), .float64(let y), .float64(let gs)): d = Tensor(shape: a.shape, storage: .float64(backward(x, y, gs[0])))
            default: axonFail("mseLoss", "internal: gradient dtype \(g.dtype)")
            }
            return [a.requiresGrad ? d : nil, b.requiresGrad ? -d : nil]
        }
    }
}
