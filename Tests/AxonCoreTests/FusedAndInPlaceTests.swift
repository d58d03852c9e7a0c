import AxonTestSupport
import XCTest
@testable import AxonCore

/// The fused primitives (linear with bias, logSoftmax, activation derivatives, chunked convolution) against
/// the compositions and reference paths they replace, and the in-place updates optimizers use.
final class FusedAndInPlaceTests: XCTestCase {
    let g = Generator(seed: 11)
    func r(_ shape: [Int], dtype: DType = .float64) -> Tensor {
        Tensor.uniform(shape, low: -2, high: 2, dtype: dtype, generator: g)
    }
    func testLinearWithBiasMatchesTheCompositionAndItsGradients() {
        onEveryBackend { _ in
            for lead in [[5], [2, 3], []] {
                let x = r(lead + [4]), w = r([3, 4]), b = r([3])
                let report = checkGradients({ matmul($0[0], transposed: $0[1], bias: $0[2]) }, at: [x, w, b])
                XCTAssert(report.passed, "addmm \(lead): \(report)")
                let fused = matmul(x, transposed: w, bias: b), composed = matmul(x, transposed: w) + b
                XCTAssertLessThan(maxDifference(fused, composed), 1e-12)
            }
            // float32 through the packed GEMM (large enough to leave the small-product loop).
            let x = r([64, 100], dtype: .float32).requiringGrad(), w = r([30, 100], dtype: .float32).requiringGrad()
            let b = r([30], dtype: .float32).requiringGrad()
            let y = matmul(x, transposed: w, bias: b)
            XCTAssertLessThan(maxDifference(y, matmul(x, transposed: w) + b), 1e-4)
            let seed = r([64, 30], dtype: .float32)
            y.backward(seed)
            let (gx, gw, gb) = (x.grad!, w.grad!, b.grad!)
            x.zeroGrad(); w.zeroGrad(); b.zeroGrad()
            (matmul(x, transposed: w) + b).backward(seed)
            XCTAssertLessThan(maxDifference(gx, x.grad!), 1e-4)
            XCTAssertLessThan(maxDifference(gw, w.grad!), 1e-4)
            XCTAssertLessThan(maxDifference(gb, b.grad!), 1e-4)
        }
    }

    /// On 2 threads a linear layer's dX and dW run side by side, one thread each (the bias gradient with dX); on 1 and
    /// 3 threads one after another, each split across the threads. The gradients have the same bits every way, with
    /// and without an input that needs its gradient.
    func testLinearGradientsAreBitwiseIndependentOfThreadCount() {
        let saved = Threading.threadCount
        defer { Threading.threadCount = saved }
        let x0 = r([64, 100], dtype: .float32), w0 = r([30, 100], dtype: .float32), b0 = r([30], dtype: .float32)
        let seed = r([64, 30], dtype: .float32)
        for inputGradient in [true, false] {
            let runs = [1, 2, 3].map { threads -> [[Float]] in
                Threading.threadCount = threads
                let x = inputGradient ? x0.detached().requiringGrad() : x0, w = w0.detached().requiringGrad()
                let b = b0.detached().requiringGrad()
                matmul(x, transposed: w, bias: b).backward(seed)
                return ((inputGradient ? [x.grad!] : []) + [w.grad!, b.grad!]).map(\.scalars)
            }
            XCTAssertEqual(runs[0], runs[1], "1 and 2 threads, input gradient \(inputGradient)")
            XCTAssertEqual(runs[0], runs[2], "1 and 3 threads, input gradient \(inputGradient)")
        }
    }

    func testLogSoftmaxPrimitiveMatchesTheComposedFormAndGradients() {
        onEveryBackend { _ in
            let x = r([4, 7])
            for (name, f) in [("logSoftmax", { logSoftmax($0, axis: $1) }), ("softmax", { softmax($0, axis: $1) })] as [(String, (Tensor, Int) -> Tensor)] {
                XCTAssert(checkGradients({ f($0[0], -1) }, at: [x]).passed, name)
                XCTAssert(checkGradients({ f($0[0], 0) }, at: [x]).passed, name)  // composed path
                // Along the last axis it equals the composed form computed on the transposed input.
                let viaAxis0 = f(x.permuted([1, 0]), 0).permuted([1, 0])
                XCTAssertLessThan(maxDifference(f(x, -1), viaAxis0), 1e-12, name)
            }
            let s = softmax(Tensor(shape: [1, 3], scalars: [Float(1e4), 0, -.infinity])).scalars
            XCTAssertEqual(s, [1, 0, 0], "softmax of magnitudes 1e4 and -inf")
            // Magnitudes of 1e4 and rows of -inf stay finite or exact, as before.
            let big = Tensor(shape: [2, 3], scalars: [Float(1e4), 0, -1e4, -.infinity, -.infinity, -.infinity])
            let out = logSoftmax(big).scalars
            XCTAssertEqual(out[0], 0)
            XCTAssertEqual(out[1], -1e4)
            XCTAssertTrue(out[3...].allSatisfy { $0.isNaN })  // PyTorch: NaN for an all -inf row
        }
    }

