import _AxonKernels

/// The fast CPU backend: packed GEMM with AVX-512/AVX2 micro-kernels chosen at run time, chunked im2col
/// convolution, branch-free C loops, and the worker pool. Every result is bitwise independent of the
/// thread count. float64 runs the same code paths with plain loops (it exists for checking).
public final class CPUBackend: Backend {
    /// The one instance.
    public static let shared = CPUBackend()
    /// `cpu`.
    public let name = "cpu"
    /// Host memory.
    public let device = Device.cpu

    // MARK: Memory

    public func copy(_ source: StridedBuffer, into destination: StridedBuffer) {
        if source.dtype == destination.dtype {
            switch source.dtype {
            case .float32: copyKernel(source, destination, Float.self)
            case .float64: copyKernel(source, destination, Double.self)
            case .int64: copyKernel(source, destination, Int.self)
            case .bool: copyKernel(source, destination, Bool.self)
            }
            return
        }
        withElementType(source.dtype) { s in
            withElementType(destination.dtype) { d in convertKernel(source, destination, s, d) }
        }
    }

    public func fill(_ destination: StridedBuffer, with value: Double) {
        switch destination.dtype {
        case .float32: fillKernel(destination, Float(value))
        case .float64: fillKernel(destination, value)
        case .int64: fillKernel(destination, Int(converting: value))
        case .bool: fillKernel(destination, value != 0)
        }
    }

    public func fillRandom(_ destination: StridedBuffer, _ distribution: RandomDistribution, generator: Generator) {
        fillRandomKernel(destination, distribution, generator: generator)
    }

    // MARK: Elementwise

    public func unary(_ op: UnaryOp, _ x: StridedBuffer, into output: StridedBuffer) {
        switch x.dtype {
        case .float32: unaryKernel(op, x, output, Float.self)
        case .float64: unaryKernel(op, x, output, Double.self)
        default: axonFail("\(op)", "needs a floating-point tensor, got \(x.dtype) with shape \(x.shape)")
        }
    }

    public func binary(_ op: BinaryOp, _ a: StridedBuffer, _ b: StridedBuffer, into output: StridedBuffer) {
        if op.isComparison {
            switch a.dtype {
            case .float32: compareKernel(op, a, b, output, Float.self)
            case .float64: compareKernel(op, a, b, output, Double.self)
            case .int64: compareKernel(op, a, b, output, Int.self)
            case .bool: integerBinary(op, a, b, output, backend: self)
            }
            return
        }
        switch a.dtype {
        case .float32: binaryKernel(op, a, b, output, Float.self)
        case .float64: binaryKernel(op, a, b, output, Double.self)
        case .int64, .bool: integerBinary(op, a, b, output, backend: self)
        }
    }

    public func select(_ condition: StridedBuffer, _ a: StridedBuffer, _ b: StridedBuffer, into output: StridedBuffer) {
        switch a.dtype {
        case .float32: selectKernel(condition, a, b, output, Float.self)
        case .float64: selectKernel(condition, a, b, output, Double.self)
        case .int64: selectKernel(condition, a, b, output, Int.self)
        case .bool: selectKernel(condition, a, b, output, Bool.self)
        }
    }

    public func axpby(_ y: StridedBuffer, _ x: StridedBuffer, alpha: Double, beta: Double) {
        switch y.dtype {
        case .float32: axpbyKernel(y, x, Float(alpha), Float(beta))
        case .float64: axpbyKernel(y, x, alpha, beta)
        default: axonFail("addInPlace", "needs a floating-point tensor, got \(y.dtype) with shape \(y.shape)")
        }
    }

    public func axpbyProduct(_ y: StridedBuffer, _ a: StridedBuffer, _ b: StridedBuffer, alpha: Double, beta: Double) {
        switch y.dtype {
        case .float32: axpbyProductKernel(y, a, b, Float(alpha), Float(beta))
        case .float64: axpbyProductKernel(y, a, b, alpha, beta)
        default: axonFail("addProductInPlace", "needs a floating-point tensor, got \(y.dtype) with shape \(y.shape)")
        }
    }

    // MARK: Reductions

    public func reduce(_ op: ReduceOp, _ x: StridedBuffer, into output: StridedBuffer) {
        switch x.dtype {
        case .float32: reduceKernel(op, x, output, Float.self)
        case .float64: reduceKernel(op, x, output, Double.self)
        case .int64, .bool: integerReduce(op, x, output, backend: self)
        }
    }

    public func argReduce(_ x: StridedBuffer, axis: Int, largest: Bool, into output: StridedBuffer) {
        withElementType(x.dtype) { argReduceKernel(x, axis: axis, largest: largest, output, $0) }
    }

