import AxonCore
import Foundation

// Recurrent nets as PyTorch defines them (torch.nn.RNN, LSTM, GRU and their cells), with its parameter names
// and gate orders: LSTM gates i, f, g, o; GRU gates r, z, n with n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)).
// The input projection of every time step is one product per layer and direction; the recurrence then adds
// the hidden projection step by step.

/// One step of a recurrent cell, from the input projection `x` (W_ih x + b_ih, every gate) and the state.
enum RecurrentCell {
    case tanh, relu, lstm, gru

    /// Gates per hidden unit.
    var gates: Int {
        switch self {
        case .tanh, .relu: return 1
        case .lstm: return 4
        case .gru: return 3
        }
    }

    /// The new (h, c) from the projected input `x` [B, G·H], the previous state and the hidden weights.
    func step(_ x: Tensor, _ h: Tensor, _ c: Tensor?, weightHH: Tensor, biasHH: Tensor?) -> (h: Tensor, c: Tensor?) {
        let hp = linear(h, weight: weightHH, bias: biasHH)
        switch self {
        case .tanh: return (AxonCore.tanh(x + hp), nil)
        case .relu: return (AxonCore.relu(x + hp), nil)
        case .lstm:
            let packed = lstmCellPointwise(x + hp, c!)
            let h = packed.shape[1] / 2
            return (packed.sliced(axis: 1, 0..<h), packed.sliced(axis: 1, h..<2 * h))
        case .gru:
            let xg = x.chunked(3, axis: 1), hg = hp.chunked(3, axis: 1)
            let r = sigmoid(xg[0] + hg[0]), z = sigmoid(xg[1] + hg[1])
            let n = AxonCore.tanh(xg[2] + r * hg[2])
            return ((1 - z) * n + z * h, nil)
        }
    }
}

/// The pointwise half of an LSTM step as one custom op: from the gate pre-activations `[B, 4H]` (i, f, g, o) and
/// the cell state `[B, H]`, the new hidden and cell states packed as `[B, 2H]` (h, then c). The forward pass runs
/// the vectorised activation kernels and keeps the activations; the derivative is then one pass of arithmetic
/// (unfused, a step's backward is two dozen small recorded ops), or the composite form when the backward pass is
/// recorded (second derivatives).
func lstmCellPointwise(_ gates: Tensor, _ c: Tensor) -> Tensor {
    guard gates.dtype == c.dtype, gates.rank == 2, c.rank == 2, gates.shape == [c.shape[0], 4 * c.shape[1]] else {
        fatalError("Axon.LSTM: gates \(gates.shape) (\(gates.dtype)) and cell state \(c.shape) (\(c.dtype)) do not fit")
    }
    let h = c.shape[1]
    var saved: (sigmoids: Tensor, g: Tensor, tanhC: Tensor)? = nil
    return customOp("lstm_cell", inputs: [gates, c], forward: { x in
        let sigmoids = sigmoid(x[0]).contiguous()  // i, f and o (the g quarter is unused)
        let g = AxonCore.tanh(x[0].sliced(axis: 1, 2 * h..<3 * h)).contiguous()
        let cNext = sigmoids.sliced(axis: 1, h..<2 * h) * x[1] + sigmoids.sliced(axis: 1, 0..<h) * g
        let tanhC = AxonCore.tanh(cNext)
        saved = (sigmoids, g, tanhC)
        return concat([sigmoids.sliced(axis: 1, 3 * h..<4 * h) * tanhC, cNext], axis: 1)
    }, backward: { gradient, x, _ in
        if GradMode.isEnabled {  // recorded: the same derivative from differentiable ops
            let q = x[0].chunked(4, axis: 1)
            let i = sigmoid(q[0]), f = sigmoid(q[1]), g = AxonCore.tanh(q[2]), o = sigmoid(q[3])
            let tc = AxonCore.tanh(f * x[1] + i * g)
            let dh = gradient.sliced(axis: 1, 0..<h), dcOut = gradient.sliced(axis: 1, h..<2 * h)
            let dc = dcOut + dh * o * (1 - tc * tc)
            let dGates = concat([dc * g * i * (1 - i), dc * x[1] * f * (1 - f), dc * i * (1 - g * g), dh * tc * o * (1 - o)], axis: 1)
            return [dGates, dc * f]
        }
        let (sigmoids, g, tanhC) = saved!
        let state = x[1].contiguous(), d = gradient.contiguous()
        let dGates = Tensor.empty(x[0].shape, dtype: state.dtype), dState = Tensor.empty(state.shape, dtype: state.dtype)
        if state.dtype == .float64 {
            lstmBackward(sigmoids, g, tanhC, state, d, dGates, dState, Double.self)
        } else {
            lstmBackward(sigmoids, g, tanhC, state, d, dGates, dState, Float.self)
        }
        return [dGates, dState]
    })
}

