import ArgumentParser
import Axon
import Foundation

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train a model and save a checkpoint, metrics and plots.")

    @OptionGroup var dataOptions: DataOptions
    @Option(name: .long, help: "Model: logistic, mlp:IN,HIDDEN,...,OUT, lenet, or a JSON model description file; for text data, char-lstm or char-transformer.")
    var model: String = "mlp:2,16,16,2"
    @Option(name: .long, help: "Hidden activation for presets: relu, tanh, sigmoid, leaky-relu, gelu, step, linear.")
    var activation: String = "relu"
    @Option(name: .long, help: "Loss: cross-entropy, mse, l1, huber (default: cross-entropy for classes, mse for regression).")
    var loss: String?
    @Option(name: .long, help: "Optimizer: sgd, adam, adamw, rmsprop, adagrad, lamb, adadelta, adamax, nadam, radam.")
    var optimizer: String = "sgd"
    @Option(name: .long, help: "Learning rate.")
    var lr: Double = 0.05
    @Option(name: .long, help: "Momentum (sgd, rmsprop).")
    var momentum: Double = 0.9
    @Option(name: .long, help: "Weight decay.")
    var weightDecay: Double = 0
    @Option(name: .long, help: "Schedule: none, step:EPOCHS:GAMMA, multistep:E1,E2,...:GAMMA, exponential:GAMMA, cosine, cosine-restarts:T0[:TMULT], polynomial:POWER, onecycle:MAXLR, warmup:EPOCHS (then cosine).")
    var schedule: String = "none"
    @Option(name: .long, help: "Epochs to train (in total, when resuming).")
    var epochs: Int = 10
    @Option(name: .long, help: "Batch size.")
    var batchSize: Int = 64
    @Option(name: .long, help: "Seed for initialisation, shuffling and data.")
    var seed: UInt64 = 0
    @Option(name: .long, help: "Fraction of the training data held out for validation (0: validate on the test split).")
    var validationSplit: Double = 0
    @Option(name: .long, help: "Stop when the validation loss has not improved for this many epochs.")
    var earlyStopping: Int?
    @Option(name: .long, help: "Checkpoint to write (safetensors, PyTorch state_dict names), after every epoch.")
    var output: String?
    @Option(name: .long, help: "Checkpoint to resume from (its .train file must be beside it).")
    var resume: String?
    @Option(name: .long, help: "Folder for metrics.jsonl and the SVG plots.")
    var plots: String = "axon-output"
    @Option(name: .long, help: "Tokens per training window of a language model (--data text:PATH).")
    var context: Int = 64
    @Option(name: .long, help: "Use only the first N training examples (quick runs; for text, the first N bytes).")
    var limit: Int?
    @Option(name: .long, help: "Worker threads (default: all cores).")
    var threads: Int?
    @Flag(name: .long, help: "Plain lines instead of a progress bar.")
    var quiet = false

    func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        guard validationSplit >= 0 && validationSplit < 1 else { throw ValidationError("--validation-split must be in [0, 1), got \(validationSplit)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1, got \(limit)") }
        if let earlyStopping, earlyStopping < 0 { throw ValidationError("--early-stopping must be non-negative, got \(earlyStopping)") }
        guard context >= 1 && context <= 1 << 16 else { throw ValidationError("--context must be in 1...65536, got \(context)") }
    }

    func run() throws {
        if let threads { Threading.threadCount = threads }
        manualSeed(seed)
        if dataOptions.data.hasPrefix("text:") { return try trainLanguageModel(path: String(dataOptions.data.dropFirst(5))) }
        let resumed = try resume.map { try LoadedModel.load($0) }
        var data = try LoadedData.load(dataOptions.data, label: dataOptions.label, regression: dataOptions.regression,
                                       samples: dataOptions.samples, noise: dataOptions.noise, seed: seed,
                                       classNames: resumed?.classNames, standardizer: resumed?.standardizer)
        let spec = try resumed?.spec ?? ModelSpec.parse(model, inputShape: data.exampleShape, classes: data.classes, activation: activation)
        guard spec.input == data.exampleShape else {
            throw UserError("the data's examples have shape \(data.exampleShape) but the model expects \(spec.input)")
        }
        let net = try spec.build()
        if let out = spec.outputFeatures, out != data.classes {
            throw UserError("the model has \(out) outputs but the data needs \(data.classes)")
        }
        if data.isClassification { try data.checkClassIndices(below: data.classes) }
        try data.train.checkFinite(source: "training data")
        try data.test?.checkFinite(source: "test data")
        let lossFunction = try makeLoss(classification: data.isClassification)
        let opt = try makeOptimizer(net.parameters())
        let scheduler = try makeSchedule(opt)

        if let limit, limit < data.train.count { data.train = data.train.subset(Array(0..<limit)) }
        var validation: TensorDataset? = data.test
        var test: TensorDataset? = nil
        if validationSplit > 0 {
            let (train, held) = data.train.split(holdingOut: validationSplit, generator: Generator(seed: seed &+ 1))
            data.train = train
            test = data.test
            validation = held
        }
        let trainLoader = DataLoader(data.train, batchSize: batchSize, shuffle: true, seed: seed)
        let validationLoader = validation.map { DataLoader($0, batchSize: 1024) }
        let trainer = Trainer(model: net, optimizer: opt, loss: lossFunction,
                              metrics: data.isClassification ? [.accuracy] : [.mae], scheduler: scheduler)
        let metadata = CheckpointMetadata.describing(spec, classification: data.isClassification, classNames: data.classNames,
                                                     standardizer: data.standardizer)
        let metricsPath = try fit(trainer, net, trainLoader, validationLoader, metadata: metadata)

        if let test {
            let result = trainer.evaluate(DataLoader(test, batchSize: 1024))
            print(String(format: "test loss %.4f", result["loss"]!) + (result["accuracy"].map { String(format: "  test accuracy %.4f", $0) } ?? ""))
        } else if let last = trainer.history.last, let acc = last["val_accuracy"] {
            print(String(format: "final %@ accuracy %.4f", data.test != nil ? "test" : "validation", acc))
        } else if let last = trainer.history.last, let mae = last["val_mae"] ?? last["mae"] {
            print(String(format: "final MAE %.4f", mae))
        }
        try writePlots(trainer: trainer, data: data, net: net, folder: plots)
        print("metrics: \(metricsPath)")
        if let output { print("checkpoint: \(output) (training state: \(Checkpoint.trainingStatePath(for: output)))") }
    }

    /// Resumes when asked, trains for the epochs left, and after every epoch writes the metrics and, with
    /// `--output`, the checkpoint (`metadata` plus the epoch's metrics) with its training state. Returns the
    /// metrics file's path.
    func fit(_ trainer: Trainer, _ net: Module, _ trainLoader: DataLoader, _ validationLoader: DataLoader?,
             metadata: [String: String]) throws -> String {
        trainer.progress = quiet ? .lines : .automatic
        if let resume {
            let (state, _) = try Checkpoint.resume(model: net, from: resume)
            try trainer.restore(state, loaders: ["train": trainLoader])
            print("resumed from \(resume) after epoch \(state.epoch)")
        }
        let metricsPath = (plots as NSString).appendingPathComponent("metrics.jsonl")
        let saveEachEpoch = EpochCallback { record, trainer in
            if let output = self.output {
                var meta = metadata
                meta[CheckpointMetadata.metrics] = record.json
                try Checkpoint.save(model: net, state: trainer.trainingState(loaders: ["train": trainLoader]), to: output, metadata: meta)
            }
            return true
        }
        let stopping = earlyStopping.map { EarlyStopping(monitor: validationLoader == nil ? "loss" : "val_loss", patience: $0) }
        try trainer.fit(trainLoader, validation: validationLoader, epochs: epochs, earlyStopping: stopping,
                        callbacks: [MetricsLog(path: metricsPath), saveEachEpoch])
        return metricsPath
    }

    func makeLoss(classification: Bool) throws -> (Tensor, Tensor) -> Tensor {
        switch loss ?? (classification ? "cross-entropy" : "mse") {
        case "cross-entropy":
            guard classification else { throw UserError("--loss cross-entropy needs class labels; use mse, l1 or huber for regression") }
            return { crossEntropy($0, $1) }
        case "mse": return classification ? { mseLoss(softmax($0, axis: 1), oneHot($1, classes: $0.shape[1])) } : { mseLoss($0, $1) }
        case "l1": return classification ? { l1Loss(softmax($0, axis: 1), oneHot($1, classes: $0.shape[1])) } : { l1Loss($0, $1) }
        case "huber": return classification ? { huberLoss(softmax($0, axis: 1), oneHot($1, classes: $0.shape[1])) } : { huberLoss($0, $1) }
        case let other: throw UserError("unknown loss '\(other)' (choose from cross-entropy, mse, l1, huber)")
        }
    }

    func makeOptimizer(_ parameters: [Tensor]) throws -> Optimizer {
        let options: [String: Double] = ["lr": lr, "momentum": momentum, "weightDecay": weightDecay]
        let check: (Optimizer.Type) throws -> Void = { type in
            if let problem = type.check(options) { throw UserError("--\(problem.hasPrefix("invalid learning rate") ? "lr" : "optimizer options"): \(problem)") }
        }
        switch optimizer {
        case "sgd": try check(SGD.self); return SGD(parameters, lr: lr, momentum: momentum, weightDecay: weightDecay)
        case "adam": try check(Adam.self); return Adam(parameters, lr: lr, weightDecay: weightDecay)
        case "adamw": try check(AdamW.self); return AdamW(parameters, lr: lr, weightDecay: weightDecay)
        case "rmsprop": try check(RMSprop.self); return RMSprop(parameters, lr: lr, weightDecay: weightDecay, momentum: momentum)
        case "adagrad": try check(Adagrad.self); return Adagrad(parameters, lr: lr, weightDecay: weightDecay)
        case "lamb": try check(LAMB.self); return LAMB(parameters, lr: lr, weightDecay: weightDecay)
        case "adadelta": try check(Adadelta.self); return Adadelta(parameters, lr: lr, weightDecay: weightDecay)
        case "adamax": try check(Adamax.self); return Adamax(parameters, lr: lr, weightDecay: weightDecay)
        case "nadam": try check(NAdam.self); return NAdam(parameters, lr: lr, weightDecay: weightDecay)
        case "radam": try check(RAdam.self); return RAdam(parameters, lr: lr, weightDecay: weightDecay)
        default:
            throw UserError("unknown optimizer '\(optimizer)' (choose from sgd, adam, adamw, rmsprop, adagrad, lamb, adadelta, adamax, nadam, radam)")
        }
    }

    func makeSchedule(_ opt: Optimizer) throws -> LRScheduler? {
        let parts = schedule.split(separator: ":").map(String.init)
        switch parts.first {
        case "none": return nil
        case "cosine": return CosineAnnealingLR(opt, tMax: epochs)
        case "step":
            guard parts.count == 3, let n = Int(parts[1]), n > 0, let g = Double(parts[2]), g > 0 else {
                throw UserError("--schedule step needs step:EPOCHS:GAMMA with positive values, got '\(schedule)'")
            }
            return StepLR(opt, stepSize: n, gamma: g)
        case "exponential":
            guard parts.count == 2, let g = Double(parts[1]), g > 0 else {
                throw UserError("--schedule exponential needs exponential:GAMMA with GAMMA > 0, got '\(schedule)'")
            }
            return ExponentialLR(opt, gamma: g)
        case "multistep":
            let milestones = parts.count == 3 ? parts[1].split(separator: ",").compactMap { Int($0) } : []
            guard parts.count == 3, !milestones.isEmpty, milestones.count == parts[1].split(separator: ",").count,
                  milestones.allSatisfy({ $0 > 0 }), let g = Double(parts[2]), g > 0 else {
                throw UserError("--schedule multistep needs multistep:E1,E2,...:GAMMA with positive epochs and GAMMA, got '\(schedule)'")
            }
            return MultiStepLR(opt, milestones: milestones, gamma: g)
        case "polynomial":
            guard parts.count == 2, let power = Double(parts[1]), power > 0 else {
                throw UserError("--schedule polynomial needs polynomial:POWER with POWER > 0, got '\(schedule)'")
            }
            return PolynomialLR(opt, totalIters: epochs, power: power)
        case "cosine-restarts":
            guard parts.count == 2 || parts.count == 3, let t0 = Int(parts[1]), t0 > 0,
                  let mult = parts.count == 3 ? Int(parts[2]) : 1, mult >= 1 else {
                throw UserError("--schedule cosine-restarts needs cosine-restarts:T0[:TMULT] with T0 > 0 and TMULT >= 1, got '\(schedule)'")
            }
            return CosineAnnealingWarmRestarts(opt, t0: t0, tMult: mult)
        case "onecycle":
            guard parts.count == 2, let maxLR = Double(parts[1]), maxLR > 0 else {
                throw UserError("--schedule onecycle needs onecycle:MAXLR with MAXLR > 0, got '\(schedule)'")
            }
            return OneCycleLR(opt, maxLR: maxLR, totalSteps: epochs)  // stepped once per epoch
        case "warmup":
            guard parts.count == 2, let n = Int(parts[1]), n >= 0, n < epochs else {
                throw UserError("--schedule warmup needs warmup:EPOCHS with 0 <= EPOCHS < --epochs, got '\(schedule)'")
            }
            return WarmupCosineLR(opt, warmupEpochs: n, totalEpochs: epochs)
        default:
            throw UserError("unknown schedule '\(schedule)' (use none, step:EPOCHS:GAMMA, multistep:E1,E2,...:GAMMA, exponential:GAMMA, "
                            + "cosine, cosine-restarts:T0[:TMULT], polynomial:POWER, onecycle:MAXLR, warmup:EPOCHS)")
        }
    }
}

