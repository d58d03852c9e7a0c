import Axon
import Foundation
import XCTest

final class DataTests: XCTestCase {
    func testDataLoaderBatchesShufflesAndIsReproducible() throws {
        let d = try TensorDataset(inputs: Tensor.arange(0, 10).reshaped([10, 1]), targets: Tensor(shape: [10], scalars: Array(0..<10)))
        let plain = DataLoader(d, batchSize: 4)
        XCTAssertEqual(plain.map { $0.input.shape[0] }, [4, 4, 2])
        XCTAssertEqual(plain.batchCount, 3)
        XCTAssertEqual(plain.flatMap { $0.target.intScalars }, Array(0..<10))
        XCTAssertEqual(DataLoader(d, batchSize: 4, dropLast: true).map { $0.input.shape[0] }, [4, 4])
        let a = DataLoader(d, batchSize: 3, shuffle: true, seed: 7), b = DataLoader(d, batchSize: 3, shuffle: true, seed: 7)
        let epochA1 = a.flatMap { $0.target.intScalars }, epochA2 = a.flatMap { $0.target.intScalars }
        XCTAssertEqual(epochA1, b.flatMap { $0.target.intScalars }, "same seed, same batches")
        XCTAssertEqual(epochA2, b.flatMap { $0.target.intScalars }, "and the same second epoch")
        XCTAssertNotEqual(epochA1, epochA2, "each epoch draws a new order")
        XCTAssertEqual(epochA1.sorted(), Array(0..<10))
        XCTAssertEqual(a.map { $0.input.scalars.map { Int($0) } }.flatMap { $0 }.count, 10)
    }

    /// A dataset that records the loader's hints.
    final class HintedDataset: Dataset {
        let inner: TensorDataset
        var hints: [[Int]] = []
        var served: [[Int]] = []
        init(_ inner: TensorDataset) { self.inner = inner }
        var count: Int { inner.count }
        func batch(_ indices: [Int]) -> (input: Tensor, target: Tensor) { served.append(indices); return inner.batch(indices) }
        func prefetch(_ indices: [Int]) { hints.append(indices) }
    }

    /// As it hands out a batch, the loader hints the next batch's examples to the dataset, and no hint past the last.
    func testDataLoaderHintsTheNextBatch() throws {
        let d = HintedDataset(try TensorDataset(inputs: Tensor.arange(0, 10).reshaped([10, 1]),
                                                targets: Tensor(shape: [10], scalars: Array(0..<10))))
        let loader = DataLoader(d, batchSize: 4, shuffle: true, seed: 3)
        XCTAssertEqual(loader.map { $0.input.shape[0] }, [4, 4, 2])
        XCTAssertEqual(d.served.count, 3)
        XCTAssertEqual(d.hints, Array(d.served.dropFirst()), "each hint is the batch served next")
        // The default hint does nothing, and a byte dataset ignores indices it does not hold.
        XCTAssertNoThrow(d.inner.prefetch([0, 9]))
        let bytes = try MNIST.load(split: .test)
        bytes.prefetch([0, 9999, -1, 10_000])
        bytes.subset([]).prefetch([])  // an empty byte dataset has no buffer to point into
        XCTAssertEqual(bytes.batch([9999]).input.scalars, bytes.inputs[9999].scalars)
    }

