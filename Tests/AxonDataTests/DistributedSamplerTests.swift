import Axon
import XCTest

final class DistributedSamplerTests: XCTestCase {
    // (count, worldSize, dropLast, shares by rank): from bench/distributed_sampler_reference.py (PyTorch 2)
    let pytorch: [(Int, Int, Bool, [[Int]])] = [
        (10, 3, false, [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]),
        (10, 3, true, [[0, 3, 6], [1, 4, 7], [2, 5, 8]]),
        (2, 5, false, [[0], [1], [0], [1], [0]]),
        (7, 2, false, [[0, 2, 4, 6], [1, 3, 5, 0]]),
        (7, 2, true, [[0, 2, 4], [1, 3, 5]]),
        (12, 4, false, [[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 11]]),
        (1, 3, false, [[0], [0], [0]]),
        (5, 1, false, [[0, 1, 2, 3, 4]]),
    ]

    func testSharesArePyTorchs() {
        for (n, world, dropLast, shares) in pytorch {
            for rank in 0..<world {
                let sampler = DistributedSampler(rank: rank, worldSize: world, dropLast: dropLast)
                XCTAssertEqual(sampler.share(of: Array(0..<n)), shares[rank], "n \(n), rank \(rank) of \(world), dropLast \(dropLast)")
                XCTAssertEqual(sampler.count(of: n), shares[rank].count)
            }
        }
    }

    func testUnevenSharesCountEveryExampleOnce() {
        for (n, world) in [(10, 3), (2, 5), (7, 2), (0, 2)] {
            let shares = (0..<world).map { DistributedSampler(rank: $0, worldSize: world, even: false) }
            XCTAssertEqual(shares.flatMap { $0.share(of: Array(0..<n)) }.sorted(), Array(0..<n))
            XCTAssertEqual(shares.map { $0.count(of: n) }.reduce(0, +), n)
            for s in shares { XCTAssertEqual(s.count(of: n), s.share(of: Array(0..<n)).count) }
        }
    }

    /// Each rank's loader takes its positions of the order a single-process loader draws for the same seed, in
    /// every epoch; N ranks at batch B see, batch by batch, the examples of one process at batch N·B.
    func testRanksSplitTheSingleProcessOrderBatchByBatch() throws {
        let n = 60, world = 3, batch = 4
        let data = try TensorDataset(inputs: Tensor.arange(0, Double(n)).reshaped([n, 1]), targets: Tensor(shape: [n], scalars: Array(0..<n)))
        let single = DataLoader(data, batchSize: world * batch, shuffle: true, seed: 11)
        let ranks = (0..<world).map {
            DataLoader(data, batchSize: batch, shuffle: true, seed: 11, sampler: DistributedSampler(rank: $0, worldSize: world))
        }
        for epoch in 0..<3 {
            let big = single.map { $0.target.intScalars }
            let shards = ranks.map { loader in loader.map { $0.target.intScalars } }
            for r in 0..<world { XCTAssertEqual(shards[r].count, ranks[r].batchCount, "every rank runs its batch count") }
            XCTAssertEqual(Set(shards.map(\.count)), [big.count], "epoch \(epoch): every rank runs the same number of steps")
            for (k, examples) in big.enumerated() {
                XCTAssertEqual(shards.flatMap { $0[k] }.sorted(), examples.sorted(), "epoch \(epoch), batch \(k)")
            }
            let order = big.flatMap { $0 }
            for r in 0..<world {
                XCTAssertEqual(shards[r].flatMap { $0 }, stride(from: r, to: n, by: world).map { order[$0] }, "rank \(r) takes positions r, r+N, ...")
            }
        }
    }
}