    /// Attention's softmax(x · scale + bias) as one op: the composed form's values and gradients, bit for bit in
    /// float32; first and second derivatives against finite differences; the scaled and masked scores are not
    /// inputs of the recorded op (so they are freed before backward).
    func testScaledSoftmaxMatchesTheComposedForm() {
        onEveryBackend { _ in
            let causal = Tensor(shape: [5, 5], doubles: (0..<25).map { $0 % 5 > $0 / 5 ? -Double.infinity : 0 }, dtype: .float32)
            for bias in [nil, causal] as [Tensor?] {
                let x = Tensor.randn([2, 3, 5, 5]).requiringGrad()
                let g = Tensor.randn([2, 3, 5, 5])
                let fused = scaledSoftmax(x, scale: 0.35, bias: bias)
                XCTAssertTrue(fused.gradFn?.inputs.count == 1 && fused.gradFn?.inputs[0] === x)  // (backward frees the graph)
                fused.backward(g)
                let fusedGrad = x.grad!.scalars
                x.zeroGrad()
                let scaled = x * 0.35
                let composed = softmax(bias.map { scaled + $0 } ?? scaled, axis: -1)
                composed.backward(g)
                XCTAssertEqual(fused.scalars, composed.scalars)
                XCTAssertEqual(fusedGrad, x.grad!.scalars)
            }
            let x = r([2, 4, 3])
            let mask = Tensor(shape: [4, 3], doubles: (0..<12).map { $0 % 3 > $0 / 3 ? -1e300 : 0.5 }, dtype: .float64)
            XCTAssert(checkGradients({ scaledSoftmax($0[0], scale: 0.7, bias: mask) }, at: [x]).passed)
            XCTAssert(checkGradients({ scaledSoftmax($0[0], scale: 1.3, bias: nil) }, at: [x]).passed)
            // A bias that needs a gradient takes the composed form, and gets its gradient.
            XCTAssert(checkGradients({ scaledSoftmax($0[0], scale: 0.7, bias: $0[1]) }, at: [x, r([4, 3])]).passed)
            // Second derivatives: the gradient of the gradient (a recorded backward pass) against finite differences.
            let report = checkGradients({ xs in
                withGrad {
                    let leaf = xs[0].requiresGrad ? xs[0] : xs[0].requiringGrad()
                    let y = scaledSoftmax(leaf, scale: 0.7, bias: mask)
                    let weights = Tensor.uniform(y.shape, low: 0.5, high: 1.5, dtype: y.dtype, generator: Generator(seed: 3))
                    return gradients(of: y, withRespectTo: [leaf], gradOutputs: weights, createGraph: xs[0].requiresGrad)[0]
                }
            }, at: [x])
            XCTAssert(report.passed)
        }
    }

    func testActivationDerivativesUseTheOutput() {
        onEveryBackend { _ in
            let x = Tensor(shape: [6], scalars: [-2.0, -0.5, 0, 1e-3, 0.5, 3]).requiringGrad()
            for (name, f) in [("relu", relu), ("tanh", tanh), ("sigmoid", sigmoid)] as [(String, (Tensor) -> Tensor)] {
                XCTAssert(checkGradients({ f($0[0]) }, at: [r([3, 4])]).passed, name)
                x.zeroGrad()
                f(x).sum().backward()
                let y = f(x.detached()).doubleScalars
                let expected: [Double]
                switch name {
                case "relu": expected = x.doubleScalars.map { $0 > 0 ? 1 : 0 }  // 0 at 0, as PyTorch
                case "tanh": expected = y.map { 1 - $0 * $0 }
                default: expected = y.map { (1 - $0) * $0 }
                }
                XCTAssertEqual(x.grad!.doubleScalars, expected, name)
            }
        }
    }

