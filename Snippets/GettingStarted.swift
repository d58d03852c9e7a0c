// The first model: a small network learns the two-armed spiral.
import Axon

let data = Playground.make(.spiral, samples: 600, noise: 5, generator: Generator(seed: 0))
let net = Sequential(Linear(2, 32), Tanh(), Linear(32, 32), Tanh(), Linear(32, 2))
let optimizer = Adam(net.parameters(), lr: 0.01)
let trainer = Trainer(model: net, optimizer: optimizer, loss: { crossEntropy($0, $1) }, metrics: [.accuracy])
trainer.progress = .silent
try trainer.fit(DataLoader(data.train, batchSize: 16, shuffle: true), epochs: 60)
let result = trainer.evaluate(DataLoader(data.test, batchSize: 300))
print("test accuracy", result["accuracy"]!)
