import Axon
import AxonTestSupport
import Foundation
import XCTest

/// Embedding, LayerNorm, RMSNorm and GroupNorm against PyTorch: every case of Fixtures/layers.json
/// (made by bench/layers_reference.py), on both backends, in float64 and float32.
final class LayerFixtureTests: XCTestCase {
    static func build(_ module: String, _ c: [String: Any]) throws -> ModuleFixtures.Built {
        typealias F = ModuleFixtures
        let layer: Module & Layer
        switch module {
        case "Embedding":
            guard let n = F.number(c, "numEmbeddings"), let d = F.number(c, "embeddingDim") else { throw FixtureError.malformed("Embedding config") }
            layer = Embedding(Int(n), Int(d), paddingIdx: F.number(c, "paddingIdx").map { Int($0) })
        case "LayerNorm":
            guard let shape = F.shape(c, "normalizedShape") else { throw FixtureError.malformed("LayerNorm config") }
            layer = LayerNorm(shape, eps: F.number(c, "eps") ?? 1e-5, elementwiseAffine: F.flag(c, "elementwiseAffine", default: true),
                              bias: F.flag(c, "bias", default: true))
        case "RMSNorm":
            guard let shape = F.shape(c, "normalizedShape") else { throw FixtureError.malformed("RMSNorm config") }
            layer = RMSNorm(shape, eps: F.number(c, "eps"), elementwiseAffine: F.flag(c, "elementwiseAffine", default: true))
        case "GroupNorm":
            guard let g = F.number(c, "numGroups"), let ch = F.number(c, "numChannels") else { throw FixtureError.malformed("GroupNorm config") }
            layer = GroupNorm(Int(g), Int(ch), eps: F.number(c, "eps") ?? 1e-5, affine: F.flag(c, "affine", default: true))
        default:
            throw FixtureError.malformed("no layer for '\(module)'")
        }
        return (layer, { [layer($0[0])] })
    }

    func testEveryLayerCaseMatchesPyTorch() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/layers.json")
        guard let object = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any],
              let cases = object["cases"] as? [[String: Any]], !cases.isEmpty else {
            throw FixtureError.malformed("\(file.path) has no cases")
        }
        try onEveryBackend { _ in
            for dtype in [DType.float64, .float32] {
                let failures = try ModuleFixtures.run(cases, dtype: dtype, build: Self.build)
                XCTAssert(failures.isEmpty, failures.joined(separator: "\n"))
            }
        }
        print("checked \(cases.count) layer cases on both backends in float64 and float32")
    }

    /// The padding row starts at zero and never receives a gradient; a frozen pretrained table none at all.
    func testEmbeddingPaddingAndPretrained() {
        let e = Embedding(5, 3, paddingIdx: -1)
        XCTAssertEqual(e.paddingIdx, 4)
        XCTAssertEqual(e.weight.sliced(axis: 0, 4..<5).scalars, [0, 0, 0])
        let ids = Tensor(shape: [2, 2], scalars: [4, 1, 1, 4] as [Int])
        let out = e(ids)
        XCTAssertEqual(out.shape, [2, 2, 3])
        out.sum().backward()
        XCTAssertEqual(e.weight.grad!.sliced(axis: 0, 4..<5).scalars, [0, 0, 0])
        XCTAssertEqual(e.weight.grad!.sliced(axis: 0, 1..<2).scalars, [2, 2, 2])
        XCTAssertEqual(e.stateDictKeys(), ["weight"])

        let table = Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6] as [Float])
        let frozen = Embedding.fromPretrained(table)
        XCTAssertFalse(frozen.weight.sharesStorage(with: table))
        XCTAssertEqual(frozen(Tensor(shape: [1], scalars: [2] as [Int])).scalars, [5, 6])
        XCTAssertFalse(frozen.weight.requiresGrad)
        XCTAssertTrue(Embedding.fromPretrained(table, freeze: false).weight.requiresGrad)
    }

    /// Gradient checks (float64 finite differences) through each normalisation and the embedding, on both backends.
    func testGradientChecks() {
        onEveryBackend { backend in
            let g = Generator(seed: 5)
            let x = Tensor.randn([2, 3, 4], dtype: .float64, generator: g), w = Tensor.randn([4], dtype: .float64, generator: g)
            let b = Tensor.randn([4], dtype: .float64, generator: g), c = Tensor.randn([3], dtype: .float64, generator: g)
            let table = Tensor.randn([5, 3], dtype: .float64, generator: g)
            let ids = Tensor(shape: [2, 3], scalars: [0, 4, 2, 2, 1, 0] as [Int])
            let checks: [(String, [Tensor], ([Tensor]) -> Tensor)] = [
                ("layerNorm", [x, w, b], { layerNorm($0[0], normalizedShape: [4], weight: $0[1], bias: $0[2]) }),
                ("layerNorm two axes", [x], { layerNorm($0[0], normalizedShape: [3, 4]) }),
                ("rmsNorm", [x, w], { rmsNorm($0[0], normalizedShape: [4], weight: $0[1], eps: 1e-6) }),
                ("groupNorm", [x, c, c], { groupNorm($0[0], numGroups: 1, weight: $0[1], bias: $0[2]) }),
                // Without padding: a padding row's zero gradient is PyTorch's rule, not the derivative (tested above).
                ("embedding", [ids, table], { embedding($0[0], $0[1]) }),
            ]
            for (name, inputs, f) in checks {
                let report = checkGradients(f, at: inputs)
                XCTAssert(report.passed, "\(name) [\(backend.name)]: \(report)")
            }
        }
    }
}