    /// ReLU keeps NaN (a diverged network must stay visible), and its gradient passes there, as `torch.relu`; -0 becomes
    /// +0 (PyTorch keeps -0: equal values, and the order of ReLU and max pooling then never changes a bit).
    /// 600 elements reach the vector loops, in both float types, out of place and in place.
    func testReLUKeepsNaNAndZeroesNegativeZero() {
        onEveryBackend { _ in
            let pattern: [Double] = [.nan, -0.0, -1, 2, .infinity, -.infinity]
            let expected: [Double] = [.nan, 0, 0, 2, .infinity, 0]
            let bits = { (v: [Double]) in v.map(\.bitPattern) }
            for dtype in [DType.float32, .float64] {
                let x = Tensor(shape: [600], scalars: Array(repeating: pattern, count: 100).flatMap { $0 }).converted(to: dtype)
                let want = bits(Array(repeating: expected, count: 100).flatMap { $0 })
                XCTAssertEqual(bits(relu(x).converted(to: .float64).doubleScalars), want, "\(dtype)")
                let y = x.clone()
                y.reluInPlace()
                XCTAssertEqual(bits(y.converted(to: .float64).doubleScalars), want, "\(dtype) in place")
                let leaf = x.requiringGrad()
                relu(leaf).sum().backward()
                XCTAssertEqual(leaf.grad!.doubleScalars, Array(repeating: [1.0, 0, 0, 1, 1, 0], count: 100).flatMap { $0 }, "\(dtype)")
            }
        }
    }

    func testInPlaceUpdates() {
        onEveryBackend { _ in
            let p = Tensor(shape: [3], scalars: [Float(1), 2, 3])
            let shared = p.detached(), copy = p.clone()  // detach shares the buffer, as PyTorch; clone copies
            p.addInPlace(Tensor(shape: [3], scalars: [Float(10), 20, 30]), alpha: 0.5, scalingSelfBy: 2)
            XCTAssertEqual(p.scalars, [7, 14, 21])
            XCTAssertEqual(shared.scalars, [7, 14, 21], "a detached tensor sees the in-place change")
            XCTAssertEqual(copy.scalars, [1, 2, 3], "a clone keeps the old elements")
            p.addProductInPlace(p, Tensor(shape: [3], scalars: [Float(1), 0, -1]), alpha: 1)
            XCTAssertEqual(p.scalars, [14, 14, 0])
            let d = Tensor(shape: [2], scalars: [-1.5, 2.0])
            d.addInPlace(Tensor(shape: [2], scalars: [Float(1), 1]))  // float32 operand converted to float64
            XCTAssertEqual(d.doubleScalars, [-0.5, 3])
            d.reluInPlace()
            XCTAssertEqual(d.doubleScalars, [0, 3])
            let t = Tensor(shape: [2], scalars: [Float(0), 1])
            t.tanhInPlace()
            XCTAssertEqual(t.scalars, tanh(Tensor(shape: [2], scalars: [Float(0), 1])).scalars)
            t.sigmoidInPlace()
            XCTAssertEqual(t.scalars[0], 0.5)
            // A parameter may be updated in place only with recording off.
            let w = Tensor.ones([2]).requiringGrad()
            withNoGrad { w.addInPlace(Tensor.ones([2]), alpha: -0.5) }
            XCTAssertEqual(w.scalars, [0.5, 0.5])
            XCTAssertTrue(w.requiresGrad)
        }
    }

