import AxonCore

/// What every convolution layer holds: its weight, an optional bias and the channel groups, made and
/// initialised as PyTorch does (U(-1/√fanIn, 1/√fanIn), fanIn from the weight's second axis and kernel).
public class ConvolutionLayer: Module {
    /// The kernel: `[out, in / groups, k...]`, or `[in, out, k...]` for a transposed convolution.
    public let weight: Tensor
    /// Bias, one per output channel, or nil.
    public let bias: Tensor?
    /// Channel groups (1: every output channel sees every input channel; the input channels: depthwise).
    public let groups: Int

    init(_ name: String, inChannels: Int, outChannels: Int, kernel: [Int], groups: Int, transposed: Bool, bias: Bool,
         generator: Generator) {
        guard inChannels > 0, outChannels > 0, kernel.allSatisfy({ $0 > 0 }) else {
            fatalError("Axon.\(name): channels and kernel size must be positive, got \(inChannels), \(outChannels), \(kernel)")
        }
        guard groups > 0, inChannels % groups == 0, outChannels % groups == 0 else {
            fatalError("Axon.\(name): \(groups) groups must divide both \(inChannels) input and \(outChannels) output channels")
        }
        let shape = transposed ? [inChannels, outChannels / groups] + kernel : [outChannels, inChannels / groups] + kernel
        weight = Tensor.zeros(shape).requiringGrad()
        self.bias = bias ? Tensor.zeros([outChannels]).requiringGrad() : nil
        self.groups = groups
        super.init()
        Init.pytorchDefault(weight: weight, bias: self.bias, generator: generator)
    }
}

/// 2-D convolution over NCHW input, as `torch.nn.Conv2d`, initialised as PyTorch does
/// (U(-1/√fanIn, 1/√fanIn) with fanIn = inChannels · kh · kw).
///
/// Shapes: input `[N, inChannels, H, W]` -> `[N, outChannels, H', W']`; weight `[out, in, kh, kw]`.
public final class Conv2d: ConvolutionLayer, Layer {
    /// Stride (vertical, horizontal).
    public let stride: (Int, Int)
    /// Zero padding (vertical, horizontal).
    public let padding: (Int, Int)
    /// Dilation (vertical, horizontal).
    public let dilation: (Int, Int)

    /// A convolution with a square kernel, stride, padding and dilation.
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            dilation: Int = 1, groups: Int = 1, bias: Bool = true, generator: Generator = .global) {
        self.init(inChannels, outChannels, kernelSize: (kernelSize, kernelSize), stride: (stride, stride),
                  padding: (padding, padding), dilation: (dilation, dilation), groups: groups, bias: bias, generator: generator)
    }

    /// A convolution with per-axis kernel size, stride, padding and dilation.
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true,
                generator: Generator = .global) {
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        super.init("Conv2d", inChannels: inChannels, outChannels: outChannels, kernel: [kernelSize.0, kernelSize.1], groups: groups,
                   transposed: false, bias: bias, generator: generator)
    }

    /// Applies the convolution.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        traced(conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups), from: input)
    }

    /// The layer and its configuration, as printed in a model description.
    public override var layerDescription: String {
        "Conv2d(\(weight.shape[1] * groups), \(weight.shape[0]), kernelSize: (\(weight.shape[2]), \(weight.shape[3])), stride: \(stride), "
            + "padding: \(padding)\(groups > 1 ? ", groups: \(groups)" : ""))"
    }
}

/// 1-D convolution over `[N, C, L]` input, as `torch.nn.Conv1d`, initialised as PyTorch does.
///
/// Shapes: input `[N, inChannels, L]` -> `[N, outChannels, L']`; weight `[out, in / groups, k]`.
public final class Conv1d: ConvolutionLayer, Layer {
    /// Stride, zero padding and dilation.
    public let stride: Int, padding: Int, dilation: Int

