import AxonCore
import CZlib
import Foundation

/// Reader of the IDX format (MNIST's), plain or gzip-compressed.
public enum IDX {
    /// Largest decompressed size accepted (a guard against corrupt or hostile files).
    public static let maxBytes = 1 << 31

    /// Reads an IDX file into a tensor: unsigned and signed bytes, shorts and ints become int64 unless
    /// `asFloat`, floats and doubles become float32. Shape is the file's dimensions.
    public static func load(path: String, asFloat: Bool = false, scale: Float = 1) throws -> Tensor {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(FileManager.default.fileExists(atPath: path) ? "\(path): cannot be read" : "\(path): no such file")
        }
        let bytes = data.count >= 2 && data[data.startIndex] == 0x1f && data[data.startIndex + 1] == 0x8b
            ? try gunzip(data, source: path) : data
        return try parse(bytes, source: path, asFloat: asFloat, scale: scale)
    }

    /// Parses IDX bytes (see ``load(path:asFloat:scale:)``); `source` names the data in errors.
    public static func parse(_ data: Data, source: String, asFloat: Bool = false, scale: Float = 1) throws -> Tensor {
        let b = [UInt8](data)
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
    static func gunzip(_ data: Data, source: String) throws -> Data {
        var stream = z_stream()
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DataError("\(source): zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var out = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        let input = [UInt8](data)
        var status: Int32 = Z_OK
        input.withUnsafeBufferPointer { src in
            stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress)
            stream.avail_in = uInt(src.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { dst in
                    stream.next_out = dst.baseAddress
                    stream.avail_out = uInt(dst.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    out.append(dst.baseAddress!, count: dst.count - Int(stream.avail_out))
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
        let images = try IDX.load(path: try find("\(prefix)-images-idx3-ubyte"), asFloat: true, scale: 1 / 255)
        let labels = try IDX.load(path: try find("\(prefix)-labels-idx1-ubyte"))
        guard images.rank == 3, labels.rank == 1, images.shape[0] == labels.shape[0] else {
            throw DataError("\(folder): images \(images.shape) and labels \(labels.shape) do not match")
        }
        return TensorDataset(inputs: images.unsqueezed(axis: 1), targets: labels)
    }
}
