import AxonCore

/// 2-D convolution over NCHW input, as `torch.nn.Conv2d`, initialised as PyTorch does
/// (U(-1/√fanIn, 1/√fanIn) with fanIn = inChannels · kh · kw).
///
/// Shapes: input `[N, inChannels, H, W]` -> `[N, outChannels, H', W']`; weight `[out, in, kh, kw]`.
public final class Conv2d: Module, Layer {
    /// Weight `[outChannels, inChannels, kh, kw]`.
    public let weight: Tensor
    /// Bias `[outChannels]`, or nil.
    public let bias: Tensor?
    /// Stride (vertical, horizontal).
    public let stride: (Int, Int)
    /// Zero padding (vertical, horizontal).
    public let padding: (Int, Int)
    /// Dilation (vertical, horizontal).
    public let dilation: (Int, Int)

    /// A convolution with a square kernel, stride, padding and dilation.
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            dilation: Int = 1, bias: Bool = true, generator: Generator = .global) {
        self.init(inChannels, outChannels, kernelSize: (kernelSize, kernelSize), stride: (stride, stride),
                  padding: (padding, padding), dilation: (dilation, dilation), bias: bias, generator: generator)
    }

    /// A convolution with per-axis kernel size, stride, padding and dilation.
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), bias: Bool = true,
                generator: Generator = .global) {
        precondition(inChannels > 0 && outChannels > 0 && kernelSize.0 > 0 && kernelSize.1 > 0,
                     "Axon.Conv2d: channels and kernel size must be positive")
        weight = Tensor.zeros([outChannels, inChannels, kernelSize.0, kernelSize.1]).requiringGrad()
        self.bias = bias ? Tensor.zeros([outChannels]).requiringGrad() : nil
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        super.init()
        Init.pytorchDefault(weight: weight, bias: self.bias, generator: generator)
    }

    /// Applies the convolution.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        traced(conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation))
    }

    /// The layer and its configuration, as printed in a model description.
    public override var layerDescription: String {
        "Conv2d(\(weight.shape[1]), \(weight.shape[0]), kernelSize: (\(weight.shape[2]), \(weight.shape[3])), stride: \(stride), padding: \(padding))"
    }
}

/// The window of a 2-D pooling layer (shared by ``MaxPool2d`` and ``AvgPool2d``).
public class Pool2d: Module {
    let kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int)

    /// Pooling with a square window; `stride` defaults to the window size.
    public init(_ kernelSize: Int, stride: Int? = nil, padding: Int = 0) {
        self.kernelSize = (kernelSize, kernelSize)
        self.stride = (stride ?? kernelSize, stride ?? kernelSize)
        self.padding = (padding, padding)
    }

    /// The layer and its window, as printed in a model description.
    public override var layerDescription: String { "\(type(of: self))(kernelSize: \(kernelSize), stride: \(stride))" }
}

/// 2-D max pooling, as `torch.nn.MaxPool2d`.
public final class MaxPool2d: Pool2d, Layer {
    /// Applies the pooling.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        traced(maxPool2d(input, kernelSize: kernelSize, stride: stride, padding: padding))
    }
}

/// 2-D average pooling, as `torch.nn.AvgPool2d`.
public final class AvgPool2d: Pool2d, Layer {
    /// Applies the pooling.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        traced(avgPool2d(input, kernelSize: kernelSize, stride: stride, padding: padding))
    }
}

/// Flattens dimensions `startDim...endDim`, as `torch.nn.Flatten` (default: all but the batch axis).
public final class Flatten: Module, Layer {
    let startDim: Int, endDim: Int
    /// Flattens from `startDim` through `endDim`.
    public init(startDim: Int = 1, endDim: Int = -1) {
        self.startDim = startDim
        self.endDim = endDim
    }
    /// Applies the flattening.
    public func callAsFunction(_ input: Tensor) -> Tensor { traced(input.flattened(from: startDim, to: endDim)) }
}