/// d(gates) and d(c) of an LSTM step from the kept activations (all contiguous), in one pass.
private func lstmBackward<T: BinaryFloatingPoint>(_ sigmoids: Tensor, _ g: Tensor, _ tanhC: Tensor, _ c: Tensor, _ d: Tensor,
                                                  _ dGates: Tensor, _ dState: Tensor, _: T.Type) {
    let b = c.shape[0], h = c.shape[1]
    let ps = pointer(sigmoids, T.self), pg = pointer(g, T.self), pt = pointer(tanhC, T.self), pc = pointer(c, T.self)
    let pd = pointer(d, T.self), pdg = pointer(dGates, T.self), pdc = pointer(dState, T.self)
    for r in 0..<b {
        let s = ps + r * 4 * h, gr = pg + r * h, tr = pt + r * h, cr = pc + r * h, dr = pd + r * 2 * h
        let dgr = pdg + r * 4 * h, dcr = pdc + r * h
        for j in 0..<h {
            let d = lstmGateGradients(i: s[j], f: s[h + j], g: gr[j], o: s[3 * h + j], tanhC: tr[j], cPrev: cr[j], dh: dr[j], dc: dr[h + j])
            dgr[j] = d.i; dgr[h + j] = d.f; dgr[2 * h + j] = d.g; dgr[3 * h + j] = d.o
            dcr[j] = d.cPrev
        }
    }
}

/// One LSTM unit's derivative: from the activated gates, tanh(c_t), c_{t−1} and the incoming dh_t and dc_t, the
/// gradients of the four gate pre-activations and of c_{t−1}. The step kernel and the whole-sequence kernel share it.
@inline(__always)
func lstmGateGradients<T: BinaryFloatingPoint>(i: T, f: T, g: T, o: T, tanhC: T, cPrev: T, dh: T, dc dcIn: T)
    -> (i: T, f: T, g: T, o: T, cPrev: T) {
    let dc = dcIn + dh * o * (1 - tanhC * tanhC)
    return (dc * g * i * (1 - i), dc * cPrev * f * (1 - f), dc * i * (1 - g * g), dh * tanhC * o * (1 - o), dc * f)
}

/// The multi-layer, optionally bidirectional recurrent net behind ``RNN``, ``LSTM`` and ``GRU``.
public class RecurrentNet: Module {
    /// Features per time step of the input.
    public let inputSize: Int
    /// Features of the hidden state.
    public let hiddenSize: Int
    /// Stacked layers.
    public let numLayers: Int
    /// Whether each layer also runs from the last time step to the first (outputs concatenated).
    public let bidirectional: Bool
    /// Whether input and output are `[batch, time, features]` (else `[time, batch, features]`).
    public let batchFirst: Bool
    /// Dropout on the outputs of every layer but the last, in training mode.
    public let dropout: Double
    /// `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}` (with `_reverse` for the backward
    /// direction), as PyTorch names them.
    public let weights: NamedParameters
    let cell: RecurrentCell
    let generator: Generator

    init(_ cell: RecurrentCell, _ name: String, inputSize: Int, hiddenSize: Int, numLayers: Int, bias: Bool, batchFirst: Bool,
         dropout: Double, bidirectional: Bool, generator: Generator) {
        guard inputSize > 0, hiddenSize > 0, numLayers > 0 else {
            fatalError("Axon.\(name): inputSize, hiddenSize and numLayers must be positive, got \(inputSize), \(hiddenSize), \(numLayers)")
        }
        guard dropout >= 0 && dropout <= 1 else { fatalError("Axon.\(name): dropout must be in [0, 1], got \(dropout)") }
        self.cell = cell
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.numLayers = numLayers
        self.bidirectional = bidirectional
        self.batchFirst = batchFirst
        self.dropout = dropout
        self.generator = generator
        // PyTorch's initialisation: every weight and bias from U(-1/√hidden, 1/√hidden).
        let k = 1 / Double(hiddenSize).squareRoot(), rows = cell.gates * hiddenSize
        var entries: [(name: String, tensor: Tensor)] = []
        for layer in 0..<numLayers {
            let layerInput = layer == 0 ? inputSize : hiddenSize * (bidirectional ? 2 : 1)
            for suffix in bidirectional ? ["", "_reverse"] : [""] {
                var shapes: [(String, [Int])] = [("weight_ih", [rows, layerInput]), ("weight_hh", [rows, hiddenSize])]
                if bias { shapes += [("bias_ih", [rows]), ("bias_hh", [rows])] }
                for (kind, shape) in shapes {
                    entries.append(("\(kind)_l\(layer)\(suffix)", Tensor.uniform(shape, low: -k, high: k, generator: generator).requiringGrad()))
                }
            }
        }
        weights = NamedParameters(entries)
    }

