import Axon
import Foundation
import XCTest

final class TrainerTests: XCTestCase {
    /// A small run: data and shuffling from `seed`, initialisation from `initSeed` (default: `seed`).
    func makeRun(seed: UInt64, initSeed: UInt64? = nil) -> (Sequential, Trainer, DataLoader, DataLoader) {
        manualSeed(initSeed ?? seed)
        let d = Playground.make(.circle, samples: 300, noise: 5, generator: Generator(seed: seed))
        let net = Sequential(Linear(2, 8), Tanh(), Linear(8, 8), Dropout(0.1), Tanh(), Linear(8, 2))
        let optimizer = Adam(net.parameters(), lr: 0.02)
        let trainer = Trainer(model: net, optimizer: optimizer, loss: { crossEntropy($0, $1) }, metrics: [.accuracy, .topK(1)],
                              scheduler: StepLR(optimizer, stepSize: 3, gamma: 0.7))
        trainer.progress = .silent
        return (net, trainer, DataLoader(d.train, batchSize: 16, shuffle: true, seed: seed), DataLoader(d.test, batchSize: 64))
    }

    func testFitRecordsMetricsGradientNormsAndLearns() throws {
        let (_, trainer, train, test) = makeRun(seed: 3)
        var seen: [Int] = []
        let history = try trainer.fit(train, validation: test, epochs: 12, callbacks: [EpochCallback { r, _ in seen.append(r.epoch); return true }])
        XCTAssertEqual(seen, Array(1...12))
        XCTAssertEqual(history.count, 12)
        let last = history.last!
        XCTAssertGreaterThan(last["val_accuracy"]!, 0.9)
        XCTAssertEqual(last["accuracy"]!, last["top1"]!, accuracy: 1e-12)
        XCTAssertLessThan(last["loss"]!, history.first!["loss"]!)
        XCTAssertEqual(last["lr"]!, 0.02 * pow(0.7, 3), accuracy: 1e-12, "the schedule stepped each epoch")
        XCTAssertEqual(last.gradientNorms.map(\.layer), ["0", "2", "5"])
        XCTAssertTrue(last.gradientNorms.allSatisfy { $0.norm > 0 && $0.norm.isFinite })
        XCTAssertTrue(last.json.contains("\"gradient_norms\""))
    }

    func testEarlyStoppingAndCallbacksStopTraining() throws {
        let (_, trainer, train, test) = makeRun(seed: 4)
        try trainer.fit(train, validation: test, epochs: 50, callbacks: [EpochCallback { r, _ in r.epoch < 4 }])
        XCTAssertEqual(trainer.epoch, 4)
        let (_, t2, train2, test2) = makeRun(seed: 4)
        // minDelta 10 means nothing after the first epoch counts as an improvement: epochs 2, 3 and 4 do
        // not improve, and the third of them exceeds patience 2.
        try t2.fit(train2, validation: test2, epochs: 50, earlyStopping: EarlyStopping(monitor: "val_loss", patience: 2, minDelta: 10))
        XCTAssertEqual(t2.epoch, 4)
    }

    /// The step and epoch API is the engine `fit` runs on: a driver's own loop over `trainStep(batch:)` and
    /// `finishEpoch(validation:)` gives bitwise the weights and records `fit` gives, and the callbacks see each
    /// moment in order.
    func testStepAndEpochAPIAreTheEngineOfFit() throws {
        let (fitNet, fitTrainer, fitTrain, fitTest) = makeRun(seed: 8)
        try fitTrainer.fit(fitTrain, validation: fitTest, epochs: 3)

        final class Recorder: TrainingCallback {
            var events: [String] = []
            func fitWillStart(epochs: Int, trainer: Trainer) { events.append("fit") }
            func epochWillStart(_ epoch: Int, batches: Int?, trainer: Trainer) { events.append("start \(epoch) \(batches ?? -1)") }
            func gradientsComputed(trainer: Trainer) { events.append("grads") }
            func stepEnded(_ step: TrainingStep, trainer: Trainer) { events.append("step \(step.index)") }
            func epochWillEnd(_ record: inout EpochRecord, trainer: Trainer) { record.values["extra"] = 42 }
            func epochEnded(_ record: EpochRecord, trainer: Trainer) throws -> Bool { events.append("end \(record.epoch)"); return true }
        }
        let (net, trainer, train, test) = makeRun(seed: 8)
        let recorder = Recorder()
        trainer.callbacks = [recorder]
        for _ in 0..<3 {
            for batch in train { try trainer.trainStep(batch: batch) }
            try trainer.finishEpoch(validation: test)
        }
        XCTAssertEqual(net.parameters().flatMap(\.scalars), fitNet.parameters().flatMap(\.scalars), "bitwise the weights of fit")
        XCTAssertEqual(trainer.epoch, 3)
        XCTAssertEqual(trainer.history.map { $0["val_loss"]! }, fitTrainer.history.map { $0["val_loss"]! })
        XCTAssertEqual(trainer.history.map { $0["loss"]! }, fitTrainer.history.map { $0["loss"]! })
        XCTAssertEqual(trainer.history.last!.gradientNorms.map(\.norm), fitTrainer.history.last!.gradientNorms.map(\.norm))
        XCTAssertEqual(trainer.history.last!["lr"]!, fitTrainer.history.last!["lr"]!, "the schedule is a callback of the engine")
        XCTAssertEqual(trainer.history.last!["extra"], 42)
        let batches = train.batchCount
        XCTAssertEqual(recorder.events.prefix(2 * batches + 2), ["start 1 -1"] + (0..<batches).flatMap { ["grads", "step \($0)"] } + ["end 1"])

        // trainEpoch knows its batch count; fit announces the epochs.
        recorder.events = []
        try trainer.trainEpoch(train)
        XCTAssertEqual(recorder.events.first, "start 4 \(batches)")
        recorder.events = []
        try trainer.fit(train, epochs: 5)
        XCTAssertEqual(recorder.events.first, "fit")
        XCTAssertEqual(trainer.epoch, 5)
    }

