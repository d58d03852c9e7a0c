// A layer of your own, and an operation with its own backward pass.
import Axon

// snippet.layer
// A module's parameters, buffers and submodules are its stored properties, found by reflection and named as in
// PyTorch's state_dict (camelCase becomes snake_case).
final class GatedLinear: Module, Layer {
    let value: Linear
    let gate: Linear
    var scale: Tensor  // a parameter of its own: "scale"

    init(_ inFeatures: Int, _ outFeatures: Int) {
        value = Linear(inFeatures, outFeatures)
        gate = Linear(inFeatures, outFeatures)
        scale = Tensor.ones([outFeatures]).requiringGrad()
    }

    func callAsFunction(_ x: Tensor) -> Tensor { traced(value(x) * sigmoid(gate(x)) * scale) }
}

let block = GatedLinear(4, 3)
print(block.stateDictKeys())  // scale, value.weight, value.bias, gate.weight, gate.bias: own parameters first, as PyTorch
let net = Sequential(block, ReLU(), Linear(3, 1))
print(net.summary(inputShape: [2, 4]))

// snippet.op
// A custom operation, as torch.autograd.Function: softplus(x) = ln(1 + eˣ), whose derivative is σ(x). Written
// with tensor operations, the backward can itself be differentiated.
func softplus(_ x: Tensor) -> Tensor {
    customOp("softplus", inputs: [x], forward: { log(1 + exp($0[0])) }, backward: { gradOutput, inputs, _ in
        [gradOutput * sigmoid(inputs[0])]
    })
}

// snippet.check
// Every differentiable operation is checked against float64 central differences.
let report = checkGradients({ softplus($0[0]) }, at: [Tensor.randn([3, 4], dtype: .float64)])
print("softplus gradient check passed:", report.passed)
let layerReport = checkGradients({ inputs in block(inputs[0]).converted(to: .float64) }, at: [Tensor.randn([2, 4])],
                                 relativeTolerance: 1e-2, absoluteTolerance: 1e-3)  // the layer's weights are float32
print("GatedLinear input gradient check passed:", layerReport.passed)
