import AxonCore
import AxonData
import AxonDistributed
import AxonIO
import AxonNN
import AxonOptim
import Foundation

/// Metrics computed from model outputs and targets, besides the loss.
public enum Metric: Hashable, Sendable {
    /// Fraction of correct classes: argmax of logits `[N, C]` against int64 targets, or logit > 0 against
    /// 0/1 targets for a single output.
    case accuracy
    /// Fraction of samples whose class is among the k largest outputs.
    case topK(Int)
    /// Mean absolute error (regression).
    case mae
    /// Cross-entropy in bits per token of next-token logits `[B, T, V]` against int64 targets `[B, T]` (a
    /// character model's bits per character).
    case bitsPerToken

    /// The metric's name in records ("accuracy", "top5", "mae").
    public var name: String {
        switch self {
        case .accuracy: return "accuracy"
        case .topK(let k): return "top\(k)"
        case .mae: return "mae"
        case .bitsPerToken: return "bpc"
        }
    }

    /// The metric summed over a batch (divide by the sample count for the mean).
    func batchSum(_ output: Tensor, _ target: Tensor) -> Double {
        let n = Double(output.shape[0])
        switch self {
        case .accuracy:
            if target.dtype == .int64 {
                return Double(zip(output.argmax(axis: 1).intScalars, target.intScalars).filter { $0 == $1 }.count)
            }
            return ((output .> 0) .== target.reshaped(output.shape)).mean().item * n
        case .topK(let k):
            let values = output.scalars, classes = output.shape[1], labels = target.intScalars
            var hits = 0
            for (i, label) in labels.enumerated() {
                let row = values[(i * classes)..<((i + 1) * classes)]
                let score = row[row.startIndex + label]
                if row.filter({ $0 > score }).count < k { hits += 1 }
            }
            return Double(hits)
        case .mae:
            return abs(output - target.reshaped(output.shape)).mean().item * n
        case .bitsPerToken:
            let v = output.shape[output.rank - 1]
            return crossEntropy(output.reshaped([output.count / v, v]), target.reshaped([target.count])).item / Foundation.log(2) * n
        }
    }
}

/// What one epoch gave.
public struct EpochRecord: Sendable {
    /// The epoch number (1-based).
    public let epoch: Int
    /// "loss", metric names, "val_loss", "val_<metric>", "lr", "seconds", "samples_per_second".
    public var values: [String: Double]
    /// Mean L2 norm of each layer's weight gradient over the epoch's steps, by layer name (input to output).
    public var gradientNorms: [(layer: String, norm: Double)]

    /// A record (the trainer makes these; plots and tests may too).
    public init(epoch: Int, values: [String: Double], gradientNorms: [(layer: String, norm: Double)]) {
        self.epoch = epoch
        self.values = values
        self.gradientNorms = gradientNorms
    }

    /// The value `name`, if recorded.
    public subscript(_ name: String) -> Double? { values[name] }

