import Axon
import XCTest

/// Training states from damaged or hostile `.train` files: each case below was found by the `train-state`
/// fuzz target (Fuzz/) or is its near neighbour. Every one is a thrown error naming the entry, never a trap,
/// and a refused state changes nothing.
final class HostileStateTests: XCTestCase {
    func makeTrainer() -> (Trainer, DataLoader, Sequential) {
        let net = Sequential(Linear(2, 3), Tanh(), Linear(3, 2))
        let optimizer = Adam(net.parameters(), lr: 0.01)
        let trainer = Trainer(model: net, optimizer: optimizer, loss: { mseLoss($0, $1) }, scheduler: StepLR(optimizer, stepSize: 2))
        trainer.progress = .silent
        let data = try! TensorDataset(inputs: Tensor.zeros([4, 2]), targets: Tensor.zeros([4, 2]))  // fixed shapes
        return (trainer, DataLoader(data, batchSize: 2, shuffle: true), net)
    }

    func assertRefused(_ state: Checkpoint.TrainingState, mentions: String, file: StaticString = #filePath, line: UInt = #line) {
        let (trainer, loader, _) = makeTrainer()
        let before = trainer.optimizer.stateDict()
        XCTAssertThrowsError(try trainer.restore(state, loaders: ["train": loader]), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(mentions), "\(error) should mention \(mentions)", file: file, line: line)
        }
        XCTAssertEqual(trainer.epoch, 0, file: file, line: line)
        XCTAssertEqual(trainer.optimizer.stateDict().keys.sorted(), before.keys.sorted(), file: file, line: line)
    }

    let generator: [UInt64] = [1, 2, 3, 4, 0, 0]

    /// Found by the fuzzer: `value.early_stopping_bad_epochs` = 1e300 trapped converting to Int.
    func testACountThatIsNotACountIsRefused() {
        for bad in [1e300, -1, .nan, 2.5] {
            assertRefused(.init(epoch: 1, optimizer: [:], generators: ["train": generator], values: ["early_stopping_bad_epochs": bad]),
                          mentions: "'early_stopping_bad_epochs' is")
            assertRefused(.init(epoch: 1, optimizer: [:], generators: ["train": generator],
                                values: ["plateau.0": 1, "plateau.1": bad, "plateau.2": 0]), mentions: "'plateau.1' is")
        }
    }

    /// Found by the fuzzer: an all-zero generator state is xoshiro's fixed point, and drawing a shuffle from
    /// it looped forever (a timeout). Damaged spare values are refused too.
    func testADegenerateGeneratorStateIsRefused() {
        assertRefused(.init(epoch: 1, optimizer: [:], generators: ["train": [0, 0, 0, 0, 0, 0]]), mentions: "generator 'train' is all zero")
        assertRefused(.init(epoch: 1, optimizer: [:], generators: ["train": [1, 2, 3, 4, 0, 7]]), mentions: "malformed spare value")
        assertRefused(.init(epoch: 1, optimizer: [:], generators: ["train": [1, 2, 3, 4, Double.nan.bitPattern, 1]]),
                      mentions: "malformed spare value")
        XCTAssertNil(Generator.problem(with: Generator(seed: 3).state))
    }

    func testAnEpochOutOfRangeIsRefused() {
        assertRefused(.init(epoch: -1, optimizer: [:], generators: ["train": generator]), mentions: "epoch -1 is outside")
        assertRefused(.init(epoch: Int.max, optimizer: [:], generators: ["train": generator]), mentions: "is outside 0-2147483647")
    }

    /// Optimizer entries: a negative parameter index, and a step that is no count.
    func testMalformedOptimizerEntriesAreRefused() {
        let (_, _, net) = makeTrainer()
        let shape = net.parameters()[0].shape
        assertRefused(.init(epoch: 1, optimizer: ["state.-1.exp_avg": Tensor.zeros(shape)], generators: ["train": generator]),
                      mentions: "malformed key 'state.-1.exp_avg'")
        for step in [Tensor(1e300, dtype: .float64), Tensor(.nan, dtype: .float64), Tensor(-3, dtype: .float64), Tensor.zeros([2])] {
            assertRefused(.init(epoch: 1, optimizer: ["state.0.step": step], generators: ["train": generator]), mentions: "must be a step count")
        }
    }

    /// The `.train` reader: entries of the wrong kind are a CheckpointError naming the file.
    func testTrainingStateEntriesOfTheWrongKindAreRefused() {
        XCTAssertThrowsError(try Checkpoint.TrainingState(tensors: ["generator.train": Tensor.zeros([6])], epoch: 0, source: "x.train")) {
            XCTAssertTrue("\($0)".contains("x.train: generator state 'generator.train' must be a 1-D int64 tensor"), "\($0)")
        }
        XCTAssertThrowsError(try Checkpoint.TrainingState(tensors: ["value.lr": Tensor.zeros([2], dtype: .float64)], epoch: 0, source: "x.train")) {
            XCTAssertTrue("\($0)".contains("value 'value.lr' must hold one number"), "\($0)")
        }
        XCTAssertThrowsError(try Checkpoint.TrainingState(tensors: ["weights": Tensor.zeros([1])], epoch: 0, source: "x.train")) {
            XCTAssertTrue("\($0)".contains("unexpected entry 'weights'"), "\($0)")
        }
    }
}
