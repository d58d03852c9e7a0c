import AxonTestSupport
import XCTest
@testable import AxonCore

/// Finite differences in float64 against autodiff for every differentiable op, including broadcasting
/// and reductions over several axes.
final class GradientCheckTests: XCTestCase, DrawsCheckInputs {
    let inputs = CheckInputs(seed: 42)

    func check(_ name: String, _ inputs: [Tensor], file: StaticString = #filePath, line: UInt = #line,
               _ f: @escaping ([Tensor]) -> Tensor) {
        let report = checkGradients(f, at: inputs)
        XCTAssert(report.passed, "\(name) [\(Backends.current.name)]: \(report)", file: file, line: line)
    }

    func testArithmeticWithBroadcasting() {
        onEveryBackend { _ in
            for (sa, sb) in [([3, 4], [3, 4]), ([2, 3, 4], [4]), ([3, 1], [1, 4]), ([2, 1, 4], [3, 1]), ([3, 4], [])] {
                check("add \(sa) \(sb)", [r(sa), r(sb)]) { $0[0] + $0[1] }
                check("sub \(sa) \(sb)", [r(sa), r(sb)]) { $0[0] - $0[1] }
                check("mul \(sa) \(sb)", [r(sa), r(sb)]) { $0[0] * $0[1] }
                check("div \(sa) \(sb)", [r(sa), r(sb, low: 0.5, high: 2)]) { $0[0] / $0[1] }
            }
            check("scalar ops", [r([3, 2])]) { 3 - (2 * $0[0] + 1) / 4 + 1 / ($0[0] * $0[0] + 1) }
            check("neg", [r([4])]) { -$0[0] }
            check("pow scalar", [r([3, 4])]) { pow($0[0], 3) }
            check("pow tensor", [r([3, 4], low: 0.5, high: 2), r([4])]) { pow($0[0], $0[1]) }
            // Through float32 the difference quotient needs a wider step: rounding is ~1e-7 per value.
            let viaFloat32 = checkGradients({ $0[0].converted(to: .float32).converted(to: .float64) * 2 }, at: [r([3])],
                                            epsilon: 1e-2, relativeTolerance: 1e-4)
            XCTAssert(viaFloat32.passed, "conversion: \(viaFloat32)")
        }
    }

    func testUnaryFunctions() {
        onEveryBackend { _ in
            let x = r([3, 4])
            check("exp", [x]) { exp($0[0]) }
            check("log", [r([3, 4], low: 0.2, high: 3)]) { log($0[0]) }
            check("log1p", [r([3, 4], low: -0.5, high: 3)]) { log1p($0[0]) }
            check("sqrt", [r([3, 4], low: 0.2, high: 3)]) { sqrt($0[0]) }
            check("abs", [away([3, 4])]) { abs($0[0]) }
            check("sin", [x]) { sin($0[0]) }
            check("cos", [x]) { cos($0[0]) }
            check("tanh", [x]) { tanh($0[0]) }
            check("sigmoid", [x]) { sigmoid($0[0]) }
            check("relu", [away([3, 4])]) { relu($0[0]) }
            check("leakyRelu", [away([3, 4])]) { leakyRelu($0[0], negativeSlope: 0.1) }
            check("erf", [x]) { erf($0[0]) }
            check("gelu", [x]) { gelu($0[0]) }
            check("gelu tanh", [x]) { gelu($0[0], approximate: true) }
            check("softplus", [r([3, 4], low: -30, high: 30)]) { softplus($0[0]) }
            check("clamp", [away([3, 4])]) { clamp($0[0], min: -1, max: 1.05) }
            check("maximum", [away([3, 4]), away([4])]) { maximum($0[0], $0[1] * 0.9) }
            check("minimum", [away([3, 4]), away([3, 1])]) { minimum($0[0], $0[1] * 0.9) }
            check("where", [r([3, 4]), r([4])]) { `where`($0[0] .> 0, $0[0], $0[1]) }
        }
    }

    func testReductions() {
        onEveryBackend { _ in
            let x = r([2, 3, 4])
            for axes: [Int]? in [nil, [0], [1], [2], [-1], [0, 2], [0, 1], [1, 2], [0, 1, 2]] {
                for keep in [false, true] {
                    check("sum \(String(describing: axes)) \(keep)", [x]) { $0[0].sum(axes: axes, keepDims: keep) }
                    check("mean \(String(describing: axes)) \(keep)", [x]) { $0[0].mean(axes: axes, keepDims: keep) }
                    check("logsumexp \(String(describing: axes))", [x]) { $0[0].logSumExp(axes: axes, keepDims: keep) }
                    check("variance \(String(describing: axes))", [x]) { $0[0].variance(axes: axes, keepDims: keep) }
                }
            }
            let distinct = away([2, 3, 4])
            for axes: [Int]? in [nil, [0], [2], [0, 2]] {
                check("max \(String(describing: axes))", [distinct]) { $0[0].max(axes: axes) }
                check("min \(String(describing: axes))", [distinct]) { $0[0].min(axes: axes, keepDims: true) }
            }
            for axis in [0, 1, -1] {
                check("softmax \(axis)", [x]) { softmax($0[0], axis: axis) }
                check("logSoftmax \(axis)", [x]) { logSoftmax($0[0], axis: axis) }
            }
        }
    }

