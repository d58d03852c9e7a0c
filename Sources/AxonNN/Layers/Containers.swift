import AxonCore

/// Applies layers in order, as `torch.nn.Sequential`; children are named by index ("0", "1", ...).
public final class Sequential: Module, Layer {
    /// The layers, in order.
    public let layers: [any Layer]

    /// `Sequential(Linear(2, 8), ReLU(), Linear(8, 1))`.
    public convenience init(_ layers: any Layer...) { self.init(layers: layers) }

    /// A sequence of layers from an array.
    public init(layers: [any Layer]) { self.layers = layers }

    /// Children named as in PyTorch (by index for a sequence).
    public override func namedChildren() -> [(String, Module)] {
        layers.enumerated().map { ("\($0.offset)", $0.element) }
    }

    /// Applies every layer in turn. Without recording (evaluation, `withNoGrad`), a ReLU, tanh, sigmoid or
    /// batch norm overwrites the tensor that the layer before it has just made when nothing else holds that
    /// tensor, as PyTorch's `inplace=True` but chosen automatically: one buffer instead of two, the same values.
    ///
    /// A ReLU followed by max pooling runs as the pooling followed by the ReLU, on a quarter of the data for 2x2
    /// windows (when no summary or export is traced, which must see the layers as written). The two orders give
    /// the same bits, forward and backward: ReLU is max(x, 0), so the maximum of the ReLUs is the ReLU of the
    /// maximum; where that maximum is positive both orders pick the same (first) element of the window, and
    /// where it is not both gradients are zero. A linear layer or 2-D max pooling (in either order with the ReLU,
    /// then) followed by a ReLU runs as one op, each thread rectifying the part of the output it has just made: the
    /// same values and gradients as the two layers. So does 2-D batch norm in training followed by 2x2 max pooling
    /// with stride 2 (and the ReLU, in either order): the normalised tensor is pooled plane by plane as it is made,
    /// instead of being written whole and read back, and the same in the backward pass.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        let tracing = SummaryTrace.current != nil || ExportTrace.isActive
        let mayOverwrite = !GradMode.isEnabled && !tracing
        var order = layers
        if !tracing {
            for i in order.indices.dropLast() where order[i] is ReLU && (order[i + 1] is MaxPool2d || order[i + 1] is MaxPool1d) {
                order.swapAt(i, i + 1)
            }
        }
        var x = input
        var i = 0
        while i < order.count {
            let layer = order[i]
            i += 1
            if !tracing, let norm = layer as? BatchNorm, i < order.count, let pool = order[i] as? MaxPool2d, pool.isTwoByTwo {
                let relu = i + 1 < order.count && order[i + 1] is ReLU
                if let y = norm.pooled(x, relu: relu) {
                    x = y
                    i += relu ? 2 : 1
                    continue
                }
            }
            if !tracing, let fusing = layer as? ReLUFusing, i < order.count, order[i] is ReLU {
                x = fusing.rectified(x)
                i += 1
                continue
            }
            // A fresh tensor that no one else holds, and not a view of the caller's input (views share buffers).
            if mayOverwrite, x !== input, !x.sharesStorage(with: input), let overwriting = layer as? InPlaceLayer,
               isKnownUniquelyReferenced(&x) {
                overwriting.applyInPlace(x)
            } else {
                x = layer(x)
            }
        }
        return x
    }
}

/// Returns its input, as `torch.nn.Identity`.
public final class Identity: Module, Layer {
    /// An identity layer.
    public override init() {}
    /// Returns `input`.
    public func callAsFunction(_ input: Tensor) -> Tensor { traced(input, from: input) }
}

/// A residual connection around a block: y = x + block(x) (the block must keep the shape), optionally
/// through a `shortcut` (e.g. a 1x1 convolution) where it does not: y = shortcut(x) + block(x).
public final class Residual: Module, Layer {
    /// The residual branch.
    public let block: any Layer
    /// The skip branch (identity when nil).
    public let shortcut: (any Layer)?

    /// Wraps `block` with a skip connection.
    public init(_ block: any Layer, shortcut: (any Layer)? = nil) {
        self.block = block
        self.shortcut = shortcut
    }

    /// Children named as in PyTorch (by index for a sequence).
    public override func namedChildren() -> [(String, Module)] {
        [("block", block)] + (shortcut.map { [("shortcut", $0)] } ?? [])
    }

    /// x + block(x).
    public func callAsFunction(_ input: Tensor) -> Tensor {
        let skip = shortcut.map { $0(input) } ?? input
        let y = block(input)
        guard y.shape == skip.shape else {
            fatalError("Axon.Residual: block output \(y.shape) does not match skip shape \(skip.shape); pass a shortcut")
        }
        return traced(skip + y, from: input)
    }
}
