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
        self.init(shape: [values.count] + shape1, doubles: inner.flatMap { $0.doubleScalars }, dtype: dtype)
        self.requiresGrad = requiresGrad
    }

    /// A tensor of `shape` holding a copy of `values` as `dtype`.
    private convenience init<T>(shape: [Int], copying values: [T], dtype: DType) {
        Tensor.checkCount(shape, values.count)
        let buffer = Backends.current.makeBuffer(dtype: dtype, count: values.count)
        values.withUnsafeBufferPointer { p in
            if let base = p.baseAddress { buffer.pointer(T.self).update(from: base, count: values.count) }
        }
        self.init(buffer: buffer, shape: shape)
    }

    /// A tensor of the given shape from row-major float32 values.
    public convenience init(shape: [Int], scalars: [Float], requiresGrad: Bool = false) {
        self.init(shape: shape, copying: scalars, dtype: .float32)
        self.requiresGrad = requiresGrad
    }

    /// A float32 tensor of the given shape whose row-major elements `initializer` writes, straight into
    /// the tensor's buffer (no intermediate array; like `Array(unsafeUninitializedCapacity:)`). It must
    /// write every element.
    public convenience init(shape: [Int], unsafeUninitializedScalars initializer: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        Tensor.checkCount(shape, shapeCount(shape))
        let buffer = Backends.current.makeBuffer(dtype: .float32, count: shapeCount(shape))
        try initializer(UnsafeMutableBufferPointer(start: buffer.pointer(Float.self), count: shapeCount(shape)))
        self.init(buffer: buffer, shape: shape)
    }

    /// A float64 tensor of the given shape from row-major values.
    public convenience init(shape: [Int], scalars: [Double], requiresGrad: Bool = false) {
        self.init(shape: shape, copying: scalars, dtype: .float64)
        self.requiresGrad = requiresGrad
    }

    /// An int64 tensor (class indices, index tensors) of the given shape from row-major values.
    public convenience init(shape: [Int], scalars: [Int]) {
        self.init(shape: shape, copying: scalars, dtype: .int64)
    }

    /// A bool tensor (a mask) of the given shape from row-major values.
    public convenience init(shape: [Int], scalars: [Bool]) {
        self.init(shape: shape, copying: scalars, dtype: .bool)
    }

    /// A tensor of the given shape and dtype from row-major `Double` values (truncated toward zero for
    /// int64; non-zero is true for bool).
    public convenience init(shape: [Int], doubles: [Double], dtype: DType) {
        let values = Tensor(shape: shape, copying: doubles, dtype: .float64)
        if dtype == .float64 {
            self.init(buffer: values.buffer, shape: shape)
            return
        }
        let buffer = Backends.current.makeBuffer(dtype: dtype, count: doubles.count)
        Backends.current.copy(values.strided, into: StridedBuffer(contiguous: buffer, shape: shape))  // the backend converts
        self.init(buffer: buffer, shape: shape)
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
        let out = Tensor.empty(shape, dtype: dtype)
        Backends.current.fill(out.strided, with: value)
        return out
    }

    /// A tensor of draws from `distribution`, in row-major order.
    private static func random(_ shape: [Int], _ distribution: RandomDistribution, dtype: DType, generator: Generator) -> Tensor {
        checkCount(shape, shapeCount(shape))
        let out = Tensor.empty(shape, dtype: dtype)
        Backends.current.fillRandom(out.strided, distribution, generator: generator)
        return out
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
        random(shape, .normal(mean: 0, std: 1), dtype: dtype, generator: generator)
    }

    /// Normal samples with the given mean and standard deviation.
    public static func normal(_ shape: [Int], mean: Double = 0, std: Double = 1, dtype: DType = .float32,
                              generator: Generator = .global) -> Tensor {
        random(shape, .normal(mean: mean, std: std), dtype: dtype, generator: generator)
    }

    /// Uniform samples in `[low, high)` from `generator` (the global one by default).
    public static func uniform(_ shape: [Int], low: Double = 0, high: Double = 1, dtype: DType = .float32,
                               generator: Generator = .global) -> Tensor {
        random(shape, .uniform(low: low, high: high), dtype: dtype, generator: generator)
    }

    /// Uniform samples in `[0, 1)`, as `torch.rand`.
    public static func rand(_ shape: [Int], dtype: DType = .float32, generator: Generator = .global) -> Tensor {
        uniform(shape, dtype: dtype, generator: generator)
    }

    /// Uniform integers in `low..<high` (int64), as `torch.randint`.
    public static func randint(_ low: Int, _ high: Int, _ shape: [Int], generator: Generator = .global) -> Tensor {
        guard high > low else { axonFail("randint", "high \(high) must exceed low \(low)") }
        return random(shape, .integers(low: low, high: high), dtype: .int64, generator: generator)
    }

    /// This tensor with elements converted to `dtype` (itself when already of that dtype). Differentiable
    /// between float types. To bool: non-zero is true; from bool: 0 or 1 (the mask as a multiplier).
    public func converted(to dtype: DType) -> Tensor {
        if dtype == self.dtype { return self }
        let out = Tensor.empty(shape, dtype: dtype)
        Backends.current.copy(strided, into: out.strided)
        guard dtype.isFloatingPoint && self.dtype.isFloatingPoint else {  // not differentiable: recorded for an export only
            return ExportTrace.isActive && (requiresGrad || gradFn != nil) && GradMode.isEnabled
                ? Tensor.record("to(\(dtype))", [self], out, saving: []) { _ in [nil] } : out
        }
        let from = self.dtype
        return Tensor.record("to(\(dtype))", [self], out, saving: []) { g in [g.converted(to: from)] }
    }
}
