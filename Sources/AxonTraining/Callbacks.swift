import AxonCore
import AxonIO
import AxonOptim
import Foundation

/// A hook on the training engine (``Trainer``). Every method has a default that does nothing, so a callback
/// implements only the moments it cares about. The order within one moment is the trainer's: gradient norms,
/// schedules, the current `fit`'s callbacks, the trainer's ``Trainer/callbacks``, early stopping.
public protocol TrainingCallback: AnyObject {
    /// `fit` is about to train up to `epochs` epochs (in total, counting ones already done).
    func fitWillStart(epochs: Int, trainer: Trainer)
    /// Epoch `epoch` (1-based) starts; `batches` is its batch count when known.
    func epochWillStart(_ epoch: Int, batches: Int?, trainer: Trainer)
    /// Gradients are ready and the optimizer has not stepped yet (gradient clipping goes here).
    func gradientsComputed(trainer: Trainer)
    /// A step has finished.
    func stepEnded(_ step: TrainingStep, trainer: Trainer)
    /// The epoch's record is being made: add values or gradient norms to it.
    func epochWillEnd(_ record: inout EpochRecord, trainer: Trainer)
    /// The epoch has ended with `record` (now in the trainer's history); return false to stop training.
    func epochEnded(_ record: EpochRecord, trainer: Trainer) throws -> Bool
}

extension TrainingCallback {
    public func fitWillStart(epochs: Int, trainer: Trainer) {}
    public func epochWillStart(_ epoch: Int, batches: Int?, trainer: Trainer) {}
    public func gradientsComputed(trainer: Trainer) {}
    public func stepEnded(_ step: TrainingStep, trainer: Trainer) {}
    public func epochWillEnd(_ record: inout EpochRecord, trainer: Trainer) {}
    public func epochEnded(_ record: EpochRecord, trainer: Trainer) throws -> Bool { true }
}

/// A callback from a closure, called at each epoch's end.
public final class EpochCallback: TrainingCallback {
    let body: (EpochRecord, Trainer) throws -> Bool
    /// Wraps `body`; it returns false to stop training.
    public init(_ body: @escaping (EpochRecord, Trainer) throws -> Bool) { self.body = body }
    /// Calls the closure.
    public func epochEnded(_ record: EpochRecord, trainer: Trainer) throws -> Bool { try body(record, trainer) }
}

/// An epoch-based schedule steps once at each epoch's end.
extension LRScheduler: TrainingCallback {
    public func epochEnded(_ record: EpochRecord, trainer: Trainer) throws -> Bool {
        step()
        return true
    }
}

/// A plateau schedule is fed the epoch's "val_loss", or "loss" without validation.
extension ReduceLROnPlateau: TrainingCallback {
    public func epochEnded(_ record: EpochRecord, trainer: Trainer) throws -> Bool {
        if let v = record["val_loss"] ?? record["loss"] { step(metric: v) }
        return true
    }
}

/// Stops when `monitor` has not improved by `minDelta` for `patience` epochs.
public final class EarlyStopping: TrainingCallback {
    /// The record value watched, e.g. "val_loss" or "val_accuracy".
    public let monitor: String
    /// Whether smaller (loss) or larger (accuracy) is better.
    public let mode: ReduceLROnPlateau.Mode
    /// Epochs without improvement tolerated.
    public let patience: Int
    /// Smallest change that counts as an improvement.
    public let minDelta: Double
    /// The best value seen.
    public private(set) var best: Double?
    /// Epochs since the last improvement.
    public private(set) var badEpochs = 0

    /// Early stopping on `monitor`.
    public init(monitor: String = "val_loss", mode: ReduceLROnPlateau.Mode = .min, patience: Int = 5, minDelta: Double = 0) {
        self.monitor = monitor
        self.mode = mode
        self.patience = patience
        self.minDelta = minDelta
    }

    /// Continues from a saved state (``Trainer/restore(_:loaders:)`` calls this).
    public func restore(best: Double?, badEpochs: Int) {
        self.best = best
        self.badEpochs = badEpochs
    }

    public func epochEnded(_ record: EpochRecord, trainer: Trainer) throws -> Bool {
        guard let v = record[monitor] else { return true }
        let improved = best.map { mode == .min ? v < $0 - minDelta : v > $0 + minDelta } ?? true
        if improved { best = v; badEpochs = 0 } else { badEpochs += 1 }
        guard badEpochs > patience else { return true }
        if trainer.progress != .silent { trainer.output("early stopping: \(monitor) has not improved for \(patience) epochs\n") }
        return false
    }
}