    /// A convolution's batch splits into chunks that do not depend on the thread count, a multiple of 4 of them where
    /// there are at least 4 and the batch divides (LeNet's 64 images: 16 chunks of 4, not 13 of 5), so that 2 and 4
    /// threads get equal shares; a batch of few chunks keeps its chunk size.
    func testConvolutionChunksComeInMultiplesOfFour() {
        func chunks(_ x: [Int], _ w: [Int], padding: Int = 0) -> (Int, Int) {
            let g = Conv2dGeometry(batch: x[0], channels: x[1], height: x[2], width: x[3], kernelH: w[2], kernelW: w[3],
                                   strideH: 1, strideW: 1, padH: padding, padW: padding, dilationH: 1, dilationW: 1)
            let per = convChunkImages(g, outChannels: w[0])
            return (per, (x[0] + per - 1) / per)
        }
        XCTAssertEqual(chunks([64, 1, 28, 28], [6, 1, 3, 3]).1, 16)  // LeNet's conv1: 13 chunks of 5 images before
        XCTAssertEqual(chunks([64, 6, 13, 13], [16, 6, 3, 3]).1, 16)  // and its conv2
        XCTAssertEqual(chunks([64, 32, 14, 14], [64, 32, 3, 3], padding: 1).1, 16)  // the packed path's 4 images already
        XCTAssertEqual(chunks([64, 32, 14, 14], [64, 32, 3, 3]).1, 16)  // 11 chunks of 6 before
        XCTAssertEqual(chunks([2, 1, 28, 28], [6, 1, 3, 3]).0, 2)  // one chunk
        XCTAssertEqual(chunks([50, 1, 28, 28], [6, 1, 3, 3]).0, 5)  // no multiple of 4 within half the size: unchanged
        for batch in [5, 13, 50, 100, 1000] {
            let (per, n) = chunks([batch, 1, 28, 28], [6, 1, 3, 3])
            XCTAssertGreaterThanOrEqual(per, 1)
            XCTAssertGreaterThanOrEqual(per * n, batch, "every image in a chunk, batch \(batch)")
        }
    }

    /// A batch that spans several chunks gives what the images give one at a time (each a single chunk),
    /// forward and backward, and is bitwise the same on 1 and 2 threads: for the small-product path (few
    /// channels) and the packed GEMM path (more channels, larger chunks).
    func testChunkedConvolutionMatchesPerImageAndThreadCounts() {
        onEveryBackend { _ in
            for (xShape, wShape) in [([23, 2, 12, 12], [5, 2, 3, 3]), ([11, 20, 16, 16], [40, 20, 3, 3])] {
                let x = r(xShape).requiringGrad(), w = r(wShape).requiringGrad(), b = r([wShape[0]]).requiringGrad()
                let geometry = makeGeometry("conv2d", x, kernel: (3, 3), stride: (1, 1), padding: (1, 1), dilation: (1, 1))
                let per = convChunkImages(geometry, outChannels: wShape[0])
                XCTAssertGreaterThan((xShape[0] + per - 1) / per, 1, "needs several chunks")
                let y = conv2d(x, weight: w, bias: b, padding: (1, 1))
                let seed = r(y.shape)
                y.backward(seed)
                var dw = Tensor.zeros(wShape, dtype: .float64), db = Tensor.zeros([wShape[0]], dtype: .float64)
                for n in 0..<xShape[0] {
                    let xn = x.detached()[n].unsqueezed(axis: 0).requiringGrad()
                    let wn = w.detached().requiringGrad(), bn = b.detached().requiringGrad()
                    let yn = conv2d(xn, weight: wn, bias: bn, padding: (1, 1))
                    XCTAssertLessThan(maxDifference(yn, y.detached()[n].unsqueezed(axis: 0)), 1e-12)
                    yn.backward(seed[n].unsqueezed(axis: 0))
                    XCTAssertLessThan(maxDifference(xn.grad!, x.grad![n].unsqueezed(axis: 0)), 1e-12)
                    dw = dw + wn.grad!
                    db = db + bn.grad!
                }
                XCTAssertLessThan(maxDifference(dw, w.grad!), 1e-10)
                XCTAssertLessThan(maxDifference(db, b.grad!), 1e-10)
            }

            let saved = Threading.threadCount
            defer { Threading.threadCount = saved }
            for (xShape, wShape, padding) in [([70, 6, 13, 13], [16, 6, 3, 3], 0), ([9, 24, 14, 14], [40, 24, 3, 3], 1)] {
                let x32 = r(xShape, dtype: .float32).requiringGrad(), w32 = r(wShape, dtype: .float32).requiringGrad()
                func run(_ threads: Int) -> [[Float]] {
                    Threading.threadCount = threads
                    x32.zeroGrad(); w32.zeroGrad()
                    let out = conv2d(x32, weight: w32, padding: (padding, padding))
                    out.backward(Tensor.ones(out.shape))
                    return [out.scalars, x32.grad!.scalars, w32.grad!.scalars]
                }
                XCTAssertEqual(run(1), run(2), "\(xShape) * \(wShape)")
            }
        }
    }

