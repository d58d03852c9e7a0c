import AxonCore
import Foundation

/// One node of an imported graph, with its attributes read and checked against what its op supports.
struct ONNXNode {
    let op: String
    let name: String
    let inputs: [String]
    let outputs: [String]
    let attributes: [String: ONNXAttribute]

    init(_ p: Onnx_NodeProto, index: Int, opset: Int, source: String, maxElements: Int) throws {
        op = p.opType
        name = p.name.isEmpty ? "#\(index)" : p.name
        inputs = p.input
        outputs = p.output
        let context = "\(source): node '\(name)' (\(p.opType))"
        guard p.domain.isEmpty || p.domain == "ai.onnx" else {
            throw ONNXError("\(context): domain '\(p.domain)' is not supported (only ONNX's default domain is)")
        }
        guard let spec = ONNXOps.table[p.opType] else {
            throw ONNXError("\(context): op \(p.opType) is not supported")
        }
        guard p.input.count <= spec.maxInputs, p.input.count >= spec.minInputs else {
            throw ONNXError("\(context): has \(p.input.count) inputs; \(p.opType) takes \(spec.minInputs)-\(spec.maxInputs)")
        }
        var attributes: [String: ONNXAttribute] = [:]
        for a in p.attribute {
            guard spec.attributes.contains(a.name) else {
                throw ONNXError("\(context): attribute '\(a.name)' is not supported")
            }
            switch a.type {
            case .int: attributes[a.name] = .int(Int(a.i))
            case .ints: attributes[a.name] = .ints(a.ints.map { Int($0) })
            case .float: attributes[a.name] = .float(Double(a.f))
            case .floats: attributes[a.name] = .floats(a.floats.map { Double($0) })
            case .string: attributes[a.name] = .string(String(decoding: a.s, as: UTF8.self))
            case .strings: attributes[a.name] = .strings(a.strings.map { String(decoding: $0, as: UTF8.self) })
            case .tensor:
                attributes[a.name] = .tensor(try ONNXTensors.tensor(a.t, context: "\(context): attribute '\(a.name)'", maxElements: maxElements))
            default: throw ONNXError("\(context): attribute '\(a.name)' has type \(a.type), which is not supported")
            }
        }
        self.attributes = attributes
        // Unsupported values are refused at load time.
        try spec.check?(self)
    }

    /// An error that names this node, its op and, when given, the attribute.
    func error(_ message: String, attribute: String? = nil) -> ONNXError {
        ONNXError("node '\(name)' (\(op))\(attribute.map { ", attribute '\($0)'" } ?? ""): \(message)")
    }

    func int(_ key: String, _ fallback: Int) throws -> Int {
        switch attributes[key] {
        case nil: return fallback
        case .int(let v)?: return v
        default: throw error("expected an integer", attribute: key)
        }
    }

    func ints(_ key: String) throws -> [Int]? {
        switch attributes[key] {
        case nil: return nil
        case .ints(let v)?: return v
        case .int(let v)?: return [v]
        default: throw error("expected integers", attribute: key)
        }
    }

    func float(_ key: String, _ fallback: Double) throws -> Double {
        switch attributes[key] {
        case nil: return fallback
        case .float(let v)?: return v
        case .int(let v)?: return Double(v)
        default: throw error("expected a float", attribute: key)
        }
    }

    func string(_ key: String, _ fallback: String) throws -> String {
        switch attributes[key] {
        case nil: return fallback
        case .string(let v)?: return v
        default: throw error("expected a string", attribute: key)
        }
    }

    /// Requires `key`, when present, to be one of `allowed`.
    func require(_ key: String, in allowed: [String]) throws {
        let v = try string(key, allowed[0])
        guard allowed.contains(v) else { throw error("'\(v)' is not supported (\(allowed.joined(separator: ", ")) are)", attribute: key) }
    }

    /// Requires the integer `key`, when present, to be `value`.
    func require(_ key: String, equals value: Int) throws {
        let v = try int(key, value)
        guard v == value else { throw error("\(v) is not supported (only \(value) is)", attribute: key) }
    }
}
