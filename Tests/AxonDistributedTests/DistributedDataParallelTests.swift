import Axon
import AxonTestSupport
import XCTest

/// Rank 0 of `worldSize` ranks that all hold this rank's data: a sum over the ranks is the value times
/// `worldSize`. It records the collectives, and can make one rank disagree at start-up.
final class ReplicatedRanks: Communicator, @unchecked Sendable {
    let worldSize: Int
    var rank: Int { 0 }
    var started = 0, blocking = 0, broadcasts = 0
    /// (position in allGather's values, rank, value that rank reports instead).
    var disagreement: (index: Int, rank: Int, value: Int64)?

    init(_ worldSize: Int) { self.worldSize = worldSize }

    private func scale(_ pointer: UnsafeMutableRawPointer, _ count: Int, _ dtype: DType) {
        switch dtype {
        case .float32: let p = pointer.assumingMemoryBound(to: Float.self); for i in 0..<count { p[i] *= Float(worldSize) }
        case .float64: let p = pointer.assumingMemoryBound(to: Double.self); for i in 0..<count { p[i] *= Double(worldSize) }
        case .int64: let p = pointer.assumingMemoryBound(to: Int64.self); for i in 0..<count { p[i] *= Int64(worldSize) }
        case .bool: fatalError("no sum of bools")
        }
    }
    func allReduceSum(_ pointer: UnsafeMutableRawPointer, count: Int, dtype: DType) throws { blocking += 1; scale(pointer, count, dtype) }
    func startAllReduceSum(_ pointer: UnsafeMutableRawPointer, count: Int, dtype: DType) throws -> any PendingCollective {
        started += 1
        scale(pointer, count, dtype)
        return SingleProcess.Done()
    }
    func broadcast(_ pointer: UnsafeMutableRawPointer, byteCount: Int, root: Int) throws { broadcasts += 1 }
    func allGather(_ values: [Int64]) throws -> [[Int64]] {
        var all = [[Int64]](repeating: values, count: worldSize)
        if let d = disagreement { all[d.rank][d.index] = d.value }
        return all
    }
    func barrier() throws {}
}

final class DistributedDataParallelTests: XCTestCase {
    func net(seed: UInt64) -> Sequential {
        manualSeed(seed)
        return Sequential(Conv2d(2, 4, kernelSize: 3, padding: 1), BatchNorm2d(4), ReLU(), Flatten(), Linear(4 * 5 * 5, 8), BatchNorm1d(8), Tanh(), Linear(8, 3))
    }

    /// With one process, training through the wrapper is training the model: the same weights, bit for bit.
    func testOneProcessTrainsExactlyAsTheModel() throws {
        let x = Tensor.randn([32, 2, 5, 5], generator: Generator(seed: 1)), y = Tensor(shape: [32], scalars: (0..<32).map { $0 % 3 })
        let data = try TensorDataset(inputs: x, targets: y)
        var weights: [[String: Tensor]] = []
        for wrapped in [false, true] {
            let model = net(seed: 3)
            let layer: any Layer = wrapped ? try DistributedDataParallel(model, communicator: SingleProcess(), bucketCapacityMB: 0.001) : model
            let trainer = Trainer(model: layer, optimizer: SGD(model.parameters(), lr: 0.1, momentum: 0.9), loss: { crossEntropy($0, $1) })
            trainer.progress = .silent
            try trainer.fit(DataLoader(data, batchSize: 8, shuffle: true, seed: 2), epochs: 2)
            weights.append(model.stateDict())
        }
        for (name, w) in weights[0] { XCTAssertEqual(w.doubleScalars, weights[1][name]!.doubleScalars, name) }
    }