    var directions: Int { bidirectional ? 2 : 1 }

    /// Runs the net on `input` from the states `h0` (and `c0` for LSTM), each `[numLayers · directions, B, H]`
    /// (zeros when nil). `lengths` gives each sequence's length (int64 `[B]`): past it, outputs are zero and
    /// the state stops changing, so h_n is the state at the sequence's last step (the reverse direction starts
    /// there). Returns the output `[B, T, directions · H]` (or time-major) and the final states.
    func run(_ input: Tensor, _ h0: Tensor?, _ c0: Tensor?, lengths: Tensor?) -> (output: Tensor, h: Tensor, c: Tensor?) {
        let name = "\(type(of: self))"
        guard input.rank == 3, input.shape[2] == inputSize else {
            fatalError("Axon.\(name): input must be \(batchFirst ? "[batch, time, \(inputSize)]" : "[time, batch, \(inputSize)]"), got \(input.shape)")
        }
        let x = batchFirst ? input : input.transposed(0, 1)  // [B, T, F]
        let b = x.shape[0], t = x.shape[1], h = hiddenSize, states = numLayers * directions
        for (label, s) in [("h0", h0), ("c0", c0)] {
            if let s, s.shape != [states, b, h] {
                fatalError("Axon.\(name): \(label) must be [\(states), \(b), \(h)] (layers · directions, batch, hidden), got \(s.shape)")
            }
        }
        // Step masks [B, 1] for sequences of different lengths.
        var masks: [Tensor]? = nil, stepLengths: [Int]? = nil
        if let lengths {
            guard lengths.shape == [b], lengths.dtype == .int64 else {
                fatalError("Axon.\(name): lengths must be int64 [\(b)], got \(lengths.dtype) \(lengths.shape)")
            }
            let l = lengths.intScalars
            guard l.allSatisfy({ $0 >= 1 && $0 <= t }) else { fatalError("Axon.\(name): lengths \(l) must be in 1...\(t)") }
            masks = (0..<t).map { step in Tensor(shape: [b, 1], doubles: l.map { step < $0 ? 1 : 0 }, dtype: x.dtype) }
            stepLengths = l
        }
        // The LSTM's layers run time-major (see lstmRecurrence); the other cells' steps batch-first.
        let timeMajor = cell == .lstm
        var layerInput = timeMajor ? (batchFirst ? input.transposed(0, 1) : input) : x
        var finalH: [Tensor] = [], finalC: [Tensor] = []
        for layer in 0..<numLayers {
            var outputs: [Tensor] = []
            for d in 0..<directions {
                let suffix = "_l\(layer)\(d == 1 ? "_reverse" : "")"
                let index = layer * directions + d
                var state = h0.map { $0.sliced(axis: 0, index..<index + 1).reshaped([b, h]) } ?? Tensor.zeros([b, h], dtype: x.dtype)
                var memory: Tensor? = cell == .lstm ? (c0.map { $0.sliced(axis: 0, index..<index + 1).reshaped([b, h]) }
                                                      ?? Tensor.zeros([b, h], dtype: x.dtype)) : nil
                if cell == .lstm {  // the whole direction as one op; both biases go into the input projection
                    let bias = weights["bias_ih\(suffix)"].map { $0 + weights["bias_hh\(suffix)"]! }
                    let states = lstmRecurrence(layerInput, weightIH: weights["weight_ih\(suffix)"]!, bias: bias, state, memory!,
                                                weightHH: weights["weight_hh\(suffix)"]!, reverse: d == 1, lengths: stepLengths)
                    let hs = states.sliced(axis: 2, 0..<h)
                    outputs.append(masks.map { hs * stack($0, axis: 0) } ?? hs)
                    let last = d == 0 ? t - 1 : 0
                    finalH.append(hs.sliced(axis: 0, last..<last + 1).reshaped([b, h]))
                    finalC.append(states.sliced(axis: 0, last..<last + 1).sliced(axis: 2, h..<2 * h).reshaped([b, h]))
                    continue
                }
                // One product for the input projection of every time step.
                let projected = linear(layerInput.reshaped([b * t, layerInput.shape[2]]), weight: weights["weight_ih\(suffix)"]!,
                                       bias: weights["bias_ih\(suffix)"]).reshaped([b, t, cell.gates * h])
                var steps = [Tensor?](repeating: nil, count: t)
                for step in d == 0 ? Array(0..<t) : Array((0..<t).reversed()) {
                    let next = cell.step(projected.sliced(axis: 1, step..<step + 1).reshaped([b, cell.gates * h]), state, memory,
                                         weightHH: weights["weight_hh\(suffix)"]!, biasHH: weights["bias_hh\(suffix)"])
                    if let m = masks?[step] {  // finished sequences keep their state and output zeros
                        state = next.h * m + state * (1 - m)
                        memory = next.c.map { $0 * m + memory! * (1 - m) }
                        steps[step] = next.h * m
                    } else {
                        state = next.h
                        memory = next.c
                        steps[step] = next.h
                    }
                }
                outputs.append(stack(steps.map { $0! }, axis: 1))
                finalH.append(state)
                if let memory { finalC.append(memory) }
            }
            layerInput = directions == 1 ? outputs[0] : concat(outputs, axis: 2)
            if layer < numLayers - 1 && dropout > 0 {
                layerInput = AxonNN.dropout(layerInput, p: dropout, training: isTraining, generator: generator)
            }
        }
        let output = timeMajor == batchFirst ? layerInput.transposed(0, 1) : layerInput
        return (output, stack(finalH, axis: 0), finalC.isEmpty ? nil : stack(finalC, axis: 0))
    }

