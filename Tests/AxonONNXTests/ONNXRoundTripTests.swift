import Axon
import AxonTestSupport
import Foundation
import XCTest

/// The round trip for every layer family: export, onnx.checker, onnxruntime at several batch sizes against Axon's
/// own output (within rel 1e-4 of the output's largest magnitude), and the same file imported into Axon.
final class ONNXRoundTripTests: ONNXTestCase {
    func testMLPWithEveryPointwiseActivation() throws {
        Generator.global.reseed(1)
        let model = Sequential(Linear(6, 16), ReLU(), Linear(16, 16), Tanh(), Linear(16, 16), Sigmoid(), Linear(16, 16),
                               LeakyReLU(negativeSlope: 0.2), Linear(16, 12), GELU(), Linear(12, 12), GELU(approximate: true),
                               Dropout(0.3), Identity(), Linear(12, 5), Softmax())
        try roundTrip(Case(name: "mlp", model: model, input: input([6], seed: 10)))
        try roundTrip(Case(name: "mlp-opset20", model: model, input: input([6], seed: 10)), opset: 20)
        let logits = Sequential(Linear(4, 6), LogSoftmax(axis: 1))
        try roundTrip(Case(name: "log-softmax", model: logits, input: input([4], seed: 11)))
    }

    func testStepActivation() throws {
        Generator.global.reseed(2)
        // Inputs away from 0, where the step is discontinuous.
        let model = Sequential(Linear(3, 5), Step())
        try roundTrip(Case(name: "step", model: model, input: { n in
            let x = Tensor.randn([n, 3], generator: Generator(seed: UInt64(n)))
            return x + sign(x) * 0.5
        }))
    }

    func testConvolutionalNetWithBatchNormAndPooling() throws {
        Generator.global.reseed(3)
        let model = Sequential(
            Conv2d(3, 8, kernelSize: 3, padding: 1), BatchNorm2d(8), ReLU(), MaxPool2d(2),
            Conv2d(8, 8, kernelSize: 3, stride: 2, padding: 1, groups: 2), BatchNorm2d(8, affine: false), ReLU(),
            AvgPool2d(3, stride: 1, padding: 1), Conv2d(8, 4, kernelSize: (1, 3), padding: (0, 1), dilation: (1, 2)),
            Flatten(), Linear(4 * 4 * 2, 10))
        try roundTrip(Case(name: "cnn", model: model, input: input([3, 16, 16], seed: 20)))
    }

    func testOneDimensionalLayers() throws {
        Generator.global.reseed(4)
        let model = Sequential(Conv1d(2, 6, kernelSize: 3, padding: 1), BatchNorm1d(6), GELU(), MaxPool1d(2),
                               Conv1d(6, 6, kernelSize: 3, stride: 2, groups: 3), AvgPool1d(2, padding: 1), Flatten(),
                               Linear(18, 8), BatchNorm1d(8), LeakyReLU())
        try roundTrip(Case(name: "conv1d", model: model, input: input([2, 20], seed: 30)))
    }

    func testTransposedConvolutionUpsamplingAndAdaptivePooling() throws {
        Generator.global.reseed(5)
        let model = Sequential(ConvTranspose2d(3, 4, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1), GroupNorm(2, 4), Sigmoid(),
                               Upsample(scaleFactor: 2), Upsample(size: [20, 18]), AdaptiveAvgPool2d((3, 4)),
                               Conv2d(4, 4, kernelSize: 1), AdaptiveAvgPool2d((3, 2)), Flatten(startDim: 2))
        try roundTrip(Case(name: "upsampling", model: model, input: input([3, 5, 5], seed: 40)))
        let pooled = Sequential(Conv2d(3, 6, kernelSize: 3), AdaptiveAvgPool2d(1), Flatten(), Linear(6, 2),
                                Linear(2, 2))
        try roundTrip(Case(name: "global-pool", model: pooled, input: input([3, 7, 9], seed: 41)))
        let divisible = Sequential(AdaptiveAvgPool2d((2, 3)), GroupNorm(1, 3, affine: false))
        try roundTrip(Case(name: "adaptive-divisible", model: divisible, input: input([3, 8, 9], seed: 42)))
    }