    /// A 1-D convolution.
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1,
                groups: Int = 1, bias: Bool = true, generator: Generator = .global) {
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        super.init("Conv1d", inChannels: inChannels, outChannels: outChannels, kernel: [kernelSize], groups: groups, transposed: false,
                   bias: bias, generator: generator)
    }

    /// Applies the convolution.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        traced(conv1d(input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups), from: input)
    }

    /// The layer and its configuration, as printed in a model description.
    public override var layerDescription: String {
        "Conv1d(\(weight.shape[1] * groups), \(weight.shape[0]), kernelSize: \(weight.shape[2]), stride: \(stride), padding: \(padding))"
    }
}

/// 2-D transposed convolution, as `torch.nn.ConvTranspose2d`, initialised as PyTorch does.
///
/// Shapes: input `[N, inChannels, H, W]` -> `[N, outChannels, (H − 1)s − 2p + d(k − 1) + outputPadding + 1, ...]`;
/// weight `[inChannels, outChannels, kh, kw]`.
public final class ConvTranspose2d: ConvolutionLayer, Layer {
    /// Stride, padding, output padding and dilation (vertical, horizontal).
    public let stride: (Int, Int), padding: (Int, Int), outputPadding: (Int, Int), dilation: (Int, Int)

    /// A transposed convolution with a square kernel.
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            outputPadding: Int = 0, dilation: Int = 1, bias: Bool = true, generator: Generator = .global) {
        self.init(inChannels, outChannels, kernelSize: (kernelSize, kernelSize), stride: (stride, stride), padding: (padding, padding),
                  outputPadding: (outputPadding, outputPadding), dilation: (dilation, dilation), bias: bias, generator: generator)
    }

    /// A transposed convolution with per-axis sizes.
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                outputPadding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), bias: Bool = true, generator: Generator = .global) {
        self.stride = stride
        self.padding = padding
        self.outputPadding = outputPadding
        self.dilation = dilation
        super.init("ConvTranspose2d", inChannels: inChannels, outChannels: outChannels, kernel: [kernelSize.0, kernelSize.1], groups: 1,
                   transposed: true, bias: bias, generator: generator)
    }

    /// Applies the transposed convolution.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        traced(convTranspose2d(input, weight: weight, bias: bias, stride: stride, padding: padding, outputPadding: outputPadding,
                               dilation: dilation), from: input)
    }

    /// The layer and its configuration, as printed in a model description.
    public override var layerDescription: String {
        "ConvTranspose2d(\(weight.shape[0]), \(weight.shape[1]), kernelSize: (\(weight.shape[2]), \(weight.shape[3])), stride: \(stride), "
            + "padding: \(padding), outputPadding: \(outputPadding))"
    }
}

/// The window of a 2-D pooling layer (shared by ``MaxPool2d`` and ``AvgPool2d``).
public class Pool2d: Module {
    /// The window's height and width, its stride and the zero padding of each side.
    public let kernelSize: (Int, Int), stride: (Int, Int), padding: (Int, Int)

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
public final class MaxPool2d: Pool2d, Layer, ReLUFusing {
    /// Applies the pooling.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        traced(maxPool2d(input, kernelSize: kernelSize, stride: stride, padding: padding), from: input)
    }

    /// Whether the windows are 2x2 with stride 2 and no padding (the pooling that batch norm can run inside its op).
    var isTwoByTwo: Bool { kernelSize == (2, 2) && stride == (2, 2) && padding == (0, 0) }

    /// The pooling followed by a ReLU, as one op, each thread rectifying the planes it has pooled.
    func rectified(_ input: Tensor) -> Tensor {
        maxPool2dReLU(input, kernelSize: kernelSize, stride: stride, padding: padding)
    }
}

/// 2-D average pooling, as `torch.nn.AvgPool2d`.
public final class AvgPool2d: Pool2d, Layer {
    /// Applies the pooling.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        traced(avgPool2d(input, kernelSize: kernelSize, stride: stride, padding: padding), from: input)
    }
}

/// The window of a 1-D pooling layer (shared by ``MaxPool1d`` and ``AvgPool1d``).
public class Pool1d: Module {
    /// The window's length, its stride and the zero padding of each side.
    public let kernelSize: Int, stride: Int, padding: Int