    /// The layer and its configuration, as printed in a model description.
    public override var layerDescription: String {
        "\(type(of: self))(\(inputSize), \(hiddenSize), numLayers: \(numLayers), bidirectional: \(bidirectional), batchFirst: \(batchFirst))"
    }
}

/// An Elman recurrent net, as `torch.nn.RNN`: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh) (or ReLU).
///
/// `let (y, h) = rnn(x)` or `rnn(x, h0)`; y is `[B, T, directions · H]` with `batchFirst`, h `[layers · directions, B, H]`.
public final class RNN: RecurrentNet {
    /// The hidden nonlinearity.
    public enum Nonlinearity: String, Sendable { case tanh, relu }
    /// A recurrent net from `inputSize` to `hiddenSize` features.
    public init(_ inputSize: Int, _ hiddenSize: Int, numLayers: Int = 1, nonlinearity: Nonlinearity = .tanh, bias: Bool = true,
                bidirectional: Bool = false, batchFirst: Bool = false, dropout: Double = 0, generator: Generator = .global) {
        super.init(nonlinearity == .tanh ? .tanh : .relu, "RNN", inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers,
                   bias: bias, batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional, generator: generator)
    }
    /// The output and the final hidden state; `lengths` (int64 `[B]`) for sequences shorter than the input.
    public func callAsFunction(_ input: Tensor, _ h0: Tensor? = nil, lengths: Tensor? = nil) -> (Tensor, Tensor) {
        let r = run(input, h0, nil, lengths: lengths)
        return (h0 == nil && lengths == nil ? traced(r.output, from: input) : traced(r.output), r.h)
    }

    /// The hidden nonlinearity.
    public var nonlinearity: Nonlinearity { cell == .relu ? .relu : .tanh }
}

/// Long short-term memory, as `torch.nn.LSTM`.
///
/// `let (y, (h, c)) = lstm(x)` or `lstm(x, (h0, c0))`.
public final class LSTM: RecurrentNet {
    /// An LSTM from `inputSize` to `hiddenSize` features.
    public init(_ inputSize: Int, _ hiddenSize: Int, numLayers: Int = 1, bias: Bool = true, bidirectional: Bool = false,
                batchFirst: Bool = false, dropout: Double = 0, generator: Generator = .global) {
        super.init(.lstm, "LSTM", inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias,
                   batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional, generator: generator)
    }
    /// The output and the final (hidden, cell) states; `lengths` (int64 `[B]`) for sequences shorter than the input.
    public func callAsFunction(_ input: Tensor, _ state: (Tensor, Tensor)? = nil, lengths: Tensor? = nil) -> (Tensor, (Tensor, Tensor)) {
        let r = run(input, state?.0, state?.1, lengths: lengths)
        // From zero states over whole sequences, an export writes ONNX's LSTM for the output; else the ops inside.
        return (state == nil && lengths == nil ? traced(r.output, from: input) : traced(r.output), (r.h, r.c!))
    }
}

