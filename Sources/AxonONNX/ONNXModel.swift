import AxonCore
import AxonNN
import Foundation
import SwiftProtobuf

/// An ONNX model run with Axon's kernels, as a ``/AxonNN/Module``: `ONNXModel(contentsOf: "model.onnx")`.
///
/// The float initializers become parameters, named as in the file (PyTorch's exporter writes `state_dict`
/// names), so an imported model can be fine-tuned; batch norm's running statistics and integer initializers
/// are constants. Every op runs as Axon's differentiable tensor ops.
///
/// A file is checked whole when it loads: its size, every initializer's declared size against its data, the op
/// set, each node's op and attributes, and that every value is made before it is used (which rules out cycles).
/// When the input's shape is fixed but for the batch, the graph also runs once on zeros, so shape errors show at
/// load time. A bad file gives an ``ONNXError`` naming what is wrong and where; it never stops the process.
public final class ONNXModel: Module, Layer {
    /// The graph's inputs that are not initializers, in order.
    public let inputNames: [String]
    /// Each input's declared shape (nil for a named or unknown axis, such as the batch).
    public let inputShapes: [[Int?]]
    /// Each input's element type.
    public let inputTypes: [DType]
    /// The graph's outputs, in order.
    public let outputNames: [String]
    /// The operator-set version of the default domain.
    public let opset: Int
    /// The float initializers, as parameters.
    let weights: NamedParameters
    /// The other initializers.
    let constants: [String: Tensor]
    let nodes: [ONNXNode]

    /// How much a model may ask for: the bytes of its file and the elements of any one tensor (an initializer, or
    /// any value the graph makes). A file past them gives an error before anything that large is allocated.
    public struct Limits: Sendable {
        /// The largest file read (1 GiB by default).
        public var maxFileBytes: Int
        /// The most elements one tensor may have (2²⁸, 1 GiB of float32, by default).
        public var maxElements: Int
        /// Limits of `maxFileBytes` and `maxElements`.
        public init(maxFileBytes: Int = 1 << 30, maxElements: Int = 1 << 28) {
            self.maxFileBytes = maxFileBytes
            self.maxElements = maxElements
        }
    }

    /// The limits this model was loaded with; its runs keep to them too.
    public let limits: Limits

    /// Loads the model in the file at `path`.
    public convenience init(contentsOf path: String, limits: Limits = Limits()) throws {
        let attributes: [FileAttributeKey: Any]
        do { attributes = try FileManager.default.attributesOfItem(atPath: path) } catch {
            throw ONNXError("\(path): cannot read the file (\(error.localizedDescription))")
        }
        let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        guard size <= limits.maxFileBytes else {
            throw ONNXError("\(path): \(size) bytes is more than the \(limits.maxFileBytes) an ONNX model may have here")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw ONNXError("\(path): cannot read the file") }
        try self.init(serializedData: data, source: path, limits: limits)
    }

    /// Loads a model from its bytes; `source` names it in errors.
    public init(serializedData data: Data, source: String = "ONNX model", limits: Limits = Limits()) throws {
        guard data.count <= limits.maxFileBytes else {
            throw ONNXError("\(source): \(data.count) bytes is more than the \(limits.maxFileBytes) an ONNX model may have here")
        }
        self.limits = limits
        let model: Onnx_ModelProto
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 64
            model = try Onnx_ModelProto(serializedBytes: data, options: options)
        } catch {
            throw ONNXError("\(source): not a valid ONNX model (protobuf: \(error))")
        }
        guard model.hasGraph else { throw ONNXError("\(source): the model has no graph") }
        let defaultSet = model.opsetImport.first { $0.domain == "" || $0.domain == "ai.onnx" }
        guard let version = defaultSet?.version, (7...23).contains(version) else {
            throw ONNXError("\(source): the default operator set is \(defaultSet.map { "version \($0.version)" } ?? "missing"); 7-23 are supported")
        }
        opset = Int(version)
        let graph = model.graph

        // Initializers: float ones train, the rest are constants.
        var defined = Set<String>()
        var floats: [(name: String, tensor: Tensor)] = [], constants: [String: Tensor] = [:]
        let statistics = Set(graph.node.filter { $0.opType == "BatchNormalization" }.flatMap { $0.input.dropFirst(3) })
        for proto in graph.initializer {
            let t = try ONNXTensors.tensor(proto, context: "\(source): initializer '\(proto.name)'", maxElements: limits.maxElements)
            guard !proto.name.isEmpty, defined.insert(proto.name).inserted else {
                throw ONNXError("\(source): initializer '\(proto.name)' is unnamed or named twice")
            }
            if t.dtype.isFloatingPoint && !statistics.contains(proto.name) { floats.append((proto.name, t.requiringGrad())) } else { constants[proto.name] = t }
        }
        weights = NamedParameters(floats)
        self.constants = constants

