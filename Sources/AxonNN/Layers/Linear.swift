import AxonCore

/// Fully connected layer y = x Wᵀ + b, as `torch.nn.Linear`, initialised as PyTorch does
/// (U(-1/√in, 1/√in) for weight and bias).
///
/// Shapes: input `[..., inFeatures]` -> output `[..., outFeatures]`; weight `[out, in]`, bias `[out]`.
public final class Linear: Module, Layer, ReLUFusing {
    /// Weight `[outFeatures, inFeatures]`.
    public let weight: Tensor
    /// Bias `[outFeatures]`, or nil.
    public let bias: Tensor?
    /// Input size.
    public let inFeatures: Int
    /// Output size.
    public let outFeatures: Int

    /// A linear layer from `inFeatures` to `outFeatures`.
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, generator: Generator = .global) {
        guard inFeatures > 0 && outFeatures > 0 else { fatalError("Axon.Linear: sizes must be positive, got \(inFeatures), \(outFeatures)") }
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Tensor.zeros([outFeatures, inFeatures]).requiringGrad()
        self.bias = bias ? Tensor.zeros([outFeatures]).requiringGrad() : nil
        super.init()
        Init.pytorchDefault(weight: weight, bias: self.bias, generator: generator)
    }

    /// Applies the layer.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        guard input.shape.last == inFeatures else {
            fatalError("Axon.Linear: input shape \(input.shape) does not end in \(inFeatures) features (weight \(weight.shape))")
        }
        return traced(linear(input, weight: weight, bias: bias), from: input)
    }

    /// The layer followed by a ReLU, as one op: each thread rectifies the blocks of the product it has computed.
    func rectified(_ input: Tensor) -> Tensor {
        guard let bias, input.shape.last == inFeatures else { return relu(self(input)) }
        return matmulReLU(input, transposed: weight, bias: bias)
    }

    /// The layer and its configuration, as printed in a model description.
    public override var layerDescription: String { "Linear(in: \(inFeatures), out: \(outFeatures), bias: \(bias != nil))" }
}
