import AxonCore
import AxonData
import AxonIO
import AxonNN
import AxonOptim
import Foundation

/// The metadata keys that `axon train` writes into a checkpoint, beside the weights: what
/// ``/AxonTraining/AxonIO/Checkpoint/loadModel(_:)`` needs to rebuild the model with no other information.
public enum CheckpointMetadata {
    /// The JSON model description (``/AxonNN/ModelSpec``) of a classifier or regressor.
    public static let model = "axon.model"
    /// "classification", "regression" or "language-model".
    public static let task = "axon.task"
    /// The class names, a JSON array of strings, in class-index order.
    public static let classNames = "axon.class_names"
    /// The input normalisation: JSON arrays of means and standard deviations (one, or one per feature).
    public static let normalizeMean = "axon.normalize_mean", normalizeStd = "axon.normalize_std"
    /// The last epoch's record (``EpochRecord/json``).
    public static let metrics = "axon.metrics"
    /// A language model's architecture (``/AxonNN/LanguageModelSpec``).
    public static let languageModel = "axon.language_model"
    /// A language model's vocabulary: the JSON array of its bytes, in token order.
    public static let vocabulary = "axon.vocabulary"

    /// A value as JSON text.
    public static func encode<T: Encodable>(_ value: T) -> String {
        String(decoding: (try? JSONEncoder().encode(value)) ?? Data(), as: UTF8.self)
    }

    /// A value from JSON text (nil when absent or malformed).
    public static func decode<T: Decodable>(_ text: String?, as: T.Type) -> T? {
        text.flatMap { try? JSONDecoder().decode(T.self, from: Data($0.utf8)) }
    }

    /// The metadata a trained classifier or regressor carries.
    public static func describing(_ spec: ModelSpec, classification: Bool, classNames: [String]?, standardizer: Standardizer?) -> [String: String] {
        var metadata = [model: spec.json, task: classification ? "classification" : "regression"]
        if let classNames { metadata[self.classNames] = encode(classNames) }
        if let s = standardizer { metadata[normalizeMean] = encode(s.mean); metadata[normalizeStd] = encode(s.std) }
        return metadata
    }

    /// The metadata a trained language model carries.
    public static func describing(_ spec: LanguageModelSpec, tokenizer: ByteTokenizer) -> [String: String] {
        [languageModel: encode(spec), vocabulary: encode(tokenizer.vocabulary), task: "language-model"]
    }
}

/// A trained model rebuilt from its checkpoint, with what its training recorded: the architecture, the input
/// normalisation, the class names, and a language model's vocabulary.
///
/// Its model is in evaluation mode and stays there: ``predict(_:batchSize:)`` and ``evaluate(_:batchSize:)`` write
/// nothing the model holds, so tasks may share one `TrainedModel` (a server's request handlers, say) and call them
/// concurrently, as an ``/AxonNN/InferenceModel``. Do not train ``model`` while it is shared.
public struct TrainedModel: @unchecked Sendable {  // its model is only read, as documented
    /// What the model was trained for.
    public enum Task: String, Sendable {
        case classification, regression
        case languageModel = "language-model"
    }

    /// The model, with the checkpoint's weights, in evaluation mode.
    public let model: any Layer
    /// What it was trained for.
    public let task: Task
    /// The description of a classifier or regressor.
    public let description: ModelSpec?
    /// The architecture of a language model.
    public let languageModel: LanguageModelSpec?
    /// Class names, in class-index order, when the training data named its classes.
    public let classNames: [String]?
    /// The input normalisation fitted on the training data (applied by ``prepare(_:)``).
    public let standardizer: Standardizer?
    /// A language model's tokenizer.
    public let tokenizer: ByteTokenizer?
    /// The checkpoint's metadata.
    public let metadata: [String: String]

    /// The shape of one example: the description's input, or a language model's context window.
    public var inputShape: [Int] { description?.input ?? [languageModel?.context ?? 0] }

    /// Raw inputs `[N, ...]` normalised as in training.
    public func prepare(_ inputs: Tensor) -> Tensor { standardizer?.transform(inputs) ?? inputs }

    /// The outputs for raw inputs `[N, ...]` (normalised first), in evaluation mode, in batches.
    public func predict(_ inputs: Tensor, batchSize: Int = 1024) -> Tensor {
        predict(prepared: prepare(inputs), batchSize: batchSize)
    }

    /// The outputs for inputs already normalised (``prepare(_:)``).
    public func predict(prepared inputs: Tensor, batchSize: Int = 1024) -> Tensor {
        trainer().predict(inputs, batchSize: batchSize)
    }