/// Loss and accuracy curves, gradient norms, and (for 2-D classification) the decision boundary.
func writePlots(trainer: Trainer, data: LoadedData, net: Sequential, folder: String) throws {
    let h = trainer.history
    var written: [String] = []
    func save(_ name: String, _ svg: String) throws {
        let path = (folder as NSString).appendingPathComponent(name)
        try writeText(svg, to: path)
        written.append(path)
    }
    try save("loss.svg", Plot.lines([("train", h.map { $0["loss"] ?? .nan })] + (h.first?["val_loss"] != nil ? [("validation", h.map { $0["val_loss"] ?? .nan })] : []),
                                    title: "Loss", yLabel: "loss"))
    let metric = data.isClassification ? "accuracy" : "mae"
    try save("\(metric).svg", Plot.lines([("train", h.map { $0[metric] ?? .nan })] + (h.first?["val_" + metric] != nil ? [("validation", h.map { $0["val_" + metric] ?? .nan })] : []),
                                         title: metric.capitalized, yLabel: metric))
    try save("gradient_norms.svg", Plot.gradientNorms(h))
    if data.isClassification && data.exampleShape == [2] && data.classes == 2 {
        let points = data.test ?? data.train
        try save("decision_boundary.svg", Plot.decisionBoundary(title: "Decision boundary (test points)", points: points.inputs,
                                                                labels: points.targets.converted(to: .float32)) { grid in
            net.eval()
            defer { net.train() }
            return withNoGrad { softmax(net(grid), axis: 1).sliced(axis: 1, 1..<2).reshaped([-1]) }
        })
    }
    print("plots: \(written.joined(separator: ", "))")
}