    /// One JSON object (for metrics files): epoch, values, and gradient norms.
    public var json: String {
        var object: [String: Any] = ["epoch": epoch]
        for (k, v) in values where v.isFinite { object[k] = v }
        object["gradient_norms"] = Dictionary(uniqueKeysWithValues: gradientNorms.map { ($0.layer, $0.norm) })
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// Errors that stop training.
public enum TrainingError: Error, CustomStringConvertible {
    /// The loss became NaN or infinite.
    case nonFiniteLoss(epoch: Int, batch: Int, value: Double)

    /// A one-line explanation of the error.
    public var description: String {
        switch self {
        case .nonFiniteLoss(let e, let b, let v):
            return "loss became \(v) at epoch \(e), batch \(b): lower the learning rate or check the data"
        }
    }
}


/// One training step, as callbacks see it.
public struct TrainingStep {
    /// The epoch the step belongs to (1-based).
    public let epoch: Int
    /// The step's index in its epoch (0-based).
    public let index: Int
    /// Batches in the epoch, when the engine knows them (``Trainer/trainEpoch(_:validation:)`` does).
    public let batches: Int?
    /// The batch's loss.
    public let loss: Double
    /// The model's output for the batch (detached).
    public let output: Tensor
    /// The batch's targets.
    public let target: Tensor
    /// Examples in the batch.
    public var batchSize: Int { output.shape[0] }
}

/// The training engine: one step is `optimizer.zeroGrad(); loss.backward(); optimizer.step()` on a batch;
/// an epoch is the steps over a loader's batches followed by validation; ``fit(_:validation:epochs:earlyStopping:callbacks:)``
/// runs epochs. Everything else is a ``TrainingCallback`` on this engine: the progress bar (``ProgressBar``),
/// early stopping (``EarlyStopping``), learning-rate schedules (``/AxonOptim/LRScheduler`` and ``/AxonOptim/ReduceLROnPlateau``
/// step at each epoch's end), per-layer gradient norms (``GradientNormTracker``) and metric logs (``MetricsLog``).
///
/// A driver that trains in slices (the Playground trains a few steps between requests) calls
/// ``trainStep(batch:)`` and then ``finishEpoch(validation:)`` when its loader runs out.
public final class Trainer {
    /// The model being trained.
    public let model: any Layer
    /// Its optimizer.
    public let optimizer: Optimizer
    /// loss(output, target) -> scalar.
    public let loss: (Tensor, Tensor) -> Tensor
    /// Epoch-based schedule, stepped after each epoch.
    public var scheduler: LRScheduler?
    /// Plateau schedule, fed "val_loss" (or "loss" without validation) after each epoch.
    public var plateau: ReduceLROnPlateau?
    /// Early stopping, checked after each epoch (``fit(_:validation:epochs:earlyStopping:callbacks:)`` sets it too).
    public var earlyStopping: EarlyStopping? {
        didSet {
            if let earlyStopping, let resumed = resumedEarlyStopping { earlyStopping.restore(best: resumed.best, badEpochs: resumed.badEpochs) }
            resumedEarlyStopping = nil
        }
    }
    /// Tracks each layer's mean weight-gradient norm into the records (nil turns it off).
    public var gradientNorms: GradientNormTracker? = GradientNormTracker()
    /// Callbacks of every epoch, after the built-in ones.
    public var callbacks: [TrainingCallback] = []
    /// Metrics besides the loss.
    public var metrics: [Metric]
    /// Records of the epochs so far (the most recent ``historyLimit``, when set).
    public private(set) var history: [EpochRecord] = []
    /// Most records kept in ``history`` (nil: all), for a driver that trains without end.
    public var historyLimit: Int?
    /// Epochs completed.
    public private(set) var epoch = 0
    /// How ``fit(_:validation:epochs:earlyStopping:callbacks:)`` shows progress (through a ``ProgressBar``).
    public var progress: ProgressStyle = .automatic
    /// Whether a NaN or infinite loss stops training with ``TrainingError/nonFiniteLoss(epoch:batch:value:)``
    /// (a display that shows a diverged network, as the Playground does, turns this off).
    public var throwsOnNonFiniteLoss = true
    /// The model as a ``/AxonDistributed/DistributedDataParallel`` when it is one: each step then averages the
    /// gradients over the ranks before the optimizer's step, and each epoch's record and ``evaluate(_:)`` give the
    /// means over every rank's examples.
    public var distributed: DistributedDataParallel? { model as? DistributedDataParallel }
    /// Where progress and messages go.
    public var output: (String) -> Void = { FileHandle.standardOutput.write(Data($0.utf8)) }

    /// The epoch being trained: its start, steps, and running sums.
    struct RunningEpoch {
        var start = DispatchTime.now().uptimeNanoseconds
        var batches: Int?
        var steps = 0, samples = 0, lossSum = 0.0
        var metricSums: [Double]
    }
    private var running: RunningEpoch?
    /// Callbacks added by the current `fit` call.
    private var fitCallbacks: [TrainingCallback] = []
    /// Early-stopping state restored before an ``EarlyStopping`` was attached.
    private var resumedEarlyStopping: (best: Double?, badEpochs: Int)?

    /// A trainer for `model`. It tunes the C allocator for training loops (``/AxonCore/Allocator/tuneForTraining()``, a
    /// process-wide setting that `AXON_MALLOC_TUNING=0` declines).
    public init(model: any Layer, optimizer: Optimizer, loss: @escaping (Tensor, Tensor) -> Tensor, metrics: [Metric] = [],
                scheduler: LRScheduler? = nil) {
        Allocator.tuneForTraining()
        self.model = model
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = metrics
        self.scheduler = scheduler
    }

    /// The callbacks in the order they run: gradient norms, schedules, the current fit's own (its progress bar
    /// first), the trainer's, and early stopping last.
    private var activeCallbacks: [TrainingCallback] {
        var all: [TrainingCallback] = []
        if let gradientNorms { all.append(gradientNorms) }
        if let scheduler { all.append(scheduler) }
        if let plateau { all.append(plateau) }
        all += fitCallbacks + callbacks
        if let earlyStopping { all.append(earlyStopping) }
        return all
    }

    /// Running means of the epoch so far ("loss" and each metric's name); empty between epochs.
    public var runningValues: [String: Double] {
        guard let r = running, r.samples > 0 else { return [:] }
        var values = ["loss": r.lossSum / Double(r.samples)]
        for (i, m) in metrics.enumerated() { values[m.name] = r.metricSums[i] / Double(r.samples) }
        return values
    }

    /// Starts an epoch explicitly, with its batch count if known (``trainStep(batch:)`` starts one when none is
    /// open).
    public func beginEpoch(batches: Int? = nil) {
        model.train()
        running = RunningEpoch(batches: batches, metricSums: [Double](repeating: 0, count: metrics.count))
        for c in activeCallbacks { c.epochWillStart(epoch + 1, batches: batches, trainer: self) }
    }

    /// One optimisation step on a batch: forward, loss, backward, optimizer step; the loss and metrics join
    /// the epoch's running means. Throws ``TrainingError/nonFiniteLoss(epoch:batch:value:)`` before updating
    /// anything when the loss is NaN or infinite (unless ``throwsOnNonFiniteLoss`` is off).
    @discardableResult
    public func trainStep(batch: (input: Tensor, target: Tensor)) throws -> TrainingStep {
        if running == nil { beginEpoch() }
        let (x, y) = batch
        optimizer.zeroGrad()
        let out = model(x)
        let l = loss(out, y)
        let value = l.item
        let index = running!.steps  // opened above
        guard value.isFinite || !throwsOnNonFiniteLoss else { throw TrainingError.nonFiniteLoss(epoch: epoch + 1, batch: index + 1, value: value) }
        l.backward()
        try distributed?.synchronizeGradients()
        let callbacks = activeCallbacks
        for c in callbacks { c.gradientsComputed(trainer: self) }
        optimizer.step()
        let n = x.shape[0]
        let detached = out.detached()
        running!.steps += 1
        running!.samples += n
        running!.lossSum += value * Double(n)
        withNoGrad { for (i, m) in metrics.enumerated() { running!.metricSums[i] += m.batchSum(detached, y) } }
        let step = TrainingStep(epoch: epoch + 1, index: index, batches: running!.batches, loss: value, output: detached, target: y)
        for c in callbacks { c.stepEnded(step, trainer: self) }
        return step
    }

    /// Closes the epoch: validates on `validation`, makes its record, and gives it to the callbacks. Returns the
    /// record and whether every callback wants training to go on.
    @discardableResult
    public func finishEpoch(validation: DataLoader? = nil) throws -> (record: EpochRecord, keepGoing: Bool) {
        var r = running ?? RunningEpoch(metricSums: [Double](repeating: 0, count: metrics.count))
        running = nil
        if let distributed {  // every rank's examples: the job's means and throughput
            try Self.sumOverRanks(distributed, &r.samples, &r.lossSum, &r.metricSums)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - r.start) / 1e9
        let samples = Double(max(r.samples, 1))
        var values: [String: Double] = ["loss": r.lossSum / samples, "seconds": seconds,
                                        "samples_per_second": Double(r.samples) / max(seconds, 1e-9),
                                        "lr": optimizer.learningRates.first ?? 0]
        for (i, m) in metrics.enumerated() { values[m.name] = r.metricSums[i] / samples }
        if let validation {
            for (k, v) in evaluate(validation) { values["val_" + k] = v }
        }
        var record = EpochRecord(epoch: epoch + 1, values: values, gradientNorms: [])
        let callbacks = activeCallbacks
        for c in callbacks { c.epochWillEnd(&record, trainer: self) }
        history.append(record)
        if let limit = historyLimit, history.count > limit { history.removeFirst(history.count - limit) }
        epoch += 1
        var keepGoing = true
        for c in callbacks where try !c.epochEnded(record, trainer: self) { keepGoing = false }
        return (record, keepGoing)
    }

    /// One epoch over `loader`'s batches, then ``finishEpoch(validation:)``.
    @discardableResult
    public func trainEpoch(_ loader: DataLoader, validation: DataLoader? = nil) throws -> (record: EpochRecord, keepGoing: Bool) {
        beginEpoch(batches: loader.batchCount)
        for batch in loader { try trainStep(batch: batch) }
        return try finishEpoch(validation: validation)
    }

    /// Trains until `epochs` epochs are complete (counting epochs already done, so a resumed trainer
    /// continues), or until early stopping or a callback stops it. Shows progress by ``progress``.
    @discardableResult
    public func fit(_ train: DataLoader, validation: DataLoader? = nil, epochs: Int, earlyStopping: EarlyStopping? = nil,
                    callbacks: [TrainingCallback] = []) throws -> [EpochRecord] {
        if let earlyStopping { self.earlyStopping = earlyStopping }
        fitCallbacks = [ProgressBar(style: progress, output: output)] + callbacks
        defer { fitCallbacks = [] }
        for c in activeCallbacks { c.fitWillStart(epochs: epochs, trainer: self) }
        while epoch < epochs {
            if try !trainEpoch(train, validation: validation).keepGoing { break }
        }
        return history
    }

    /// Loss and metrics over a loader, in evaluation mode (the model's mode is restored after), without recording.
    public func evaluate(_ loader: DataLoader) -> [String: Double] {
        let wasTraining = model.isTraining
        if wasTraining { model.eval() }  // a model already in evaluation mode is not written (tasks may share it)
        defer { if wasTraining { model.train() } }
        var samples = 0, lossSum = 0.0, sums = [Double](repeating: 0, count: metrics.count)
        withNoGrad {
            for (x, y) in loader {
                let out = model(x)
                let n = x.shape[0]
                samples += n
                lossSum += loss(out, y).item * Double(n)
                for (i, m) in metrics.enumerated() { sums[i] += m.batchSum(out, y) }
            }
        }
        if let distributed {  // every rank's share of the loader (or, without a sampler, every rank's copy)
            do { try Self.sumOverRanks(distributed, &samples, &lossSum, &sums) } catch { Distributed.stop(error) }
        }
        var values = ["loss": lossSum / Double(max(samples, 1))]
        for (i, m) in metrics.enumerated() { values[m.name] = sums[i] / Double(max(samples, 1)) }
        return values
    }

    /// Model outputs for `inputs` `[N, ...]`, in evaluation mode (restored after), in batches.
    public func predict(_ inputs: Tensor, batchSize: Int = 1024) -> Tensor {
        let wasTraining = model.isTraining
        if wasTraining { model.eval() }  // a model already in evaluation mode is not written (tasks may share it)
        defer { if wasTraining { model.train() } }
        return withNoGrad {
            concat(stride(from: 0, to: inputs.shape[0], by: batchSize).map { s in
                model(inputs[s..<min(s + batchSize, inputs.shape[0])])
            }, axis: 0)
        }
    }

    /// The state an exact resume needs, given the loaders whose generators must continue.
    public func trainingState(loaders: [String: DataLoader]) -> Checkpoint.TrainingState {
        var generators = loaders.mapValues { $0.generator.state }
        generators["global"] = Generator.global.state
        let stopping = earlyStopping.map { ($0.best, $0.badEpochs) } ?? resumedEarlyStopping ?? (nil, 0)
        var values: [String: Double] = ["early_stopping_bad_epochs": Double(stopping.1)]
        if let best = stopping.0 { values["early_stopping_best"] = best }
        if let plateau {
            for (i, v) in plateau.state.enumerated() { values["plateau.\(i)"] = v }
        }
        return Checkpoint.TrainingState(epoch: epoch, optimizer: optimizer.stateDict(), generators: generators, values: values)
    }

    /// Restores a state from ``trainingState(loaders:)`` (the model's weights are loaded separately).
    public func restore(_ state: Checkpoint.TrainingState, loaders: [String: DataLoader]) throws {
        // A state comes from a file: everything is checked before anything changes, and nothing traps.
        for (name, g) in state.generators {
            if let problem = Generator.problem(with: g) { throw CheckpointError("training state: generator '\(name)' \(problem)") }
        }
        guard (0...Checkpoint.maxEpoch).contains(state.epoch) else {
            throw CheckpointError("training state: epoch \(state.epoch) is outside 0-\(Checkpoint.maxEpoch)")
        }
        func count(_ key: String) throws -> Int? {
            guard let v = state.values[key] else { return nil }
            guard v >= 0 && v <= Double(Int32.max) && v.rounded() == v else {
                throw CheckpointError("training state: '\(key)' is \(v), expected a count")
            }
            return Int(v)
        }
        let badEpochs = try count("early_stopping_bad_epochs") ?? 0
        let plateauState = [state.values["plateau.0"], try count("plateau.1").map(Double.init), try count("plateau.2").map(Double.init)]
        try optimizer.loadStateDict(state.optimizer)
        for (name, loader) in loaders {
            guard let g = state.generators[name] else { throw CheckpointError("training state has no generator '\(name)'") }
            loader.generator.setState(g)
        }
        if let g = state.generators["global"] { Generator.global.setState(g) }
        epoch = state.epoch
        running = nil
        scheduler?.setEpoch(state.epoch)
        let best = state.values["early_stopping_best"]
        if let earlyStopping { earlyStopping.restore(best: best, badEpochs: badEpochs) } else { resumedEarlyStopping = (best, badEpochs) }
        if let plateau, let a = plateauState[0], let b = plateauState[1], let c = plateauState[2] { plateau.setState([a, b, c]) }
    }

    /// Sums a pass's sample count, loss sum and metric sums over the ranks, in one all-reduce.
    private static func sumOverRanks(_ ddp: DistributedDataParallel, _ samples: inout Int, _ lossSum: inout Double,
                                     _ metricSums: inout [Double]) throws {
        var all = [Double(samples), lossSum] + metricSums
        try ddp.communicator.allReduceSum(&all)
        samples = Int(all[0])
        lossSum = all[1]
        metricSums = Array(all[2...])
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return String(format: "%d:%02d", s / 60, s % 60)
    }

    /// "epoch 3/10  loss 0.4312  accuracy 0.8512  val_loss ...  4.1s (14634 samples/s)".
    static func summaryLine(_ r: EpochRecord, epochs: Int) -> String {
        var parts = ["epoch \(r.epoch)/\(epochs)"]
        let order = ["loss"] + r.values.keys.filter { !["loss", "seconds", "samples_per_second", "lr"].contains($0) && !$0.hasPrefix("val_") }.sorted()
            + r.values.keys.filter { $0.hasPrefix("val_") }.sorted()
        for k in order { if let v = r.values[k] { parts.append(String(format: "%@ %.4f", k, v)) } }
        parts.append(String(format: "%.1fs (%.0f samples/s)", r.values["seconds"] ?? 0, r.values["samples_per_second"] ?? 0))
        return parts.joined(separator: "  ")
    }
}