    func testSequenceLayersNormsAndResiduals() throws {
        Generator.global.reseed(6)
        let model = Sequential(Linear(5, 8), LayerNorm(8), Residual(Sequential(Linear(8, 8), GELU(), Linear(8, 8))),
                               Residual(Linear(8, 6), shortcut: Linear(8, 6, bias: false)), RMSNorm(6), LayerNorm([4, 6], elementwiseAffine: false),
                               RMSNorm(6, eps: 1e-3, elementwiseAffine: false), LogSoftmax())
        try roundTrip(Case(name: "sequence", model: model, input: input([4, 5], seed: 50)))
    }

    func testEmbedding() throws {
        Generator.global.reseed(7)
        let model = Sequential(Embedding(11, 4, paddingIdx: 0), Flatten(), Linear(12, 3))
        try roundTrip(Case(name: "embedding", model: model, input: { n in Tensor.randint(0, 11, [n, 3], generator: Generator(seed: UInt64(n))) }))
    }

    func testRecurrentLayers() throws {
        Generator.global.reseed(8)
        let lstm = Sequential(SequenceLayer(LSTM(4, 6, numLayers: 2, bidirectional: true, batchFirst: true)), Linear(12, 3))
        try roundTrip(Case(name: "lstm", model: lstm, input: input([5, 4], seed: 60)))
        let gru = Sequential(SequenceLayer(GRU(4, 5, batchFirst: true)), Tanh(), SequenceLayer(GRU(5, 3, numLayers: 2, bias: false, batchFirst: true)))
        try roundTrip(Case(name: "gru", model: gru, input: input([6, 4], seed: 61)))
    }

    func testTransformerLayers() throws {
        Generator.global.reseed(9)
        let postNorm = TransformerEncoderLayer(dModel: 8, nhead: 2, dimFeedforward: 16, dropout: 0.1, batchFirst: true)
        let preNorm = TransformerEncoderLayer(dModel: 8, nhead: 4, dimFeedforward: 12, activation: .gelu, batchFirst: true, normFirst: true)
        let model = Sequential(Linear(3, 8), SinusoidalPositionalEncoding(dModel: 8, maxLen: 16), postNorm, preNorm,
                               TransformerEncoder(postNorm, numLayers: 2, norm: LayerNorm(8)), Linear(8, 2))
        try roundTrip(Case(name: "encoder", model: model, input: input([5, 3], seed: 70)))
        // Sequence-first layers: [T, B, E].
        let sequenceFirst = TransformerEncoderLayer(dModel: 6, nhead: 3, dimFeedforward: 8, dropout: 0)
        try roundTrip(Case(name: "encoder-sequence-first", model: Sequential(sequenceFirst, Linear(6, 2)), input: input([4, 6], seed: 71)))
        // A causal language model over token ids.
        let language = Sequential(Embedding(13, 8), LearnedPositionalEmbedding(maxLen: 10, dModel: 8),
                                  SequenceLayer(TransformerEncoder(TransformerEncoderLayer(dModel: 8, nhead: 2, dimFeedforward: 16, batchFirst: true),
                                                                   numLayers: 2), causal: true), Linear(8, 13))
        try roundTrip(Case(name: "causal-language-model", model: language, input: { n in
            Tensor.randint(0, 13, [n, 6], generator: Generator(seed: UInt64(n)))
        }))
    }

    /// The character language models of `axon train --data text:` export whole, reading token ids of a fixed context.
    func testLanguageModels() throws {
        Generator.global.reseed(10)
        let tokens: (Int) -> Tensor = { n in Tensor.randint(0, 20, [n, 8], generator: Generator(seed: UInt64(n))) }
        try roundTrip(Case(name: "char-lstm", model: LanguageLayer(CharLSTM(vocabSize: 20, embeddingDim: 6, hiddenSize: 10, numLayers: 2)),
                           input: tokens))
        try roundTrip(Case(name: "char-transformer", model: LanguageLayer(CharTransformer(vocabSize: 20, contextLength: 8, dModel: 8, nhead: 2,
                                                                                             numLayers: 2, dimFeedforward: 16)),
                           input: tokens))
    }
}

/// A language model as a Layer (the round trip takes one), exported as the model itself.
final class LanguageLayer: Module, Layer, ONNXExportable {
    let model: any LanguageModel & Module
    init(_ model: any LanguageModel & Module) { self.model = model }
    func callAsFunction(_ input: Tensor) -> Tensor { model(input) }
    func exportONNX(_ input: ONNXValue, path: String, to graph: inout ONNXGraph) throws -> ONNXValue {
        try ONNXExport.emit(model, path: path, input: input, to: &graph)
    }
}