/// Gated recurrent unit, as `torch.nn.GRU`.
///
/// `let (y, h) = gru(x)` or `gru(x, h0)`.
public final class GRU: RecurrentNet {
    /// A GRU from `inputSize` to `hiddenSize` features.
    public init(_ inputSize: Int, _ hiddenSize: Int, numLayers: Int = 1, bias: Bool = true, bidirectional: Bool = false,
                batchFirst: Bool = false, dropout: Double = 0, generator: Generator = .global) {
        super.init(.gru, "GRU", inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias,
                   batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional, generator: generator)
    }
    /// The output and the final hidden state; `lengths` (int64 `[B]`) for sequences shorter than the input.
    public func callAsFunction(_ input: Tensor, _ h0: Tensor? = nil, lengths: Tensor? = nil) -> (Tensor, Tensor) {
        let r = run(input, h0, nil, lengths: lengths)
        return (h0 == nil && lengths == nil ? traced(r.output, from: input) : traced(r.output), r.h)
    }
}

/// One step of a recurrent cell over a batch, with PyTorch's parameter names (`weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`).
public class RecurrentCellLayer: Module {
    /// `[gates · hidden, input]`.
    public let weightIh: Tensor
    /// `[gates · hidden, hidden]`.
    public let weightHh: Tensor
    /// `[gates · hidden]`, or nil.
    public let biasIh: Tensor?
    /// `[gates · hidden]`, or nil.
    public let biasHh: Tensor?
    let cell: RecurrentCell

    init(_ cell: RecurrentCell, _ name: String, inputSize: Int, hiddenSize: Int, bias: Bool, generator: Generator) {
        guard inputSize > 0, hiddenSize > 0 else { fatalError("Axon.\(name): sizes must be positive, got \(inputSize), \(hiddenSize)") }
        let k = 1 / Double(hiddenSize).squareRoot(), rows = cell.gates * hiddenSize
        weightIh = Tensor.uniform([rows, inputSize], low: -k, high: k, generator: generator).requiringGrad()
        weightHh = Tensor.uniform([rows, hiddenSize], low: -k, high: k, generator: generator).requiringGrad()
        biasIh = bias ? Tensor.uniform([rows], low: -k, high: k, generator: generator).requiringGrad() : nil
        biasHh = bias ? Tensor.uniform([rows], low: -k, high: k, generator: generator).requiringGrad() : nil
        self.cell = cell
    }

    var hiddenSize: Int { weightHh.shape[1] }

    func step(_ input: Tensor, _ h: Tensor?, _ c: Tensor?) -> (h: Tensor, c: Tensor?) {
        guard input.rank == 2, input.shape[1] == weightIh.shape[1] else {
            fatalError("Axon.\(type(of: self)): input must be [batch, \(weightIh.shape[1])], got \(input.shape)")
        }
        let zeros = Tensor.zeros([input.shape[0], hiddenSize], dtype: input.dtype)
        return cell.step(linear(input, weight: weightIh, bias: biasIh), h ?? zeros, cell == .lstm ? (c ?? zeros) : nil,
                         weightHH: weightHh, biasHH: biasHh)
    }
}

/// One LSTM step, as `torch.nn.LSTMCell`: `let (h, c) = cell(x, (h, c))`.
public final class LSTMCell: RecurrentCellLayer {
    /// A cell from `inputSize` to `hiddenSize` features.
    public init(_ inputSize: Int, _ hiddenSize: Int, bias: Bool = true, generator: Generator = .global) {
        super.init(.lstm, "LSTMCell", inputSize: inputSize, hiddenSize: hiddenSize, bias: bias, generator: generator)
    }
    /// The next (hidden, cell) state (zeros when `state` is nil).
    public func callAsFunction(_ input: Tensor, _ state: (Tensor, Tensor)? = nil) -> (Tensor, Tensor) {
        let r = step(input, state?.0, state?.1)
        return (state == nil ? traced(r.h, from: input) : traced(r.h), r.c!)
    }
}

/// One GRU step, as `torch.nn.GRUCell`: `let h = cell(x, h)`.
public final class GRUCell: RecurrentCellLayer {
    /// A cell from `inputSize` to `hiddenSize` features.
    public init(_ inputSize: Int, _ hiddenSize: Int, bias: Bool = true, generator: Generator = .global) {
        super.init(.gru, "GRUCell", inputSize: inputSize, hiddenSize: hiddenSize, bias: bias, generator: generator)
    }
    /// The next hidden state (from zeros when `h` is nil).
    public func callAsFunction(_ input: Tensor, _ h: Tensor? = nil) -> Tensor {
        let next = step(input, h, nil).h
        return h == nil ? traced(next, from: input) : traced(next)
    }
}