    func testPlaygroundDatasets() {
        for kind in Playground.Kind.allCases {
            let d = Playground.make(kind, samples: 400, noise: 10, trainRatio: 70, generator: Generator(seed: 1))
            XCTAssertEqual(d.train.count, 280, "\(kind)")
            XCTAssertEqual(d.test.count, 120, "\(kind)")
            XCTAssertEqual(d.train.inputs.shape, [280, 2])
            XCTAssertLessThan(d.train.inputs.abs().max().item, 12, "\(kind) points stay near [-6, 6]")
            if kind.isClassification {
                XCTAssertEqual(d.train.targets.dtype, .int64)
                let ones = d.train.targets.intScalars.filter { $0 == 1 }.count + d.test.targets.intScalars.filter { $0 == 1 }.count
                XCTAssertEqual(Double(ones) / 400, 0.5, accuracy: kind == .xor || kind == .circle ? 0.15 : 0.01, "\(kind) balance")
            } else {
                XCTAssertEqual(d.train.targets.shape, [280, 1])
                XCTAssertLessThanOrEqual(d.train.targets.abs().max().item, 1.5)
            }
            let again = Playground.make(kind, samples: 400, noise: 10, trainRatio: 70, generator: Generator(seed: 1))
            XCTAssertEqual(again.train.inputs.scalars, d.train.inputs.scalars, "\(kind) is reproducible")
        }
        // Without noise, the circle's labels follow the radius exactly.
        let c = Playground.make(.circle, samples: 200, generator: Generator(seed: 2))
        for (p, l) in zip(c.train.inputs.scalars.chunked(2), c.train.targets.intScalars) {
            XCTAssertEqual((p[0] * p[0] + p[1] * p[1]).squareRoot() < 2.5, l == 1)
        }
    }

    func testCSV() throws {
        let text = "x1,x2,species\n1,2,cat\n3,4,dog\n\n5,6,cat\n"
        let t = try CSVTable.parse(text, source: "pets.csv", label: .name("species"))
        XCTAssertEqual(t.features.shape, [3, 2])
        XCTAssertEqual(t.labels?.intScalars, [0, 1, 0])
        XCTAssertEqual(t.classNames, ["cat", "dog"])
        XCTAssertEqual(t.featureNames, ["x1", "x2"])
        let byIndex = try CSVTable.parse("a,b,c\n1,0,2.5\n2,1,3.5\n", source: "r.csv", label: .index(-1), task: .regression)
        XCTAssertEqual(byIndex.labels?.shape, [2, 1])
        XCTAssertEqual(byIndex.labels?.scalars, [2.5, 3.5])
        let quoted = try CSVTable.parse("\"a, b\",y\n\"1\",1\n", source: "q.csv", label: .name("y"))
        XCTAssertEqual(quoted.featureNames, ["a, b"])
        let numeric = try CSVTable.parse("x,y\n0.5,2\n1,0\n", source: "n.csv", label: .name("y"))
        XCTAssertEqual(numeric.labels?.intScalars, [2, 0])
        XCTAssertNil(numeric.classNames)

        func error(_ text: String, label: CSVTable.LabelColumn? = .name("y"), task: CSVTable.Task = .classification) -> String {
            do { _ = try CSVTable.parse(text, source: "bad.csv", label: label, task: task); return "no error" }
            catch { return "\(error)" }
        }
        XCTAssertEqual(error("x,y\n1,0\nabc,1\n"), "bad.csv:3:1: 'abc' is not a finite number (column 'x')")
        XCTAssertEqual(error("x,y\n1,0\n2\n"), "bad.csv:3: expected 2 fields, found 1")
        XCTAssertEqual(error("x,z\n1,0\n"), "bad.csv: no column named 'y' (columns: x, z)")
        XCTAssertEqual(error("x,y\n1,0\n2,nan\n", task: .regression), "bad.csv:3:2: label 'nan' is not a finite number (column 'y')")
        XCTAssertEqual(error("x,y\n\"1,0\n"), "bad.csv:2: unterminated quoted field")
        XCTAssertEqual(error("x,y\n"), "bad.csv: header but no data rows")
        XCTAssertThrowsError(try CSVTable.load(path: "/nonexistent/file.csv", label: nil)) { e in
            XCTAssertEqual("\(e)", "/nonexistent/file.csv: no such file")
        }
    }

    func idxBytes(_ dims: [Int], _ payload: [UInt8]) -> Data {
        var b: [UInt8] = [0, 0, 0x08, UInt8(dims.count)]
        for d in dims { b += [UInt8(d >> 24 & 0xff), UInt8(d >> 16 & 0xff), UInt8(d >> 8 & 0xff), UInt8(d & 0xff)] }
        return Data(b + payload)
    }

    func testIDXPlainGzipAndCorruptFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("axon-idx-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let plain = dir.appendingPathComponent("x-idx3-ubyte").path
        try idxBytes([2, 2, 3], Array(0..<12)).write(to: URL(fileURLWithPath: plain))
        let t = try IDX.load(path: plain)
        XCTAssertEqual(t.shape, [2, 2, 3])
        XCTAssertEqual(t.intScalars, Array(0..<12))
        XCTAssertEqual(try IDX.load(path: plain, asFloat: true, scale: 0.5).scalars.last, 5.5)
        // gzip it with the system's gzip and read it back.
        let gz = Process()
        gz.executableURL = URL(fileURLWithPath: "/bin/sh")
        gz.arguments = ["-c", "gzip -k '\(plain)'"]
        try gz.run(); gz.waitUntilExit()
        XCTAssertEqual(try IDX.load(path: plain + ".gz").intScalars, Array(0..<12))

        func error(_ data: Data) -> String {
            do { _ = try IDX.parse(data, source: "f.idx"); return "no error" } catch { return "\(error)" }
        }
        XCTAssertEqual(error(idxBytes([2, 3], [1, 2, 3])), "f.idx: truncated: dimensions [2, 3] need 6 bytes of data, found 3")
        XCTAssertEqual(error(Data([1, 2, 3, 4])), "f.idx: not an IDX file (bad magic number)")
        XCTAssertEqual(error(idxBytes([0x7fff_ffff, 0x7fff_ffff], [])), "f.idx: dimensions [2147483647, 2147483647] are too large")
        // Corrupt gzip: a valid header, then garbage.
        let bad = dir.appendingPathComponent("bad.gz").path
        try Data([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xde, 0xad, 0xbe, 0xef]).write(to: URL(fileURLWithPath: bad))
        XCTAssertThrowsError(try IDX.load(path: bad)) { e in XCTAssertTrue("\(e)".contains("corrupt or truncated gzip"), "\(e)") }
        XCTAssertThrowsError(try MNIST.load(folder: dir.path, split: .train)) { e in XCTAssertTrue("\(e)".contains("train-images-idx3-ubyte"), "\(e)") }
    }

    func testFashionMNISTFromDebianPackage() throws {
        let start = Date()
        let test = try MNIST.load(split: .test)
        let seconds = Date().timeIntervalSince(start)
        XCTAssertEqual(test.inputs.shape, [10000, 1, 28, 28])
        XCTAssertEqual(test.targets.shape, [10000])
        XCTAssertEqual(Set(test.targets.intScalars), Set(0..<10))
        XCTAssertEqual(test.inputs.max().item, 1, accuracy: 1e-6)
        XCTAssertGreaterThanOrEqual(test.inputs.min().item, 0)
        print(String(format: "read Fashion-MNIST test split (10000 images, gzip) in %.2f s", seconds))
        // Images are kept as bytes and decoded per batch: the same values as the whole tensor's rows.
        let rows = [9999, 0, 17]
        let (x, y) = test.batch(rows)
        let all = test.inputs
        XCTAssertEqual(x.shape, [3, 1, 28, 28])
        for (i, row) in rows.enumerated() {
            XCTAssertEqual(x[i].scalars, all[row].scalars)
            XCTAssertEqual(x[i].scalars, try IDX.load(path: MNIST.fashionMNISTFolder + "/t10k-images-idx3-ubyte.gz", asFloat: true,
                                                       scale: 1 / 255)[row].scalars)
            XCTAssertEqual(y.intScalars[i], test.targets.intScalars[row])
        }
        let sub = test.subset([17, 0])
        XCTAssertEqual(sub.count, 2)
        XCTAssertEqual(sub.inputs.scalars, x[2].scalars + x[1].scalars)
        XCTAssertEqual(sub.targets.intScalars, [y.intScalars[2], y.intScalars[1]])
    }

