import AxonCore
import _AxonKernels

/// A source of (input, target) examples addressed by index; loaders draw batches from it.
public protocol Dataset {
    /// Number of examples.
    var count: Int { get }
    /// The examples at `indices`, stacked along a new first axis: (inputs, targets).
    func batch(_ indices: [Int]) -> (input: Tensor, target: Tensor)
    /// A hint that the examples at `indices` come next: a dataset may start moving them into the cache. A
    /// ``DataLoader`` gives it the next batch's indices as it hands out a batch. The default does nothing.
    func prefetch(_ indices: [Int])
}

extension Dataset {
    public func prefetch(_ indices: [Int]) {}
}

/// A dataset whose examples change from epoch to epoch (``TextDataset`` moves its windows): a ``DataLoader``
/// calls ``startEpoch(generator:)`` with its own generator before it draws each epoch's order, so the
/// change is reproducible from the loader's seed and is restored with its state.
public protocol EpochDataset: AnyObject {
    /// Prepares the next epoch's examples.
    func startEpoch(generator: AxonCore.Generator)
}

/// A dataset held in two tensors whose first axis indexes examples, as `torch.utils.data.TensorDataset`.
///
/// Images read from bytes (``MNIST``) stay bytes in memory, with their scale, and become float32 a batch
/// at a time: a quarter of the memory of float32 images, with the same values.
///
/// ## Topics
///
/// ### Making a dataset
/// - ``init(inputs:targets:)``
/// - ``MNIST``
/// - ``CSVTable``
/// - ``Playground``
///
/// ### Its examples
/// - ``inputs``
/// - ``targets``
/// - ``count``
/// - ``batch(_:)``
/// - ``prefetch(_:)``
///
/// ### Subsets and splits
/// - ``subset(_:)``
/// - ``split(holdingOut:generator:)``
///
/// ### Checking data from outside
/// - ``checkFinite(source:)``
/// - ``checkClassIndices(below:source:)``
public struct TensorDataset: Dataset {
    /// Byte elements `[N, ...]` standing for float32 values `Float(byte) * scale`.
    struct ByteImages {
        let bytes: [UInt8]
        let shape: [Int]
        let scale: Float
        var rowSize: Int { shape.dropFirst().reduce(1, *) }

        /// float32 rows at `rows` (all when nil), stacked.
        func decoded(_ rows: [Int]?) -> Tensor {
            let n = rows?.count ?? shape[0], row = rowSize
            guard n > 0 && row > 0 else { return Tensor.zeros([n] + shape.dropFirst()) }  // no buffer to point into
            // Decoded straight into the tensor's buffer (a 10 000-image set is 31 MB: no second copy).
            return Tensor(shape: [n] + shape.dropFirst(), unsafeUninitializedScalars: { out in
                bytes.withUnsafeBufferPointer { src in
                    (rows ?? []).withUnsafeBufferPointer { picked in
                        let from = SendablePointer(pointer: UnsafeMutablePointer(mutating: src.baseAddress!))
                        let to = SendablePointer(pointer: out.baseAddress!)
                        let chosen = rows == nil ? nil : picked.baseAddress
                        // Rows in parallel (each row is written by one task; the values do not depend on the split),
                        // by the C loop that prefetches the (scattered) rows ahead of the one it converts.
                        parallelFor(n, grain: rowGrain) { range in
                            axon_bytes_to_f32_rows(from.pointer, chosen, range.lowerBound, range.upperBound, row, scale,
                                                   to.pointer + range.lowerBound * row)
                        }
                    }
                }
            })
        }

        /// Rows per task of ``decoded(_:)`` and ``prefetch(_:)``: split alike, so that each thread decodes the rows it
        /// requested into its own core's cache.
        var rowGrain: Int { max(1, 16_384 / max(rowSize, 1)) }

