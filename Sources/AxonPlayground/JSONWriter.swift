import Foundation

/// A JSON writer for the responses the page polls and streams: snapshots hold some 25,000 numbers, and
/// Foundation's `JSONEncoder` spent three quarters of a busy server's time on them (boxing each number).
/// Non-finite numbers are written as the strings "NaN", "Infinity" and "-Infinity", as the page expects.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    private var first = [true]  // per open container: whether the next value is its first

    init(capacity: Int = 1 << 12) { bytes.reserveCapacity(capacity) }

    private mutating func separate() {
        if first[first.count - 1] { first[first.count - 1] = false } else { bytes.append(UInt8(ascii: ",")) }
    }

    mutating func object(_ body: (inout JSONWriter) throws -> Void) rethrows {
        separate()
        bytes.append(UInt8(ascii: "{"))
        first.append(true)
        try body(&self)
        first.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }

    mutating func array<S: Sequence>(_ elements: S, _ write: (inout JSONWriter, S.Element) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "["))
        first.append(true)
        for e in elements { write(&self, e) }
        first.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    /// A key inside an object; the value written next belongs to it.
    mutating func key(_ name: String) {
        string(name)
        bytes.append(UInt8(ascii: ":"))
        first[first.count - 1] = true  // the value follows without a comma
    }

    mutating func string(_ s: String) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(b)
            case 0..<0x20: bytes.append(contentsOf: Array(String(format: "\\u%04x", b).utf8))
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func finite<F: BinaryFloatingPoint & LosslessStringConvertible>(_ v: F) {
        if v.isFinite {
            separate()
            bytes.append(contentsOf: v.description.utf8)
        } else {
            string(v.isNaN ? "NaN" : v > 0 ? "Infinity" : "-Infinity")
        }
    }

    mutating func number(_ v: Float) { finite(v) }
    mutating func number(_ v: Double) { finite(v) }
    mutating func number(_ v: Int) {
        separate()
        bytes.append(contentsOf: v.description.utf8)
    }
    mutating func bool(_ v: Bool) {
        separate()
        bytes.append(contentsOf: (v ? "true" : "false").utf8)
    }

    /// A value encoded by `JSONEncoder` (small ones: the configuration).
    mutating func encoded(_ value: some Encodable) throws {
        separate()
        bytes.append(contentsOf: try JSONEncoder().encode(value))
    }

    /// Bytes that are already JSON.
    mutating func raw(_ json: [UInt8]) {
        separate()
        bytes.append(contentsOf: json)
    }

    mutating func numbers(_ values: [Float]) { array(values) { $0.number($1) } }
    mutating func numbers(_ values: [Double]) { array(values) { $0.number($1) } }
}

/// A response body the server writes with ``JSONWriter``.
protocol JSONWritable {
    func write(to json: inout JSONWriter) throws
}

extension JSONWritable {
    /// The value as JSON bytes.
    func jsonBytes() throws -> [UInt8] {
        var w = JSONWriter()
        try write(to: &w)
        return w.bytes
    }
}

extension Snapshot: JSONWritable {
    func write(to json: inout JSONWriter) throws {
        try json.object { o in
            o.key("epoch"); o.number(epoch)
            o.key("trainLoss"); o.number(trainLoss)
            o.key("testLoss"); o.number(testLoss)
            o.key("playing"); o.bool(playing)
            o.key("dataVersion"); o.number(dataVersion)
            o.key("trainHistory"); o.numbers(trainHistory)
            o.key("testHistory"); o.numbers(testHistory)
            o.key("gridSize"); o.number(gridSize)
            o.key("output"); o.numbers(output)
            o.key("neuronGridSize"); o.number(neuronGridSize)
            o.key("neurons"); o.array(neurons) { w, layer in w.array(layer) { $0.numbers($1) } }
            o.key("weights"); o.array(weights) { w, layer in w.array(layer) { $0.numbers($1) } }
            o.key("biases"); o.array(biases) { $0.numbers($1) }
            o.key("gradientNorms"); o.numbers(gradientNorms)
            o.key("gradientHistory"); o.array(gradientHistory) { $0.numbers($1) }
            o.key("config"); try o.encoded(config)
        }
    }
}

extension PointsPayload: JSONWritable {
    func write(to json: inout JSONWriter) throws {
        json.object { o in
            o.key("dataVersion"); o.number(dataVersion)
            o.key("train"); o.array(train) { $0.numbers($1) }
            o.key("test"); o.array(test) { $0.numbers($1) }
        }
    }
}

extension Created: JSONWritable {
    func write(to json: inout JSONWriter) throws {
        json.object { o in
            o.key("id"); o.string(id)
            o.key("snapshot"); o.raw(snapshot)
        }
    }
}