    /// float32 convolution gradients (the vector unfolding, its adjoint, the small-product and row-dot
    /// kernels) against the float64 path, for unpadded stride-1 layers of LeNet's kinds and a wide one
    /// (rows over 32 values, which take the scalar unfolding).
    func testFloat32ConvolutionGradientsMatchFloat64() {
        onEveryBackend { _ in
            for (shape, wshape) in [([5, 3, 12, 12], [4, 3, 3, 3]), ([7, 1, 28, 28], [6, 1, 3, 3]), ([3, 6, 13, 13], [16, 6, 3, 3]),
                                    ([2, 2, 9, 40], [3, 2, 3, 3])] {
                let x64 = r(shape), w64 = r(wshape), b64 = r([wshape[0]]), seed = r([shape[0], wshape[0], shape[2] - 2, shape[3] - 2])
                func grads(_ dtype: DType) -> [Tensor] {
                    let x = x64.converted(to: dtype).requiringGrad(), w = w64.converted(to: dtype).requiringGrad()
                    let b = b64.converted(to: dtype).requiringGrad()
                    let y = conv2d(x, weight: w, bias: b)
                    y.backward(seed.converted(to: dtype))
                    return [y, x.grad!, w.grad!, b.grad!]
                }
                for (a, b) in zip(grads(.float32), grads(.float64)) {
                    let scale = max(1, b.doubleScalars.map(Swift.abs).max()!)
                    XCTAssertLessThan(maxDifference(a, b) / scale, 1e-5, "conv \(shape) \(wshape)")
                }
            }
        }
    }

    /// An empty batch goes through the chunked convolution (no chunks) with empty results and gradients.
    func testConvolutionOfAnEmptyBatch() {
        onEveryBackend { _ in
            for dtype in [DType.float32, .float64] {
                let x = Tensor.zeros([0, 2, 5, 5], dtype: dtype).requiringGrad()
                let w = r([3, 2, 3, 3], dtype: dtype).requiringGrad(), b = r([3], dtype: dtype).requiringGrad()
                let y = conv2d(x, weight: w, bias: b)
                XCTAssertEqual(y.shape, [0, 3, 3, 3])
                y.sum().backward()
                XCTAssertEqual(x.grad!.shape, [0, 2, 5, 5])
                XCTAssertEqual(w.grad!.scalars, [Float](repeating: 0, count: 54))
                XCTAssertEqual(b.grad!.scalars, [0, 0, 0])
            }
        }
    }