        /// Requests the rows' bytes into the cache (a shuffled batch's rows lie anywhere in tens of MB), in parallel.
        func prefetch(_ rows: [Int]) {
            let row = rowSize
            guard row > 0, !rows.isEmpty, rows.allSatisfy({ $0 >= 0 && $0 < shape[0] }) else { return }  // no bytes to point into
            bytes.withUnsafeBufferPointer { src in
                rows.withUnsafeBufferPointer { picked in
                    let from = SendablePointer(pointer: UnsafeMutablePointer(mutating: src.baseAddress!))
                    let chosen = SendablePointer(pointer: UnsafeMutablePointer(mutating: picked.baseAddress!))
                    parallelFor(rows.count, grain: rowGrain) { range in
                        axon_prefetch_rows(from.pointer, chosen.pointer + range.lowerBound, range.count, row)
                    }
                }
            }
        }

        func subset(_ rows: [Int]) -> ByteImages {
            let row = rowSize
            var out = [UInt8]()
            out.reserveCapacity(rows.count * row)
            for r in rows { out.append(contentsOf: bytes[(r * row)..<((r + 1) * row)]) }
            return ByteImages(bytes: out, shape: [rows.count] + shape.dropFirst(), scale: scale)
        }
    }

    private let inputTensor: Tensor?
    private let inputBytes: ByteImages?

    /// All inputs, `[N, ...]` (decoded to float32 on each access when the dataset holds bytes).
    public var inputs: Tensor { inputTensor ?? inputBytes!.decoded(nil) }  // every initialiser sets exactly one of the two
    /// All targets, `[N]` (class indices) or `[N, ...]`.
    public let targets: Tensor

    /// Pairs inputs and targets. They come from outside (files, user data), so a different number of rows is a
    /// ``DataError``, not a trap.
    public init(inputs: Tensor, targets: Tensor) throws {
        guard inputs.rank >= 1, targets.rank >= 1, inputs.shape[0] == targets.shape[0] else {
            throw DataError("dataset: inputs \(inputs.shape) and targets \(targets.shape) need the same number of rows")
        }
        self.init(rows: inputs, targets: targets)
    }

    /// Pairs inputs and targets that have the same rows by construction (subsets, transforms, synthetic data).
    init(rows inputs: Tensor, targets: Tensor) {
        inputTensor = inputs
        inputBytes = nil
        self.targets = targets
    }

    /// Checks that every input (and every floating-point target) is finite, for callers that want NaN and
    /// infinities in data from outside found before training rather than as a loss that became NaN. The
    /// ``DataError`` names `source`, the first example and the position within it. Byte images are always finite.
    public func checkFinite(source: String = "dataset") throws {
        func check(_ t: Tensor, _ what: String) throws {
            guard t.dtype.isFloatingPoint, t.count > 0 else { return }
            guard !withNoGrad({ (t * 0).sum().item }).isFinite else { return }  // 0·x is NaN exactly where x is NaN or ±inf
            let values = t.doubleScalars, perExample = t.count / max(t.shape[0], 1)
            if let i = values.firstIndex(where: { !$0.isFinite }) {
                throw DataError("\(source): example \(i / perExample) has \(values[i]) at \(what) position \(i % perExample)")
            }
        }
        if let inputTensor { try check(inputTensor, "input") }
        try check(targets, "target")
    }

    /// Checks that every target is a class index in `0..<classes` (int64 `[N]`), where data meets a model:
    /// `crossEntropy` and `nllLoss` stop the process on an index out of range, as a programmer error in code
    /// does, so data from outside is checked first. The ``DataError`` names `source`, the first example out of
    /// range and its class.
    public func checkClassIndices(below classes: Int, source: String = "dataset") throws {
        guard targets.dtype == .int64, targets.rank == 1 else {
            throw DataError("\(source): class targets must be integers [N], got \(targets.dtype) \(targets.shape)")
        }
        if let (i, c) = targets.intScalars.enumerated().first(where: { $0.element < 0 || $0.element >= classes }) {
            throw DataError("\(source): example \(i) has class \(c), outside the \(classes) classes 0...\(classes - 1)")
        }
    }

