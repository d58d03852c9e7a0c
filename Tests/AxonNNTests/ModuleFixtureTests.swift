import Axon
import AxonTestSupport
import Foundation
import XCTest

/// Layers and functions against PyTorch: every case of the shared modules.json, and of Fixtures/layers.json (made by
/// bench/layers_reference.py for what modules.json does not cover), on both backends, in float64 and float32.
final class ModuleFixtureTests: XCTestCase {
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
        case "Conv1d":
            guard let i = F.number(c, "inChannels"), let o = F.number(c, "outChannels"), let k = F.number(c, "kernelSize") else {
                throw FixtureError.malformed("Conv1d config")
            }
            layer = Conv1d(Int(i), Int(o), kernelSize: Int(k), stride: Int(F.number(c, "stride") ?? 1), padding: Int(F.number(c, "padding") ?? 0),
                           dilation: Int(F.number(c, "dilation") ?? 1), groups: Int(F.number(c, "groups") ?? 1), bias: F.flag(c, "bias", default: true))
        case "Conv2d":
            guard let i = F.number(c, "inChannels"), let o = F.number(c, "outChannels"), let k = F.number(c, "kernelSize") else {
                throw FixtureError.malformed("Conv2d config")
            }
            layer = Conv2d(Int(i), Int(o), kernelSize: Int(k), stride: Int(F.number(c, "stride") ?? 1), padding: Int(F.number(c, "padding") ?? 0),
                           dilation: Int(F.number(c, "dilation") ?? 1), groups: Int(F.number(c, "groups") ?? 1), bias: F.flag(c, "bias", default: true))
        case "ConvTranspose2d":
            guard let i = F.number(c, "inChannels"), let o = F.number(c, "outChannels"), let k = F.number(c, "kernelSize") else {
                throw FixtureError.malformed("ConvTranspose2d config")
            }
            layer = ConvTranspose2d(Int(i), Int(o), kernelSize: Int(k), stride: Int(F.number(c, "stride") ?? 1),
                                    padding: Int(F.number(c, "padding") ?? 0), outputPadding: Int(F.number(c, "outputPadding") ?? 0),
                                    dilation: Int(F.number(c, "dilation") ?? 1), bias: F.flag(c, "bias", default: true))
        case "AdaptiveAvgPool2d":
            guard let size = F.shape(c, "outputSize") else { throw FixtureError.malformed("AdaptiveAvgPool2d config") }
            layer = AdaptiveAvgPool2d((size[0], size.count > 1 ? size[1] : size[0]))
        case "MaxPool1d", "AvgPool1d":
            guard let k = F.number(c, "kernelSize") else { throw FixtureError.malformed("\(module) config") }
            let stride = F.number(c, "stride").map { Int($0) }, padding = Int(F.number(c, "padding") ?? 0)
            layer = module == "MaxPool1d" ? MaxPool1d(Int(k), stride: stride, padding: padding) : AvgPool1d(Int(k), stride: stride, padding: padding)
        case "Upsample":
            guard (c["mode"] as? String ?? "nearest") == "nearest" else { throw FixtureError.malformed("Upsample mode \(String(describing: c["mode"]))") }
            layer = Upsample(size: F.shape(c, "size"), scaleFactor: F.number(c, "scaleFactor"))
        case "RNN", "LSTM", "GRU":
            guard let i = F.number(c, "inputSize"), let h = F.number(c, "hiddenSize") else { throw FixtureError.malformed("\(module) config") }
            let layers = Int(F.number(c, "numLayers") ?? 1), bi = F.flag(c, "bidirectional", default: false)
            let bf = F.flag(c, "batchFirst", default: false), bias = F.flag(c, "bias", default: true)
            switch module {
            case "LSTM":
                let m = LSTM(Int(i), Int(h), numLayers: layers, bias: bias, bidirectional: bi, batchFirst: bf)
                return (m, { x in
                    let state = x["h0"].map { ($0, x["c0"]!) }
                    let (y, (hn, cn)) = m(x["input"]!, state)
                    return [y, hn, cn]
                })
            case "GRU":
                let m = GRU(Int(i), Int(h), numLayers: layers, bias: bias, bidirectional: bi, batchFirst: bf)
                return (m, { x in let (y, hn) = m(x["input"]!, x["h0"]); return [y, hn] })
            default:
                guard let nl = RNN.Nonlinearity(rawValue: c["nonlinearity"] as? String ?? "tanh") else { throw FixtureError.malformed("nonlinearity") }
                let m = RNN(Int(i), Int(h), numLayers: layers, nonlinearity: nl, bias: bias, bidirectional: bi, batchFirst: bf)
                return (m, { x in let (y, hn) = m(x["input"]!, x["h0"]); return [y, hn] })
            }
        case "LSTMCell":
            guard let i = F.number(c, "inputSize"), let h = F.number(c, "hiddenSize") else { throw FixtureError.malformed("LSTMCell config") }
            let m = LSTMCell(Int(i), Int(h), bias: F.flag(c, "bias", default: true))
            return (m, { x in let (hn, cn) = m(x["input"]!, x["h0"].map { ($0, x["c0"]!) }); return [hn, cn] })
        case "GRUCell":
            guard let i = F.number(c, "inputSize"), let h = F.number(c, "hiddenSize") else { throw FixtureError.malformed("GRUCell config") }
            let m = GRUCell(Int(i), Int(h), bias: F.flag(c, "bias", default: true))
            return (m, { x in [m(x["input"]!, x["h0"])] })
        case "BatchNorm2d":
            guard let n = F.number(c, "numFeatures") else { throw FixtureError.malformed("BatchNorm2d config") }
            layer = BatchNorm2d(Int(n), eps: F.number(c, "eps") ?? 1e-5, momentum: F.number(c, "momentum") ?? 0.1,
                                affine: F.flag(c, "affine", default: true))
        case "MultiheadAttention":
            guard let e = F.number(c, "embedDim"), let h = F.number(c, "numHeads") else { throw FixtureError.malformed("MultiheadAttention config") }
            let m = MultiheadAttention(Int(e), Int(h), dropout: F.number(c, "dropout") ?? 0, bias: F.flag(c, "bias", default: true),
                                       batchFirst: F.flag(c, "batchFirst", default: false))
            return (m, { x in
                let (y, w) = m(x["query"]!, x["key"]!, x["value"]!, attnMask: x["attnMask"], keyPaddingMask: x["keyPaddingMask"], needWeights: true)
                return [y, w!]
            })
        case "TransformerEncoderLayer", "TransformerDecoderLayer":
            guard let d = F.number(c, "dModel"), let h = F.number(c, "nhead"),
                  let activation = TransformerActivation(rawValue: c["activation"] as? String ?? "relu") else {
                throw FixtureError.malformed("\(module) config")
            }
            let ff = Int(F.number(c, "dimFeedforward") ?? 2048), p = F.number(c, "dropout") ?? 0.1
            let bf = F.flag(c, "batchFirst", default: false), nf = F.flag(c, "normFirst", default: false)
            if module == "TransformerEncoderLayer" {
                let m = TransformerEncoderLayer(dModel: Int(d), nhead: Int(h), dimFeedforward: ff, dropout: p, activation: activation,
                                                batchFirst: bf, normFirst: nf)
                return (m, { x in [m(x["src"]!, srcMask: x["srcMask"], srcKeyPaddingMask: x["srcKeyPaddingMask"])] })
            }
            let m = TransformerDecoderLayer(dModel: Int(d), nhead: Int(h), dimFeedforward: ff, dropout: p, activation: activation,
                                            batchFirst: bf, normFirst: nf)
            return (m, { x in
                [m(x["tgt"]!, x["memory"]!, tgtMask: x["tgtMask"], memoryMask: x["memoryMask"], tgtKeyPaddingMask: x["tgtKeyPaddingMask"],
                   memoryKeyPaddingMask: x["memoryKeyPaddingMask"])]
            })
        default:
            return try function(module, c)
        }
        return (layer, { [layer($0["input"]!)] })
    }

    /// The functional cases: no state, so any module stands in.
    static func function(_ name: String, _ c: [String: Any]) throws -> ModuleFixtures.Built {
        typealias F = ModuleFixtures
        func reduction() throws -> Reduction {
            let raw = c["reduction"] as? String ?? "mean"
            guard let r = raw == "batchmean" ? Reduction.batchMean : Reduction(rawValue: raw) else { throw FixtureError.malformed("reduction \(raw)") }
            return r
        }
        let call: ([String: Tensor]) -> Tensor
        switch name {
        case "kl_div":
            let r = try reduction(), logTarget = F.flag(c, "logTarget", default: false)
            call = { klDiv($0["input"]!, $0["target"]!, reduction: r, logTarget: logTarget) }
        case "smooth_l1_loss":
            let r = try reduction(), beta = F.number(c, "beta") ?? 1
            call = { smoothL1Loss($0["input"]!, $0["target"]!, reduction: r, beta: beta) }
        case "cosine_similarity":
            let dim = Int(F.number(c, "dim") ?? 1), eps = F.number(c, "eps") ?? 1e-8
            call = { cosineSimilarity($0["x1"]!, $0["x2"]!, dim: dim, eps: eps) }
        case "pad":
            guard (c["mode"] as? String ?? "constant") == "constant", let amounts = F.shape(c, "pad") else {
                throw FixtureError.malformed("pad config \(c)")
            }
            let value = F.number(c, "value") ?? 0
            call = { pad($0["input"]!, amounts, value: value) }
        case "cross_entropy":
            let r = try reduction(), ignore = Int(F.number(c, "ignoreIndex") ?? -100), smoothing = F.number(c, "labelSmoothing") ?? 0
            call = { crossEntropy($0["input"]!, $0["target"]!, ignoreIndex: ignore, labelSmoothing: smoothing, reduction: r) }
        case "scaled_dot_product_attention":
            let causal = F.flag(c, "isCausal", default: false), p = F.number(c, "dropoutP") ?? 0, scale = F.number(c, "scale")
            call = { scaledDotProductAttention($0["query"]!, $0["key"]!, $0["value"]!, attnMask: $0["attnMask"], dropoutP: p, isCausal: causal,
                                               scale: scale) }
        default:
            throw FixtureError.malformed("no layer or function for '\(name)'")
        }
        return (Identity(), { [call($0)] })
    }

    /// Every case of the shared modules.json (recurrent nets, attention, Transformer layers, normalisation,
    /// convolutions and the newer functions).
    func testEveryModuleCaseMatchesPyTorch() throws {
        try checkEveryCase(Fixtures.json("modules.json"), "modules.json")
    }

    /// Every case of Fixtures/layers.json (what modules.json does not cover).
    func testEveryLayerCaseMatchesPyTorch() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/layers.json")
        try checkEveryCase(JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any] ?? [:], file.path)
    }

    /// Runs every case of a file on both backends, in float64 and float32.
    func checkEveryCase(_ object: [String: Any], _ name: String) throws {
        guard let cases = object["cases"] as? [[String: Any]], !cases.isEmpty else { throw FixtureError.malformed("\(name) has no cases") }
        try onEveryBackend { _ in
            for dtype in [DType.float64, .float32] {
                let failures = try ModuleFixtures.run(cases, dtype: dtype, build: Self.build)
                XCTAssert(failures.isEmpty, failures.joined(separator: "\n"))
            }
        }
        print("checked \(cases.count) cases of \(name) on both backends in float64 and float32")
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

    /// Layer norm's rows are shared among the threads: forward and backward give the same bits on 1, 2 and 3
    /// threads, in float32 and float64, with and without the affine map (300 rows of 64: several tasks).
    func testLayerNormIsBitwiseIndependentOfThreadCount() {
        let saved = Threading.threadCount
        defer { Threading.threadCount = saved }
        let g = Generator(seed: 11)
        for dtype in [DType.float32, .float64] {
            let x = Tensor.randn([3, 100, 64], dtype: dtype, generator: g), w = Tensor.randn([64], dtype: dtype, generator: g)
            let b = Tensor.randn([64], dtype: dtype, generator: g), upstream = Tensor.randn([3, 100, 64], dtype: dtype, generator: g)
            for affine in [false, true] {
                func run() -> [[Double]] {
                    let xi = x.detached().requiringGrad(), wi = w.detached().requiringGrad(), bi = b.detached().requiringGrad()
                    let y = affine ? layerNorm(xi, normalizedShape: [64], weight: wi, bias: bi) : layerNorm(xi, normalizedShape: [64])
                    (y * upstream).sum().backward()
                    return [y, xi.grad!].map(\.doubleScalars)
                        + (affine ? [wi.grad!, bi.grad!].map(\.doubleScalars) : [])
                }
                Threading.threadCount = 1
                let one = run()
                for threads in [2, 3] {
                    Threading.threadCount = threads
                    XCTAssertEqual(run(), one, "\(dtype), affine \(affine), \(threads) threads")
                }
            }
        }
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
                ("conv1d", [x, Tensor.randn([2, 3, 2], dtype: .float64, generator: g)], { conv1d($0[0], weight: $0[1], stride: 2, padding: 1) }),
                ("conv2d groups", [Tensor.randn([1, 4, 4, 4], dtype: .float64, generator: g), Tensor.randn([6, 2, 3, 3], dtype: .float64, generator: g)],
                 { conv2d($0[0], weight: $0[1], stride: 1, padding: 1, groups: 2) }),
                ("convTranspose2d", [Tensor.randn([1, 2, 3, 3], dtype: .float64, generator: g), Tensor.randn([2, 3, 3, 3], dtype: .float64, generator: g)],
                 { convTranspose2d($0[0], weight: $0[1], stride: (2, 2), padding: (1, 1), outputPadding: (1, 1)) }),
                ("adaptiveAvgPool2d", [Tensor.randn([1, 2, 5, 7], dtype: .float64, generator: g)], { adaptiveAvgPool2d($0[0], outputSize: (2, 3)) }),
                ("upsampleNearest", [x], { upsampleNearest($0[0], size: [5]) }),
                ("pad", [x], { pad($0[0], [1, -1, 2, 0], value: 0.5) }),
                ("cosineSimilarity", [x, x.detached() * 0.5 + 1], { cosineSimilarity($0[0], $0[1], dim: 2) }),
                ("smoothL1Loss", [x, w], { smoothL1Loss($0[0], $0[1].reshaped([1, 1, 4]).broadcasted(to: [2, 3, 4]), beta: 0.7) }),
                ("klDiv", [logSoftmax(x, axis: -1).detached(), softmax(x.detached() * 2, axis: -1)],
                 { klDiv($0[0], $0[1], reduction: .batchMean) }),
            ]
            for (name, inputs, f) in checks {
                let report = checkGradients(f, at: inputs)
                XCTAssert(report.passed, "\(name) [\(backend.name)]: \(report)")
            }
        }
    }
}