    /// Max pooling's fast paths (2x2 stride 2; unpadded windows) against the general bounds-checked path.
    func testMaxPoolFastPathsMatchTheGeneralPath() {
        onEveryBackend { _ in
            let x = r([3, 2, 9, 8]).requiringGrad()
            for (k, s, d) in [(2, 2, 1), (3, 2, 1), (2, 1, 2), (3, 3, 1)] {
                let fast = maxPool2d(x, kernelSize: (k, k), stride: (s, s), dilation: (d, d))
                let geometry = makeGeometry("maxPool2d", x, kernel: (k, k), stride: (s, s), padding: (0, 0), dilation: (d, d))
                // The general path: the same input padded by one -inf border, read with padding 1.
                var expected: [Double] = []
                let v = x.doubleScalars
                for plane in 0..<6 {
                    for i in 0..<geometry.outH {
                        for j in 0..<geometry.outW {
                            var best = -Double.infinity
                            for p in 0..<k { for q in 0..<k { best = Swift.max(best, v[plane * 72 + (i * s + p * d) * 8 + j * s + q * d]) } }
                            expected.append(best)
                        }
                    }
                }
                XCTAssertEqual(fast.doubleScalars, expected, "k\(k) s\(s) d\(d)")
                XCTAssert(checkGradients({ maxPool2d($0[0], kernelSize: (k, k), stride: (s, s), dilation: (d, d)) }, at: [x.detached()]).passed)
            }
            // Rows wide enough for the vector loops, whole and with windows left over (17, 15, 14, 13, 11, 7 and 5
            // windows: every remainder of the 4-, 8- and 16-window steps but two), with ties and NaNs: the values and
            // the winners (the gradient lands on the first maximum, or the first NaN) of the definition.
            for w in [34, 30, 28, 26, 22, 14, 10] {
                var v = (0..<(2 * 3 * 26 * w)).map { _ in Double(Int.random(in: -3...3)) }
                v[5] = .nan; v[40] = .nan; v[41] = .nan; v[26 * w + 7] = .nan
                let wide = Tensor(shape: [2, 3, 26, w], scalars: v.map { Float($0) }).requiringGrad()
                let fastOut = maxPool2d(wide, 2)
                let up = (0..<fastOut.count).map { Float($0 % 97 + 1) }  // each window's own gradient
                fastOut.backward(Tensor(shape: fastOut.shape, scalars: up))
                var expected: [Float] = [], winners = [Float](repeating: 0, count: v.count)
                for plane in 0..<6 {
                    for i in 0..<13 {
                        for j in 0..<(w / 2) {
                            var best = Float.nan, at = -1
                            for (p, q) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                                let k = plane * 26 * w + (2 * i + p) * w + 2 * j + q
                                let val = Float(v[k])
                                if at < 0 || (!(val <= best) && !best.isNaN) { best = val; at = k }
                            }
                            winners[at] += up[expected.count]
                            expected.append(best)
                        }
                    }
                }
                XCTAssertEqual(fastOut.scalars.map { $0.isNaN ? 1e9 : $0 }, expected.map { $0.isNaN ? 1e9 : $0 })
                XCTAssertEqual(wide.grad!.scalars, winners)
            }
            // Odd sizes leave a last row and column that no window covers: their gradient is zero, and each winner
            // gets its window's gradient.
            let ov = (0..<(2 * 3 * 7 * 9)).map { _ in Float(Int.random(in: -3...3)) }
            let odd = Tensor(shape: [2, 3, 7, 9], scalars: ov).requiringGrad()
            let upstream = Tensor.randn([2, 3, 3, 4])
            maxPool2d(odd, 2).backward(upstream)
            var oddGrad = [Float](repeating: 0, count: ov.count)
            for plane in 0..<6 {
                for i in 0..<3 {
                    for j in 0..<4 {
                        var at = -1
                        for (p, q) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                            let k = plane * 63 + (2 * i + p) * 9 + 2 * j + q
                            if at < 0 || ov[k] > ov[at] { at = k }
                        }
                        oddGrad[at] = upstream.scalars[(plane * 3 + i) * 4 + j]
                    }
                }
            }
            XCTAssertEqual(odd.grad!.scalars, oddGrad)
            // Without recording no indices are kept, and the values are the same.
            let eval = withNoGrad { maxPool2d(x, 2) }
            XCTAssertEqual(eval.doubleScalars, maxPool2d(x, 2).doubleScalars)
        }
    }

    /// Max pooling then ReLU as one op (what `Sequential` runs for the two layers): the bits of `relu(maxPool2d(x))`,
    /// values and gradients, with ties, -0, NaN, all-negative windows, odd sizes, rows wide enough for the vector loops,
    /// enough planes for every thread, padded and overlapping windows, both float types, with and without recording.
    func testMaxPoolReLUGivesTheBitsOfTheTwoOps() {
        onEveryBackend { _ in
            let bits = { (t: Tensor) in t.converted(to: .float64).doubleScalars.map(\.bitPattern) }
            let windows: [((Int, Int), (Int, Int), (Int, Int))] = [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1))]
            for dtype in [DType.float32, .float64] {
                for shape in [[2, 3, 6, 6], [3, 5, 7, 9], [16, 6, 26, 34]] {
                    var values = (0..<shape.reduce(1, *)).map { _ in Double(Int.random(in: -3...3)) }
                    values[0] = -0.0; values[1] = -0.0; values[7] = .nan; values[shape[3] + 4] = -0.0; values[20] = .nan
                    let x = Tensor(shape: shape, scalars: values).converted(to: dtype)
                    for (k, s, p) in windows {
                        let label = "\(dtype) \(shape) k\(k.0) s\(s.0) p\(p.0)"
                        XCTAssertEqual(bits(withNoGrad { maxPool2dReLU(x, kernelSize: k, stride: s, padding: p) }),
                                       bits(relu(maxPool2d(x, kernelSize: k, stride: s, padding: p))), label)
                        let a = x.requiringGrad(), b = x.requiringGrad()
                        let ya = maxPool2dReLU(a, kernelSize: k, stride: s, padding: p)
                        let yb = relu(maxPool2d(b, kernelSize: k, stride: s, padding: p))
                        XCTAssertEqual(bits(ya), bits(yb), label)
                        let upstream = Tensor.randn(ya.shape, dtype: dtype)
                        ya.backward(upstream)
                        yb.backward(upstream)
                        XCTAssertEqual(bits(a.grad!), bits(b.grad!), "\(label), gradient")
                        // Recorded (createGraph): the gradient built from differentiable ops, the same values.
                        let c = x.requiringGrad()
                        let gc = gradients(of: maxPool2dReLU(c, kernelSize: k, stride: s, padding: p), withRespectTo: [c],
                                           gradOutputs: upstream, createGraph: true)[0]
                        XCTAssertEqual(bits(gc), bits(b.grad!), "\(label), recorded gradient")
                    }
                }
            }
        }
    }

    /// A linear layer's product then ReLU as one op (what `Sequential` runs for the two layers): the bits of
    /// `relu(matmul(x, transposed: w, bias: b))`, values and the three gradients, for the tiny, the plain packed and
    /// the swapped products (an MLP's layers: 64x784 by 256x784, 64x256 by 128x256, 64x128 by 10x128), a batch of
    /// matrices, -0 and NaN, both float types, with and without recording.
    func testMatmulReLUGivesTheBitsOfTheTwoOps() {
        onEveryBackend { _ in
            let bits = { (t: Tensor) in t.converted(to: .float64).doubleScalars.map(\.bitPattern) }
            for dtype in [DType.float32, .float64] {
                for (xShape, n) in [([3, 5], 4), ([64, 784], 256), ([64, 256], 128), ([64, 128], 10), ([2, 7, 33], 40)] {
                    let k = xShape.last!
                    var values = Tensor.randn(xShape, dtype: .float64).doubleScalars
                    values[0] = .nan
                    let x = Tensor(shape: xShape, scalars: values).converted(to: dtype)
                    let w = Tensor.randn([n, k], dtype: dtype), b = Tensor.randn([n], dtype: dtype)
                    // A weight row and a bias of -0: the column's outputs are ±0 (and NaN in the NaN row).
                    var wv = w.doubleScalars, bv = b.doubleScalars
                    for j in 0..<k { wv[k + j] = -0.0 }
                    bv[1] = -0.0
                    let wz = Tensor(shape: [n, k], scalars: wv).converted(to: dtype)
                    let bz = Tensor(shape: [n], scalars: bv).converted(to: dtype)
                    let label = "\(dtype) \(xShape) x [\(n), \(k)]"
                    XCTAssertEqual(bits(withNoGrad { matmulReLU(x, transposed: wz, bias: bz) }),
                                   bits(relu(matmul(x, transposed: wz, bias: bz))), label)
                    let (xa, wa, ba) = (x.requiringGrad(), w.requiringGrad(), b.requiringGrad())
                    let (xb, wb, bb) = (x.requiringGrad(), w.requiringGrad(), b.requiringGrad())
                    let ya = matmulReLU(xa, transposed: wa, bias: ba), yb = relu(matmul(xb, transposed: wb, bias: bb))
                    XCTAssertEqual(bits(ya), bits(yb), label)
                    let upstream = Tensor.randn(ya.shape, dtype: dtype)
                    ya.backward(upstream)
                    yb.backward(upstream)
                    XCTAssertEqual(bits(xa.grad!), bits(xb.grad!), "\(label), dx")
                    XCTAssertEqual(bits(wa.grad!), bits(wb.grad!), "\(label), dw")
                    XCTAssertEqual(bits(ba.grad!), bits(bb.grad!), "\(label), db")
                    // Recorded (createGraph): the gradients built from differentiable ops.
                    let (xc, wc, bc) = (x.requiringGrad(), w.requiringGrad(), b.requiringGrad())
                    let recorded = gradients(of: matmulReLU(xc, transposed: wc, bias: bc), withRespectTo: [xc, wc, bc],
                                             gradOutputs: upstream, createGraph: true)
                    let unfused = gradients(of: relu(matmul(xc, transposed: wc, bias: bc)), withRespectTo: [xc, wc, bc],
                                            gradOutputs: upstream, createGraph: true)
                    for (r, u) in zip(recorded, unfused) { XCTAssertEqual(bits(r), bits(u), "\(label), recorded") }
                }
            }
        }
    }
}