    func testShapeOps() {
        onEveryBackend { _ in
            let x = r([2, 3, 4])
            check("reshape", [x]) { $0[0].reshaped([4, -1]) }
            check("flatten", [x]) { $0[0].flattened(from: 1) }
            check("permute", [x]) { $0[0].permuted([2, 0, 1]) }
            check("transpose", [x]) { $0[0].transposed(0, 2) }
            check("unsqueeze/squeeze", [x]) { $0[0].unsqueezed(axis: 1).squeezed() * 2 }
            check("broadcast", [r([3, 1])]) { $0[0].broadcasted(to: [2, 3, 5]) }
            check("slice", [x]) { $0[0].sliced(axis: 2, 1..<3) }
            check("subscripts", [x]) { $0[0][1..<2, 0..<2] + $0[0][0][0] }
            check("concat", [x, r([2, 2, 4])]) { concat([$0[0], $0[1]], axis: 1) }
            check("stack", [r([3]), r([3])]) { stack([$0[0], $0[1]], axis: 1) }
            check("split", [x]) { xs in let p = xs[0].split(sizes: [1, 3], axis: 2); return p[0] * 2 + p[1].sum(axis: 2, keepDims: true) }
            check("chunk", [x]) { xs in let p = xs[0].chunked(2, axis: 0); return p[0] * p[1] }
            let idx = Tensor(shape: [4], scalars: [2, 0, 2, 1])
            check("indexSelect", [x]) { $0[0].indexSelected(axis: 1, indices: idx) }
            let gidx = Tensor(shape: [2, 2, 4], scalars: [0, 2, 1, 1, 2, 2, 0, 1, 1, 0, 0, 2, 2, 1, 1, 0])
            check("gather", [x]) { $0[0].gathered(axis: 1, indices: gidx) }
        }
    }

    func testMatmulCases() {
        onEveryBackend { _ in
            check("2-D", [r([3, 5]), r([5, 4])]) { matmul($0[0], $0[1]) }
            check("batched", [r([2, 3, 5]), r([2, 5, 4])]) { matmul($0[0], $0[1]) }
            check("broadcast batch", [r([2, 1, 3, 5]), r([3, 5, 2])]) { matmul($0[0], $0[1]) }
            check("batched x 2-D", [r([2, 3, 5]), r([5, 4])]) { matmul($0[0], $0[1]) }
            check("matrix x vector", [r([3, 5]), r([5])]) { matmul($0[0], $0[1]) }
            check("vector x matrix", [r([5]), r([5, 4])]) { matmul($0[0], $0[1]) }
            check("vector x batched", [r([5]), r([2, 5, 4])]) { matmul($0[0], $0[1]) }
            check("dot", [r([5]), r([5])]) { matmul($0[0], $0[1]) }
            check("transposed operand", [r([2, 3, 5]), r([4, 5])]) { matmul($0[0], transposed: $0[1]) }
            check("transposed operand, vector", [r([5]), r([4, 5])]) { matmul($0[0], transposed: $0[1]) }
            // Small products and a bias of ±1 keep the ReLU's inputs away from its kink.
            check("transposed operand, bias, ReLU", [r([2, 3, 5], low: -0.2, high: 0.2), r([4, 5], low: -0.2, high: 0.2),
                                                     Tensor(shape: [4], scalars: [1.0, -1, 1.2, -0.9])]) {
                matmulReLU($0[0], transposed: $0[1], bias: $0[2])
            }
        }
    }

    func testConvolutionAndPooling() {
        onEveryBackend { _ in
            for (s, p, d) in [(1, 0, 1), (2, 1, 1), (1, 2, 1), (1, 1, 2), (3, 0, 1)] {
                check("conv2d s\(s) p\(p) d\(d)", [r([2, 2, 7, 6]), r([3, 2, 3, 2]), r([3])]) {
                    conv2d($0[0], weight: $0[1], bias: $0[2], stride: s, padding: p, dilation: d)
                }
            }
            check("conv2d no bias, rectangular", [r([1, 3, 5, 8]), r([2, 3, 2, 3])]) {
                conv2d($0[0], weight: $0[1], stride: (1, 2), padding: (1, 0))
            }
            let distinct = away([2, 2, 6, 7])
            check("maxPool2d k2", [distinct]) { maxPool2d($0[0], 2) }
            check("maxPool2d k3 s1 p1", [distinct]) { maxPool2d($0[0], 3, stride: 1, padding: 1) }
            check("maxPool2d k3 s2", [distinct]) { maxPool2d($0[0], 3, stride: 2) }
            check("maxPool2dReLU k2", [distinct]) { maxPool2dReLU($0[0], kernelSize: (2, 2)) }
            check("maxPool2dReLU k3 s2 p1", [distinct]) { maxPool2dReLU($0[0], kernelSize: (3, 3), stride: (2, 2), padding: (1, 1)) }
            check("avgPool2d k2", [r([2, 2, 6, 7])]) { avgPool2d($0[0], 2) }
            check("avgPool2d k3 s2 p1", [r([2, 2, 6, 7])]) { avgPool2d($0[0], 3, stride: 2, padding: 1) }
        }
    }

    func testCheckerCatchesAWrongGradient() {
        onEveryBackend { _ in
            // x * detached(x) has autodiff gradient x but true derivative 2x: the checker must fail it.
            let report = checkGradients({ $0[0] * $0[0].detached() }, at: [away([4])])
            XCTAssertFalse(report.passed)
            XCTAssertNotNil(report.firstFailure)
        }
    }
}