        var names: [String] = [], shapes: [[Int?]] = [], types: [DType] = []
        for input in graph.input where !defined.contains(input.name) {
            guard input.type.tensorType.hasElemType else { throw ONNXError("\(source): input '\(input.name)' is not a tensor") }
            names.append(input.name)
            types.append(try ONNXTensors.dtype(input.type.tensorType.elemType, context: "\(source): input '\(input.name)'"))
            let shape = input.type.tensorType.shape.dim.map { d -> Int? in
                if case .dimValue(let v)? = d.value, v > 0, v <= Int64(limits.maxElements) { return Int(v) }
                return nil
            }
            // The fixed axes alone must fit the limit: the load's run on zeros (and any caller) allocates that much.
            var fixed = 1
            for d in shape.compactMap({ $0 }) {
                let (product, overflow) = fixed.multipliedReportingOverflow(by: d)
                guard !overflow, product <= limits.maxElements else {
                    throw ONNXError("\(source): input '\(input.name)' declares shape \(ONNXModel.describe(shape)), more than \(limits.maxElements) elements")
                }
                fixed = product
            }
            shapes.append(shape)
            defined.insert(input.name)
        }
        guard !names.isEmpty else { throw ONNXError("\(source): the graph has no input") }
        inputNames = names
        inputShapes = shapes
        inputTypes = types

        var nodes: [ONNXNode] = []
        for (i, proto) in graph.node.enumerated() {
            let node = try ONNXNode(proto, index: i, opset: opset, source: source, maxElements: limits.maxElements)
            for input in node.inputs where !input.isEmpty && !defined.contains(input) {
                throw ONNXError("\(source): node '\(node.name)' (\(node.op)) reads '\(input)' before any node makes it "
                                + "(the graph is unsorted or has a cycle)")
            }
            for output in node.outputs where !output.isEmpty {
                guard defined.insert(output).inserted else {
                    throw ONNXError("\(source): node '\(node.name)' (\(node.op)) makes '\(output)', which is already defined")
                }
            }
            nodes.append(node)
        }
        self.nodes = nodes
        outputNames = graph.output.map(\.name)
        guard !outputNames.isEmpty else { throw ONNXError("\(source): the graph has no output") }
        for name in outputNames where !defined.contains(name) {
            throw ONNXError("\(source): output '\(name)' is made by no node")
        }
        super.init()
        eval()

        // With every axis but the first fixed, run once on zeros: a graph whose shapes do not fit fails here.
        if inputShapes.allSatisfy({ $0.dropFirst().allSatisfy { $0 != nil } }) {
            let probe = zip(inputShapes, inputTypes).map { shape, type in
                Tensor.zeros(shape.map { $0 ?? 1 }, dtype: type)
            }
            do { _ = try withNoGrad { try run(Dictionary(uniqueKeysWithValues: zip(inputNames, probe))) } } catch let error as ONNXError {
                throw ONNXError("\(source): \(error.description)")
            }
        }
    }

    /// Runs the graph on named inputs; returns every graph output by name.
    public func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
        var values: [String: Tensor] = constants
        for (name, t) in weights.entries { values[name] = t }
        for (i, name) in inputNames.enumerated() {
            guard let t = inputs[name] else { throw ONNXError("input '\(name)' is missing") }
            let declared = inputShapes[i]
            guard t.rank == declared.count, zip(t.shape, declared).allSatisfy({ $1 == nil || $0 == $1 }) else {
                throw ONNXError("input '\(name)' has shape \(t.shape); the model expects \(ONNXModel.describe(declared))")
            }
            values[name] = t.dtype == inputTypes[i] ? t : t.converted(to: inputTypes[i])
        }
        for node in nodes {
            let args = node.inputs.map { $0.isEmpty ? nil : values[$0] }
            let results = try ONNXOps.run(node, args, opset: opset, maxElements: limits.maxElements)
            for (name, t) in zip(node.outputs, results) where !name.isEmpty { values[name] = t }
        }
        var out: [String: Tensor] = [:]
        for name in outputNames { out[name] = values[name] }
        return out
    }

    /// A declared shape as text, `?` for an axis of any size: `[?, 3]`.
    public static func describe(_ shape: [Int?]) -> String { "[" + shape.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + "]" }

    /// Runs a model of one input and one output.
    public func forward(_ input: Tensor) throws -> Tensor {
        guard inputNames.count == 1, outputNames.count == 1 else {
            throw ONNXError("the model has \(inputNames.count) inputs and \(outputNames.count) outputs; use run(_:) with names")
        }
        guard let output = try run([inputNames[0]: input])[outputNames[0]] else {
            throw ONNXError("output '\(outputNames[0])' was not made")
        }
        return output
    }

    /// ``forward(_:)``, stopping with the error's message if the input does not fit the model.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        do { return try forward(input) } catch { axonFail("ONNXModel", "\(error)") }
    }

    /// The model's description.
    public override var layerDescription: String {
        "ONNXModel(\(nodes.count) nodes, opset \(opset), inputs: \(inputNames), outputs: \(outputNames))"
    }
}

