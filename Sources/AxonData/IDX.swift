import AxonCore
import CZlib
import Foundation

/// Reader of the IDX format (MNIST's), plain or gzip-compressed.
public enum IDX {
    /// Largest decompressed size and element count accepted by default (a guard against corrupt or hostile
    /// files): 2^31. The readers take a smaller `maxBytes` where the caller knows better.
    public static let maxBytes = 1 << 31

    /// Reads an IDX file into a tensor: unsigned and signed bytes, shorts and ints become int64 unless
    /// `asFloat`, floats and doubles become float32. Shape is the file's dimensions.
    public static func load(path: String, asFloat: Bool = false, scale: Float = 1) throws -> Tensor {
        try parse(bytes: try contents(path), source: path, asFloat: asFloat, scale: scale)
    }

    /// Reads an IDX file of unsigned bytes (type 0x08: images) as its raw elements and its dimensions,
    /// without widening them: a quarter of float32's memory. Other element types are refused.
    public static func loadBytes(path: String) throws -> (bytes: [UInt8], shape: [Int]) {
        var b = try contents(path)
        let (type, shape, start) = try header(b, source: path)
        guard type == 0x08 else {
            throw DataError("\(path): expected unsigned bytes (IDX type 0x08), found type 0x\(String(type, radix: 16))")
        }
        let count = shape.reduce(1, *)
        b.removeSubrange(0..<start)  // in place: no second copy of the data
        b.removeSubrange(count...)
        return (b, shape)
    }

    /// The file's bytes, decompressed when gzip.
    static func contents(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(FileManager.default.fileExists(atPath: path) ? "\(path): cannot be read" : "\(path): no such file")
        }
        return try bytes(of: data, source: path, maxBytes: maxBytes)
    }

    /// The bytes of IDX data, decompressed when gzip.
    static func bytes(of data: Data, source: String, maxBytes: Int) throws -> [UInt8] {
        if data.count >= 2 && data[data.startIndex] == 0x1f && data[data.startIndex + 1] == 0x8b {
            return try gunzipBytes(data, source: source, maxBytes: maxBytes)
        }
        return [UInt8](data)
    }

    /// Element type, dimensions and data offset of IDX bytes; checks that the data is all there.
    static func header(_ b: [UInt8], source: String, maxBytes: Int = maxBytes) throws -> (type: UInt8, shape: [Int], start: Int) {
        guard b.count >= 4, b[0] == 0, b[1] == 0 else { throw DataError("\(source): not an IDX file (bad magic number)") }
        let type = b[2], rank = Int(b[3])
        let size: Int
        switch type {
        case 0x08, 0x09: size = 1
        case 0x0B: size = 2
        case 0x0C, 0x0D: size = 4
        case 0x0E: size = 8
        default: throw DataError("\(source): unknown IDX element type 0x\(String(type, radix: 16))")
        }
        guard rank >= 1 && rank <= 8 else { throw DataError("\(source): unsupported rank \(rank)") }
        guard b.count >= 4 + 4 * rank else { throw DataError("\(source): truncated header") }
        var shape: [Int] = []
        var count = 1
        for d in 0..<rank {
            let o = 4 + 4 * d
            let v = Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3])
            shape.append(v)
            let (product, overflow) = count.multipliedReportingOverflow(by: v)
            guard !overflow, product <= maxBytes else { throw DataError("\(source): dimensions \(shape) are too large") }
            count = product
        }
        let start = 4 + 4 * rank, needed = count * size
        guard b.count - start >= needed else {
            throw DataError("\(source): truncated: dimensions \(shape) need \(needed) bytes of data, found \(b.count - start)")
        }
        return (type, shape, start)
    }

    /// Parses IDX data, plain or gzip (see ``load(path:asFloat:scale:)``); `source` names the data in errors.
    /// Data that decompresses to more than `maxBytes`, or declares more elements, is refused before it is read.
    public static func parse(_ data: Data, source: String, asFloat: Bool = false, scale: Float = 1,
                             maxBytes: Int = IDX.maxBytes) throws -> Tensor {
        try parse(bytes: try bytes(of: data, source: source, maxBytes: maxBytes), source: source, asFloat: asFloat, scale: scale,
                  maxBytes: maxBytes)
    }

    static func parse(bytes b: [UInt8], source: String, asFloat: Bool, scale: Float, maxBytes: Int = maxBytes) throws -> Tensor {
        let (type, shape, start) = try header(b, source: source, maxBytes: maxBytes)
        let count = shape.reduce(1, *)
        let size = type == 0x08 || type == 0x09 ? 1 : type == 0x0B ? 2 : type == 0x0E ? 8 : 4
        func value(_ i: Int) -> Double {
            let o = start + i * size
            switch type {
            case 0x08: return Double(b[o])
            case 0x09: return Double(Int8(bitPattern: b[o]))
            case 0x0B: return Double(Int16(bitPattern: UInt16(b[o]) << 8 | UInt16(b[o + 1])))
            case 0x0C: return Double(Int32(bitPattern: UInt32(b[o]) << 24 | UInt32(b[o + 1]) << 16 | UInt32(b[o + 2]) << 8 | UInt32(b[o + 3])))
            case 0x0D: return Double(Float(bitPattern: UInt32(b[o]) << 24 | UInt32(b[o + 1]) << 16 | UInt32(b[o + 2]) << 8 | UInt32(b[o + 3])))
            default:
                var u: UInt64 = 0
                for k in 0..<8 { u = u << 8 | UInt64(b[o + k]) }
                return Double(bitPattern: u)
            }
        }
        if type == 0x08 && asFloat {  // the common case (images), without a per-element switch
            return Tensor(shape: shape, scalars: b[start..<(start + count)].map { Float($0) * scale })
        }
        if asFloat || type == 0x0D || type == 0x0E {
            return Tensor(shape: shape, scalars: (0..<count).map { Float(value($0)) * scale })
        }
        return Tensor(shape: shape, scalars: (0..<count).map { Int(value($0)) })
    }

    /// Decompresses gzip data with zlib, refusing output beyond ``maxBytes``.
    static func gunzip(_ data: Data, source: String) throws -> Data { Data(try gunzipBytes(data, source: source, maxBytes: maxBytes)) }

    /// Decompresses gzip data into a byte array sized from the gzip trailer (so it is not regrown).
    static func gunzipBytes(_ data: Data, source: String, maxBytes: Int) throws -> [UInt8] {
        guard !data.isEmpty else { throw DataError("\(source): empty gzip data") }
        var stream = z_stream()
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DataError("\(source): zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        if data.count >= 18 {  // ISIZE: the uncompressed size modulo 2^32, a hint only (deflate expands at most 1032-fold)
            let e = data.endIndex
            let hint = Int(data[e - 4]) | Int(data[e - 3]) << 8 | Int(data[e - 2]) << 16 | Int(data[e - 1]) << 24
            out.reserveCapacity(min(hint, maxBytes, 1032 * data.count) + 1)
        }
        // Keep within the bound while inflating: chunks are appended only while the output stays under it.
        let chunkBytes = min(1 << 20, maxBytes + 1)
        var chunk = [UInt8](repeating: 0, count: chunkBytes)
        var status: Int32 = Z_OK
        data.withUnsafeBytes { (src: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress!.assumingMemoryBound(to: Bytef.self))  // non-empty, checked above
            stream.avail_in = uInt(src.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { dst in
                    stream.next_out = dst.baseAddress
                    stream.avail_out = uInt(dst.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    out.append(contentsOf: dst[0..<(dst.count - Int(stream.avail_out))])
                }
            } while status == Z_OK && out.count <= maxBytes
        }
        guard out.count <= maxBytes else { throw DataError("\(source): decompresses to more than \(maxBytes) bytes") }
        guard status == Z_STREAM_END else {
            throw DataError("\(source): corrupt or truncated gzip data (zlib status \(status) after \(out.count) bytes)")
        }
        return out
    }
}