    /// Pairs byte inputs `[N, ...]` (read as `Float(byte) * scale`) with targets.
    init(bytes: ByteImages, targets: Tensor) {
        guard bytes.shape.first == targets.shape.first else {  // MNIST.load checks the lengths before (a DataError)
            fatalError("Axon.TensorDataset: byte images \(bytes.shape) and targets \(targets.shape) differ in length")
        }
        inputTensor = nil
        inputBytes = bytes
        self.targets = targets
    }

    /// Number of examples.
    public var count: Int { targets.shape[0] }

    /// Rows at `indices`.
    public func batch(_ indices: [Int]) -> (input: Tensor, target: Tensor) {
        let idx = Tensor(shape: [indices.count], scalars: indices)
        let y = targets.indexSelected(axis: 0, indices: idx)  // checks the indices before the bytes are read
        let x = inputBytes.map { $0.decoded(indices) } ?? inputTensor!.indexSelected(axis: 0, indices: idx)
        return (x, y)
    }

    /// Requests the input bytes of `indices` into the cache, for a dataset of byte images (``MNIST``); nothing
    /// otherwise.
    public func prefetch(_ indices: [Int]) {
        inputBytes?.prefetch(indices)
    }

    /// The examples at `indices` as a new dataset.
    public func subset(_ indices: [Int]) -> TensorDataset {
        let idx = Tensor(shape: [indices.count], scalars: indices)
        let y = targets.indexSelected(axis: 0, indices: idx)  // checks the indices before the bytes are read
        if let inputBytes {
            return TensorDataset(bytes: inputBytes.subset(indices), targets: y)
        }
        return TensorDataset(rows: inputTensor!.indexSelected(axis: 0, indices: idx), targets: y)
    }

    /// Splits into (first, second) with `fraction` of the examples (rounded down) in the second,
    /// after a shuffle drawn from `generator`: a train/validation split.
    public func split(holdingOut fraction: Double, generator: Generator) -> (TensorDataset, TensorDataset) {
        guard fraction >= 0 && fraction < 1 else { fatalError("Axon.TensorDataset.split: fraction must be in [0, 1), got \(fraction)") }
        let order = generator.permutation(count)
        let held = Int(Double(count) * fraction)
        return (subset(Array(order[held...])), subset(Array(order[..<held])))
    }
}

/// Iterates over a dataset in batches, as `torch.utils.data.DataLoader`: optionally shuffled with a
/// permutation drawn from its own generator each epoch (same seed, same batches), optionally
/// dropping a last incomplete batch.
///
/// ## Topics
///
/// ### Making a loader
/// - ``init(_:batchSize:shuffle:dropLast:seed:sampler:)``
/// - ``dataset``
/// - ``batchSize``
/// - ``shuffle``
/// - ``dropLast``
///
/// ### Epochs
/// - ``batchCount``
/// - ``makeIterator()``
/// - ``generator``
/// - ``EpochDataset``
public final class DataLoader: Sequence {
    /// The dataset.
    public let dataset: any Dataset
    /// Examples per batch.
    public let batchSize: Int
    /// Whether each epoch visits the examples in a new random order.
    public let shuffle: Bool
    /// Whether a last, smaller batch is skipped.
    public let dropLast: Bool
    /// The generator that draws the permutations (its state is part of a training checkpoint).
    public let generator: AxonCore.Generator
    /// This process's share of each epoch's order, in distributed training (nil: the whole order).
    public let sampler: DistributedSampler?

