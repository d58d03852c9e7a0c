import AxonCore
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A problem reading or writing a checkpoint: what was wrong, and in which file.
public struct CheckpointError: Error, CustomStringConvertible, Equatable {
    /// The message, naming the file.
    public let description: String
    /// An error with a message.
    public init(_ description: String) { self.description = description }
}

/// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header mapping
/// each name to `{dtype, shape, data_offsets}` plus optional `__metadata__` strings, then the raw
/// little-endian data. Files written here load with `safetensors.torch.load_file`, and files written by
/// Python's `safetensors` load here.
public enum SafeTensors {
    /// Largest header accepted when reading (a corrupt length must not cause a huge allocation).
    public static let maxHeaderBytes = 100 << 20

    /// Encodes tensors (in `order`, default sorted by name) and string metadata.
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:], order: [String]? = nil) -> Data {
        let names = order ?? tensors.keys.sorted()
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var body = Data()
        for name in names {
            guard let t = tensors[name] else { continue }
            let start = body.count
            let code: String
            switch t.dtype {
            case .float32: code = "F32"; t.scalars.withUnsafeBytes { body.append(contentsOf: $0) }
            case .float64: code = "F64"; t.doubleScalars.withUnsafeBytes { body.append(contentsOf: $0) }
            case .int64: code = "I64"; t.intScalars.map { Int64($0) }.withUnsafeBytes { body.append(contentsOf: $0) }
            case .bool: code = "BOOL"; body.append(contentsOf: t.boolScalars.map { $0 ? UInt8(1) : 0 })
            }
            header[name] = ["dtype": code, "shape": t.shape, "data_offsets": [start, body.count]] as [String: Any]
        }
        var json = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data("{}".utf8)
        while json.count % 8 != 0 { json.append(0x20) }  // pad with spaces so the data is 8-byte aligned
        var out = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        out.append(body)
        return out
    }

    /// Decodes a safetensors buffer, checking every length, offset, dtype and shape; `source` names it in
    /// errors. Floating types become float32 (float64 stays float64); integer types become int64, and bool stays bool.
    public static func decode(_ data: Data, source: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        guard data.count >= 8 else { throw CheckpointError("\(source): too short to be a safetensors file (\(data.count) bytes)") }
        let n = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard n <= UInt64(maxHeaderBytes) else {
            throw CheckpointError("\(source): header claims \(n) bytes, more than the \(maxHeaderBytes)-byte limit (corrupt file?)")
        }
        guard n <= UInt64(data.count - 8) else {
            throw CheckpointError("\(source): header claims \(n) bytes but the file has only \(data.count - 8) after the length (truncated?)")
        }
        let headerData = data.subdata(in: (data.startIndex + 8)..<(data.startIndex + 8 + Int(n)))
        guard let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any] else {
            throw CheckpointError("\(source): header is not a JSON object")
        }
        let bodyStart = data.startIndex + 8 + Int(n)
        let bodyCount = data.count - 8 - Int(n)
        var metadata: [String: String] = [:]
        var tensors: [String: Tensor] = [:]
        var spans: [(Int, Int)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw CheckpointError("\(source): __metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw CheckpointError("\(source): metadata '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shapeAny = entry["shape"] as? [Any], let offsetsAny = entry["data_offsets"] as? [Any], offsetsAny.count == 2,
                  let shape = shapeAny.map({ ($0 as? NSNumber)?.intValue }) as? [Int],
                  let offsets = offsetsAny.map({ ($0 as? NSNumber)?.intValue }) as? [Int] else {
                throw CheckpointError("\(source): entry '\(name)' needs dtype, shape and two data_offsets")
            }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw CheckpointError("\(source): '\(name)' has a negative dimension in \(shape)") }
            let size: Int
            switch dtype {
            case "F64", "I64": size = 8
            case "F32", "I32": size = 4
            case "F16", "BF16", "I16": size = 2
            case "I8", "U8", "BOOL": size = 1
            default: throw CheckpointError("\(source): '\(name)' has unsupported dtype \(dtype)")
            }
            var count = 1
            for d in shape {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard !o, p <= bodyCount else { throw CheckpointError("\(source): '\(name)' shape \(shape) exceeds the file") }
                count = p
            }
            let (start, end) = (offsets[0], offsets[1])
            guard start >= 0, end >= start, end <= bodyCount else {
                throw CheckpointError("\(source): '\(name)' data offsets [\(start), \(end)] fall outside the \(bodyCount)-byte data section (truncated?)")
            }
            guard end - start == count * size else {
                throw CheckpointError("\(source): '\(name)' has \(end - start) bytes for shape \(shape) of \(dtype) (needs \(count * size))")
            }
            spans.append((start, end))
            let bytes = [UInt8](data[(bodyStart + start)..<(bodyStart + end)])
            tensors[name] = convert(bytes, dtype: dtype, shape: shape, count: count)
        }
        spans.sort { $0.0 < $1.0 }
        var cursor = 0
        for (s, e) in spans {
            guard s == cursor else { throw CheckpointError("\(source): tensor data overlaps or leaves a gap at byte \(min(s, cursor))") }
            cursor = e
        }
        return (tensors, metadata)
    }

    private static func convert(_ b: [UInt8], dtype: String, shape: [Int], count: Int) -> Tensor {
        func le<T: FixedWidthInteger>(_ i: Int, _: T.Type) -> T {
            var v: T = 0
            for k in 0..<MemoryLayout<T>.size { v |= T(truncatingIfNeeded: b[i * MemoryLayout<T>.size + k]) << (8 * k) }
            return v
        }
        switch dtype {
        case "F32": return Tensor(shape: shape, scalars: (0..<count).map { Float(bitPattern: le($0, UInt32.self)) })
        case "F64": return Tensor(shape: shape, scalars: (0..<count).map { Double(bitPattern: le($0, UInt64.self)) })
        case "F16":
            return Tensor(shape: shape, scalars: (0..<count).map { Float(halfBits: le($0, UInt16.self)) })
        case "BF16": return Tensor(shape: shape, scalars: (0..<count).map { Float(bitPattern: UInt32(le($0, UInt16.self)) << 16) })
        case "I64": return Tensor(shape: shape, scalars: (0..<count).map { Int(Int64(bitPattern: le($0, UInt64.self))) })
        case "I32": return Tensor(shape: shape, scalars: (0..<count).map { Int(Int32(bitPattern: le($0, UInt32.self))) })
        case "I16": return Tensor(shape: shape, scalars: (0..<count).map { Int(Int16(bitPattern: le($0, UInt16.self))) })
        case "I8": return Tensor(shape: shape, scalars: (0..<count).map { Int(Int8(bitPattern: b[$0])) })
        case "BOOL": return Tensor(shape: shape, scalars: (0..<count).map { b[$0] != 0 })
        default: return Tensor(shape: shape, scalars: (0..<count).map { Int(b[$0]) })  // U8
        }
    }

    /// Writes tensors and metadata to `path` atomically (see ``writeAtomically(_:to:creatingFolder:)``).
    public static func save(_ tensors: [String: Tensor], metadata: [String: String] = [:], order: [String]? = nil,
                            to path: String) throws {
        try writeAtomically(encode(tensors, metadata: metadata, order: order), to: path)
    }

    /// Reads and validates a safetensors file.
    public static func load(path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError(FileManager.default.fileExists(atPath: path) ? "\(path): cannot be read" : "\(path): no such file")
        }
        return try decode(data, source: path)
    }

    /// Writes `data` to `path` so that a crash at any moment leaves either the old file or the new one,
    /// whole: write a temporary file in the same folder, fsync it, rename it over `path`, fsync the folder.
    /// With `creatingFolder`, the folders above `path` are made first when missing.
    public static func writeAtomically(_ data: Data, to path: String, creatingFolder: Bool = false) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        if creatingFolder { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        let temporary = folder + "/.\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw CheckpointError("\(path): cannot create a temporary file in \(folder) (\(String(cString: strerror(errno))))") }
        var ok = false
        defer {
            if !ok { close(fd); unlink(temporary) }
        }
        let chunk = 1 << 20
        var written = 0
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            while written < raw.count {
                let n = write(fd, raw.baseAddress! + written, min(chunk, raw.count - written))  // written < count: non-empty
                if n < 0 {
                    if errno == EINTR { continue }
                    throw CheckpointError("\(path): write failed (\(String(cString: strerror(errno))))")
                }
                written += n
            }
        }
        guard fsync(fd) == 0 else { throw CheckpointError("\(path): fsync failed (\(String(cString: strerror(errno))))") }
        close(fd)
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            ok = true
            throw CheckpointError("\(path): rename failed (\(String(cString: strerror(errno))))")
        }
        ok = true
        let dir = open(folder, O_RDONLY)
        if dir >= 0 { fsync(dir); close(dir) }
    }
}

extension Float {
    /// A Float from IEEE half-precision bits.
    init(halfBits h: UInt16) {
        let sign = UInt32(h >> 15) << 31, exponent = Int((h >> 10) & 0x1f), mantissa = UInt32(h & 0x3ff)
        if exponent == 0 {
            self = (sign != 0 ? -1 : 1) * Float(mantissa) * 0x1p-24
        } else if exponent == 31 {
            self = Float(bitPattern: sign | 0x7f80_0000 | mantissa << 13)
        } else {
            self = Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | mantissa << 13)
        }
    }
}
