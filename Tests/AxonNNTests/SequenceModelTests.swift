import Axon
import AxonCore
import AxonTestSupport
import Foundation
import XCTest
@testable import AxonNN

/// Recurrent nets and attention beyond the fixture cases: the Swift spellings, sequences of different
/// lengths, stacks, positional encodings and gradient checks.
final class SequenceModelTests: XCTestCase {
    /// The examples of "Sequence models and attention", compiled as written.
    func testPyTorchSpellingsCompileAsWritten() {
        let embedding = Embedding(40, 16, paddingIdx: 0)
        let lstm = LSTM(16, 32, numLayers: 2, bidirectional: false, batchFirst: true, dropout: 0)
        let x = embedding(Tensor(shape: [3, 7], scalars: (0..<21).map { $0 % 40 }))
        let (y, (h, c)) = lstm(x)
        XCTAssertEqual(y.shape, [3, 7, 32])
        XCTAssertEqual(h.shape, [2, 3, 32])
        XCTAssertEqual(c.shape, [2, 3, 32])
        let (y2, _) = lstm(x, (h, c))
        XCTAssertEqual(y2.shape, [3, 7, 32])

        let mha = MultiheadAttention(64, 4, batchFirst: true)
        let q = Tensor.randn([2, 5, 64]), k = Tensor.randn([2, 6, 64]), v = Tensor.randn([2, 6, 64])
        let m = Tensor(shape: [5, 6], scalars: (0..<30).map { $0 % 6 > $0 / 6 + 1 })  // true: not attended
        let p = Tensor(shape: [2, 6], scalars: [false, false, false, false, false, true, false, false, false, false, false, false])
        let (out, weights): (Tensor, Tensor?) = mha(q, k, v, attnMask: m, keyPaddingMask: p, needWeights: true)
        XCTAssertEqual(out.shape, [2, 5, 64])
        XCTAssertEqual(weights?.shape, [2, 5, 6])
        // Masked positions get no weight; every row sums to 1.
        let w = weights!.scalars
        XCTAssertEqual(w[5], 0)  // batch 0, row 0, key 5 is padding
        for row in 0..<10 { XCTAssertEqual(w[row * 6..<(row + 1) * 6].reduce(0, +), 1, accuracy: 1e-5) }

        let layer = TransformerEncoderLayer(dModel: 64, nhead: 4, dimFeedforward: 256, dropout: 0.1, activation: .gelu,
                                            batchFirst: true, normFirst: true)
        XCTAssertEqual(layer(q).shape, [2, 5, 64])
        let names = layer.stateDictKeys()
        for name in ["self_attn.in_proj_weight", "self_attn.out_proj.weight", "linear1.weight", "linear2.bias", "norm1.weight", "norm2.bias"] {
            XCTAssertTrue(names.contains(name), "\(name) in \(names)")
        }
        XCTAssertTrue(LSTM(4, 3, numLayers: 2, bidirectional: true).stateDictKeys().contains("weight_ih_l1_reverse"))
    }

    /// With `lengths`, a sequence's output past its end is zero and h_n is its state at its last step, as if
    /// the shorter sequence had been run alone (PyTorch's packed sequences), in both directions.
    func testLengthsGiveTheResultsOfTheShortSequencesAlone() {
        for bidirectional in [false, true] {
            let gru = GRU(3, 4, bidirectional: bidirectional, batchFirst: true)
            let x = Tensor.randn([2, 5, 3])
            let (y, h) = gru(x, lengths: Tensor(shape: [2], scalars: [5, 3]))
            let short = x.sliced(axis: 0, 1..<2).sliced(axis: 1, 0..<3)
            let (yAlone, hAlone) = gru(short)
            let d = bidirectional ? 2 : 1
            XCTAssertEqual(y.sliced(axis: 0, 1..<2).sliced(axis: 1, 0..<3).scalars, yAlone.scalars, "bidirectional \(bidirectional)")
            XCTAssertTrue(y.sliced(axis: 0, 1..<2).sliced(axis: 1, 3..<5).scalars.allSatisfy { $0 == 0 })
            XCTAssertEqual(h.sliced(axis: 1, 1..<2).scalars, hAlone.scalars)
            XCTAssertEqual(h.shape, [d, 2, 4])
            // The full-length sequence is unaffected by the other's length.
            let (yLong, _) = gru(x.sliced(axis: 0, 0..<1))
            XCTAssertEqual(y.sliced(axis: 0, 0..<1).scalars, yLong.scalars)
        }
    }