    /// A loader over `dataset`; `seed` fixes the shuffling. With a `sampler`, each epoch's order (the same order a
    /// loader without one draws for that seed and epoch) is cut down to this rank's share.
    public init(_ dataset: any Dataset, batchSize: Int, shuffle: Bool = false, dropLast: Bool = false, seed: UInt64 = 0,
                sampler: DistributedSampler? = nil) {
        guard batchSize > 0 else { fatalError("Axon.DataLoader: batchSize must be positive, got \(batchSize)") }
        self.dataset = dataset
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.dropLast = dropLast
        self.sampler = sampler
        generator = AxonCore.Generator(seed: seed)
    }

    /// Examples in one epoch: the dataset's, or this rank's share of them.
    var epochCount: Int { sampler?.count(of: dataset.count) ?? dataset.count }

    /// Number of batches in one epoch (for an ``EpochDataset``, the epoch being drawn).
    public var batchCount: Int {
        dropLast ? epochCount / batchSize : (epochCount + batchSize - 1) / batchSize
    }

    /// One epoch's batches (draws the epoch's permutation when shuffling).
    public func makeIterator() -> AnyIterator<(input: Tensor, target: Tensor)> {
        (dataset as? EpochDataset)?.startEpoch(generator: generator)
        let all = shuffle ? generator.permutation(dataset.count) : Array(0..<dataset.count)
        let order = sampler?.share(of: all) ?? all
        let batches = batchCount, size = batchSize, data = dataset
        var b = 0
        return AnyIterator {
            guard b < batches else { return nil }
            let start = b * size
            b += 1
            let batch = data.batch(Array(order[start..<Swift.min(start + size, order.count)]))
            // The next batch's examples start moving into the cache while this one trains.
            if b < batches { data.prefetch(Array(order[(start + size)..<Swift.min(start + 2 * size, order.count)])) }
            return batch
        }
    }
}

/// One rank's share of each epoch's examples in distributed training, as `torch.utils.data.DistributedSampler`:
/// every rank draws the same order (the order a single-process ``DataLoader`` draws for the seed and epoch), and
/// rank r takes its positions r, r + N, r + 2N, ... for N ranks.
///
/// With `even` (the default, PyTorch's behaviour), every rank gets the same number of examples, so every rank
/// runs the same number of steps: the order is padded with its own first examples up to a multiple of N, or,
/// with `dropLast`, cut down to one. Without `even` (an evaluation set, where each example must count once),
/// the shares differ by at most one example.
public struct DistributedSampler: Sendable, Equatable {
    /// This process's rank, 0..<worldSize.
    public let rank: Int
    /// Number of ranks.
    public let worldSize: Int
    /// Whether an order that does not divide evenly is cut down (true) or padded (false).
    public let dropLast: Bool
    /// Whether every rank gets the same number of examples.
    public let even: Bool

    /// Rank `rank` of `worldSize` ranks.
    public init(rank: Int, worldSize: Int, dropLast: Bool = false, even: Bool = true) {
        guard worldSize >= 1, (0..<worldSize).contains(rank) else {
            fatalError("Axon.DistributedSampler: rank \(rank) must be in 0..<worldSize, with worldSize \(worldSize) >= 1")
        }
        self.rank = rank
        self.worldSize = worldSize
        self.dropLast = dropLast
        self.even = even
    }

    /// Examples this rank gets from a dataset of `total`.
    public func count(of total: Int) -> Int {
        if !even { return total > rank ? (total - rank + worldSize - 1) / worldSize : 0 }
        return dropLast ? total / worldSize : (total + worldSize - 1) / worldSize
    }

    /// This rank's positions of `order` (an epoch's order of example indices).
    public func share(of order: [Int]) -> [Int] {
        guard !order.isEmpty else { return [] }
        var full = order
        if even {
            let total = count(of: order.count) * worldSize
            if total < full.count {
                full.removeLast(full.count - total)
            } else {
                while full.count < total { full += order.prefix(total - full.count) }  // PyTorch's padding
            }
        }
        return Array(stride(from: rank, to: full.count, by: worldSize).map { full[$0] })
    }
}
