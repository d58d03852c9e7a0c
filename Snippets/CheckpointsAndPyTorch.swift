// Checkpoints in safetensors with PyTorch's state_dict names, and models rebuilt from what axon train saved.
import Axon
import Foundation

// snippet.hide
let folder = FileManager.default.temporaryDirectory.appendingPathComponent("axon-checkpoints-\(getpid())").path
try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: folder) }
// snippet.show
// snippet.save
// The same names as torch.nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(...)).
let model = Sequential(Conv2d(1, 4, kernelSize: 3), BatchNorm2d(4), ReLU(), Flatten(), Linear(4 * 6 * 6, 10))
print(model.stateDictKeys())  // 0.weight, 0.bias, 1.weight, 1.bias, 1.running_mean, 1.running_var, 1.num_batches_tracked, ...
let path = folder + "/model.safetensors"
try Checkpoint.save(model: model, to: path, metadata: ["note": "made in Swift"])
// In Python: model.load_state_dict(safetensors.torch.load_file(path)) loads it into the PyTorch network.

// snippet.load
// A PyTorch state_dict saved with safetensors.torch.save_file loads the same way, names and shapes checked.
let copy = Sequential(Conv2d(1, 4, kernelSize: 3), BatchNorm2d(4), ReLU(), Flatten(), Linear(4 * 6 * 6, 10))
let metadata = try Checkpoint.load(into: copy, from: path)
print(metadata["note"]!, copy.stateDict()["4.weight"]!.scalars == model.stateDict()["4.weight"]!.scalars)

// snippet.mismatch
// A checkpoint for another architecture is an error that names the keys and shapes at fault.
do {
    try Checkpoint.load(into: Sequential(Linear(2, 2)), from: path)
} catch {
    print(error)
}

// snippet.trained
// A checkpoint written by `axon train` also records the architecture, the input normalisation, the class names
// (and a language model's vocabulary), so the library rebuilds the trained model from the file alone.
let data = Playground.make(.moons, samples: 400, noise: 10, generator: Generator(seed: 1))
let spec = try ModelSpec.parse("mlp:2,16,2", inputShape: [2], classes: 2, activation: "tanh")
let net = try spec.build()
let trainer = Trainer(model: net, optimizer: Adam(net.parameters(), lr: 0.02), loss: { crossEntropy($0, $1) }, metrics: [.accuracy])
trainer.progress = .silent
try trainer.fit(DataLoader(data.train, batchSize: 16, shuffle: true), epochs: 20)
try Checkpoint.save(model: net, to: folder + "/moons.safetensors",
                    metadata: CheckpointMetadata.describing(spec, classification: true, classNames: ["lower", "upper"], standardizer: nil))

let trained = try Checkpoint.loadModel(folder + "/moons.safetensors")
print(trained.classNames!, trained.evaluate(data.test))

// snippet.onnx
// ONNX: the model leaves Axon for onnxruntime, TensorRT, Core ML or a browser, and ONNX models from any exporter
// run in Axon. Parameters keep their state_dict names; the batch axis is dynamic.
model.eval()
try ONNXExport.export(model, exampleInput: Tensor.zeros([1, 1, 8, 8]), to: folder + "/model.onnx")
let imported = try ONNXModel(contentsOf: folder + "/model.onnx")
let images = Tensor.randn([5, 1, 8, 8], generator: Generator(seed: 2))
let onnxOutput = try withNoGrad { try imported.forward(images) }, axonOutput = withNoGrad { model(images) }
let difference = abs(onnxOutput - axonOutput).max().item
print("onnx round trip: \(imported.namedParameters().count) parameters, largest difference \(difference < 1e-5 ? "below 1e-5" : "\(difference)")")
