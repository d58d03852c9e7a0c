import ArgumentParser
import Axon
import Foundation

/// Options shared by the commands that read data.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: "Data: spiral, xor, circle, gaussian, plane, multi-gaussian, moons, blobs, csv:PATH, fashion-mnist[:DIR], mnist:DIR, text:PATH (train only: a file or folder of text).")
    var data: String = "spiral"
    @Option(name: .long, help: "Label column of a CSV file (name or 0-based index).")
    var label: String?
    @Flag(name: .long, help: "Treat CSV labels as real values (regression).")
    var regression = false
    @Option(name: .long, help: "Points in a built-in 2-D dataset.")
    var samples: Int = 500
    @Option(name: .long, help: "Noise of a built-in 2-D dataset, 0-50 (percent, as in TensorFlow Playground).")
    var noise: Double = 0
}

/// Writes text atomically (temporary file, fsync, rename), so no output is ever half-written.
func writeText(_ text: String, to path: String) throws {
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try SafeTensors.writeAtomically(Data(text.utf8), to: path)
}

/// Checkpoint metadata keys the command writes and reads.
enum Meta {
    static let model = "axon.model", task = "axon.task", classNames = "axon.class_names"
    static let mean = "axon.normalize_mean", std = "axon.normalize_std", metrics = "axon.metrics"

    static func encode<T: Encodable>(_ v: T) -> String { String(decoding: (try? JSONEncoder().encode(v)) ?? Data(), as: UTF8.self) }
    static func decode<T: Decodable>(_ s: String?, as: T.Type) -> T? { s.flatMap { try? JSONDecoder().decode(T.self, from: Data($0.utf8)) } }
}

/// A model rebuilt from a checkpoint made by `axon train`.
struct LoadedModel {
    let spec: ModelSpec
    let model: Sequential
    let isClassification: Bool
    let classNames: [String]?
    let standardizer: Standardizer?
    let metadata: [String: String]

    static func load(_ path: String) throws -> LoadedModel {
        let (_, metadata) = try SafeTensors.load(path: path)
        guard let specText = metadata[Meta.model], let spec = Meta.decode(specText, as: ModelSpec.self) else {
            throw UserError("\(path): no model description in its metadata (was it written by axon train?)")
        }
        let model = try spec.build()
        try Checkpoint.load(into: model, from: path)
        var standardizer: Standardizer? = nil
        if let m = Meta.decode(metadata[Meta.mean], as: [Double].self), let s = Meta.decode(metadata[Meta.std], as: [Double].self) {
            // From the file: one statistic, or one per input feature, finite, with positive deviations.
            let features = spec.input.reduce(1, *)  // bounded by build() above
            guard m.count == s.count, m.count == 1 || m.count == features, m.allSatisfy(\.isFinite), s.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                throw UserError("\(path): its input normalisation (\(m.count) means, \(s.count) deviations) does not fit the model's \(features) inputs")
            }
            standardizer = Standardizer(mean: m, std: s)
        }
        return LoadedModel(spec: spec, model: model, isClassification: metadata[Meta.task] != "regression",
                           classNames: Meta.decode(metadata[Meta.classNames], as: [String].self), standardizer: standardizer,
                           metadata: metadata)
    }

    /// Checks that data examples fit the model's input.
    func check(_ data: LoadedData) throws {
        guard data.exampleShape == spec.input else {
            throw UserError("the data's examples have shape \(data.exampleShape) but the model expects \(spec.input)")
        }
        if isClassification, let classes = spec.outputFeatures { try data.checkClassIndices(below: classes) }
    }
}

/// An error in what the user asked for: printed as one line, exit status 1.
struct UserError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
