import Axon
import AxonPlayground
import Foundation

// One libFuzzer binary, one target per reader: `AXON_FUZZ_TARGET` names the target (Fuzz/run.sh sets it).
// A target feeds the input to the reader as a file or a request would, then uses what the reader returns
// the way Axon does, so that a value the reader lets through and a later step traps on is found too.
// Every error a reader throws is the expected outcome; a trap, a sanitizer report, a leak or an
// allocation above libFuzzer's -malloc_limit_mb is a failure.

/// The targets, by name.
let targets: [String: @Sendable (Data) -> Void] = [
    "safetensors": safetensors,
    "train-state": trainState,
    "idx": idx,
    "csv": csv,
    "model-json": modelJSON,
    "text": text,
    "playground-config": playgroundConfig,
    "playground-step": playgroundStep,
    "playground-upload": playgroundUpload,
    "onnx": onnx,
]

/// The target chosen for this process.
let chosen: @Sendable (Data) -> Void = {
    let name = ProcessInfo.processInfo.environment["AXON_FUZZ_TARGET"] ?? ""
    guard let target = targets[name] else {
        FileHandle.standardError.write(Data("axon-fuzz: set AXON_FUZZ_TARGET to one of \(targets.keys.sorted().joined(separator: ", "))\n".utf8))
        exit(2)
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = bytes.map { Data(bytes: $0, count: count) } ?? Data()
    chosen(data)
    return 0
}

// MARK: - Checkpoints

/// A small model with parameters and buffers: what a checkpoint is loaded into.
func smallModel() -> Sequential {
    Sequential(layers: [Linear(2, 3), BatchNorm1d(3), ReLU(), Linear(3, 2)])
}

/// safetensors bytes, then loaded into a model as `Checkpoint.load` does.
func safetensors(_ data: Data) {
    guard let (tensors, _) = try? SafeTensors.decode(data, source: "fuzz") else { return }
    for t in tensors.values { _ = t.doubleScalars }  // every element is readable
    _ = try? smallModel().loadStateDict(tensors)
    _ = try? smallModel().loadStateDict(tensors, strict: false)
}

/// A `.train` file: read as `Checkpoint.resume` does, then restored into a trainer with an Adam optimizer.
func trainState(_ data: Data) {
    guard let (tensors, metadata) = try? SafeTensors.decode(data, source: "fuzz") else { return }
    let epoch = metadata["epoch"].flatMap { Int($0) }.map { max($0, 0) } ?? 0
    guard let state = try? Checkpoint.TrainingState(tensors: tensors, epoch: epoch, source: "fuzz") else { return }
    let model = smallModel()
    let optimizer = Adam(model.parameters(), lr: 0.01)
    let trainer = Trainer(model: model, optimizer: optimizer, loss: { mseLoss($0, $1) }, scheduler: StepLR(optimizer, stepSize: 2))
    trainer.progress = .silent
    let dataset = try! TensorDataset(inputs: Tensor.zeros([4, 2]), targets: Tensor.zeros([4, 2]))  // fixed shapes: cannot fail
    let loader = DataLoader(dataset, batchSize: 2, shuffle: true)
    guard (try? trainer.restore(state, loaders: ["train": loader])) != nil, trainer.epoch < 1 << 20 else { return }
    // A restored state must train: one epoch with the restored moments and schedule.
    _ = try? trainer.fit(loader, epochs: trainer.epoch + 1)
}

/// ONNX model bytes, loaded with small limits (a 1 MiB file, tensors of 2²⁰ elements): the load checks the whole
/// file and runs the graph once on zeros; a loaded model then runs on a batch of 3.
func onnx(_ data: Data) {
    let limits = ONNXModel.Limits(maxFileBytes: 1 << 20, maxElements: 1 << 20)
    guard let model = try? ONNXModel(serializedData: data, source: "fuzz", limits: limits) else { return }
    var inputs: [String: Tensor] = [:]
    for (i, name) in model.inputNames.enumerated() {
        let shape = model.inputShapes[i].enumerated().map { $0.element ?? ($0.offset == 0 ? 3 : 1) }
        guard shape.reduce(1, *) <= 1 << 16 else { return }
        inputs[name] = Tensor.zeros(shape, dtype: model.inputTypes[i])
    }
    _ = try? withNoGrad { try model.run(inputs) }
}

// MARK: - Data

/// IDX bytes, plain or gzip, read as integers and as scaled floats, with a 16 MiB bound.
func idx(_ data: Data) {
    _ = try? IDX.parse(data, source: "fuzz", maxBytes: 1 << 24)
    _ = try? IDX.parse(data, source: "fuzz", asFloat: true, scale: 1 / 255, maxBytes: 1 << 24)
}

/// CSV text. The first byte picks the options: header or not, label column by index or by name, task.
func csv(_ data: Data) {
    guard let first = data.first, let text = String(data: data.dropFirst(), encoding: .utf8) else { return }
    let label: CSVTable.LabelColumn? = switch first % 4 {
    case 0: nil
    case 1: .index(-1)
    case 2: .index(Int(first / 4) % 5)
    default: .name("label")
    }
    let task: CSVTable.Task = first & 0x40 != 0 ? .regression : .classification
    guard let table = try? CSVTable.parse(text, source: "fuzz", label: label, task: task, hasHeader: first & 0x80 != 0) else { return }
    if table.labels != nil {
        let dataset = table.dataset
        if task == .classification { _ = try? dataset.checkClassIndices(below: 2) }
        for batch in DataLoader(dataset, batchSize: 3) { _ = batch.input.scalars }
    }
}

/// A JSON model description, built within a 2^20-parameter bound; small models also run a forward pass,
/// which traps if the builder's shape bookkeeping disagrees with the layers.
func modelJSON(_ data: Data) {
    guard let spec = try? ModelSpec(json: data, source: "fuzz") else { return }
    guard let net = try? spec.build(vocabulary: 40, maxParameters: 1 << 20) else { return }
    let values = spec.input.reduce(1, *)
    guard values <= 4096, net.parameterCount <= 1 << 16 else { return }
    net.eval()
    let input = spec.readsTokens ? Tensor.zeros([2] + spec.input, dtype: .int64) : Tensor.zeros([2] + spec.input)
    withNoGrad { _ = net(input) }
}

/// Text for a language model: the tokenizer fitted to it, its encoding and decoding, and an epoch of windows.
func text(_ data: Data) {
    guard let first = data.first else { return }
    let bytes = [UInt8](data.dropFirst())
    guard let tokenizer = try? ByteTokenizer(fitting: bytes), let tokens = try? tokenizer.encode(bytes) else { return }
    guard (try? tokenizer.decodeBytes(tokens)) == bytes else { fatalError("axon-fuzz: the tokenizer does not round-trip") }
    _ = try? ByteTokenizer.allBytes.encode(bytes)
    let context = 1 + Int(first % 32)
    guard let (train, validation) = try? TextDataset.split(tokens, context: context, validationFraction: 0.2) else { return }
    for set in [train, validation] {
        for batch in DataLoader(set, batchSize: 4, shuffle: true) { _ = batch.target.intScalars }
    }
}

// MARK: - The Playground's request bodies

/// Runs async work from the fuzzer's synchronous callback (the fuzzer's thread is not in the task pool).
func blocking(_ work: @escaping @Sendable () async -> Void) {
    let done = DispatchSemaphore(value: 0)
    Task {
        await work()
        done.signal()
    }
    done.wait()
}

/// Sessions kept across inputs, as a server keeps them across requests: a classification and a regression one.
let sessions: [PlaygroundSession] = {
    var regression = PlaygroundConfig()
    regression.dataset = "plane"
    regression.problem = "regression"
    let made = Box<[PlaygroundSession]>([])
    let configs = [PlaygroundConfig(), regression]
    blocking {
        for (i, config) in configs.enumerated() {
            guard let s = try? await PlaygroundSession(id: "fuzz-\(i)", config: config) else { fatalError("axon-fuzz: a preset config failed") }
            made.value.append(s)
        }
    }
    return made.value
}()

final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// A configuration body, as `POST /api/sessions` and `PUT .../config` take it, applied to a session.
func playgroundConfig(_ data: Data) {
    blocking {
        for session in sessions {
            guard let config = try? PlaygroundRequest.config(data, over: await session.config) else { continue }
            _ = try? await session.configure(config)
        }
    }
}

/// A step body; the session trains for what it asks when that is at most 2 epochs (longer is the same loop).
func playgroundStep(_ data: Data) {
    blocking {
        guard let epochs = try? PlaygroundRequest.epochs(data), epochs <= 2 else { return }
        _ = try? await sessions[0].step(epochs: epochs)
    }
}

/// An upload body (CSV text), into a classification and a regression session.
func playgroundUpload(_ data: Data) {
    blocking {
        guard let text = try? PlaygroundRequest.csv(data) else { return }
        for session in sessions {
            _ = try? await session.upload(csv: text)
            _ = await session.points()
        }
    }
}