    /// Loss and metrics on raw data (normalised first), as `axon eval` reports them: cross-entropy and accuracy
    /// for classes (binary cross-entropy on the logit for a single output, against 0/1 targets), MSE and MAE for
    /// regression, cross-entropy and bits per token for a language model.
    public func evaluate(_ data: TensorDataset, batchSize: Int = 1024) -> [String: Double] {
        evaluate(prepared: standardizer?.transform(data) ?? data, batchSize: batchSize)
    }

    /// Loss and metrics on data already normalised (``prepare(_:)``).
    public func evaluate(prepared data: any Dataset, batchSize: Int = 1024) -> [String: Double] {
        trainer().evaluate(DataLoader(data, batchSize: batchSize))
    }

    /// The loss the model was trained with.
    public var loss: (Tensor, Tensor) -> Tensor {
        switch task {
        case .classification: return LossKind.crossEntropy.function(classification: true)!  // defined for classes
        case .regression: return { mseLoss($0, $1) }
        case .languageModel:
            return { crossEntropy($0.reshaped([$0.count / $0.shape[$0.rank - 1], $0.shape[$0.rank - 1]]), $1.reshaped([$1.count])) }
        }
    }

    /// The metrics training reported.
    public var metrics: [Metric] {
        switch task {
        case .classification: return [.accuracy]
        case .regression: return [.mae]
        case .languageModel: return [.bitsPerToken]
        }
    }

    private func trainer() -> Trainer {
        Trainer(model: model, optimizer: SGD([], lr: 0), loss: loss, metrics: metrics)
    }
}

extension Checkpoint {
    /// Rebuilds the model a checkpoint of `axon train` holds, from its metadata alone, and loads its weights.
    /// Every value from the file is checked: a description out of bounds, a normalisation that does not fit the
    /// inputs, or a vocabulary that does not fit the model is a ``/AxonIO/CheckpointError`` naming the file.
    public static func loadModel(_ path: String) throws -> TrainedModel {
        let (_, metadata) = try SafeTensors.load(path: path)
        func fail(_ message: String) -> CheckpointError { CheckpointError("\(path): \(message)") }
        let classNames = CheckpointMetadata.decode(metadata[CheckpointMetadata.classNames], as: [String].self)
        if let lmText = metadata[CheckpointMetadata.languageModel] {
            guard let spec = CheckpointMetadata.decode(lmText, as: LanguageModelSpec.self),
                  let bytes = CheckpointMetadata.decode(metadata[CheckpointMetadata.vocabulary], as: [UInt8].self) else {
                throw fail("its language model or vocabulary is malformed")
            }
            let tokenizer: ByteTokenizer
            do { tokenizer = try ByteTokenizer(vocabulary: bytes) } catch { throw fail("\(error)") }
            guard tokenizer.count == spec.vocabSize else {
                throw fail("the vocabulary holds \(tokenizer.count) bytes but the model predicts \(spec.vocabSize)")
            }
            let model: any LanguageModel
            do { model = try spec.build() } catch let e as ModelSpecError { throw fail(e.description) }
            try load(into: model, from: path)
            model.eval()
            return TrainedModel(model: model, task: .languageModel, description: nil, languageModel: spec, classNames: nil,
                                standardizer: nil, tokenizer: tokenizer, metadata: metadata)
        }
        guard let specText = metadata[CheckpointMetadata.model] else {
            throw fail("no model description in its metadata (was it written by axon train?)")
        }
        guard let spec = CheckpointMetadata.decode(specText, as: ModelSpec.self) else { throw fail("its model description is malformed") }
        let model: Sequential
        do { model = try spec.build() } catch let e as ModelSpecError { throw fail(e.description) }
        try load(into: model, from: path)
        model.eval()
        var standardizer: Standardizer? = nil
        let mean = CheckpointMetadata.decode(metadata[CheckpointMetadata.normalizeMean], as: [Double].self)
        let std = CheckpointMetadata.decode(metadata[CheckpointMetadata.normalizeStd], as: [Double].self)
        if let m = mean, let s = std {
            // One statistic, or one per input feature; finite, with positive deviations.
            let features = spec.input.reduce(1, *)  // bounded by build() above
            guard m.count == s.count, m.count == 1 || m.count == features, m.allSatisfy(\.isFinite), s.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                throw fail("its input normalisation (\(m.count) means, \(s.count) deviations) does not fit the model's \(features) inputs")
            }
            standardizer = Standardizer(mean: m, std: s)
        }
        let task: TrainedModel.Task = metadata[CheckpointMetadata.task] == "regression" ? .regression : .classification
        if task == .classification, let classNames, let outputs = spec.outputFeatures, classNames.count > outputs {
            throw fail("it names \(classNames.count) classes but the model has \(outputs) outputs")
        }
        return TrainedModel(model: model, task: task, description: spec, languageModel: nil, classNames: classNames,
                            standardizer: standardizer, tokenizer: nil, metadata: metadata)
    }
}
