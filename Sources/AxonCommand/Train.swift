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
    @Flag(name: .long, help: "Train on every rank of an MPI job (under mpirun; the build needs --traits MPI). --batch-size is per rank; rank 0 writes the outputs.")
    var distributed = false
    @Flag(name: .long, help: "With --distributed: batch norm uses every rank's batch together (SyncBatchNorm), not each rank's own.")
    var syncBatchNorm = false

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
        if distributed { try joinJob() }
        if let threads { Threading.threadCount = threads }
        manualSeed(seed)
        try train()
        if distributed { try Distributed.finish() }
    }

    /// Joins the MPI job: ranks other than 0 print nothing (errors still go to standard error), each rank uses its
    /// share of the host's cores unless --threads says otherwise, and the ranks check they were given the same seed.
    func joinJob() throws {
        try Distributed.start()
        if !Distributed.isMain {
            let null = open("/dev/null", O_WRONLY)
            if null >= 0 { dup2(null, STDOUT_FILENO); close(null) }
        }
        let local = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) } ?? Distributed.worldSize
        if threads == nil { Threading.threadCount = max(1, ProcessInfo.processInfo.activeProcessorCount / max(local, 1)) }
        try Distributed.checkAgreement([("--seed", Int64(bitPattern: seed)), ("--batch-size", Int64(batchSize)), ("--epochs", Int64(epochs))])
    }

    /// The model trained: `net`, or with --distributed the data-parallel wrapper around it, once the ranks have checked
    /// that they hold the same dataset.
    func trained(_ net: any Layer, examples: Int) throws -> any Layer {
        guard distributed else { return net }
        try Distributed.checkAgreement([("the number of training examples", Int64(examples))])
        return try DistributedDataParallel(net, syncBatchNorm: syncBatchNorm)
    }

    /// A loader over `data`; with --distributed, over this rank's share (training: PyTorch's even shares of the
    /// shuffled order; evaluation: every example once over the ranks).
    func loader(_ data: any Dataset, batchSize: Int, shuffle: Bool, seed: UInt64 = 0) -> DataLoader {
        let sampler = distributed ? DistributedSampler(rank: Distributed.rank, worldSize: Distributed.worldSize, even: shuffle) : nil
        return DataLoader(data, batchSize: batchSize, shuffle: shuffle, seed: seed, sampler: sampler)
    }

    func train() throws {
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
        let trainLoader = loader(data.train, batchSize: batchSize, shuffle: true, seed: seed)
        let validationLoader = validation.map { loader($0, batchSize: 1024, shuffle: false) }
        let trainer = Trainer(model: try trained(net, examples: data.train.count), optimizer: opt, loss: lossFunction,
                              metrics: data.isClassification ? [.accuracy] : [.mae], scheduler: scheduler)
        let metadata = CheckpointMetadata.describing(spec, classification: data.isClassification, classNames: data.classNames,
                                                     standardizer: data.standardizer)
        let metricsPath = try fit(trainer, net, trainLoader, validationLoader, metadata: metadata)

        if let test {
            let result = trainer.evaluate(loader(test, batchSize: 1024, shuffle: false))
            print(String(format: "test loss %.4f", result["loss"]!) + (result["accuracy"].map { String(format: "  test accuracy %.4f", $0) } ?? ""))
        } else if let last = trainer.history.last, let acc = last["val_accuracy"] {
            print(String(format: "final %@ accuracy %.4f", data.test != nil ? "test" : "validation", acc))
        } else if let last = trainer.history.last, let mae = last["val_mae"] ?? last["mae"] {
            print(String(format: "final MAE %.4f", mae))
        }
        if Distributed.isMain { try writePlots(trainer: trainer, data: data, net: net, folder: plots) }
        print("metrics: \(metricsPath)")
        if let output { print("checkpoint: \(output) (training state: \(Checkpoint.trainingStatePath(for: output)))") }
    }

    /// Resumes when asked, trains for the epochs left, and after every epoch writes the metrics and, with
    /// `--output`, the checkpoint (`metadata` plus the epoch's metrics) with its training state. Returns the
    /// metrics file's path.
    func fit(_ trainer: Trainer, _ net: Module, _ trainLoader: DataLoader, _ validationLoader: DataLoader?,
             metadata: [String: String]) throws -> String {
        trainer.progress = !Distributed.isMain ? .silent : quiet ? .lines : .automatic
        if let resume {
            let (state, _) = try Checkpoint.resume(model: net, from: resume)
            try trainer.restore(state, loaders: ["train": trainLoader])
            print("resumed from \(resume) after epoch \(state.epoch)")
        }
        let metricsPath = (plots as NSString).appendingPathComponent("metrics.jsonl")
        let saveEachEpoch = EpochCallback { record, trainer in
            if let output = self.output, Distributed.isMain {  // rank 0 alone writes
                var meta = metadata
                meta[CheckpointMetadata.metrics] = record.json
                try Checkpoint.save(model: net, state: trainer.trainingState(loaders: ["train": trainLoader]), to: output, metadata: meta)
            }
            return true
        }
        let stopping = earlyStopping.map { EarlyStopping(monitor: validationLoader == nil ? "loss" : "val_loss", patience: $0) }
        try trainer.fit(trainLoader, validation: validationLoader, epochs: epochs, earlyStopping: stopping,
                        callbacks: (Distributed.isMain ? [MetricsLog(path: metricsPath)] : []) + [saveEachEpoch])
        return metricsPath
    }

    func makeLoss(classification: Bool) throws -> (Tensor, Tensor) -> Tensor {
        let name = loss ?? (classification ? "cross-entropy" : "mse")
        guard let kind = LossKind(name: name) else { throw UserError("unknown loss '\(name)' (choose from \(LossKind.names))") }
        guard let function = kind.function(classification: classification) else {
            throw UserError("--loss \(name) needs class labels; use mse, l1 or huber for regression")
        }
        return function
    }

    func makeOptimizer(_ parameters: [Tensor]) throws -> Optimizer {
        guard let kind = OptimizerKind(name: optimizer) else {
            throw UserError("unknown optimizer '\(optimizer)' (choose from \(OptimizerKind.names))")
        }
        do {
            return try kind.make(parameters, lr: lr, momentum: momentum, weightDecay: weightDecay)
        } catch {
            let flag = ["lr": "--lr", "momentum": "--momentum", "weightDecay": "--weight-decay"][error.parameter] ?? "--optimizer \(optimizer)"
            throw UserError("\(flag): \(error)")
        }
    }

    func makeSchedule(_ opt: Optimizer) throws -> LRScheduler? {
        do {
            return try LRSchedule(parsing: schedule).make(opt, epochs: epochs)
        } catch {
            throw UserError("--schedule \(error)")
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
