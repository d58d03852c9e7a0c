// The Playground's sessions, driven from Swift: the same objects the page and its JSON API use.
import Axon
import AxonPlayground

// snippet.session
var config = PlaygroundConfig()
config.dataset = "spiral"
config.hiddenLayers = [8, 8, 4]
config.features = ["x1", "x2", "sinX1", "sinX2"]
config.activation = "tanh"
config.learningRate = 0.03
config.optimizer = "adam"
let session = try await PlaygroundSession(id: "demo", config: config)
try await session.step(epochs: 100)
let snapshot = await session.snapshot()
print("epoch \(snapshot.epoch): train loss \(snapshot.trainLoss), test loss \(snapshot.testLoss)")
print("gradient norms per layer:", snapshot.gradientNorms)

// snippet.export
// The network as a checkpoint, which Checkpoint.loadModel rebuilds.
let checkpoint = await session.checkpoint()
print("checkpoint: \(checkpoint.count) bytes")
