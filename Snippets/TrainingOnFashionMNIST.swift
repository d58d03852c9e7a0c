// The MLP and LeNet on Fashion-MNIST, a checkpoint after every epoch, and a resumed run.
import Axon
import Foundation

// snippet.hide
// The test runs the snippet on 2,000 images (AXON_SNIPPET_QUICK); the article's numbers are for the full set.
let quick = ProcessInfo.processInfo.environment["AXON_SNIPPET_QUICK"] != nil
let folder = FileManager.default.temporaryDirectory.appendingPathComponent("axon-snippet-\(getpid())").path
try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: folder) }
// snippet.show
// snippet.data
var train = try MNIST.load(split: .train)  // [60000, 1, 28, 28] bytes as floats in [0, 1], int64 labels
var test = try MNIST.load(split: .test)
// snippet.hide
if quick { train = train.subset(Array(0..<2000)); test = test.subset(Array(0..<1000)) }
// snippet.show
let standardizer = Standardizer(fitting: train.inputs, perFeature: false)
train = standardizer.transform(train)
test = standardizer.transform(test)

// snippet.mlp
manualSeed(0)
let mlp = Sequential(Flatten(), Linear(784, 256), ReLU(), Linear(256, 128), ReLU(), Linear(128, 10))
let sgd = SGD(mlp.parameters(), lr: 0.05, momentum: 0.9)
let trainer = Trainer(model: mlp, optimizer: sgd, loss: { crossEntropy($0, $1) }, metrics: [.accuracy],
                      scheduler: CosineAnnealingLR(sgd, tMax: 10))
let loader = DataLoader(train, batchSize: 64, shuffle: true, seed: 0)
let testLoader = DataLoader(test, batchSize: 1024)
// snippet.hide
trainer.progress = .lines
// snippet.show
// After every epoch, the weights and the training state (optimizer, schedule, shuffling) are saved.
let path = folder + "/mlp.safetensors"
let save = EpochCallback { _, trainer in
    try Checkpoint.save(model: mlp, state: trainer.trainingState(loaders: ["train": loader]), to: path)
    return true
}
try trainer.fit(loader, validation: testLoader, epochs: 2, callbacks: [save])

// snippet.resume
// A new process rebuilds the same objects, restores the state, and continues to epoch 3 exactly as an
// uninterrupted run would.
let resumedModel = Sequential(Flatten(), Linear(784, 256), ReLU(), Linear(256, 128), ReLU(), Linear(128, 10))
let resumedSGD = SGD(resumedModel.parameters(), lr: 0.05, momentum: 0.9)
let resumed = Trainer(model: resumedModel, optimizer: resumedSGD, loss: { crossEntropy($0, $1) }, metrics: [.accuracy],
                      scheduler: CosineAnnealingLR(resumedSGD, tMax: 10))
let resumedLoader = DataLoader(train, batchSize: 64, shuffle: true, seed: 0)
let (state, _) = try Checkpoint.resume(model: resumedModel, from: path)
try resumed.restore(state, loaders: ["train": resumedLoader])
// snippet.hide
resumed.progress = .lines
// snippet.show
try resumed.fit(resumedLoader, validation: testLoader, epochs: 3)

// snippet.lenet
manualSeed(0)
let lenet = Sequential(
    Conv2d(1, 6, kernelSize: 3), ReLU(), MaxPool2d(2),   // [6, 13, 13]
    Conv2d(6, 16, kernelSize: 3), ReLU(), MaxPool2d(2),  // [16, 5, 5]
    Flatten(), Linear(400, 120), ReLU(), Linear(120, 84), ReLU(), Linear(84, 10))
let adam = Adam(lenet.parameters(), lr: 1e-3)
let lenetTrainer = Trainer(model: lenet, optimizer: adam, loss: { crossEntropy($0, $1) }, metrics: [.accuracy])
// snippet.hide
lenetTrainer.progress = .lines
// snippet.show
try lenetTrainer.fit(DataLoader(train, batchSize: 64, shuffle: true), validation: testLoader, epochs: 1)
print(lenet.summary(inputShape: [1, 1, 28, 28]))