    /// The metrics log is a callback: one JSON line per epoch, rewritten whole after each.
    func testMetricsLogWritesOneLinePerEpoch() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("axon-metrics-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (_, trainer, train, test) = makeRun(seed: 2)
        let path = folder + "/run/metrics.jsonl"
        try trainer.fit(train, validation: test, epochs: 2, callbacks: [MetricsLog(path: path)])
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        XCTAssertTrue(lines[1].contains("\"epoch\":2") && lines[1].contains("\"val_accuracy\""), String(lines[1]))
    }

    func testNonFiniteLossStopsWithAClearError() {
        let (net, _, train, _) = makeRun(seed: 5)
        let trainer = Trainer(model: net, optimizer: SGD(net.parameters(), lr: 1e30), loss: { crossEntropy($0, $1) * 1e30 })
        trainer.progress = .silent
        XCTAssertThrowsError(try trainer.fit(train, epochs: 3)) { e in
            XCTAssertTrue("\(e)".contains("loss became"), "\(e)")
        }
    }

    func testSameSeedSameWeightsWhateverTheThreadCount() throws {
        let saved = Threading.threadCount
        defer { Threading.threadCount = saved }
        var results: [[Float]] = []
        for threads in [1, 2, 1] {
            Threading.threadCount = threads
            let (net, trainer, train, test) = makeRun(seed: 9)
            try trainer.fit(train, validation: test, epochs: 3)
            results.append(net.parameters().flatMap(\.scalars))
        }
        XCTAssertEqual(results[0], results[1], "1 and 2 threads give bitwise the same weights")
        XCTAssertEqual(results[0], results[2], "run after run")
    }

    func testResumeAfterEpochKEqualsAnUninterruptedRun() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("axon-resume-\(getpid()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: path + ".train") }
        let (full, fullTrainer, fullTrain, fullTest) = makeRun(seed: 6)
        try fullTrainer.fit(fullTrain, validation: fullTest, epochs: 6)

        let (first, firstTrainer, firstTrain, firstTest) = makeRun(seed: 6)
        try firstTrainer.fit(firstTrain, validation: firstTest, epochs: 3)
        try Checkpoint.save(model: first, state: firstTrainer.trainingState(loaders: ["train": firstTrain]), to: path)
        // Scramble the global generator as another program would, then resume in fresh objects.
        manualSeed(12345)
        let (resumed, resumedTrainer, resumedTrain, resumedTest) = makeRun(seed: 6, initSeed: 77)
        let (state, meta) = try Checkpoint.resume(model: resumed, from: path)
        XCTAssertEqual(meta["epoch"], "3")
        try resumedTrainer.restore(state, loaders: ["train": resumedTrain])
        try resumedTrainer.fit(resumedTrain, validation: resumedTest, epochs: 6)
        XCTAssertEqual(resumedTrainer.epoch, 6)
        XCTAssertEqual(resumed.parameters().flatMap(\.scalars), full.parameters().flatMap(\.scalars), "bitwise equal weights")
        XCTAssertEqual(resumedTrainer.optimizer.learningRates[0], fullTrainer.optimizer.learningRates[0])
        // A training state whose generator has the wrong number of words (a damaged or hostile .train file) is a
        // thrown error, not a trap in Generator.setState.
        var damaged = state
        damaged.generators["train"] = [1, 2, 3]
        XCTAssertThrowsError(try resumedTrainer.restore(damaged, loaders: ["train": resumedTrain])) { error in
            XCTAssertTrue("\(error)".contains("generator 'train' has 3 words, expected 6"), "\(error)")
        }
    }

    func testPlotsAreSVG() {
        let records = (1...5).map { EpochRecord(epoch: $0, values: ["loss": 1 / Double($0)], gradientNorms: [("0", 0.1), ("2", 1.0)]) }
        let curve = Plot.lines([("train", records.map { $0["loss"]! })], title: "Loss <&>")
        XCTAssertTrue(curve.hasPrefix("<svg"))
        XCTAssertTrue(curve.contains("<polyline"))
        XCTAssertTrue(curve.contains("Loss &lt;&amp;&gt;"))
        let norms = Plot.gradientNorms(records)
        XCTAssertEqual(norms.components(separatedBy: "<polyline").count - 1, 2)
        let boundary = Plot.decisionBoundary(title: "b", resolution: 10, points: Tensor([[0, 0], [1, 1]]), labels: Tensor([0, 1])) {
            sigmoid($0.sum(axis: 1))
        }
        XCTAssertEqual(boundary.components(separatedBy: "<circle").count - 1, 2)
        XCTAssertTrue(boundary.hasSuffix("</svg>\n"))
    }
}
