import AxonCore
import AxonNN
import Foundation
import SwiftProtobuf

/// A module that writes its own ONNX form. The built-in layers have theirs; a custom module adopts this to be
/// exported: add nodes for `input` to `graph` and return the output (run the module on `input.value` to give the
/// output's value).
public protocol ONNXExportable: Module {
    /// Adds this module's nodes, reading `input`; `path` is the module's dotted name (its parameters' prefix).
    func exportONNX(_ input: ONNXValue, path: String, to graph: inout ONNXGraph) throws -> ONNXValue
}

/// Why an export or an import failed: a layer or op without an ONNX form, an unsupported attribute, a malformed file.
public struct ONNXError: Error, CustomStringConvertible, Equatable {
    /// What went wrong and where.
    public let description: String
    /// An error with `description`.
    public init(_ description: String) { self.description = description }
}

/// Writes Axon models as ONNX, for onnxruntime, TensorRT, Core ML, OpenVINO and browsers.
///
/// The model is written in evaluation mode (dropout is the identity, batch norm uses its running statistics)
/// from its layers: each built-in layer has an ONNX form, and parameters keep their `state_dict` names as the
/// initializers' names. A custom module (a ``/AxonNN/Layer``) is traced: its forward pass runs once on the example's
/// value and the graph it records becomes nodes, the built-in layers it calls in their own forms. An op with no ONNX
/// form stops the export with an error that names it; ``ONNXExportable`` lets a module write its own form.
public enum ONNXExport {
    /// The ONNX IR version written (ONNX 1.12's, which every opset from 17 on may use).
    static let irVersion: Int64 = 8

    /// Exports `model`, run on `exampleInput`, to the file at `path` (written whole, or not at all).
    /// `dynamicBatch` names the first axis of the input and output `batch`, so any batch size runs.
    public static func export(_ model: Module, exampleInput: Tensor, to path: String, opset: Int = 17,
                              dynamicBatch: Bool = true) throws {
        let data = try serialize(model, exampleInput: exampleInput, opset: opset, dynamicBatch: dynamicBatch)
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial")
        do {
            try data.write(to: temporary)
            if FileManager.default.fileExists(atPath: path) {
                _ = try FileManager.default.replaceItemAt(url, withItemAt: temporary)
            } else {
                try FileManager.default.moveItem(at: temporary, to: url)
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw ONNXError("cannot write ONNX model to \(path): \(error.localizedDescription)")
        }
    }

    /// The ONNX model's bytes (see ``export(_:exampleInput:to:opset:dynamicBatch:)``).
    public static func serialize(_ model: Module, exampleInput: Tensor, opset: Int = 17, dynamicBatch: Bool = true) throws -> Data {
        guard (17...21).contains(opset) else { throw ONNXError("export: opset \(opset) is not supported (17-21)") }
        guard exampleInput.rank >= 1 || !dynamicBatch else { throw ONNXError("export: a dynamic batch needs an input of rank 1 or more") }
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        var graph = ONNXGraph(opset: opset)
        let inputName = graph.unique("input")
        let output = try withNoGrad { try ONNXForms.emit(model, path: "", input: ONNXValue(name: inputName, value: exampleInput), to: &graph) }
        // The graph's output must be a node's output, not the input or an initializer.
        var outputName = output.name
        if outputName == inputName || graph.initializers.contains(where: { $0.name == outputName }) {
            outputName = graph.add1("Identity", [outputName], name: "")
        }
        var g = Onnx_GraphProto()
        g.name = String(describing: type(of: model))
        g.node = graph.nodes
        g.initializer = graph.initializers
        g.input = [valueInfo(inputName, exampleInput, dynamicBatch: dynamicBatch)]
        g.output = [valueInfo(outputName, output.value, dynamicBatch: dynamicBatch)]
        var m = Onnx_ModelProto()
        m.irVersion = irVersion
        m.producerName = "Axon"
        m.producerVersion = "1"
        var op = Onnx_OperatorSetIdProto()
        op.domain = ""
        op.version = Int64(opset)
        m.opsetImport = [op]
        m.graph = g
        return try m.serializedData()
    }

    /// Adds `module`'s nodes for `input` to `graph` (its built-in form, or its own if it is ``ONNXExportable``): what a
    /// custom module's ``ONNXExportable/exportONNX(_:path:to:)`` calls for its children.
    public static func emit(_ module: Module, path: String, input: ONNXValue, to graph: inout ONNXGraph) throws -> ONNXValue {
        try ONNXForms.emit(module, path: path, input: input, to: &graph)
    }

    static func valueInfo(_ name: String, _ t: Tensor, dynamicBatch: Bool) -> Onnx_ValueInfoProto {
        var shape = Onnx_TensorShapeProto()
        shape.dim = t.shape.enumerated().map { i, d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if i == 0 && dynamicBatch { dim.dimParam = "batch" } else { dim.dimValue = Int64(d) }
            return dim
        }
        var tensorType = Onnx_TypeProto.Tensor()
        tensorType.elemType = ONNXTensors.code(t.dtype)
        tensorType.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = tensorType
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type = type
        return info
    }
}