    func testStacksCopyTheirLayerAndEncodingsAddPositions() throws {
        let layer = TransformerEncoderLayer(dModel: 8, nhead: 2, dimFeedforward: 16, dropout: 0, batchFirst: true)
        let encoder = TransformerEncoder(layer, numLayers: 3, norm: LayerNorm(8))
        XCTAssertEqual(encoder.layers.count, 3)
        XCTAssertEqual(encoder.layers[2].linear1.weight.scalars, layer.linear1.weight.scalars, "copies start with the layer's weights")
        XCTAssertFalse(encoder.layers[2].linear1.weight.sharesStorage(with: layer.linear1.weight))
        XCTAssertTrue(encoder.stateDictKeys().contains("layers.2.self_attn.in_proj_weight"))
        XCTAssertTrue(encoder.stateDictKeys().contains("norm.weight"))
        let x = Tensor.randn([2, 5, 8])
        XCTAssertEqual(encoder(x, isCausal: true).shape, [2, 5, 8])
        let decoder = TransformerDecoder(TransformerDecoderLayer(dModel: 8, nhead: 2, dimFeedforward: 16, dropout: 0, batchFirst: true), numLayers: 2)
        XCTAssertEqual(decoder(x, Tensor.randn([2, 7, 8]), tgtIsCausal: true).shape, [2, 5, 8])

        let sinusoid = SinusoidalPositionalEncoding(dModel: 4, maxLen: 10)
        let encoded = sinusoid(Tensor.zeros([1, 3, 4])).scalars
        XCTAssertEqual(encoded[4], Float(Foundation.sin(1.0)), accuracy: 1e-6)  // position 1, dimension 0
        XCTAssertEqual(encoded[5], Float(Foundation.cos(1.0)), accuracy: 1e-6)
        XCTAssertEqual(encoded[6], Float(Foundation.sin(1.0 / 100)), accuracy: 1e-6)  // dimension 2: 10000^(2/4)
        XCTAssertEqual(sinusoid.stateDictKeys(), ["pe"])
        XCTAssertEqual(LearnedPositionalEmbedding(maxLen: 10, dModel: 4)(Tensor.zeros([2, 3, 4])).shape, [2, 3, 4])
    }

    /// A causal scaled dot-product attention never looks ahead: changing a later position leaves earlier outputs alone.
    func testCausalAttentionIgnoresTheFuture() {
        let q = Tensor.randn([1, 4, 3]), k = Tensor.randn([1, 4, 3]), v = Tensor.randn([1, 4, 3])
        let a = scaledDotProductAttention(q, k, v, isCausal: true)
        let v2 = v.clone()
        withNoGrad { v2.sliced(axis: 1, 3..<4).fillInPlace(100) }
        let b = scaledDotProductAttention(q, k, v2, isCausal: true)
        XCTAssertEqual(a.sliced(axis: 1, 0..<3).scalars, b.sliced(axis: 1, 0..<3).scalars)
        XCTAssertNotEqual(a.sliced(axis: 1, 3..<4).scalars, b.sliced(axis: 1, 3..<4).scalars)
    }

    /// Gradient checks (float64 finite differences) through a recurrent net of each kind and multi-head attention.
    func testGradientChecks() {
        onEveryBackend { backend in
            let g = Generator(seed: 11)
            let x = Tensor.randn([2, 3, 3], dtype: .float64, generator: g)
            let nets: [(String, (Tensor) -> Tensor)] = [
                ("RNN", { let m = RNN(3, 2, bidirectional: true, batchFirst: true, generator: Generator(seed: 1)); return m($0).0 }),
                ("LSTM", { let m = LSTM(3, 2, numLayers: 2, batchFirst: true, generator: Generator(seed: 1)); return m($0).0 }),
                ("LSTM, both directions and lengths", {
                    let m = LSTM(3, 2, numLayers: 2, bidirectional: true, batchFirst: true, generator: Generator(seed: 1))
                    let (y, (h, c)) = m($0, lengths: Tensor(shape: [2], scalars: [3, 2]))
                    return concat([y.reshaped([24]), h.reshaped([16]), c.reshaped([16])], axis: 0)
                }),
                ("GRU", { let m = GRU(3, 2, batchFirst: true, generator: Generator(seed: 1)); return m($0, lengths: Tensor(shape: [2], scalars: [3, 2])).0 }),
                ("MultiheadAttention", { let m = MultiheadAttention(3, 1, batchFirst: true, generator: Generator(seed: 1)); return m($0, $0, $0).0 }),
            ]
            for (name, f) in nets {
                let report = checkGradients({ xs in f(xs[0]) }, at: [x])
                XCTAssert(report.passed, "\(name) [\(backend.name)]: \(report)")
            }
        }
    }