/// Each layer's weight-gradient L2 norm, averaged over the epoch's steps, into ``EpochRecord/gradientNorms``.
/// The layers are the modules with a `weight` parameter, by name, input to output.
public final class GradientNormTracker: TrainingCallback {
    private var weights: [(layer: String, weight: Tensor)]?
    private var sums: [Double] = []
    private var steps = 0

    /// A tracker (the trainer has one by default).
    public init() {}

    public func epochWillStart(_ epoch: Int, batches: Int?, trainer: Trainer) { reset(trainer) }

    public func stepEnded(_ step: TrainingStep, trainer: Trainer) {
        if weights == nil { reset(trainer) }
        for (i, (_, w)) in weights!.enumerated() {  // set by reset
            if let g = w.grad { sums[i] += withNoGrad { (g * g).sum().item }.squareRoot() }
        }
        steps += 1
    }

    public func epochWillEnd(_ record: inout EpochRecord, trainer: Trainer) {
        if weights == nil { reset(trainer) }
        record.gradientNorms = weights!.enumerated().map { (layer: $0.element.layer, norm: sums[$0.offset] / Double(max(steps, 1))) }
        weights = nil
    }

    private func reset(_ trainer: Trainer) {
        let tracked = trainer.model.namedParameters().compactMap { name, t -> (layer: String, weight: Tensor)? in
            if name == "weight" { return ("model", t) }
            return name.hasSuffix(".weight") ? (String(name.dropLast(".weight".count)), t) : nil
        }
        weights = tracked
        sums = [Double](repeating: 0, count: tracked.count)
        steps = 0
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

/// The progress display: on a terminal (``ProgressStyle/automatic``), a live bar with the rate, the time
/// left and the running loss and metrics; and one summary line per epoch.
public final class ProgressBar: TrainingCallback {
    let style: ProgressStyle
    let output: (String) -> Void
    let live: Bool
    private var epochs = 0
    private var start: UInt64 = 0, lastDraw: UInt64 = 0

    /// A display in `style`, written to `output`.
    public init(style: ProgressStyle = .automatic, output: @escaping (String) -> Void = { FileHandle.standardOutput.write(Data($0.utf8)) }) {
        self.style = style
        self.output = output
        live = style == .automatic && isatty(STDOUT_FILENO) != 0
    }

    public func fitWillStart(epochs: Int, trainer: Trainer) { self.epochs = epochs }

    public func epochWillStart(_ epoch: Int, batches: Int?, trainer: Trainer) {
        start = DispatchTime.now().uptimeNanoseconds
        lastDraw = 0
    }

    public func stepEnded(_ step: TrainingStep, trainer: Trainer) {
        guard live, let batches = step.batches else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastDraw > 100_000_000 || step.index + 1 == batches else { return }
        lastDraw = now
        let done = step.index + 1
        let rate = Double(done) / max(Double(now - start) / 1e9, 1e-9)
        let eta = Double(batches - done) / max(rate, 1e-9)
        let filled = done * 24 / max(batches, 1)
        let bar = String(repeating: "=", count: filled) + (filled < 24 ? ">" : "") + String(repeating: " ", count: max(0, 23 - filled))
        let values = trainer.runningValues
        var line = String(format: "\r\u{1B}[2Kepoch %d/%d [%@] %d/%d  %.1f batch/s  ETA %@  loss %.4f",
                          step.epoch, epochs, bar, done, batches, rate, Trainer.clock(eta), values["loss"] ?? .nan)
        for m in trainer.metrics { line += String(format: "  %@ %.4f", m.name, values[m.name] ?? .nan) }
        output(line)
    }

    public func epochEnded(_ record: EpochRecord, trainer: Trainer) throws -> Bool {
        if style != .silent { output((live ? "\r\u{1B}[2K" : "") + Trainer.summaryLine(record, epochs: max(epochs, record.epoch)) + "\n") }
        return true
    }
}

/// Writes the trainer's history as JSON lines (one ``EpochRecord/json`` per epoch) after every epoch,
/// atomically, so the file is always whole.
public final class MetricsLog: TrainingCallback {
    /// The file written.
    public let path: String

    /// A log at `path` (its folder is created when needed).
    public init(path: String) { self.path = path }

    public func epochEnded(_ record: EpochRecord, trainer: Trainer) throws -> Bool {
        try SafeTensors.writeAtomically(Data((trainer.history.map(\.json).joined(separator: "\n") + "\n").utf8), to: path,
                                        creatingFolder: true)
        return true
    }
}