/// MNIST-format image datasets: MNIST, Fashion-MNIST, or any folder with the four IDX files
/// (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`, `t10k-images-...`, `t10k-labels-...`).
public enum MNIST {
    /// Where Debian's `dataset-fashion-mnist` installs Fashion-MNIST.
    public static let fashionMNISTFolder = "/usr/share/datasets/fashion-mnist"
    /// Fashion-MNIST's class names, by index.
    public static let fashionClassNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                           "Sneaker", "Bag", "Ankle boot"]

    /// Which half of the data.
    public enum Split: String, Sendable { case train, test }

    /// Images `[N, 1, 28, 28]` scaled to [0, 1] and labels `[N]` (int64) of one split from `folder`.
    public static func load(folder: String = fashionMNISTFolder, split: Split) throws -> TensorDataset {
        let prefix = split == .train ? "train" : "t10k"
        func find(_ stem: String) throws -> String {
            for name in [stem + ".gz", stem] {
                let path = (folder as NSString).appendingPathComponent(name)
                if FileManager.default.fileExists(atPath: path) { return path }
            }
            throw DataError("\(folder): no \(stem)[.gz] (expected MNIST-format IDX files; Fashion-MNIST: apt-get install dataset-fashion-mnist)")
        }
        let images = try IDX.loadBytes(path: try find("\(prefix)-images-idx3-ubyte"))
        let labelsPath = try find("\(prefix)-labels-idx1-ubyte")
        let labels = try IDX.load(path: labelsPath)
        guard images.shape.count == 3, labels.rank == 1, images.shape[0] == labels.shape[0] else {
            throw DataError("\(folder): images \(images.shape) and labels \(labels.shape) do not match")
        }
        // Kept as bytes (decoded per batch): the values are Float(byte) / 255 as before, in a quarter of the memory.
        let shape = [images.shape[0], 1, images.shape[1], images.shape[2]]
        let dataset = TensorDataset(bytes: .init(bytes: images.bytes, shape: shape, scale: 1 / 255), targets: labels)
        try dataset.checkClassIndices(below: 10, source: labelsPath)  // MNIST's format has ten classes
        return dataset
    }
}
