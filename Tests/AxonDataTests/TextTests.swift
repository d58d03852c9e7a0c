import Axon
import Foundation
import XCTest

/// The byte tokenizer, next-token windows and the text reader.
final class TextTests: XCTestCase {
    func testTokenizerRoundTripsItsCorpusAndNamesUnknownBytes() throws {
        let corpus = Array("hello, world\n".utf8)
        let tokenizer = try ByteTokenizer(fitting: corpus)
        XCTAssertEqual(tokenizer.vocabulary, Array(Set(corpus)).sorted())
        XCTAssertEqual(tokenizer.count, 10)  // h e l o , space w r d newline
        let ids = try tokenizer.encode(corpus)
        XCTAssertEqual(ids.count, corpus.count)
        XCTAssertTrue(ids.allSatisfy { $0 >= 0 && $0 < tokenizer.count })
        XCTAssertEqual(try tokenizer.decode(ids), "hello, world\n")
        XCTAssertThrowsError(try tokenizer.encode("help")) { error in
            XCTAssertEqual((error as? DataError)?.description, "byte 112 ('p') at offset 3 is not in the tokenizer's vocabulary of 10 bytes")
        }
        XCTAssertThrowsError(try tokenizer.decode([10]))
        XCTAssertThrowsError(try ByteTokenizer(vocabulary: [1, 1]))
        // Any text through the full byte vocabulary, multi-byte characters included.
        XCTAssertEqual(try ByteTokenizer.allBytes.decode(try ByteTokenizer.allBytes.encode("naïve — ok")), "naïve — ok")
    }

    func testWindowsCoverTheTextOnceWithNextTokenTargets() throws {
        let tokens = Array(0..<103)
        let data = try TextDataset(tokens: tokens, context: 10)
        XCTAssertEqual(data.count, 10)  // 102 tokens have a successor: ten windows of 10
        let (x, y) = data.batch([0, 3])
        XCTAssertEqual(x.shape, [2, 10])
        XCTAssertEqual(x.dtype, .int64)
        XCTAssertEqual(x.intScalars, Array(0..<10) + Array(30..<40))
        XCTAssertEqual(y.intScalars, Array(1..<11) + Array(31..<41))

        // Through a shuffling loader: each epoch starts at a new offset, and its windows are disjoint,
        // consecutive and cover the text from the offset on.
        let loader = DataLoader(data, batchSize: 4, shuffle: true, seed: 7)
        var offsets: [Int] = []
        for _ in 0..<6 {
            var starts: [Int] = []
            for (input, target) in loader {
                let rows = input.intScalars, next = target.intScalars
                for r in 0..<input.shape[0] {
                    let window = Array(rows[r * 10..<(r + 1) * 10])
                    XCTAssertEqual(window, Array(window[0]..<window[0] + 10))
                    XCTAssertEqual(Array(next[r * 10..<(r + 1) * 10]), window.map { $0 + 1 })
                    starts.append(window[0])
                }
            }
            let offset = data.offset
            offsets.append(offset)
            XCTAssertEqual(starts.sorted(), Array(stride(from: offset, through: 102 - 10, by: 10)).filter { $0 + 10 <= 102 })
        }
        XCTAssertGreaterThan(Set(offsets).count, 1, "offsets \(offsets)")
        // The same seed draws the same offsets.
        let again = try TextDataset(tokens: tokens, context: 10)
        let loader2 = DataLoader(again, batchSize: 4, shuffle: true, seed: 7)
        var offsets2: [Int] = []
        for _ in 0..<6 { for _ in loader2 {}; offsets2.append(again.offset) }
        XCTAssertEqual(offsets, offsets2)
    }

    func testValidationIsTheEndOfTheText() throws {
        let tokens = Array(0..<1000)
        let (train, validation) = try TextDataset.split(tokens, context: 16, validationFraction: 0.1)
        XCTAssertEqual(train.tokens, Array(0..<900))
        XCTAssertEqual(validation.tokens, Array(900..<1000))
        for _ in DataLoader(validation, batchSize: 8, shuffle: true, seed: 1) {}
        XCTAssertEqual(validation.offset, 0, "validation windows always start at the beginning of their part")
        XCTAssertThrowsError(try TextDataset.split(tokens, context: 16, validationFraction: 1))
        XCTAssertThrowsError(try TextDataset(tokens: [1, 2, 3], context: 3)) { error in
            XCTAssertTrue("\(error)".contains("too few for one window of 3"), "\(error)")
        }
    }

    func testCorpusReadsAFileOrADirectoryTreeAndSkipsIndexFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("axon-text-\(getpid())")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("sub"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "b text\n".write(to: dir.appendingPathComponent("b"), atomically: true, encoding: .utf8)
        try "a text\n".write(to: dir.appendingPathComponent("a"), atomically: true, encoding: .utf8)
        try Data([0, 1, 2, 255]).write(to: dir.appendingPathComponent("a.dat"))
        try "nested\n".write(to: dir.appendingPathComponent("sub/c"), atomically: true, encoding: .utf8)
        XCTAssertEqual(String(decoding: try TextCorpus.load(dir.path), as: UTF8.self), "a text\nb text\nnested\n")
        XCTAssertEqual(String(decoding: try TextCorpus.load(dir.appendingPathComponent("b").path), as: UTF8.self), "b text\n")
        XCTAssertThrowsError(try TextCorpus.load(dir.appendingPathComponent("missing").path)) { error in
            XCTAssertTrue("\(error)".hasSuffix("missing: no such file or directory"), "\(error)")
        }
    }
}