    /// Pooling over windows of `kernelSize`; `stride` defaults to the window size.
    public init(_ kernelSize: Int, stride: Int? = nil, padding: Int = 0) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
    }

    /// The layer and its window, as printed in a model description.
    public override var layerDescription: String { "\(type(of: self))(kernelSize: \(kernelSize), stride: \(stride))" }
}

/// 1-D max pooling of `[N, C, L]` input, as `torch.nn.MaxPool1d`.
public final class MaxPool1d: Pool1d, Layer {
    /// Applies the pooling.
    public func callAsFunction(_ input: Tensor) -> Tensor { traced(maxPool1d(input, kernelSize, stride: stride, padding: padding), from: input) }
}

/// 1-D average pooling of `[N, C, L]` input, as `torch.nn.AvgPool1d` (zero padding counts).
public final class AvgPool1d: Pool1d, Layer {
    /// Applies the pooling.
    public func callAsFunction(_ input: Tensor) -> Tensor { traced(avgPool1d(input, kernelSize, stride: stride, padding: padding), from: input) }
}

/// Adaptive average pooling to a fixed output size, as `torch.nn.AdaptiveAvgPool2d` (`(1, 1)`: global
/// average pooling).
public final class AdaptiveAvgPool2d: Module, Layer {
    /// Output height and width.
    public let outputSize: (Int, Int)
    /// Pooling to `outputSize`.
    public init(_ outputSize: (Int, Int)) { self.outputSize = outputSize }
    /// Pooling to a square `outputSize`.
    public convenience init(_ outputSize: Int) { self.init((outputSize, outputSize)) }
    /// Applies the pooling.
    public func callAsFunction(_ input: Tensor) -> Tensor { traced(adaptiveAvgPool2d(input, outputSize: outputSize), from: input) }
    /// The layer and its output size, as printed in a model description.
    public override var layerDescription: String { "AdaptiveAvgPool2d(\(outputSize))" }
}

/// Nearest-neighbour upsampling of the spatial axes, as `torch.nn.Upsample(mode="nearest")`, to a `size` or
/// by a `scaleFactor`.
public final class Upsample: Module, Layer {
    /// How new positions take their values (nearest neighbour only).
    public enum Mode: String, Sendable { case nearest }
    /// The output's spatial size, when given.
    public let size: [Int]?
    /// The factor each spatial axis grows by, when given.
    public let scaleFactor: Double?
    /// The interpolation.
    public let mode: Mode
    /// Upsampling to `size` or by `scaleFactor` (exactly one of them).
    public init(size: [Int]? = nil, scaleFactor: Double? = nil, mode: Mode = .nearest) {
        guard (size == nil) != (scaleFactor == nil) else { fatalError("Axon.Upsample: give either size or scaleFactor") }
        self.size = size
        self.scaleFactor = scaleFactor
        self.mode = mode
    }
    /// Applies the upsampling.
    public func callAsFunction(_ input: Tensor) -> Tensor { traced(upsampleNearest(input, size: size, scaleFactor: scaleFactor), from: input) }
    /// The layer and its configuration, as printed in a model description.
    public override var layerDescription: String {
        "Upsample(\(size.map { "size: \($0)" } ?? "scaleFactor: \(scaleFactor!)"), mode: \(mode.rawValue))"
    }
}

/// Flattens dimensions `startDim...endDim`, as `torch.nn.Flatten` (default: all but the batch axis).
public final class Flatten: Module, Layer {
    /// The first and the last dimension flattened (negative counts from the end).
    public let startDim: Int, endDim: Int
    /// Flattens from `startDim` through `endDim`.
    public init(startDim: Int = 1, endDim: Int = -1) {
        self.startDim = startDim
        self.endDim = endDim
    }
    /// Applies the flattening.
    public func callAsFunction(_ input: Tensor) -> Tensor { traced(input.flattened(from: startDim, to: endDim), from: input) }
}
