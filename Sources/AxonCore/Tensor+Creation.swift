extension Tensor {
    /// A scalar (shape `[]`) tensor; `dtype` defaults to float32 as `torch.tensor(2.0)`.
    public convenience init(_ value: Double, dtype: DType = .float32, requiresGrad: Bool = false) {
        self.init(shape: [], doubles: [value], dtype: dtype)
        self.requiresGrad = requiresGrad
    }

    /// A 1-D tensor from an array literal (float32 unless `dtype` says otherwise).
    public convenience init(_ values: [Double], dtype: DType = .float32, requiresGrad: Bool = false) {
        self.init(shape: [values.count], doubles: values, dtype: dtype)
        self.requiresGrad = requiresGrad
    }

    /// A 2-D tensor from nested arrays, e.g. `Tensor([[1, 2], [3, 4]])`; rows must have equal lengths.
    public convenience init(_ values: [[Double]], dtype: DType = .float32, requiresGrad: Bool = false) {
        let cols = values.first?.count ?? 0
        guard values.allSatisfy({ $0.count == cols }) else {
            axonFail("Tensor.init", "ragged nested array: row lengths \(values.map(\.count))")
        }
        self.init(shape: [values.count, cols], doubles: values.flatMap { $0 }, dtype: dtype)
        self.requiresGrad = requiresGrad
    }

    /// A 3-D tensor from nested arrays; inner arrays must have equal lengths.
    public convenience init(_ values: [[[Double]]], dtype: DType = .float32, requiresGrad: Bool = false) {
        let inner = values.map { Tensor($0, dtype: .float64) }
        let shape1 = inner.first?.shape ?? [0, 0]
        guard inner.allSatisfy({ $0.shape == shape1 }) else {
            axonFail("Tensor.init", "ragged nested array: shapes \(inner.map(\.shape))")
        }
        self.init(shape: [values.count] + shape1, doubles: inner.flatMap { $0.f64 }, dtype: dtype)
        self.requiresGrad = requiresGrad
    }

    /// A tensor of the given shape from row-major float32 values.
    public convenience init(shape: [Int], scalars: [Float], requiresGrad: Bool = false) {
        Tensor.checkCount(shape, scalars.count)
        self.init(shape: shape, storage: .float32(scalars), requiresGrad: requiresGrad)
    }

    /// A float64 tensor of the given shape from row-major values.
    public convenience init(shape: [Int], scalars: [Double], requiresGrad: Bool = false) {
        Tensor.checkCount(shape, scalars.count)
        self.init(shape: shape, storage: .float64(scalars), requiresGrad: requiresGrad)
    }

    /// An int64 tensor (class indices, index tensors) of the given shape from row-major values.
    public convenience init(shape: [Int], scalars: [Int]) {
        Tensor.checkCount(shape, scalars.count)
        self.init(shape: shape, storage: .int64(scalars))
    }

    /// A tensor of the given shape and dtype from row-major `Double` values.
    public convenience init(shape: [Int], doubles: [Double], dtype: DType) {
        Tensor.checkCount(shape, doubles.count)
        switch dtype {
        case .float32: self.init(shape: shape, storage: .float32(doubles.map { Float($0) }))
        case .float64: self.init(shape: shape, storage: .float64(doubles))
        case .int64: self.init(shape: shape, storage: .int64(doubles.map { Int($0) }))
        }
    }

    private static func checkCount(_ shape: [Int], _ count: Int) {
        guard shape.allSatisfy({ $0 >= 0 }) else { axonFail("Tensor.init", "negative dimension in shape \(shape)") }
        guard shapeCount(shape) == count else {
            axonFail("Tensor.init", "shape \(shape) needs \(shapeCount(shape)) values, got \(count)")
        }
    }

    /// A tensor filled with `value`.
    public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32) -> Tensor {
        checkCount(shape, shapeCount(shape))
        let n = shapeCount(shape)
        switch dtype {
        case .float32: return Tensor(shape: shape, storage: .float32([Float](repeating: Float(value), count: n)))
        case .float64: return Tensor(shape: shape, storage: .float64([Double](repeating: value, count: n)))
        case .int64: return Tensor(shape: shape, storage: .int64([Int](repeating: Int(value), count: n)))
        }
    }

    /// A tensor of zeros.
    public static func zeros(_ shape: [Int], dtype: DType = .float32) -> Tensor { full(shape, 0, dtype: dtype) }
    /// A tensor of ones.
    public static func ones(_ shape: [Int], dtype: DType = .float32) -> Tensor { full(shape, 1, dtype: dtype) }
    /// Zeros with the shape and dtype of `other`.
    public static func zeros(like other: Tensor) -> Tensor { zeros(other.shape, dtype: other.dtype) }
    /// Ones with the shape and dtype of `other`.
    public static func ones(like other: Tensor) -> Tensor { ones(other.shape, dtype: other.dtype) }

    /// Values from `start` up to (not including) `end` in steps of `step`, as `torch.arange`.
    public static func arange(_ start: Double = 0, _ end: Double, step: Double = 1, dtype: DType = .float32) -> Tensor {
        guard step != 0 else { axonFail("arange", "step must be non-zero") }
        let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        return Tensor(shape: [n], doubles: (0..<n).map { start + Double($0) * step }, dtype: dtype)
    }

    /// `steps` evenly spaced values from `start` to `end` inclusive, as `torch.linspace`.
    public static func linspace(_ start: Double, _ end: Double, steps: Int, dtype: DType = .float32) -> Tensor {
        guard steps >= 0 else { axonFail("linspace", "steps must be non-negative, got \(steps)") }
        if steps == 1 { return Tensor(shape: [1], doubles: [start], dtype: dtype) }
        let d = (end - start) / Double(Swift.max(steps - 1, 1))
        return Tensor(shape: [steps], doubles: (0..<steps).map { start + Double($0) * d }, dtype: dtype)
    }

    /// The `n x n` identity matrix.
    public static func eye(_ n: Int, dtype: DType = .float32) -> Tensor {
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        return Tensor(shape: [n, n], doubles: v, dtype: dtype)
    }

    /// Standard normal samples (mean 0, std 1) from `generator` (the global one by default).
    public static func randn(_ shape: [Int], dtype: DType = .float32, generator: Generator = .global) -> Tensor {
        let n = shapeCount(shape)
        return Tensor(shape: shape, doubles: (0..<n).map { _ in generator.nextNormal() }, dtype: dtype)
    }

    /// Normal samples with the given mean and standard deviation.
    public static func normal(_ shape: [Int], mean: Double = 0, std: Double = 1, dtype: DType = .float32,
                              generator: Generator = .global) -> Tensor {
        let n = shapeCount(shape)
        return Tensor(shape: shape, doubles: (0..<n).map { _ in mean + std * generator.nextNormal() }, dtype: dtype)
    }

    /// Uniform samples in `[low, high)` from `generator` (the global one by default).
    public static func uniform(_ shape: [Int], low: Double = 0, high: Double = 1, dtype: DType = .float32,
                               generator: Generator = .global) -> Tensor {
        let n = shapeCount(shape)
        return Tensor(shape: shape, doubles: (0..<n).map { _ in low + (high - low) * generator.nextUniform() },
                      dtype: dtype)
    }

    /// Uniform samples in `[0, 1)`, as `torch.rand`.
    public static func rand(_ shape: [Int], dtype: DType = .float32, generator: Generator = .global) -> Tensor {
        uniform(shape, dtype: dtype, generator: generator)
    }

    /// Uniform integers in `low..<high` (int64), as `torch.randint`.
    public static func randint(_ low: Int, _ high: Int, _ shape: [Int], generator: Generator = .global) -> Tensor {
        guard high > low else { axonFail("randint", "high \(high) must exceed low \(low)") }
        return Tensor(shape: shape, scalars: (0..<shapeCount(shape)).map { _ in low + generator.nextInt(below: high - low) })
    }

    /// This tensor with elements converted to `dtype` (itself when already of that dtype). Differentiable
    /// between float types.
    public func converted(to dtype: DType) -> Tensor {
        if dtype == self.dtype { return self }
        let out: Tensor
        switch dtype {
        case .float32: out = Tensor(shape: shape, storage: .float32(scalars))
        case .float64: out = Tensor(shape: shape, storage: .float64(doubleScalars))
        case .int64: out = Tensor(shape: shape, storage: .int64(intScalars))
        }
        guard dtype.isFloatingPoint && self.dtype.isFloatingPoint else { return out }
        let from = self.dtype
        return Tensor.record("to(\(dtype))", [self], out) { g in [g.converted(to: from)] }
    }
}
