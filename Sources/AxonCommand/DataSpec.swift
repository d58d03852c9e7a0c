import Axon
import Foundation

/// Data named on the command line: `spiral`, `xor`, `circle`, `gaussian`, `plane`, `multi-gaussian`,
/// `moons`, `blobs`; `csv:PATH` (with `--label`); `fashion-mnist[:DIR]`; `mnist:DIR`.
struct LoadedData {
    var train: TensorDataset
    var test: TensorDataset?
    var isClassification: Bool
    var classes: Int
    var classNames: [String]?
    var standardizer: Standardizer?

    /// Shape of one example.
    var exampleShape: [Int] { Array(train.inputs.shape.dropFirst()) }

    /// Every class target of both splits lies in `0..<classes` (a clear error before any step, not a trap in
    /// the loss).
    func checkClassIndices(below classes: Int) throws {
        do {
            try train.checkClassIndices(below: classes, source: "training data")
            try test?.checkClassIndices(below: classes, source: "test data")
        } catch let e as DataError { throw UserError(e.description) }
    }

    static func load(_ spec: String, label: String?, regression: Bool, samples: Int, noise: Double, seed: UInt64,
                     classNames: [String]? = nil, standardizer: Standardizer? = nil, requireLabels: Bool = true) throws -> LoadedData {
        if let kind = Playground.Kind(rawValue: spec) {
            guard noise >= 0 && noise <= 50 else { throw UserError("--noise must be between 0 and 50, got \(noise)") }
            guard samples >= 10 else { throw UserError("--samples must be at least 10, got \(samples)") }
            let d = Playground.make(kind, samples: samples, noise: noise, trainRatio: 50, generator: Generator(seed: seed))
            return LoadedData(train: d.train, test: d.test, isClassification: d.isClassification,
                              classes: d.isClassification ? 2 : 1, classNames: nil, standardizer: nil)
        }
        if spec.hasPrefix("csv:") {
            let path = String(spec.dropFirst(4))
            let column: CSVTable.LabelColumn? = label.map { Int($0).map { .index($0) } ?? .name($0) }
            if requireLabels && column == nil { throw UserError("csv data needs --label NAME (or a column index)") }
            let table: CSVTable
            do {
                table = try CSVTable.load(path: path, label: column, task: regression ? .regression : .classification,
                                          classNames: classNames)
            } catch let e as DataError { throw UserError(e.description) }
            let features = table.features.shape[1]
            if let standardizer, standardizer.mean.count != 1 && standardizer.mean.count != features {
                throw UserError("the data's examples have shape [\(features)] but the model expects [\(standardizer.mean.count)]")
            }
            let fitted = standardizer ?? Standardizer(fitting: table.features)
            let x = fitted.transform(table.features)
            let y = table.labels ?? Tensor.zeros([table.features.shape[0]], dtype: .int64)
            let classes = regression ? 1 : max(classNames?.count ?? 0, table.classNames?.count ?? 0, (y.intScalars.max() ?? 0) + 1, 2)
            let rows: TensorDataset
            do { rows = try TensorDataset(inputs: x, targets: y) } catch let e as DataError { throw UserError(e.description) }
            return LoadedData(train: rows, test: nil, isClassification: !regression,
                              classes: classes, classNames: table.classNames ?? classNames, standardizer: fitted)
        }
        if spec == "fashion-mnist" || spec.hasPrefix("fashion-mnist:") || spec.hasPrefix("mnist:") {
            let folder: String
            if spec.hasPrefix("mnist:") { folder = String(spec.dropFirst(6)) }
            else if spec.hasPrefix("fashion-mnist:") { folder = String(spec.dropFirst(14)) }
            else { folder = MNIST.fashionMNISTFolder }
            do {
                let train = try MNIST.load(folder: folder, split: .train), test = try MNIST.load(folder: folder, split: .test)
                let fitted = standardizer ?? Standardizer(fitting: train.inputs, perFeature: false)
                return LoadedData(train: fitted.transform(train), test: fitted.transform(test), isClassification: true, classes: 10,
                                  classNames: spec.hasPrefix("mnist:") ? nil : MNIST.fashionClassNames, standardizer: fitted)
            } catch let e as DataError { throw UserError(e.description) }
        }
        throw UserError("unknown data '\(spec)' (use \(Playground.Kind.allCases.map(\.rawValue).joined(separator: ", ")), csv:PATH, fashion-mnist[:DIR] or mnist:DIR)")
    }
}
