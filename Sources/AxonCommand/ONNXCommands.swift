import ArgumentParser
import Axon
import Foundation

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a checkpoint of axon train as an ONNX model (for onnxruntime, TensorRT, Core ML, OpenVINO, browsers).",
        discussion: """
            The checkpoint names its architecture. The model is written in evaluation mode with a dynamic batch axis; \
            a classifier or regressor includes the input normalisation it was trained with, so it reads raw examples, \
            and gives logits (or values). A language model reads token ids of its context length.
            """)

    @Option(name: .long, help: "Checkpoint written by axon train.")
    var checkpoint: String
    @Option(name: .long, help: "The ONNX file to write.")
    var output: String
    @Option(name: .long, help: "ONNX operator set, 17-21.")
    var opset: Int = 17

    func run() throws {
        let trained = try Checkpoint.loadModel(checkpoint)
        let model: Module, example: Tensor
        if let spec = trained.languageModel {
            model = trained.model
            example = Tensor.zeros([1, spec.context], dtype: .int64)
        } else {
            model = trained.standardizer.map { StandardizedModel(trained.model, $0, exampleShape: trained.inputShape) } ?? trained.model
            example = Tensor.zeros([1] + trained.inputShape)
        }
        do {
            try ONNXExport.export(model, exampleInput: example, to: output, opset: opset)
        } catch let error as ONNXError {
            throw UserError("\(checkpoint): \(error.description)")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        print("wrote \(output) (\(size) bytes, opset \(opset), input [batch, \(example.shape.dropFirst().map(String.init).joined(separator: ", "))])")
    }
}

/// A trained model behind the normalisation of its inputs: (x − mean) / std, then the model. The normalisation is
/// written into the ONNX graph, so the exported model reads the raw examples a CSV file holds.
final class StandardizedModel: Module, Layer, ONNXExportable {
    let model: any Layer
    let mean: Tensor, std: Tensor

    init(_ model: any Layer, _ standardizer: Standardizer, exampleShape: [Int]) {
        self.model = model
        // One statistic, or one per feature of the example.
        let shape = standardizer.mean.count == 1 ? [1] : exampleShape
        mean = Tensor(shape: shape, doubles: standardizer.mean, dtype: .float32)
        std = Tensor(shape: shape, doubles: standardizer.std, dtype: .float32)
    }

    func callAsFunction(_ input: Tensor) -> Tensor { model((input - mean) / std) }

    func exportONNX(_ input: ONNXValue, path: String, to graph: inout ONNXGraph) throws -> ONNXValue {
        let centered = graph.add1("Sub", [input.name, graph.initializer(mean, name: "normalize.mean")], name: "normalize")
        let scaled = graph.add1("Div", [centered, graph.initializer(std, name: "normalize.std")], name: "normalize")
        return try ONNXExport.emit(model, path: path, input: ONNXValue(name: scaled, value: (input.value - mean) / std), to: &graph)
    }
}

struct PredictONNX {
    /// `axon predict --onnx M.onnx --data csv:F`: each data row reshaped to the model's input shape, one CSV row of
    /// the model's output values per input row.
    static func run(model path: String, data: String, label: String?) throws {
        guard data.hasPrefix("csv:") else { throw UserError("predict --onnx reads csv:PATH, got '\(data)'") }
        let model: ONNXModel
        do { model = try ONNXModel(contentsOf: path) } catch let error as ONNXError { throw UserError(error.description) }
        guard model.inputNames.count == 1, model.outputNames.count == 1 else {
            throw UserError("\(path): the model has \(model.inputNames.count) inputs and \(model.outputNames.count) outputs; predict runs models of one each")
        }
        let declared = model.inputShapes[0]
        guard declared.count >= 1, declared.dropFirst().allSatisfy({ $0 != nil }) else {
            throw UserError("\(path): input '\(model.inputNames[0])' has shape \(ONNXModel.describe(declared)); predict needs every axis but the batch fixed")
        }
        let example = declared.dropFirst().map { $0! }
        let table: CSVTable
        do {
            // A label column, when named, is read (numbers or class names) and ignored.
            table = try CSVTable.load(path: String(data.dropFirst(4)), label: label.map { Int($0).map { .index($0) } ?? .name($0) })
        } catch let error as DataError { throw UserError(error.description) }
        let rows = table.features.shape[0], features = table.features.shape[1]
        guard features == example.reduce(1, *) else {
            throw UserError("\(data.dropFirst(4)): rows have \(features) values; the model's input \(example) needs \(example.reduce(1, *))")
        }
        let input = table.features.reshaped([rows] + example).converted(to: model.inputTypes[0])
        let output: Tensor
        do { output = try withNoGrad { try model.forward(input) } } catch let error as ONNXError { throw UserError("\(path): \(error.description)") }
        let width = rows == 0 ? 0 : output.count / rows
        var lines = [(0..<width).map { "output_\($0)" }.joined(separator: ",")]
        let values = output.doubleScalars
        for r in 0..<rows {
            lines.append(values[r * width..<(r + 1) * width].map { String(format: "%.7g", $0) }.joined(separator: ","))
        }
        print(lines.joined(separator: "\n"))
    }
}
