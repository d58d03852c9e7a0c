import AxonCore
import Foundation

/// An ONNX graph being written: its nodes and initializers, with names kept unique. ``ONNXExport`` makes one;
/// a custom module's ``ONNXExportable/exportONNX(_:path:to:)`` adds its nodes to it.
public struct ONNXGraph {
    var nodes: [Onnx_NodeProto] = []
    var initializers: [Onnx_TensorProto] = []
    private var used: Set<String> = []
    private var parameterNames: [ObjectIdentifier: String] = [:]
    /// The operator-set version the graph is written for.
    public let opset: Int

    init(opset: Int) { self.opset = opset }

    /// `base`, or `base_1`, `base_2`, ... if it is taken.
    mutating func unique(_ base: String) -> String {
        var name = base, i = 0
        while used.contains(name) { i += 1; name = "\(base)_\(i)" }
        used.insert(name)
        return name
    }

    /// Adds a node; returns the names of its outputs (`outputs` of them, named after the node).
    @discardableResult
    public mutating func add(_ op: String, _ inputs: [String], _ attributes: [String: ONNXAttribute] = [:], name: String,
                             outputs: Int = 1) -> [String] {
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = unique(name.isEmpty ? op : "\(name)/\(op)")
        node.input = inputs
        node.output = (0..<outputs).map { unique(outputs == 1 ? "\(node.name)_output" : "\(node.name)_output_\($0)") }
        node.attribute = attributes.keys.sorted().map { attributes[$0]!.proto(named: $0) }
        nodes.append(node)
        return node.output
    }

    /// Adds a node with one output and returns its name.
    public mutating func add1(_ op: String, _ inputs: [String], _ attributes: [String: ONNXAttribute] = [:], name: String) -> String {
        add(op, inputs, attributes, name: name)[0]
    }

    /// Adds `tensor` as an initializer called `name` (made unique) and returns the name. A parameter keeps its
    /// `state_dict` name, so an imported model's parameters are named as the exported model's.
    public mutating func initializer(_ tensor: Tensor, name: String) -> String {
        let unique = unique(name)
        initializers.append(ONNXTensors.proto(tensor, name: unique))
        return unique
    }

    /// A parameter or buffer of the model as an initializer called `name`, written once however often it is used.
    public mutating func parameter(_ tensor: Tensor, name: String) -> String {
        if let known = parameterNames[ObjectIdentifier(tensor)] { return known }
        let written = initializer(tensor.detached(), name: name)
        parameterNames[ObjectIdentifier(tensor)] = written
        return written
    }

    /// An int64 constant (shapes, axes), as an initializer.
    public mutating func ints(_ values: [Int], name: String) -> String {
        initializer(Tensor(shape: [values.count], scalars: values), name: name)
    }

    /// A float32 scalar constant of the dtype `like` has.
    public mutating func scalar(_ value: Double, like: Tensor, name: String) -> String {
        initializer(Tensor.full([], value, dtype: like.dtype), name: name)
    }
}

/// An attribute value of an ONNX node (written by an export, read by an import).
public enum ONNXAttribute {
    case int(Int)
    case ints([Int])
    case float(Double)
    case floats([Double])
    case string(String)
    case strings([String])
    case tensor(Tensor)

    func proto(named name: String) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        switch self {
        case .int(let v): a.type = .int; a.i = Int64(v)
        case .ints(let v): a.type = .ints; a.ints = v.map(Int64.init)
        case .float(let v): a.type = .float; a.f = Float(v)
        case .floats(let v): a.type = .floats; a.floats = v.map(Float.init)
        case .string(let v): a.type = .string; a.s = Data(v.utf8)
        case .strings(let v): a.type = .strings; a.strings = v.map { Data($0.utf8) }
        case .tensor(let t): a.type = .tensor; a.t = ONNXTensors.proto(t, name: name)
        }
        return a
    }
}

/// A value flowing through an export: its name in the graph, and the tensor it holds for the example input (its
/// shape and dtype tell the next layer's form what it needs).
public struct ONNXValue {
    /// The name in the graph.
    public let name: String
    /// The value for the example input.
    public let value: Tensor
    /// A value called `name` holding `value`.
    public init(name: String, value: Tensor) {
        self.name = name
        self.value = value
    }
}

/// Conversions between Axon tensors and ONNX's TensorProto.
enum ONNXTensors {
    /// ONNX's element type numbers (TensorProto.DataType).
    static func code(_ dtype: DType) -> Int32 {
        switch dtype {
        case .float32: return 1
        case .int64: return 7
        case .bool: return 9
        case .float64: return 11
        }
    }

    static func proto(_ t: Tensor, name: String) -> Onnx_TensorProto {
        var p = Onnx_TensorProto()
        p.name = name
        p.dims = t.shape.map(Int64.init)
        p.dataType = code(t.dtype)
        switch t.dtype {
        case .float32: p.rawData = t.scalars.withUnsafeBufferPointer { Data(buffer: $0) }
        case .float64: p.rawData = t.doubleScalars.withUnsafeBufferPointer { Data(buffer: $0) }
        case .int64: p.rawData = t.intScalars.map(Int64.init).withUnsafeBufferPointer { Data(buffer: $0) }
        case .bool: p.rawData = Data(t.boolScalars.map { $0 ? 1 : 0 })
        }
        return p
    }
}