    public func softmax(_ x: StridedBuffer, log: Bool, into output: StridedBuffer) {
        switch x.dtype {
        case .float32: softmaxKernel(x, output, log: log, Float.self)
        case .float64: softmaxKernel(x, output, log: log, Double.self)
        default: axonFail(log ? "logSoftmax" : "softmax", "needs a floating-point tensor, got \(x.dtype) with shape \(x.shape)")
        }
    }

    public func softmaxBackward(_ gradient: StridedBuffer, _ y: StridedBuffer, log: Bool, into output: StridedBuffer) {
        switch y.dtype {
        case .float32: softmaxBackwardKernel(gradient, y, output, log: log, Float.self)
        default: softmaxBackwardKernel(gradient, y, output, log: log, Double.self)
        }
    }

    // MARK: Linear algebra

    public func matmul(_ a: StridedBuffer, _ b: StridedBuffer, transposeA: Bool, transposeB: Bool, into output: StridedBuffer,
                       accumulate: Bool) {
        switch a.dtype {
        case .float32: batchedMatmul(a, b, transposeA: transposeA, transposeB: transposeB, output, accumulate: accumulate, Float.self)
        case .float64: batchedMatmul(a, b, transposeA: transposeA, transposeB: transposeB, output, accumulate: accumulate, Double.self)
        default: axonFail("matmul", "needs floating-point tensors, got \(a.dtype) with shape \(a.shape)")
        }
    }

    /// The bias seeds each thread's part of the product as it starts on it (one pass over the output fewer).
    public func matmul(_ a: StridedBuffer, _ b: StridedBuffer, transposeA: Bool, transposeB: Bool, bias: StridedBuffer,
                       into output: StridedBuffer) {
        matmul(a, b, transposeA: transposeA, transposeB: transposeB, bias: bias, relu: false, into: output)
    }

    /// Each thread rectifies its own blocks of the product as it finishes them, while they are in its cache.
    public func matmulReLU(_ a: StridedBuffer, _ b: StridedBuffer, transposeA: Bool, transposeB: Bool, bias: StridedBuffer,
                           into output: StridedBuffer) {
        matmul(a, b, transposeA: transposeA, transposeB: transposeB, bias: bias, relu: true, into: output)
    }

    private func matmul(_ a: StridedBuffer, _ b: StridedBuffer, transposeA: Bool, transposeB: Bool, bias: StridedBuffer,
                        relu: Bool, into output: StridedBuffer) {
        guard output.shape.count == 2, bias.shape == [output.shape[1]], bias.isContiguous else {
            matmulOntoCopiedBias(a, b, transposeA: transposeA, transposeB: transposeB, bias: bias, into: output)
            if relu { unary(.relu, output, into: output) }
            return
        }
        switch a.dtype {
        case .float32:
            batchedMatmul(a, b, transposeA: transposeA, transposeB: transposeB, output, accumulate: false,
                          bias: UnsafePointer(bias.pointer(Float.self)), relu: relu, Float.self)
        case .float64:
            batchedMatmul(a, b, transposeA: transposeA, transposeB: transposeB, output, accumulate: false,
                          bias: UnsafePointer(bias.pointer(Double.self)), relu: relu, Double.self)
        default: axonFail("matmul", "needs floating-point tensors, got \(a.dtype) with shape \(a.shape)")
        }
    }

    // MARK: Convolution and pooling

    public func conv2d(_ x: StridedBuffer, _ weight: StridedBuffer, _ bias: StridedBuffer?, _ geometry: Conv2dGeometry,
                       into output: StridedBuffer, keepColumns: Bool) -> TensorBuffer? {
        // Nothing is kept: the weight gradient unfolds the input again, chunk by chunk, into columns that stay in
        // the cache. Kept columns (C·KH·KW values per output position) were read back from memory, which cost
        // more than unfolding them again (measured on the conv-bn network: 4-23% more CPU time per run) and held
        // about 14 MB for its second convolution.
        func run<T: AxonFloat>(_: T.Type) {
            conv2dForward(UnsafePointer(x.pointer(T.self)), UnsafePointer(weight.pointer(T.self)),
                          bias.map { UnsafePointer($0.pointer(T.self)) }, geometry, outChannels: weight.shape[0],
                          into: output.pointer(T.self))
        }
        if x.dtype == .float64 { run(Double.self) } else { run(Float.self) }
        return nil
    }

