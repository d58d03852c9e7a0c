import ArgumentParser
import Axon
import Foundation

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a small network on the built-in spiral and draw its decision boundary (the README's first command).")

    @Option(name: .long, help: "Folder for the pictures and metrics.")
    var output: String = "axon-demo"
    @Option(name: .long, help: "Epochs.")
    var epochs: Int = 500
    @Option(name: .long, help: "Seed.")
    var seed: UInt64 = 1

    func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
    }

    func run() throws {
        manualSeed(seed)
        print("Axon demo: TensorFlow Playground's two-arm spiral, 500 points, a 2-16-16-2 tanh network, Adam.")
        let d = Playground.make(.spiral, samples: 500, noise: 0, trainRatio: 50, generator: Generator(seed: seed))
        let data = LoadedData(train: d.train, test: d.test, isClassification: true, classes: 2, classNames: nil, standardizer: nil)
        let net = Sequential(Linear(2, 16), Tanh(), Linear(16, 16), Tanh(), Linear(16, 2))
        print(net.summary(inputShape: [1, 2]))
        let trainer = Trainer(model: net, optimizer: Adam(net.parameters(), lr: 0.01), loss: { crossEntropy($0, $1) },
                              metrics: [.accuracy])
        // On a terminal the progress bar shows every epoch; plain output gets every 25th.
        trainer.progress = isatty(STDOUT_FILENO) != 0 ? .automatic : .silent
        let start = Date()
        try trainer.fit(DataLoader(d.train, batchSize: 10, shuffle: true, seed: seed), validation: DataLoader(d.test, batchSize: 250),
                        epochs: epochs, callbacks: [EpochCallback { r, _ in
                            if trainer.progress == .silent && (r.epoch % 25 == 0 || r.epoch == 1) {
                                print(String(format: "epoch %3d  loss %.4f  accuracy %.3f  test accuracy %.3f", r.epoch, r["loss"]!, r["accuracy"]!, r["val_accuracy"]!))
                            }
                            return true
                        }])
        let final = trainer.history.last!  // fit ran its fixed epochs (at least one) or threw
        print(String(format: "trained %d epochs in %.1f s: train accuracy %.3f, test accuracy %.3f", final.epoch,
                     Date().timeIntervalSince(start), final["accuracy"]!, final["val_accuracy"]!))
        try writeText(trainer.history.map(\.json).joined(separator: "\n") + "\n", to: (output as NSString).appendingPathComponent("metrics.jsonl"))
        try writePlots(trainer: trainer, data: data, net: net, folder: output)
    }
}