    /// Sampling is reproducible from the generator's seed; top-k keeps to the k most likely tokens; the
    /// Transformer model is causal.
    func testGenerationAndLanguageModels() {
        let lstm = CharLSTM(vocabSize: 12, embeddingDim: 8, hiddenSize: 16, numLayers: 1, generator: Generator(seed: 3))
        let a = generate(lstm, prompt: [1, 2, 3], length: 20, temperature: 1, topK: 5, generator: Generator(seed: 9))
        let b = generate(lstm, prompt: [1, 2, 3], length: 20, temperature: 1, topK: 5, generator: Generator(seed: 9))
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.count, 20)
        XCTAssertTrue(a.allSatisfy { $0 >= 0 && $0 < 12 })
        let one = generate(lstm, prompt: [4], length: 10, temperature: 2, topK: 1, generator: Generator(seed: 1))
        XCTAssertEqual(one, generate(lstm, prompt: [4], length: 10, temperature: 0), "top-1 sampling is greedy")

        let transformer = CharTransformer(vocabSize: 12, contextLength: 8, dModel: 16, nhead: 2, numLayers: 2, dimFeedforward: 32,
                                          generator: Generator(seed: 4))
        let tokens = Tensor(shape: [1, 6], scalars: [1, 5, 2, 7, 3, 0])
        let changed = Tensor(shape: [1, 6], scalars: [1, 5, 2, 7, 3, 9])
        let y1 = transformer(tokens), y2 = transformer(changed)
        XCTAssertEqual(y1.shape, [1, 6, 12])
        XCTAssertEqual(y1.sliced(axis: 1, 0..<5).scalars, y2.sliced(axis: 1, 0..<5).scalars, "earlier positions do not see later tokens")
        XCTAssertEqual(generate(transformer, prompt: [1, 2], length: 12, context: 8, temperature: 0).count, 12)
        XCTAssertTrue(transformer.stateDictKeys().contains("encoder.layers.1.self_attn.in_proj_weight"))
    }

    /// The fused LSTM recurrence's two derivative forms agree: the one-pass kernels, and the composite one that a
    /// recorded backward pass (createGraph) uses, which is itself differentiable.
    func testFusedLSTMStepDerivativesAgree() {
        // Two layers, both directions and sequences of different lengths: every path of the fused recurrence.
        let lstm = LSTM(3, 4, numLayers: 2, bidirectional: true, batchFirst: true, generator: Generator(seed: 2))
        let x = Tensor.randn([2, 5, 3], dtype: .float64, generator: Generator(seed: 3)).requiringGrad()
        let lengths = Tensor(shape: [2], scalars: [5, 3])
        try? lstm.loadStateDict(lstm.stateDict().mapValues { $0.converted(to: .float64) })
        let y = lstm(x, lengths: lengths).0
        // The input's gradient and every weight's and bias's (the input projection's among them).
        let wrt = [x] + lstm.parameters()
        let plain = gradients(of: y.sum(), withRespectTo: wrt, retainGraph: true)
        let recorded = gradients(of: y.sum(), withRespectTo: wrt, createGraph: true)
        for (p, r) in zip(plain, recorded) {
            XCTAssertLessThan(zip(p.doubleScalars, r.doubleScalars).map { Swift.abs($0 - $1) }.max()!, 1e-12)
        }
        XCTAssertEqual(recorded.count, 1 + 16)
        XCTAssertTrue(recorded[0].requiresGrad, "the recorded gradient can be differentiated again")
        // A Hessian-vector product through the fused step against central differences of the first derivative.
        func loss(_ input: Tensor) -> Tensor { let y = lstm(input, lengths: lengths).0; return (y * y).sum() }
        func firstDerivative(_ input: Tensor) -> [Double] {
            let leaf = input.detached().requiringGrad()
            return gradients(of: loss(leaf), withRespectTo: [leaf])[0].doubleScalars
        }
        let v = Tensor.randn([2, 5, 3], dtype: .float64, generator: Generator(seed: 4))
        let leaf = x.detached().requiringGrad()
        let g = gradients(of: loss(leaf), withRespectTo: [leaf], createGraph: true)[0]
        let hv = gradients(of: (g * v).sum(), withRespectTo: [leaf])[0].doubleScalars
        let eps = 1e-6
        let plus = firstDerivative(x.detached() + v * eps), minus = firstDerivative(x.detached() - v * eps)
        let numeric = zip(plus, minus).map { ($0 - $1) / (2 * eps) }
        XCTAssertLessThan(zip(hv, numeric).map { Swift.abs($0 - $1) / Swift.max(Swift.abs($1), 1) }.max()!, 1e-5)
    }

    /// The LSTM forward step's C pass gives the bits of the ops it replaces in float32: sigmoid and tanh over the
    /// gates, c = f·c' + i·g and h = o·tanh(c), each rounded, for widths that leave every vector tail.
    func testLSTMCellForwardPassGivesTheOpsBits() {
        let generator = Generator(seed: 12)
        for h in [1, 7, 8, 15, 16, 17, 33, 256] {
            let pre = Tensor.uniform([4 * h], low: -12, high: 12, generator: generator)
            let cPrev = Tensor.uniform([h], low: -3, high: 3, generator: generator)
            var gates = pre.scalars, c = [Float](repeating: 7, count: h), tc = c, hNext = c
            cPrev.scalars.withUnsafeBufferPointer { cp in
                lstmCellForward(units: h, gates: &gates, cPrev: cp.baseAddress!, cNext: &c, tanhC: &tc, hNext: &hNext)
            }
            let part = { (k: Int) in pre.sliced(axis: 0, k * h..<(k + 1) * h) }
            let i = sigmoid(part(0)), f = sigmoid(part(1)), g = AxonCore.tanh(part(2)), o = sigmoid(part(3))
            let cExpected = f * cPrev + i * g, tcExpected = AxonCore.tanh(cExpected)
            let bits = { (x: [Float]) in x.map(\.bitPattern) }
            XCTAssertEqual(bits(gates), bits(concat([i, f, g, o], axis: 0).scalars), "h \(h)")
            XCTAssertEqual(bits(c), bits(cExpected.scalars), "h \(h)")
            XCTAssertEqual(bits(tc), bits(tcExpected.scalars), "h \(h)")
            XCTAssertEqual(bits(hNext), bits((o * tcExpected).scalars), "h \(h)")
        }
    }

    /// A float32 LSTM's steps share the sequences among the threads, forward and backward: the output and every
    /// gradient have the bits of 1 thread on 2 and 3 threads, with sequences of different lengths.
    func testLSTMIsBitwiseIndependentOfThreadCount() {
        let saved = Threading.threadCount
        defer { Threading.threadCount = saved }
        let lstm = LSTM(8, 256, numLayers: 2, batchFirst: true, generator: Generator(seed: 5))
        let x = Tensor.randn([9, 30, 8], generator: Generator(seed: 6))
        let lengths = Tensor(shape: [9], scalars: [30, 30, 12, 30, 1, 29, 30, 7, 30])
        func run(_ threads: Int) -> [[Float]] {
            Threading.threadCount = threads
            let input = x.detached().requiringGrad()
            let (y, (hn, cn)) = lstm(input, lengths: lengths)
            (y.sum() + (hn * cn).sum()).backward()
            defer { lstm.zeroGrad() }
            return [y.scalars, input.grad!.scalars] + lstm.parameters().map { $0.grad!.scalars }
        }
        let one = run(1)
        XCTAssertEqual(run(2), one)
        XCTAssertEqual(run(3), one)
    }

    /// The LSTM backward step's vectorised C pass gives, unit for unit, the bits of the Swift rule it replaces in
    /// float32 (`lstmGateGradients`), for widths that leave every vector tail, with zeros, saturated gates and large
    /// gradients among the values.
    func testLSTMCellBackwardPassGivesTheSwiftRulesBits() {
        let generator = Generator(seed: 9)
        for h in [1, 7, 8, 15, 16, 17, 33, 256] {
            func draw(_ n: Int, _ low: Double, _ high: Double) -> [Float] {
                Tensor.uniform([n], low: low, high: high, generator: generator).scalars
            }
            var gates = draw(4 * h, 0, 1)
            gates[0] = 1; gates[h] = 0  // a saturated input gate, a closed forget gate
            let tanhC = draw(h, -1, 1), cPrev = draw(h, -3, 3)
            let dOut = draw(2 * h, -100, 100), dhNext = draw(h, -1, 1), dcNext = draw(h, -1, 1)
            var dGates = [Float](repeating: 7, count: 4 * h), dcPrev = [Float](repeating: 7, count: h)
            lstmCellBackward(units: h, gates: gates, tanhC: tanhC, cPrev: cPrev, dhOut: dOut, dcOut: Array(dOut[h...]),
                             dhNext: dhNext, dcNext: dcNext, dGates: &dGates, dcPrev: &dcPrev)
            for j in 0..<h {
                let e = lstmGateGradients(i: gates[j], f: gates[h + j], g: gates[2 * h + j], o: gates[3 * h + j], tanhC: tanhC[j],
                                          cPrev: cPrev[j], dh: dOut[j] + dhNext[j], dc: dOut[h + j] + dcNext[j])
                XCTAssertEqual([dGates[j], dGates[h + j], dGates[2 * h + j], dGates[3 * h + j], dcPrev[j]].map(\.bitPattern),
                               [e.i, e.f, e.g, e.o, e.cPrev].map(\.bitPattern), "h \(h), unit \(j)")
            }
        }
    }
}