    func testTransforms() throws {
        let x = Tensor([[1, 10], [3, 30], [5, 50]])
        let s = Standardizer(fitting: x)
        XCTAssertEqual(s.mean, [3, 30])
        let z = s.transform(x)
        XCTAssertEqual(z.mean(axis: 0).abs().max().item, 0, accuracy: 1e-6)
        XCTAssertEqual(z.variance(axes: [0], unbiased: false).scalars[1], 1, accuracy: 1e-5)
        let global = Standardizer(fitting: x, perFeature: false)
        XCTAssertEqual(global.mean.count, 1)
        let d = try TensorDataset(inputs: Tensor.arange(0, 10).reshaped([10, 1]), targets: Tensor(shape: [10], scalars: Array(0..<10)))
        let (train, held) = d.split(holdingOut: 0.3, generator: Generator(seed: 1))
        XCTAssertEqual(train.count, 7)
        XCTAssertEqual(held.count, 3)
        XCTAssertEqual((train.targets.intScalars + held.targets.intScalars).sorted(), Array(0..<10))
    }
}

/// Data from outside that does not fit is a thrown `DataError` that says what and where, never a trap.
final class DataErrorTests: XCTestCase {
    func testRowsThatDoNotMatchAreADataError() {
        XCTAssertThrowsError(try TensorDataset(inputs: Tensor.zeros([10, 2]), targets: Tensor.zeros([9]))) { error in
            XCTAssertEqual((error as? DataError)?.description, "dataset: inputs [10, 2] and targets [9] need the same number of rows")
        }
    }

    func testNonFiniteValuesAreFoundWhenAskedFor() throws {
        let inputs = Tensor(shape: [3, 2], scalars: [Float(0), 1, 2, 3, .infinity, 5])
        let d = try TensorDataset(inputs: inputs, targets: Tensor(shape: [3], scalars: [0, 1, 0]))
        XCTAssertThrowsError(try d.checkFinite(source: "points.idx")) { error in
            XCTAssertEqual((error as? DataError)?.description, "points.idx: example 2 has inf at input position 0")
        }
        let regression = try TensorDataset(inputs: Tensor.zeros([2, 2]), targets: Tensor(shape: [2, 1], scalars: [Float(1), .nan]))
        XCTAssertThrowsError(try regression.checkFinite()) { error in
            XCTAssertEqual((error as? DataError)?.description, "dataset: example 1 has nan at target position 0")
        }
        XCTAssertNoThrow(try TensorDataset(inputs: Tensor.ones([2, 2]), targets: Tensor.zeros([2, 1])).checkFinite())
    }

    func testClassIndicesOutOfRangeNameTheExample() throws {
        let d = try TensorDataset(inputs: Tensor.zeros([4, 2]), targets: Tensor(shape: [4], scalars: [0, 2, 7, 1]))
        XCTAssertNoThrow(try d.checkClassIndices(below: 8))
        XCTAssertThrowsError(try d.checkClassIndices(below: 3, source: "labels.csv")) { error in
            XCTAssertEqual((error as? DataError)?.description, "labels.csv: example 2 has class 7, outside the 3 classes 0...2")
        }
        let negative = try TensorDataset(inputs: Tensor.zeros([2, 2]), targets: Tensor(shape: [2], scalars: [0, -1]))
        XCTAssertThrowsError(try negative.checkClassIndices(below: 8)) { error in
            XCTAssertEqual((error as? DataError)?.description, "dataset: example 1 has class -1, outside the 8 classes 0...7")
        }
    }

    /// The reliability issue's case: an MNIST labels file with a byte above 9 was a crash in crossEntropy
    /// (signal 4) in 24 of 150 mutated files. It is now an error that names the file and the example.
    func testMNISTLabelsAboveNineAreADataError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("axon-mnist-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("t10k-images-idx3-ubyte.gz").path,
                                                   withDestinationPath: MNIST.fashionMNISTFolder + "/t10k-images-idx3-ubyte.gz")
        var labels: [UInt8] = [0, 0, 8, 1, 0, 0, 0x27, 0x10] + (0..<10000).map { UInt8($0 % 10) }
        labels[8 + 17] = 200
        let path = dir.appendingPathComponent("t10k-labels-idx1-ubyte").path
        try Data(labels).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try MNIST.load(folder: dir.path, split: .test)) { error in
            XCTAssertEqual((error as? DataError)?.description, "\(path): example 17 has class 200, outside the 10 classes 0...9")
        }
    }
}

extension Array {
    func chunked(_ n: Int) -> [[Element]] { stride(from: 0, to: count, by: n).map { Array(self[$0..<Swift.min($0 + n, count)]) } }
}
