import AxonCore
import Foundation

/// A byte-level (character) tokenizer: each byte of UTF-8 text is one token, and the vocabulary is the set of
/// bytes it was built from, in byte order (ids 0..<count). Built from a corpus, it keeps the output layer of a
/// language model as small as the corpus's alphabet; ``allBytes`` covers any text.
public struct ByteTokenizer: Equatable, Sendable {
    /// The byte of each token id, ascending.
    public let vocabulary: [UInt8]
    /// Token id of each byte, -1 for bytes outside the vocabulary.
    private let ids: [Int]

    /// A tokenizer over `vocabulary` (distinct bytes, in any order; they are sorted).
    public init(vocabulary: [UInt8]) throws {
        let sorted = Array(Set(vocabulary)).sorted()
        guard sorted.count == vocabulary.count else { throw DataError("tokenizer vocabulary: a byte appears more than once") }
        guard !sorted.isEmpty else { throw DataError("tokenizer vocabulary: empty") }
        self.vocabulary = sorted
        var ids = [Int](repeating: -1, count: 256)
        for (i, b) in sorted.enumerated() { ids[Int(b)] = i }
        self.ids = ids
    }

    /// The tokenizer whose vocabulary is the bytes that occur in `corpus`.
    public init(fitting corpus: [UInt8]) throws {
        var seen = [Bool](repeating: false, count: 256)
        for b in corpus { seen[Int(b)] = true }
        try self.init(vocabulary: (0..<256).filter { seen[$0] }.map { UInt8($0) })
    }

    /// Every byte value: encodes any text.
    public static let allBytes = try! ByteTokenizer(vocabulary: (0..<256).map { UInt8($0) })  // 256 distinct bytes: cannot fail

    /// Number of tokens.
    public var count: Int { vocabulary.count }

    /// The token ids of `bytes`; a byte outside the vocabulary is an error that names it and its position.
    public func encode(_ bytes: [UInt8]) throws -> [Int] {
        try bytes.enumerated().map { i, b in
            let id = ids[Int(b)]
            guard id >= 0 else { throw DataError("byte \(b) (\(printable(b))) at offset \(i) is not in the tokenizer's vocabulary of \(count) bytes") }
            return id
        }
    }

    /// The token ids of `text`'s UTF-8 bytes.
    public func encode(_ text: String) throws -> [Int] { try encode(Array(text.utf8)) }

    /// The bytes of `tokens`; an id outside the vocabulary is an error.
    public func decodeBytes(_ tokens: [Int]) throws -> [UInt8] {
        try tokens.map { t in
            guard t >= 0 && t < count else { throw DataError("token \(t) is outside the vocabulary of \(count) bytes") }
            return vocabulary[t]
        }
    }

    /// The text of `tokens` (invalid UTF-8 sequences become U+FFFD, as `String(decoding:as:)`).
    public func decode(_ tokens: [Int]) throws -> String { String(decoding: try decodeBytes(tokens), as: UTF8.self) }

    private func printable(_ b: UInt8) -> String {
        b >= 32 && b < 127 ? "'\(Character(UnicodeScalar(b)))'" : String(format: "0x%02x", b)
    }
}

/// Next-token examples from a token stream, for language models: example i is the window of `context` tokens
/// starting at `offset + i·context`, and its target is the same window shifted by one token. Windows do not
/// overlap, so an epoch covers the text once; a ``DataLoader`` over this dataset moves `offset` to a new random
/// value in `0..<context` at the start of each epoch (drawn from the loader's generator, so a resumed run
/// sees the same windows). Inputs and targets are int64 `[B, context]`.
public final class TextDataset: Dataset, EpochDataset {
    /// The token stream.
    public let tokens: [Int]
    /// Tokens per example.
    public let context: Int
    /// Whether each epoch starts its windows at a new random offset (false: always at 0, as for validation).
    public let randomOffset: Bool
    /// Where this epoch's first window starts.
    public private(set) var offset = 0

    /// Windows of `context` tokens over `tokens`; the stream must hold at least one window and its target.
    public init(tokens: [Int], context: Int, randomOffset: Bool = true) throws {
        guard context > 0 else { throw DataError("text: context must be at least 1 token, got \(context)") }
        guard tokens.count > context else {
            throw DataError("text: \(tokens.count) tokens are too few for one window of \(context) and its next-token target")
        }
        self.tokens = tokens
        self.context = context
        self.randomOffset = randomOffset
    }

    /// Windows that fit after `offset` (each needs `context + 1` tokens, counting its last target).
    public var count: Int { (tokens.count - 1 - offset) / context }

    /// Chooses this epoch's offset.
    public func startEpoch(generator: AxonCore.Generator) {
        offset = randomOffset ? generator.nextInt(below: context) : 0
    }

    /// The windows at `indices` and their next-token targets.
    public func batch(_ indices: [Int]) -> (input: Tensor, target: Tensor) {
        var input = [Int](), target = [Int]()
        input.reserveCapacity(indices.count * context)
        target.reserveCapacity(indices.count * context)
        for i in indices {
            guard i >= 0 && i < count else { fatalError("Axon.TextDataset.batch: window \(i) is out of range for \(count) windows") }
            let start = offset + i * context
            input.append(contentsOf: tokens[start..<start + context])
            target.append(contentsOf: tokens[start + 1...start + context])
        }
        return (Tensor(shape: [indices.count, context], scalars: input), Tensor(shape: [indices.count, context], scalars: target))
    }

    /// Splits a token stream into training and validation datasets: the validation part is the last
    /// `validationFraction` of the text (not shuffled windows, which would overlap the training text) and
    /// always starts its windows at its beginning.
    public static func split(_ tokens: [Int], context: Int, validationFraction: Double) throws -> (train: TextDataset, validation: TextDataset) {
        guard validationFraction > 0 && validationFraction < 1 else {
            throw DataError("text: the validation fraction must be in (0, 1), got \(validationFraction)")
        }
        let cut = tokens.count - Int((Double(tokens.count) * validationFraction).rounded())
        return (try TextDataset(tokens: Array(tokens[..<cut]), context: context),
                try TextDataset(tokens: Array(tokens[cut...]), context: context, randomOffset: false))
    }
}

/// Reads text for a language model: a file, or every regular file of a directory tree in path order
/// (`fortunes` directories hold `.dat` index files and symbolic links beside the text: those are skipped).
/// Errors name the path.
public enum TextCorpus {
    /// The bytes of `path`'s text, files joined in path order.
    public static func load(_ path: String) throws -> [UInt8] {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else { throw DataError("\(path): no such file or directory") }
        let files: [String]
        if isDirectory.boolValue {
            guard let walker = manager.enumerator(atPath: path) else { throw DataError("\(path): cannot list the directory") }
            var found: [String] = []
            while let relative = walker.nextObject() as? String {
                let full = (path as NSString).appendingPathComponent(relative)
                let attributes = try? manager.attributesOfItem(atPath: full)
                guard attributes?[.type] as? FileAttributeType == .typeRegular, !relative.hasSuffix(".dat") else { continue }
                found.append(full)
            }
            files = found.sorted()
        } else {
            files = [path]
        }
        var bytes: [UInt8] = []
        for file in files {
            guard let data = manager.contents(atPath: file) else { throw DataError("\(file): cannot read the file") }
            bytes.append(contentsOf: data)
        }
        guard !bytes.isEmpty else { throw DataError("\(path): no text") }
        return bytes
    }
}