    /// The names are PyTorch's DDP's (`module.` first); the buckets hold the parameters in reverse, split by size; every
    /// bucket's all-reduce starts from the hooks during backward, before `synchronizeGradients()`; and the gradients
    /// are the means over the ranks.
    func testBucketsStartDuringBackwardAndGradientsAreMeans() throws {
        let model = net(seed: 4), ranks = ReplicatedRanks(4)
        let ddp = try DistributedDataParallel(model, communicator: ranks, bucketCapacityMB: 400.0 / 1_048_576)
        XCTAssertEqual(ddp.stateDictKeys().first, "module.0.weight")
        XCTAssertEqual(Set(ddp.stateDictKeys()), Set(model.stateDictKeys().map { "module." + $0 }))
        XCTAssertEqual(ranks.broadcasts, 2, "the parameters in one message, then the buffers in another")
        let x = Tensor.randn([6, 2, 5, 5], generator: Generator(seed: 5))
        let loss = crossEntropy(ddp(x), Tensor(shape: [6], scalars: [0, 1, 2, 0, 1, 2]))
        XCTAssertEqual(ranks.broadcasts, 3, "a training forward pass sends rank 0's buffers")
        loss.backward()
        let local = model.parameters().map { $0.grad!.doubleScalars }
        // 400-byte buckets from the last parameter back: [the last Linear's bias and weight, BatchNorm1d's, the first
        // Linear's bias: 204 B], [the first Linear's weight: 3200 B], [BatchNorm2d's and the conv's: 336 B]. The first
        // two start from the hooks during backward; the last, with nothing left to overlap, is summed after.
        XCTAssertEqual(ranks.started, 2)
        XCTAssertEqual(ranks.blocking, 0)
        try ddp.synchronizeGradients()
        XCTAssertEqual(ranks.started, 2)
        XCTAssertEqual(ranks.blocking, 1)
        for (p, g) in zip(model.parameters(), local) { XCTAssertEqual(p.grad!.doubleScalars, g, "the mean of 4 equal gradients") }
        // A second backward before the step: the started buckets are summed again from the final gradients.
        crossEntropy(ddp(x), Tensor(shape: [6], scalars: [0, 1, 2, 0, 1, 2])).backward()
        crossEntropy(ddp(x), Tensor(shape: [6], scalars: [0, 1, 2, 0, 1, 2])).backward()
        try ddp.synchronizeGradients()
        XCTAssertEqual(ranks.started, 4, "the first pass started two buckets again")
        XCTAssertEqual(ranks.blocking, 1 + 3, "the second pass's gradients came after: every bucket summed again")
        for (p, g) in zip(model.parameters(), local) {
            assertClose(p.grad!.doubleScalars, g.map { 3 * $0 }, rtol: 1e-5, atol: 1e-6)  // the first step's mean, plus two passes
        }
    }

    /// Synchronised batch norm over ranks that hold equal batches is batch norm over the batches together: N ranks
    /// at batch B and one process at batch N·B give the same outputs, running statistics and weight gradients.
    func testSyncBatchNormIsBatchNormOverEveryRanksBatch() throws {
        let world = 3
        let a = net(seed: 6), b = net(seed: 6)
        let ddp = try DistributedDataParallel(a, communicator: ReplicatedRanks(world), syncBatchNorm: true)
        let x = Tensor.randn([5, 2, 5, 5], generator: Generator(seed: 7)) * 3 + 1
        let y = Tensor(shape: [5], scalars: [0, 1, 2, 1, 0])
        let outA = ddp(x)
        crossEntropy(outA, y).backward()
        try ddp.synchronizeGradients()
        let outB = b(concat([Tensor](repeating: x, count: world), axis: 0))
        crossEntropy(outB, concat([Tensor](repeating: y, count: world), axis: 0)).backward()
        assertClose(outA.doubleScalars, outB[0..<5].doubleScalars, rtol: 1e-5, atol: 1e-5)
        for ((name, pa), (_, pb)) in zip(a.namedParameters(), b.namedParameters()) {
            assertClose(pa.grad!.doubleScalars, pb.grad!.doubleScalars, rtol: 1e-4, atol: 1e-6, name)
        }
        let bufferB = Dictionary(uniqueKeysWithValues: b.namedBuffers().map { ($0.0, $0.1.wrappedValue) })
        for (name, buffer) in a.namedBuffers() {
            assertClose(buffer.wrappedValue.doubleScalars, bufferB[name]!.doubleScalars, rtol: 1e-5, atol: 1e-6, name)
        }
    }

    /// Ranks whose models differ stop at start-up with an error naming what differs and the ranks.
    func testRanksWithDifferentModelsStopAtStartUp() throws {
        let ranks = ReplicatedRanks(2)
        ranks.disagreement = (1, 1, 999)
        XCTAssertThrowsError(try DistributedDataParallel(net(seed: 1), communicator: ranks)) { error in
            XCTAssertEqual("\(error)", "the ranks disagree on the model's number of parameters: rank 0 has \(net(seed: 1).parameterCount), rank 1 has 999; every rank must start from the same data, seed and model")
        }
        XCTAssertEqual(ranks.broadcasts, 0, "nothing was sent")
    }

    func testWithoutMPITheProcessIsOneRankAndStartSaysHowToBuild() throws {
        XCTAssertEqual(Distributed.rank, 0)
        XCTAssertEqual(Distributed.worldSize, 1)
        try Distributed.barrier()
        XCTAssertEqual(try Distributed.allReduceMean(["loss": 0.5]), ["loss": 0.5])
        if !Distributed.isAvailable {
            XCTAssertThrowsError(try Distributed.start()) { XCTAssertTrue("\($0)".contains("--traits MPI"), "\($0)") }
        }
    }
}

/// |a − e| ≤ max(rtol·|e|, atol) element-wise.
func assertClose(_ actual: [Double], _ expected: [Double], rtol: Double, atol: Double, _ message: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertLessThanOrEqual(relativeError(actual, expected, floor: atol / rtol), rtol, message, file: file, line: line)
}
