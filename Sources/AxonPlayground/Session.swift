import Axon
import Foundation

/// One browser tab's playground: its data, network and optimizer, trained in Swift on Axon.
/// An actor, so each session's tensors are only touched by one task at a time; it runs on the Playground's
/// own threads (`TrainingThreads`), not on Swift's cooperative pool.
public actor PlaygroundSession {
    private let executor = SessionExecutor()
    /// The session's executor: a strand on the Playground's training threads.
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    /// The session's identifier (in its URLs).
    public let id: String
    /// The current configuration.
    public private(set) var config: PlaygroundConfig
    private var model = Sequential(layers: [])
    /// The training engine for the current network (rebuilt with it).
    private var trainer = Trainer(model: Sequential(layers: []), optimizer: SGD([], lr: 0.01), loss: { mseLoss($0, $1) })
    private var trainX = Tensor.zeros([0, 2]), trainY = Tensor.zeros([0, 1])
    private var testX = Tensor.zeros([0, 2]), testY = Tensor.zeros([0, 1])
    private var trainPoints: [[Float]] = [], testPoints: [[Float]] = []
    private var uploaded: [(Float, Float, Float)]? = nil
    /// The training batches, shuffled each epoch, and the current epoch's iterator while one is under way.
    private var trainSet: TensorDataset
    private var loader: DataLoader
    private var batches: AnyIterator<(input: Tensor, target: Tensor)>?
    private var epoch = 0
    private var trainHistory: [Double] = [], testHistory: [Double] = []
    private var gradientNorms: [Double] = [], gradientHistory: [[Double]] = []
    private(set) var dataVersion = 0
    /// Bumped on every change the page should draw.
    private(set) var version = 0
    private var cachedSnapshot: (version: Int, bytes: [UInt8])?
    private(set) var playing = false
    /// Last time a request or an event stream touched the session (for idle reclamation).
    private(set) var lastAccess = Date()

    static let historyLimit = 1000
    /// Most epochs one step request may ask for.
    public static let maxEpochsPerStep = 1000
    /// Most rows an upload may hold (a CSV of 10^4 points is about 200 KB, within the body limit).
    public static let maxUploadRows = 10_000

    /// A session with data and a fresh network for `config` (validated).
    public init(id: String, config: PlaygroundConfig) async throws {
        self.id = id
        self.config = try config.validated()
        trainSet = try TensorDataset(inputs: trainX, targets: trainY)
        loader = DataLoader(trainSet, batchSize: 1)
        try rebuildData()
        try rebuildNetwork()
    }

    func touch() { lastAccess = Date() }

    // MARK: - Configuration

    /// Applies a new configuration: regenerates data if the data settings changed, and always resets the network.
    public func configure(_ new: PlaygroundConfig) throws {
        let checked = try new.validated()
        let dataChanged = checked.dataset != config.dataset || checked.noise != config.noise || checked.trainRatio != config.trainRatio
            || checked.samples != config.samples || checked.seed != config.seed || checked.problem != config.problem
        let old = config
        config = checked
        do {
            if dataChanged || checked.features != old.features || checked.loss != old.loss { try rebuildData() }
        } catch {
            config = old
            throw error
        }
        try rebuildNetwork()
    }

    /// New data from a fresh seed (the page's "regenerate").
    public func regenerate() throws {
        config.seed &+= 1
        try rebuildData()
        try rebuildNetwork()
    }

    /// Replaces the data with uploaded CSV text: two feature columns and a label column (the last).
    public func upload(csv: String) throws {
        let table: CSVTable
        do {
            table = try CSVTable.parse(csv, source: "upload", label: .index(-1),
                                       task: config.problem == "regression" ? .regression : .classification,
                                       hasHeader: csv.first.map { !$0.isNumber && $0 != "-" && $0 != "." } ?? false)
        } catch let e as DataError {
            throw PlaygroundError(status: 400, e.description)
        }
        guard table.features.shape[1] == 2 else {
            throw PlaygroundError(status: 400, "upload: need exactly 2 feature columns and a label column, got \(table.features.shape[1] + 1) columns")
        }
        let n = table.features.shape[0]
        guard (4...Self.maxUploadRows).contains(n) else { throw PlaygroundError(status: 400, "upload: need 4 to \(Self.maxUploadRows) rows, got \(n)") }
        let labels = table.labels!  // asked for (label: .index(-1)): the parser returns a label column or throws
        if config.problem == "classification" {
            let classes = Set(labels.intScalars)
            guard classes.isSubset(of: [0, 1]) else {
                throw PlaygroundError(status: 400, "upload: classification needs 2 classes (0/1 or two names), got \(classes.count)")
            }
        }
        // Scale the points to the Playground's [-6, 6] square.
        let xs = table.features.scalars
        let scale = 6 / max(xs.map { abs($0) }.max() ?? 1, 1e-6)
        let ys = config.problem == "classification" ? labels.intScalars.map { Float($0) } : labels.scalars
        uploaded = (0..<n).map { (xs[2 * $0] * scale, xs[2 * $0 + 1] * scale, ys[$0]) }
        config.dataset = "upload"
        try rebuildData()
        try rebuildNetwork()
    }

    private func rebuildData() throws {
        var rows: [(Float, Float, Float)]
        let classification = config.problem == "classification"
        if config.dataset == "upload" {
            guard let uploaded else { throw PlaygroundError(status: 400, "dataset 'upload' needs a CSV upload first") }
            let perm = Generator(seed: config.seed).permutation(uploaded.count)
            rows = perm.map { uploaded[$0] }
            let cut = max(1, min(rows.count - 1, Int(Double(rows.count) * config.trainRatio / 100)))
            try split(rows, cut)
        } else {
            let kind = Playground.Kind(rawValue: config.dataset)!  // validated(): every dataset but "upload" is a Kind
            let d = Playground.make(kind, samples: config.samples, noise: config.noise, trainRatio: config.trainRatio,
                                    generator: Generator(seed: config.seed))
            func rowsOf(_ set: TensorDataset) -> [(Float, Float, Float)] {
                let x = set.inputs.scalars
                let y = classification ? set.targets.intScalars.map { Float($0) } : set.targets.scalars
                return (0..<set.count).map { (x[2 * $0], x[2 * $0 + 1], y[$0]) }
            }
            let train = rowsOf(d.train), test = rowsOf(d.test)
            rows = train + test
            try split(rows, train.count)
        }
        dataVersion += 1
        version += 1
    }

    /// Splits rows into train/test tensors: features per the config, targets per the loss
    /// (tanh output vs ±1 for MSE classification, 0/1 for cross-entropy, values for regression).
    private func split(_ rows: [(Float, Float, Float)], _ cut: Int) throws {
        let classification = config.problem == "classification"
        func target(_ l: Float) -> Float { classification && config.loss == "mse" ? 2 * l - 1 : l }
        let train = rows[..<cut], test = rows[cut...]
        trainPoints = train.map { [$0.0, $0.1, $0.2] }
        testPoints = test.map { [$0.0, $0.1, $0.2] }
        trainX = features(train.map { ($0.0, $0.1) })
        testX = features(test.map { ($0.0, $0.1) })
        trainY = Tensor(shape: [train.count, 1], scalars: train.map { target($0.2) })
        testY = Tensor(shape: [test.count, 1], scalars: test.map { target($0.2) })
        trainSet = try TensorDataset(inputs: trainX, targets: trainY)
    }

    /// Input features of points, in the order of `config.features`.
    private func features(_ points: [(Float, Float)]) -> Tensor {
        var values: [Float] = []
        values.reserveCapacity(points.count * config.features.count)
        for (a, b) in points {
            for f in config.features {
                switch f {
                case "x1": values.append(a)
                case "x2": values.append(b)
                case "x1Squared": values.append(a * a)
                case "x2Squared": values.append(b * b)
                case "x1x2": values.append(a * b)
                case "sinX1": values.append(Foundation.sin(a))
                default: values.append(Foundation.sin(b))
                }
            }
        }
        return Tensor(shape: [points.count, config.features.count], scalars: values)
    }

    private func rebuildNetwork() throws {
        let generator = Generator(seed: config.seed &* 7919)
        var layers: [any Layer] = []
        var width = config.features.count
        for h in config.hiddenLayers {
            layers.append(Linear(width, h, generator: generator))
            layers.append(Activation(name: config.activation)!.layer())  // validated()
            width = h
        }
        layers.append(Linear(width, 1, generator: generator))
        model = Sequential(layers: layers)
        // validated() made this optimizer once with these options: "momentum" is SGD with momentum 0.9.
        let optimizer: Optimizer
        do {
            optimizer = try (OptimizerKind(name: config.optimizer) ?? .sgd).make(model.parameters(), lr: config.learningRate,
                                                                                momentum: config.optimizerMomentum)
        } catch { throw PlaygroundError(status: 400, "optimizer \(config.optimizer): \(error)") }
        trainer = Trainer(model: model, optimizer: optimizer, loss: Self.trainingLoss(config, weights: linears.map(\.weight)))
        trainer.throwsOnNonFiniteLoss = false  // the page shows a diverged network, as TensorFlow's Playground does
        trainer.historyLimit = 1
        loader = DataLoader(trainSet, batchSize: config.batchSize, shuffle: true, seed: config.seed)
        batches = nil
        epoch = 0
        trainHistory = []
        testHistory = []
        gradientNorms = Array(repeating: 0, count: linears.count)
        gradientHistory = Array(repeating: [], count: linears.count)
        let (trainLoss, testLoss) = losses()
        trainHistory.append(trainLoss)
        testHistory.append(testLoss)
        version += 1
    }

    private var linears: [Linear] { model.layers.compactMap { $0 as? Linear } }

    /// The network's output as the page shows it: tanh for MSE classification, 2σ − 1 for cross-entropy
    /// (so both lie in [-1, 1]), raw for regression.
    private func displayed(_ raw: Tensor) -> Tensor {
        guard config.problem == "classification" else { return raw }
        return config.loss == "mse" ? tanh(raw) : sigmoid(raw) * 2 - 1
    }

    /// The loss the page shows: binary cross-entropy on the logit, or MSE on tanh (classification, ±1 targets) or on
    /// the raw output (regression).
    private static func loss(_ config: PlaygroundConfig) -> (Tensor, Tensor) -> Tensor {
        let classification = config.problem == "classification"
        // validated(): mse, or cross-entropy for classification (a single output: binary cross-entropy on the logit).
        let kind = LossKind(name: config.loss)!
        if kind == .crossEntropy { return kind.function(classification: true)! }
        let mse = kind.function(classification: false)!
        return classification ? { mse(tanh($0), $1) } : mse
    }

    /// The loss trained on: the shown loss plus the L1 or L2 penalty on `weights`.
    private static func trainingLoss(_ config: PlaygroundConfig, weights: [Tensor]) -> (Tensor, Tensor) -> Tensor {
        let shown = loss(config), rate = config.regularizationRate
        switch config.regularization {
        case "L1": return { shown($0, $1) + l1Penalty(weights, lambda: rate) }
        case "L2": return { shown($0, $1) + l2Penalty(weights, lambda: rate) }
        default: return shown
        }
    }

    private func losses() -> (Double, Double) {
        let loss = Self.loss(config)
        return withNoGrad {
            let a = trainX.shape[0] > 0 ? loss(model(trainX), trainY).item : 0
            let b = testX.shape[0] > 0 ? loss(model(testX), testY).item : 0
            return (a, b)
        }
    }

    // MARK: - Training

    /// Runs `epochs` passes over the training points in minibatches.
    /// Between slices of `stepsPerTurn` minibatches it lets other work on the training threads run (requests
    /// for this and other sessions), so a long step does not hold up the server; a change made meanwhile (a new
    /// configuration) applies from the next slice on.
    public func step(epochs: Int = 1) async throws {
        guard (1...Self.maxEpochsPerStep).contains(epochs) else {
            throw PlaygroundError(status: 400, "epochs \(epochs) is outside 1-\(Self.maxEpochsPerStep)")
        }
        touch()
        for _ in 0..<epochs {
            while !trainSteps(Self.stepsPerTurn) { await Task.yield() }
        }
        version += 1
    }

    /// Runs up to `limit` minibatch steps of the current epoch; returns whether the epoch ended. Continuous
    /// training runs a few steps per turn, so the requests for this session (and for the others sharing the
    /// training threads) wait for a slice of an epoch, never for a whole one.
    private func trainSteps(_ limit: Int) -> Bool {
        guard trainX.shape[0] > 0 else { return true }
        if batches == nil { batches = loader.makeIterator() }
        for _ in 0..<limit {
            guard let batch = batches?.next() else { break }
            // Cannot throw: the trainer keeps going on a non-finite loss (throwsOnNonFiniteLoss is off).
            let step = try? trainer.trainStep(batch: batch)
            guard let step, step.index + 1 == loader.batchCount else { continue }
            batches = nil
            // Cannot throw: no callback of this trainer throws.
            let record = try? trainer.finishEpoch().record
            epoch += 1
            gradientNorms = record?.gradientNorms.map(\.norm) ?? gradientNorms
            for (i, v) in gradientNorms.enumerated() {
                gradientHistory[i].append(v)
                if gradientHistory[i].count > Self.historyLimit { gradientHistory[i].removeFirst() }
            }
            let (trainLoss, testLoss) = losses()
            trainHistory.append(trainLoss)
            testHistory.append(testLoss)
            if trainHistory.count > Self.historyLimit { trainHistory.removeFirst(); testHistory.removeFirst() }
            return true
        }
        return false
    }

    /// Starts or stops continuous training (driven by `PlaygroundStore`'s loop).
    public func setPlaying(_ on: Bool) {
        touch()
        playing = on
        version += 1
    }

    /// Resets the network to fresh weights (same data).
    public func reset() throws {
        touch()
        playing = false
        try rebuildNetwork()
    }

    /// Minibatch steps per turn of continuous training.
    static let stepsPerTurn = 16

    /// A slice of an epoch if playing (called by the training loop); returns whether it trained. The page is
    /// told when an epoch ends.
    func tick() -> Bool {
        guard playing else { return false }
        if trainSteps(Self.stepsPerTurn) { version += 1 }
        return true
    }

    /// The version, for an event stream, which keeps the session alive while it is open.
    func streamVersion() -> Int {
        touch()
        return version
    }

    // MARK: - Views

    /// The points (for the page's scatter plots).
    public func points() -> PointsPayload {
        touch()
        return PointsPayload(dataVersion: dataVersion, train: trainPoints, test: testPoints)
    }

    /// The snapshot as JSON, kept until the session changes: the event stream and every request between two
    /// changes share one encoding.
    func snapshotJSON() throws -> [UInt8] {
        touch()
        if let cached = cachedSnapshot, cached.version == version { return cached.bytes }
        let bytes = try snapshot().jsonBytes()
        cachedSnapshot = (version, bytes)
        return bytes
    }

    /// Everything the page draws. (The networks have no layer that acts differently in evaluation, so no
    /// eval()/train() switch is needed around the forward passes here and in `losses`.)
    public func snapshot() -> Snapshot {
        touch()
        let gridSize = 50, neuronGrid = 20
        func grid(_ size: Int) -> Tensor {
            var pts: [(Float, Float)] = []
            for j in 0..<size {
                for i in 0..<size {
                    pts.append((Float(-6 + 12 * (Double(i) + 0.5) / Double(size)), Float(6 - 12 * (Double(j) + 0.5) / Double(size))))
                }
            }
            return features(pts)
        }
        let (output, neurons): ([Float], [[[Float]]]) = withNoGrad {
            let out = displayed(model(grid(gridSize))).scalars
            // Each neuron's activation over a coarser grid: inputs first, then each hidden layer.
            var x = grid(neuronGrid)
            var layers: [[[Float]]] = [columns(x)]
            for layer in model.layers.dropLast() {
                x = layer(x)
                if !(layer is Linear) { layers.append(columns(x)) }
            }
            return (out, layers)
        }
        let (trainLoss, testLoss) = (trainHistory.last ?? 0, testHistory.last ?? 0)
        // `bias!` below: the session builds every Linear with a bias.
        return Snapshot(epoch: epoch, trainLoss: trainLoss, testLoss: testLoss, playing: playing, dataVersion: dataVersion,
                        trainHistory: trainHistory, testHistory: testHistory, gridSize: gridSize, output: output,
                        neuronGridSize: neuronGrid, neurons: neurons,
                        weights: linears.map { l in (0..<l.outFeatures).map { Array(l.weight.scalars[($0 * l.inFeatures)..<(($0 + 1) * l.inFeatures)]) } },
                        biases: linears.map { $0.bias!.scalars }, gradientNorms: gradientNorms, gradientHistory: gradientHistory,
                        config: config)
    }

    /// [rows, columns] -> one array per column.
    private func columns(_ t: Tensor) -> [[Float]] {
        let v = t.scalars, rows = t.shape[0], cols = t.shape[1]
        return (0..<cols).map { c in (0..<rows).map { v[$0 * cols + c] } }
    }

    /// The network as a model description: its input features, hidden layers and activation, one output.
    var modelSpec: ModelSpec {
        var layers: [ModelSpec.LayerSpec] = []
        for h in config.hiddenLayers {
            layers.append(.init(type: "linear", out: h))
            layers.append(.init(type: config.activation == "linear" ? "identity" : config.activation))
        }
        return ModelSpec(input: [config.features.count], layers: layers + [.init(type: "linear", out: 1)])
    }

    /// The trained network as an Axon checkpoint (safetensors) that `Checkpoint.loadModel(_:)` rebuilds: its model
    /// description and task as `axon train` writes them, and the Playground's configuration.
    public func checkpoint() -> Data {
        touch()
        var metadata = CheckpointMetadata.describing(modelSpec, classification: config.problem == "classification", classNames: nil,
                                                     standardizer: nil)
        metadata["axon.playground.config"] = CheckpointMetadata.encode(config)
        metadata["epoch"] = "\(epoch)"
        return SafeTensors.encode(model.stateDict(), metadata: metadata, order: model.stateDictKeys())
    }
}
