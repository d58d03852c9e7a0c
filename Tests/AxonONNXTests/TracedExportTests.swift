import Axon
import AxonTestSupport
import Foundation
import XCTest

/// A custom module exports with no form of its own: its forward pass is traced. Built-in layers inside keep their
/// forms; the ops between them (elementwise, comparisons, reductions, views, products, pooling) are written one by one.
final class TracedExportTests: ONNXTestCase {
    final class GatedConvNet: Module, Layer {
        let conv = Conv2d(3, 4, kernelSize: 3, padding: 1), norm = BatchNorm2d(4)
        let value = Linear(64, 6), gate = Linear(64, 6)
        func callAsFunction(_ x: Tensor) -> Tensor {
            let h = maxPool2d(relu(norm(conv(x))), 2).flattened(from: 1)
            let y = value(h) * sigmoid(gate(h)) + h.mean(axes: [1], keepDims: true) - 0.5
            let shaped = clamp(leakyRelu(y, negativeSlope: 0.2), min: -1, max: 1) + step(y) * 0.1 + gelu(y) + exp(-abs(y))
            return softmax(shaped, axis: 1) + logSoftmax(shaped.reshaped([-1, 2, 3]), axis: 1).reshaped([-1, 6])
                + shaped.max(axes: [1], keepDims: true) + concat([shaped.sliced(axis: 1, 3..<6), shaped.sliced(axis: 1, 0..<3)], axis: 1)
        }
    }

    final class AttentionPooling: Module, Layer {
        let attention = MultiheadAttention(8, 2, batchFirst: true), norm = LayerNorm(8), head = Linear(8, 3)
        func callAsFunction(_ x: Tensor) -> Tensor {
            let (a, _) = attention(x, x, x, needWeights: false)
            return head(norm(x + a).mean(axes: [1]))
        }
    }

    final class LastStep: Module, Layer {
        let lstm = LSTM(4, 6, batchFirst: true), head = Linear(6, 2)
        func callAsFunction(_ x: Tensor) -> Tensor {
            let (y, _) = lstm(x)
            let t = y.shape[1]
            return head(y.sliced(axis: 1, t - 1..<t).squeezed(axis: 1)).transposed(0, 1).transposed(0, 1)
        }
    }

    func testTracedCustomModules() throws {
        Generator.global.reseed(11)
        try roundTrip(Case(name: "traced-gated-conv", model: GatedConvNet(), input: input([3, 8, 8], seed: 80)))
        try roundTrip(Case(name: "traced-attention", model: AttentionPooling(), input: input([5, 8], seed: 81)))
        try roundTrip(Case(name: "traced-lstm", model: LastStep(), input: input([7, 4], seed: 82)))
        // A traced module inside a Sequential, and a Sequential inside a traced module's forward.
        try roundTrip(Case(name: "traced-nested", model: Sequential(Linear(4, 3), LastStepWrapper()), input: input([4], seed: 83)))
    }

    /// A Transformer decoder over an encoded memory of the same input, with a causal target mask: the decoder layers
    /// have two inputs, so they are traced through (their attention op by op, their norms and linears as layers).
    final class EncoderDecoder: Module, Layer {
        let encoder = TransformerEncoder(TransformerEncoderLayer(dModel: 8, nhead: 2, dimFeedforward: 16, dropout: 0, batchFirst: true), numLayers: 1)
        let decoder = TransformerDecoder(TransformerDecoderLayer(dModel: 8, nhead: 2, dimFeedforward: 16, dropout: 0, batchFirst: true), numLayers: 2,
                                         norm: LayerNorm(8))
        func callAsFunction(_ x: Tensor) -> Tensor {
            decoder(x, encoder(x), tgtIsCausal: true)
        }
    }

    func testTransformerDecoder() throws {
        Generator.global.reseed(12)
        try roundTrip(Case(name: "traced-decoder", model: EncoderDecoder(), input: input([6, 8], seed: 84)))
    }

    /// Elman RNNs (ONNX's RNN op), the LSTM and GRU cells from zero states (the recurrent ops over one step) and a
    /// perceptron (its step traced op by op).
    final class Cells: Module, Layer {
        let rnn = RNN(4, 5, numLayers: 2, bidirectional: true, batchFirst: true)
        let relu = RNN(10, 3, nonlinearity: .relu, batchFirst: true)
        let lstm = LSTMCell(3, 4), gru = GRUCell(4, 6), perceptron = Perceptron(inputs: 6)
        func callAsFunction(_ x: Tensor) -> Tensor {
            let (y, _) = relu(rnn(x).0)
            let last = y.sliced(axis: 1, y.shape[1] - 1..<y.shape[1]).squeezed(axis: 1)
            let h = gru(lstm(last).0)
            return concat([h, perceptron(h).unsqueezed(axis: 1)], axis: 1)
        }
        override init() {
            super.init()
            perceptron.weight.assign(Tensor.randn([6], generator: Generator(seed: 3)))
        }
    }

    func testRecurrentCellsAndRNN() throws {
        Generator.global.reseed(13)
        try roundTrip(Case(name: "traced-cells", model: Cells(), input: input([5, 4], seed: 85)))
    }

    final class LastStepWrapper: Module, Layer {
        let inner = Sequential(Linear(3, 5), Tanh())
        func callAsFunction(_ x: Tensor) -> Tensor { inner(x) * 2 + x.sum(axes: [1], keepDims: true) }
    }

    final class Unexportable: Module, Layer {
        let fc = Linear(3, 3)
        func callAsFunction(_ x: Tensor) -> Tensor {
            customOp("my_op", inputs: [fc(x)], forward: { $0[0] * 2 }, backward: { g, _, _ in [g * 2] })
        }
    }

    final class NotALayer: Module {}

    func testOpsWithoutAFormAreNamed() {
        XCTAssertThrowsError(try ONNXExport.serialize(Unexportable(), exampleInput: Tensor.zeros([1, 3]))) {
            XCTAssertEqual("\($0)", "export: op 'my_op' in Unexportable has no ONNX form")
        }
        XCTAssertThrowsError(try ONNXExport.serialize(Sequential(Linear(3, 3), Unexportable()), exampleInput: Tensor.zeros([1, 3]))) {
            XCTAssertEqual("\($0)", "export: op 'my_op' in Unexportable ('1') has no ONNX form")
        }
        XCTAssertThrowsError(try ONNXExport.serialize(NotALayer(), exampleInput: Tensor.zeros([1, 3]))) {
            XCTAssertTrue("\($0)".contains("NotALayer has no ONNX form and is not a Layer"), "\($0)")
        }
    }
}