    public func conv2dBackward(_ gradient: StridedBuffer, _ x: StridedBuffer, _ weight: StridedBuffer, _ geometry: Conv2dGeometry,
                               saved: TensorBuffer?, input: StridedBuffer?, weightGradient: StridedBuffer?,
                               biasGradient: StridedBuffer?) {
        func run<T: AxonFloat>(_: T.Type) {
            AxonCore.conv2dBackward(UnsafePointer(gradient.pointer(T.self)), UnsafePointer(x.pointer(T.self)),
                           UnsafePointer(weight.pointer(T.self)), geometry, outChannels: weight.shape[0],
                           dx: input?.pointer(T.self),
                           dw: weightGradient?.pointer(T.self), db: biasGradient?.pointer(T.self))
        }
        if x.dtype == .float64 { run(Double.self) } else { run(Float.self) }
    }

    public func maxPool2d(_ x: StridedBuffer, _ geometry: Conv2dGeometry, into output: StridedBuffer, indices: StridedBuffer?) {
        maxPool2d(x, geometry, into: output, indices: indices, relu: false)
    }

    /// Each thread rectifies the maxima of its own planes as soon as it has pooled them.
    public func maxPool2dReLU(_ x: StridedBuffer, _ geometry: Conv2dGeometry, into output: StridedBuffer, indices: StridedBuffer?) {
        maxPool2d(x, geometry, into: output, indices: indices, relu: true)
    }

    private func maxPool2d(_ x: StridedBuffer, _ geometry: Conv2dGeometry, into output: StridedBuffer, indices: StridedBuffer?,
                           relu: Bool) {
        switch x.dtype {
        case .float32: maxPool2dForward(UnsafePointer(x.pointer(Float.self)), geometry, into: output.pointer(Float.self),
                                        indices: indices?.pointer(Int.self), relu: relu)
        case .float64: maxPool2dForward(UnsafePointer(x.pointer(Double.self)), geometry, into: output.pointer(Double.self),
                                        indices: indices?.pointer(Int.self), relu: relu)
        default: axonFail("maxPool2d", "needs a floating-point tensor, got \(x.dtype) with shape \(x.shape)")
        }
    }

    public func maxPool2dBackward(_ gradient: StridedBuffer, indices: StridedBuffer, _ g: Conv2dGeometry, into output: StridedBuffer) {
        maxPool2dAdjoint(gradient, pooled: nil, indices: indices, g, into: output)
    }

    /// Each thread masks the gradient of its own planes by ReLU's derivative just before spreading it.
    public func maxPool2dReLUBackward(_ gradient: StridedBuffer, pooled: StridedBuffer, indices: StridedBuffer,
                                      _ g: Conv2dGeometry, into output: StridedBuffer) {
        maxPool2dAdjoint(gradient, pooled: pooled, indices: indices, g, into: output)
    }

    /// Max pooling's adjoint, of the gradient masked by ReLU's derivative where `pooled` (the rectified maxima) is given.
    private func maxPool2dAdjoint(_ gradient: StridedBuffer, pooled: StridedBuffer?, indices: StridedBuffer, _ g: Conv2dGeometry,
                                  into output: StridedBuffer) {
        // 2x2 windows with stride 2 (the usual pooling) in float32: one pass that writes every input, no zeroing
        // first and no scattered additions. Other windows may overlap: the scatter-add.
        guard gradient.dtype == .float32, g.kernelH == 2, g.kernelW == 2, g.strideH == 2, g.strideW == 2, g.padH == 0, g.padW == 0,
              g.dilationH == 1, g.dilationW == 1, gradient.isContiguous, pooled?.isContiguous ?? true else {
            var source = gradient
            if let pooled {
                source = StridedBuffer(contiguous: makeBuffer(dtype: gradient.dtype, count: gradient.count), shape: gradient.shape)
                binary(.reluBackward, gradient, pooled, into: source)
            }
            scatterAdd(source, indices: indices, into: output)
            return
        }
        let masked = pooled.map { _ in makeBuffer(dtype: .float32, count: gradient.count) }
        let gp = SendablePointer(pointer: gradient.pointer(Float.self)), ip = SendablePointer(pointer: indices.pointer(Int.self))
        let yp = pooled.map { SendablePointer(pointer: $0.pointer(Float.self)) }
        let mp = masked.map { SendablePointer(pointer: $0.pointer(Float.self)) }
        let dx = SendablePointer(pointer: output.pointer(Float.self)), size = g.outH * g.outW
        parallelFor(g.batch * g.channels, grain: 4) { range in
            var source = gp.pointer
            if let yp, let mp {
                let first = range.lowerBound * size
                axon_relu_backward_f32(gp.pointer + first, yp.pointer + first, mp.pointer + first, range.count * size)
                source = mp.pointer
            }
            axon_maxpool2x2_backward_f32(source, ip.pointer, range.lowerBound, range.upperBound, g.height, g.width,
                                         g.outH, g.outW, dx.pointer)
        }
        withExtendedLifetime(masked) {}
    }