extension ONNXTensors {
    static func dtype(_ code: Int32, context: String) throws -> DType {
        switch code {
        case 1: return .float32
        case 11: return .float64
        case 6, 7, 2, 3, 4, 5, 12, 13: return .int64  // integers of every width are read as int64
        case 9: return .bool
        default: throw ONNXError("\(context): element type \(code) is not supported (float, double, integers and bool are)")
        }
    }

    /// Bytes per element of each integer width's raw data.
    static func width(_ code: Int32) -> Int {
        switch code { case 2, 3, 9: return 1; case 4, 5: return 2; case 1, 6, 12: return 4; default: return 8 }
    }

    /// The tensor a TensorProto holds, with its declared size checked against its data.
    static func tensor(_ p: Onnx_TensorProto, context: String, maxElements: Int) throws -> Tensor {
        if p.hasDataLocation && p.dataLocation == .external || !p.externalData.isEmpty {
            let location = p.externalData.first { $0.key == "location" }?.value ?? "?"
            throw ONNXError("\(context): external data ('\(location)') is not read; save the model with its weights inside")
        }
        _ = try dtype(p.dataType, context: context)  // a supported element type
        var count = 1
        for d in p.dims {
            guard d >= 0 else { throw ONNXError("\(context): negative dimension \(d)") }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow, product <= maxElements else {
                throw ONNXError("\(context): declared shape \(p.dims) is larger than \(maxElements) elements")
            }
            count = product
        }
        let shape = p.dims.map(Int.init)
        func mismatch(_ n: Int) -> ONNXError { ONNXError("\(context): shape \(shape) needs \(count) values, the data has \(n)") }
        if p.hasRawData {
            let raw = p.rawData, w = width(p.dataType)
            guard raw.count == count * w else { throw mismatch(raw.count / max(w, 1)) }
            return raw.withUnsafeBytes { bytes -> Tensor in
                switch p.dataType {
                case 1: return Tensor(shape: shape, scalars: (0..<count).map { bytes.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) })
                case 11: return Tensor(shape: shape, scalars: (0..<count).map { bytes.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self) })
                case 9: return Tensor(shape: shape, scalars: (0..<count).map { bytes[$0] != 0 })
                case 2: return Tensor(shape: shape, scalars: (0..<count).map { Int(bytes[$0]) })
                case 3: return Tensor(shape: shape, scalars: (0..<count).map { Int(Int8(bitPattern: bytes[$0])) })
                case 4: return Tensor(shape: shape, scalars: (0..<count).map { Int(bytes.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) })
                case 5: return Tensor(shape: shape, scalars: (0..<count).map { Int(bytes.loadUnaligned(fromByteOffset: 2 * $0, as: Int16.self)) })
                case 6: return Tensor(shape: shape, scalars: (0..<count).map { Int(bytes.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) })
                case 12: return Tensor(shape: shape, scalars: (0..<count).map { Int(bytes.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) })
                case 13: return Tensor(shape: shape, scalars: (0..<count).map { Int(truncatingIfNeeded: bytes.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self)) })
                default: return Tensor(shape: shape, scalars: (0..<count).map { Int(bytes.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) })
                }
            }
        }
        switch p.dataType {
        case 1:
            guard p.floatData.count == count else { throw mismatch(p.floatData.count) }
            return Tensor(shape: shape, scalars: p.floatData)
        case 11:
            guard p.doubleData.count == count else { throw mismatch(p.doubleData.count) }
            return Tensor(shape: shape, scalars: p.doubleData)
        case 7:
            guard p.int64Data.count == count else { throw mismatch(p.int64Data.count) }
            return Tensor(shape: shape, scalars: p.int64Data.map { Int($0) })
        case 13:
            guard p.uint64Data.count == count else { throw mismatch(p.uint64Data.count) }
            return Tensor(shape: shape, scalars: p.uint64Data.map { Int(truncatingIfNeeded: $0) })
        case 9:
            guard p.int32Data.count == count else { throw mismatch(p.int32Data.count) }
            return Tensor(shape: shape, scalars: p.int32Data.map { $0 != 0 })
        default:
            guard p.int32Data.count == count else { throw mismatch(p.int32Data.count) }
            return Tensor(shape: shape, scalars: p.int32Data.map { Int($0) })
        }
    }
}
