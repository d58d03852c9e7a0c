import AxonCore
import AxonData
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

/// Receives each finished epoch; return false from `epochEnded` to stop training.
public protocol TrainingCallback: AnyObject {
    /// Called after each epoch with its record.
    func epochEnded(_ record: EpochRecord, trainer: Trainer) throws -> Bool
}

/// A callback from a closure.
public final class EpochCallback: TrainingCallback {
    let body: (EpochRecord, Trainer) throws -> Bool
    /// Wraps `body`.
    public init(_ body: @escaping (EpochRecord, Trainer) throws -> Bool) { self.body = body }
    /// Calls the closure.
    public func epochEnded(_ record: EpochRecord, trainer: Trainer) throws -> Bool { try body(record, trainer) }
}

/// Stops when `monitor` has not improved by `minDelta` for `patience` epochs.
public struct EarlyStopping: Sendable {
    /// The record value watched, e.g. "val_loss" or "val_accuracy".
    public var monitor: String
    /// Whether smaller (loss) or larger (accuracy) is better.
    public var mode: ReduceLROnPlateau.Mode
    /// Epochs without improvement tolerated.
    public var patience: Int
    /// Smallest change that counts as an improvement.
    public var minDelta: Double

    /// Early stopping on `monitor`.
    public init(monitor: String = "val_loss", mode: ReduceLROnPlateau.Mode = .min, patience: Int = 5, minDelta: Double = 0) {
        self.monitor = monitor
        self.mode = mode
        self.patience = patience
        self.minDelta = minDelta
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

/// How progress is shown.
public enum ProgressStyle: Sendable {
    /// A live bar on a terminal, plain lines otherwise.
    case automatic
    /// One line per epoch.
    case lines
    /// Nothing.
    case silent
}

/// The `fit` loop: `optimizer.zeroGrad(); loss.backward(); optimizer.step()` over a loader's batches,
/// validation each epoch, metrics, schedule stepping, early stopping, callbacks, progress and
/// per-layer gradient norms.
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
    /// Metrics besides the loss.
    public var metrics: [Metric]
    /// Records of the epochs so far.
    public private(set) var history: [EpochRecord] = []
    /// Epochs completed.
    public private(set) var epoch = 0
    /// How progress is shown.
    public var progress: ProgressStyle = .automatic
    /// Where progress goes.
    public var output: (String) -> Void = { FileHandle.standardOutput.write(Data($0.utf8)) }
    /// Early-stopping bookkeeping: best value and epochs since.
    var bestMonitored: Double?
    var epochsWithoutImprovement = 0

    /// A trainer for `model`. It tunes the C allocator for training loops (``Allocator/tuneForTraining()``, a
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

    /// Layers whose weight gradients are tracked: every module with a `weight` parameter, by name.
    lazy var trackedWeights: [(String, Tensor)] = model.namedParameters().compactMap { name, t in
        if name == "weight" { return ("model", t) }
        return name.hasSuffix(".weight") ? (String(name.dropLast(".weight".count)), t) : nil
    }

    /// Trains until `epochs` epochs are complete (counting epochs already done, so a resumed trainer
    /// continues), or until early stopping or a callback stops it.
    @discardableResult
    public func fit(_ train: DataLoader, validation: DataLoader? = nil, epochs: Int, earlyStopping: EarlyStopping? = nil,
                    callbacks: [TrainingCallback] = []) throws -> [EpochRecord] {
        let live = progress == .automatic && isatty(STDOUT_FILENO) != 0
        while epoch < epochs {
            let current = epoch + 1
            model.train()
            let start = DispatchTime.now().uptimeNanoseconds
            var samples = 0, lossSum = 0.0, sums = [Double](repeating: 0, count: metrics.count)
            var normSums = [Double](repeating: 0, count: trackedWeights.count), steps = 0
            var lastDraw: UInt64 = 0
            let batches = train.batchCount
            for (b, (x, y)) in train.enumerated() {
                optimizer.zeroGrad()
                let out = model(x)
                let l = loss(out, y)
                let value = l.item
                guard value.isFinite else { throw TrainingError.nonFiniteLoss(epoch: current, batch: b + 1, value: value) }
                l.backward()
                for (i, (_, w)) in trackedWeights.enumerated() {
                    if let g = w.grad { normSums[i] += withNoGrad { (g * g).sum().item }.squareRoot() }
                }
                optimizer.step()
                steps += 1
                let n = x.shape[0]
                samples += n
                lossSum += value * Double(n)
                withNoGrad { for (i, m) in metrics.enumerated() { sums[i] += m.batchSum(out.detached(), y) } }
                if live {
                    let now = DispatchTime.now().uptimeNanoseconds
                    if now - lastDraw > 100_000_000 || b + 1 == batches {
                        lastDraw = now
                        let elapsed = Double(now - start) / 1e9
                        let rate = Double(b + 1) / max(elapsed, 1e-9)
                        let eta = Double(batches - b - 1) / max(rate, 1e-9)
                        let filled = (b + 1) * 24 / max(batches, 1)
                        let bar = String(repeating: "=", count: filled) + (filled < 24 ? ">" : "") + String(repeating: " ", count: max(0, 23 - filled))
                        var line = String(format: "\r\u{1B}[2Kepoch %d/%d [%@] %d/%d  %.1f batch/s  ETA %@  loss %.4f",
                                          current, epochs, bar, b + 1, batches, rate, Self.clock(eta), lossSum / Double(samples))
                        for (i, m) in metrics.enumerated() { line += String(format: "  %@ %.4f", m.name, sums[i] / Double(samples)) }
                        output(line)
                    }
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            var values: [String: Double] = ["loss": lossSum / Double(max(samples, 1)), "seconds": seconds,
                                            "samples_per_second": Double(samples) / max(seconds, 1e-9),
                                            "lr": optimizer.groups.first?.learningRate ?? 0]
            for (i, m) in metrics.enumerated() { values[m.name] = sums[i] / Double(max(samples, 1)) }
            if let validation {
                for (k, v) in evaluate(validation) { values["val_" + k] = v }
            }
            let norms = trackedWeights.enumerated().map { (layer: $0.element.0, norm: normSums[$0.offset] / Double(max(steps, 1))) }
            let record = EpochRecord(epoch: current, values: values, gradientNorms: norms)
            history.append(record)
            epoch = current
            scheduler?.step()
            plateau?.step(metric: values["val_loss"] ?? values["loss"]!)
            if progress != .silent { output((live ? "\r\u{1B}[2K" : "") + Self.summaryLine(record, epochs: epochs) + "\n") }
            var keepGoing = true
            for c in callbacks where try !c.epochEnded(record, trainer: self) { keepGoing = false }
            if let es = earlyStopping, let v = values[es.monitor] {
                let improved = bestMonitored.map { es.mode == .min ? v < $0 - es.minDelta : v > $0 + es.minDelta } ?? true
                if improved { bestMonitored = v; epochsWithoutImprovement = 0 } else { epochsWithoutImprovement += 1 }
                if epochsWithoutImprovement > es.patience {
                    if progress != .silent { output("early stopping: \(es.monitor) has not improved for \(es.patience) epochs\n") }
                    keepGoing = false
                }
            }
            if !keepGoing { break }
        }
        return history
    }

    /// Loss and metrics over a loader, in evaluation mode, without recording.
    public func evaluate(_ loader: DataLoader) -> [String: Double] {
        model.eval()
        defer { model.train() }
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
        var values = ["loss": lossSum / Double(max(samples, 1))]
        for (i, m) in metrics.enumerated() { values[m.name] = sums[i] / Double(max(samples, 1)) }
        return values
    }

    /// Model outputs for `inputs` `[N, ...]`, in evaluation mode, in batches.
    public func predict(_ inputs: Tensor, batchSize: Int = 1024) -> Tensor {
        model.eval()
        defer { model.train() }
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
        var values: [String: Double] = ["early_stopping_bad_epochs": Double(epochsWithoutImprovement)]
        if let best = bestMonitored { values["early_stopping_best"] = best }
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
        let plateauState = try [state.values["plateau.0"], try count("plateau.1").map(Double.init), try count("plateau.2").map(Double.init)]
        try optimizer.loadStateDict(state.optimizer)
        for (name, loader) in loaders {
            guard let g = state.generators[name] else { throw CheckpointError("training state has no generator '\(name)'") }
            loader.generator.setState(g)
        }
        if let g = state.generators["global"] { Generator.global.setState(g) }
        epoch = state.epoch
        scheduler?.setEpoch(state.epoch)
        epochsWithoutImprovement = badEpochs
        bestMonitored = state.values["early_stopping_best"]
        if let plateau, let a = plateauState[0], let b = plateauState[1], let c = plateauState[2] { plateau.setState([a, b, c]) }
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