    public func avgPool2d(_ x: StridedBuffer, _ geometry: Conv2dGeometry, into output: StridedBuffer) {
        switch x.dtype {
        case .float32: AxonCore.avgPool2d(UnsafePointer(x.pointer(Float.self)), geometry, into: output.pointer(Float.self))
        case .float64: AxonCore.avgPool2d(UnsafePointer(x.pointer(Double.self)), geometry, into: output.pointer(Double.self))
        default: axonFail("avgPool2d", "needs a floating-point tensor, got \(x.dtype) with shape \(x.shape)")
        }
    }

    public func avgPool2dBackward(_ gradient: StridedBuffer, _ geometry: Conv2dGeometry, into output: StridedBuffer) {
        switch gradient.dtype {
        case .float32: AxonCore.avgPool2d(nil as UnsafePointer<Float>?, geometry, backwardFrom: UnsafePointer(gradient.pointer(Float.self)), into: output.pointer(Float.self))
        default: AxonCore.avgPool2d(nil as UnsafePointer<Double>?, geometry, backwardFrom: UnsafePointer(gradient.pointer(Double.self)), into: output.pointer(Double.self))
        }
    }

    // MARK: Indexing

    public func gather(_ x: StridedBuffer, indices: StridedBuffer, into output: StridedBuffer) {
        switch x.dtype {
        case .float32: gatherKernel(x, indices, output, Float.self)
        case .float64: gatherKernel(x, indices, output, Double.self)
        case .int64: gatherKernel(x, indices, output, Int.self)
        case .bool: gatherKernel(x, indices, output, Bool.self)
        }
    }

    public func scatterAdd(_ source: StridedBuffer, indices: StridedBuffer, into output: StridedBuffer) {
        switch source.dtype {
        case .float32: scatterAddKernel(source, indices, output, Float.self)
        case .float64: scatterAddKernel(source, indices, output, Double.self)
        default: axonFail("scatterAdd", "needs a floating-point tensor, got \(source.dtype)")
        }
    }
}

/// Integer (and bool) arithmetic through float64, exact for values below 2^53: int64 tensors hold class
/// indices, not quantities that need wider arithmetic. Shared by both CPU backends.
func integerBinary(_ op: BinaryOp, _ a: StridedBuffer, _ b: StridedBuffer, _ output: StridedBuffer, backend: any Backend) {
    let x = StridedBuffer(contiguous: backend.makeBuffer(dtype: .float64, count: output.count), shape: output.shape)
    let y = StridedBuffer(contiguous: backend.makeBuffer(dtype: .float64, count: output.count), shape: output.shape)
    let r = StridedBuffer(contiguous: backend.makeBuffer(dtype: op.isComparison ? .bool : .float64, count: output.count),
                          shape: output.shape)
    backend.copy(a, into: x)
    backend.copy(b, into: y)
    backend.binary(op, x, y, into: r)
    backend.copy(r, into: output)
}

/// Integer reductions through float64 (see ``integerBinary(_:_:_:_:backend:)``).
func integerReduce(_ op: ReduceOp, _ x: StridedBuffer, _ output: StridedBuffer, backend: any Backend) {
    let xd = StridedBuffer(contiguous: backend.makeBuffer(dtype: .float64, count: x.count), shape: x.shape)
    let rd = StridedBuffer(contiguous: backend.makeBuffer(dtype: .float64, count: output.count), shape: output.shape)
    backend.copy(x, into: xd)
    backend.reduce(op, xd, into: rd)
    backend.copy(rd, into: output)
}

/// Draws into a contiguous buffer in row-major order (the same values on every backend for a seed).
func fillRandomKernel(_ destination: StridedBuffer, _ distribution: RandomDistribution, generator: Generator) {
    let n = destination.count
    withElementType(destination.dtype) { type in
        func fill<T: MovableElement>(_: T.Type) {
            let p = destination.pointer(T.self)
            switch distribution {
            case .uniform(let low, let high):
                for i in 0..<n { p[i] = T(converting: low + (high - low) * generator.nextUniform()) }
            case .normal(let mean, let std):
                for i in 0..<n { p[i] = T(converting: mean + std * generator.nextNormal()) }
            case .integers(let low, let high):
                for i in 0..<n { p[i] = T(converting: Double(low + generator.nextInt(below: high - low))) }
            }
        }
        fill(type)
    }
}
