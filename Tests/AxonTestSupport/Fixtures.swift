import Axon
import Foundation

/// A tensor as stored in the fixture files: `{"shape": [...], "data": [...], "dtype"?: "int64"}`.
public struct FixtureTensor {
    public let shape: [Int]
    public let data: [Double]
    public let isInteger: Bool
    public let isBool: Bool

    /// Parses `{"shape": ..., "data": ...}`.
    public static func parse(_ json: Any) throws -> FixtureTensor { try FixtureTensor(json) }

    init(_ json: Any) throws {
        guard let object = json as? [String: Any], let shape = object["shape"] as? [Int],
              let data = object["data"] as? [Any] else {
            throw FixtureError.malformed("tensor without shape/data: \(String(describing: json).prefix(80))")
        }
        self.shape = shape
        self.data = data.map { ($0 as? NSNumber)?.doubleValue ?? ($0 as? String).flatMap(Double.init) ?? .nan }
        self.isInteger = (object["dtype"] as? String)?.hasPrefix("int") ?? false
        self.isBool = (object["dtype"] as? String) == "bool"
    }

    /// As an Axon tensor: int64 for integer fixtures, bool for masks, else the requested float dtype.
    public func tensor(_ dtype: DType = .float64) -> Tensor {
        Tensor(shape: shape, doubles: data, dtype: isBool ? .bool : (isInteger ? .int64 : dtype))
    }
}

public enum FixtureError: Error, CustomStringConvertible {
    case missing(String)
    case malformed(String)
    public var description: String {
        switch self {
        case .missing(let s): return "fixture missing: \(s)"
        case .malformed(let s): return "fixture malformed: \(s)"
        }
    }
}

/// One case of ops.json.
public struct OpCase {
    public let name: String
    public let op: String
    public let params: [String: Any]
    public let inputs: [String: FixtureTensor]
    /// Input names in file order (JSON objects keep it; the grads use the same names).
    public let inputOrder: [String]
    public let output: FixtureTensor
    public let gradOutput: FixtureTensor?
    public let grads: [String: FixtureTensor]
}

/// Where the fixtures are: `AXON_FIXTURES` when set (the folder holding ops.json, or its parent), else
/// `../shared/fixtures/pytorch` beside the package.
public enum Fixtures {
    public static var folder: URL {
        if let env = ProcessInfo.processInfo.environment["AXON_FIXTURES"], !env.isEmpty {
            let url = URL(fileURLWithPath: env)
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("ops.json").path) { return url }
            return url.appendingPathComponent("pytorch")
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.deletingLastPathComponent().appendingPathComponent("shared/fixtures/pytorch")
    }

    /// The parsed JSON object of a fixture file.
    public static func json(_ file: String) throws -> [String: Any] {
        let url = folder.appendingPathComponent(file)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw FixtureError.missing("\(url.path) (set AXON_FIXTURES to the fixture folder)")
        }
        // Python's json writes infinities and NaN as bare -Infinity, Infinity and NaN (masks hold -Infinity), which
        // JSON does not have: they become strings here, read back as numbers by FixtureTensor.
        let text = String(decoding: data, as: UTF8.self).replacingOccurrences(of: "-Infinity", with: "\"-inf\"")
            .replacingOccurrences(of: "Infinity", with: "\"inf\"").replacingOccurrences(of: "NaN", with: "\"nan\"")
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw FixtureError.malformed("\(file) is not a JSON object")
        }
        return object
    }


    /// Every case of ops.json.
    public static func opCases() throws -> [OpCase] {
        let root = try json("ops.json")
        guard let cases = root["cases"] as? [[String: Any]] else { throw FixtureError.malformed("ops.json has no cases") }
        return try cases.map { c in
            guard let name = c["name"] as? String, let op = c["op"] as? String,
                  let inputs = c["inputs"] as? [String: Any], let output = c["output"] else {
                throw FixtureError.malformed("case without name/op/inputs/output")
            }
            var parsed: [String: FixtureTensor] = [:]
            for (k, v) in inputs { parsed[k] = try FixtureTensor(v) }
            var grads: [String: FixtureTensor] = [:]
            for (k, v) in (c["grads"] as? [String: Any]) ?? [:] where !(v is NSNull) { grads[k] = try FixtureTensor(v) }
            return OpCase(name: name, op: op, params: (c["params"] as? [String: Any]) ?? [:], inputs: parsed,
                          inputOrder: inputs.keys.sorted(), output: try FixtureTensor(output),
                          gradOutput: try c["gradOutput"].flatMap { $0 is NSNull ? nil : try FixtureTensor($0) }, grads: grads)
        }
    }
}

/// Approximate comparison with a documented tolerance: elements pass when
/// |actual - expected| <= rtol * max(|expected|, floor). The floor keeps the test meaningful for
/// values near zero, where the float32 rounding of the stored inputs dominates a pure relative error.
public func relativeError(_ actual: [Double], _ expected: [Double], floor: Double = 1e-2) -> Double {
    guard actual.count == expected.count else { return .infinity }
    var worst = 0.0
    for (a, e) in zip(actual, expected) {
        if a.isNaN != e.isNaN { return .infinity }
        if a.isNaN { continue }
        if a.isInfinite || e.isInfinite { if a != e { return .infinity }; continue }
        worst = max(worst, abs(a - e) / max(abs(e), floor))
    }
    return worst
}
