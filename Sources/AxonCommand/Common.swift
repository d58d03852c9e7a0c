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
    try SafeTensors.writeAtomically(Data(text.utf8), to: path, creatingFolder: true)
}

/// A classifier or regressor rebuilt from a checkpoint made by `axon train` (``Checkpoint/loadModel(_:)``).
struct LoadedModel {
    let trained: TrainedModel
    let spec: ModelSpec
    let model: Sequential
    var isClassification: Bool { trained.task == .classification }
    var classNames: [String]? { trained.classNames }
    var standardizer: Standardizer? { trained.standardizer }
    var metadata: [String: String] { trained.metadata }

    static func load(_ path: String) throws -> LoadedModel {
        let trained = try Checkpoint.loadModel(path)
        // A description always builds a Sequential; a language model has none.
        guard let spec = trained.description, let model = trained.model as? Sequential else {
            throw UserError("\(path): holds a language model (use axon generate)")
        }
        return LoadedModel(trained: trained, spec: spec, model: model)
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
