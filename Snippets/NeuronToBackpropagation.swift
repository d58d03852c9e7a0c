// The classic introduction to neural networks, in Axon.
import Axon
import Foundation

// snippet.neuron
// A neuron: z = w·x + b, with w = (0.9, 0.2, 0.3), x = (2, 3, -1) and b = 0.5.
let w = Tensor([0.9, 0.2, 0.3], dtype: .float64), x = Tensor([2, 3, -1], dtype: .float64), b = Tensor(0.5, dtype: .float64)
let z = matmul(w, x) + b
print(String(format: "z = %.2f", z.item))  // 0.9·2 + 0.2·3 + 0.3·(−1) + 0.5 = 2.6

// snippet.sigmoid
// The sigmoid squashes z into (0, 1); its derivative is σ(z)(1 − σ(z)), largest (1/4) at 0.
let zs = Tensor([-4.0, 0.0, 2.6], dtype: .float64, requiresGrad: true)
let activations = sigmoid(zs)
activations.sum().backward()
print("sigmoid", activations.doubleScalars, "derivative", zs.grad!.doubleScalars)

// snippet.xor
// XOR is not linearly separable: one neuron (a perceptron) never gets all four right; two layers do.
let xorInputs = Tensor([[0, 0], [0, 1], [1, 0], [1, 1]])
let perceptron = Perceptron(inputs: 2)
print("one neuron learns XOR:", perceptron.fit(inputs: xorInputs, targets: Tensor([0, 1, 1, 0]), epochs: 1000) != nil)

manualSeed(3)
let twoLayers = Sequential(Linear(2, 4), Tanh(), Linear(4, 1))
let sgd = SGD(twoLayers.parameters(), lr: 0.5)
let xorTargets = Tensor([[0], [1], [1], [0]])
for _ in 0..<2000 {
    sgd.zeroGrad()
    binaryCrossEntropyWithLogits(twoLayers(xorInputs), xorTargets).backward()
    sgd.step()
}
print("two layers on XOR:", withNoGrad { twoLayers(xorInputs) .> 0 }.scalars)  // 0, 1, 1, 0

// snippet.adjoint
// Reverse mode: y = ln(x1) + x1·x2 − sin(x2) at (2, 5). The backward pass walks the trace in reverse,
// ∂y/∂x1 = 1/x1 + x2 = 5.5 and ∂y/∂x2 = x1 − cos(x2) ≈ 1.716.
let x1 = Tensor(2.0, requiresGrad: true), x2 = Tensor(5.0, requiresGrad: true)
let y = log(x1) + x1 * x2 - sin(x2)
y.backward()
print("y =", y.item, "dy/dx1 =", x1.grad!.item, "dy/dx2 =", x2.grad!.item)

// snippet.minibatch
// Vectorised: one matrix product computes a layer for a whole minibatch, Z = X Wᵀ + b, [batch, out].
let layer = Linear(3, 2)
let batch = Tensor.randn([8, 3])
print("minibatch output shape", layer(batch).shape)  // [8, 2]

// snippet.vanishing
// Vanishing gradients: σ′ ≤ 1/4, so through six sigmoid layers the first layer's gradient is far smaller than
// the last's; ReLU keeps it.
func gradientNorms(_ activation: Activation) -> (first: Double, last: Double) {
    manualSeed(0)
    var layers: [any Layer] = []
    for _ in 0..<6 { layers += [Linear(32, 32), activation.layer()] }
    let deep = Sequential(layers: layers + [Linear(32, 1)])
    mseLoss(deep(Tensor.randn([64, 32])), Tensor.zeros([64, 1])).backward()
    let grads = deep.layers.compactMap { ($0 as? Linear)?.weight.grad }
    func norm(_ g: Tensor) -> Double { withNoGrad { (g * g).sum().item.squareRoot() } }
    return (norm(grads[0]), norm(grads[5]))
}
let sigmoidNorms = gradientNorms(.sigmoid), reluNorms = gradientNorms(.relu)
print("sigmoid: first/last gradient norm", sigmoidNorms.first / sigmoidNorms.last)
print("relu: first/last gradient norm", reluNorms.first / reluNorms.last)
