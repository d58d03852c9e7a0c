import AxonCore
import AxonNN
import AxonOptim
import Foundation

/// Model checkpoints in safetensors with PyTorch's state_dict names, and the training state needed to
/// resume beside them.
///
/// `save(model:to:)` writes only the model's state dict, so `safetensors.torch.load_file(path)` followed
/// by `model.load_state_dict(...)` loads it into the same architecture in PyTorch. Training state
/// (optimizer, schedule epoch, generator states, epoch) goes into a second file, `<path>.train`, written
/// first; both carry the epoch in their metadata, and resuming checks that they agree.
public enum Checkpoint {
    /// Saves the model's parameters and buffers with `metadata` (model description, epoch, metrics).
    public static func save(model: Module, to path: String, metadata: [String: String] = [:]) throws {
        try SafeTensors.save(model.stateDict(), metadata: metadata, order: model.stateDictKeys(), to: path)
    }

    /// Loads parameters and buffers into `model` (strict names and shapes); returns the metadata.
    @discardableResult
    public static func load(into model: Module, from path: String) throws -> [String: String] {
        let (tensors, metadata) = try SafeTensors.load(path: path)
        do {
            try model.loadStateDict(tensors)
        } catch let error as StateDictError {
            throw CheckpointError("\(path): does not fit the model: \(error)")
        }
        return metadata
    }

    /// Largest epoch a training state may record (2^31 - 1).
    public static let maxEpoch = Int(Int32.max)

    /// Path of the training-state file that accompanies a model checkpoint.
    public static func trainingStatePath(for path: String) -> String { path + ".train" }

    /// Everything besides the weights that an exact resume needs.
    public struct TrainingState {
        /// Epochs completed.
        public var epoch: Int
        /// The optimizer's state dict.
        public var optimizer: [String: Tensor]
        /// Named generator states (data shuffling, the global generator, ...).
        public var generators: [String: [UInt64]]
        /// Extra scalars (schedule state, early-stopping counters, ...).
        public var values: [String: Double]

        /// A training state.
        public init(epoch: Int, optimizer: [String: Tensor], generators: [String: [UInt64]] = [:], values: [String: Double] = [:]) {
            self.epoch = epoch
            self.optimizer = optimizer
            self.generators = generators
            self.values = values
        }

        /// Reads a state from the tensors of a `.train` file (written by ``Checkpoint/save(model:state:to:metadata:)``);
        /// `source` names the file in errors. Entries of the wrong kind or shape give a ``CheckpointError``.
        public init(tensors: [String: Tensor], epoch: Int, source: String) throws {
            self.init(epoch: epoch, optimizer: [:])
            for (k, v) in tensors {
                if k.hasPrefix("optimizer.") {
                    optimizer[String(k.dropFirst(10))] = v
                } else if k.hasPrefix("generator.") {
                    guard v.dtype == .int64, v.rank == 1 else {
                        throw CheckpointError("\(source): generator state '\(k)' must be a 1-D int64 tensor, got \(v.dtype) \(v.shape)")
                    }
                    generators[String(k.dropFirst(10))] = v.intScalars.map { UInt64(bitPattern: Int64($0)) }
                } else if k.hasPrefix("value.") {
                    guard v.count == 1 else { throw CheckpointError("\(source): value '\(k)' must hold one number, got shape \(v.shape)") }
                    values[String(k.dropFirst(6))] = v.item
                } else {
                    throw CheckpointError("\(source): unexpected entry '\(k)'")
                }
            }
        }
    }

    /// Writes the training state, then the model, both atomically.
    public static func save(model: Module, state: TrainingState, to path: String, metadata: [String: String] = [:]) throws {
        var tensors: [String: Tensor] = [:]
        for (k, v) in state.optimizer { tensors["optimizer.\(k)"] = v }
        for (k, g) in state.generators {
            tensors["generator.\(k)"] = Tensor(shape: [g.count], scalars: g.map { Int(Int64(bitPattern: $0)) })
        }
        for (k, v) in state.values { tensors["value.\(k)"] = Tensor(v, dtype: .float64) }
        try SafeTensors.save(tensors, metadata: ["epoch": "\(state.epoch)"], to: trainingStatePath(for: path))
        var meta = metadata
        meta["epoch"] = "\(state.epoch)"
        try save(model: model, to: path, metadata: meta)
    }

    /// Loads the model and its training state; checks that both come from the same epoch.
    public static func resume(model: Module, from path: String) throws -> (state: TrainingState, metadata: [String: String]) {
        let metadata = try load(into: model, from: path)
        let statePath = trainingStatePath(for: path)
        let (tensors, stateMeta) = try SafeTensors.load(path: statePath)
        guard let epochText = stateMeta["epoch"], let epoch = Int(epochText), (0...maxEpoch).contains(epoch) else {
            throw CheckpointError("\(statePath): no epoch (a count from 0 to \(maxEpoch)) in its metadata")
        }
        guard metadata["epoch"] == epochText else {
            throw CheckpointError("\(statePath): training state is from epoch \(epochText) but the model from epoch \(metadata["epoch"] ?? "?")")
        }
        return (try TrainingState(tensors: tensors, epoch: epoch, source: statePath), metadata)
    }
}
