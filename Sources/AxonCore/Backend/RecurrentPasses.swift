import _AxonKernels

// The elementwise part of an LSTM step, forward and backward, for AxonNN's LSTM (as ChannelPasses.swift serves batch
// normalisation): one sequence's units in one vectorised C pass (recurrent.c), with the float32 operations of the
// Swift rules it replaces, so the same bits.

/// For one sequence of `h` units at a step: activates `gates` in place (4h values: i, f, g, o; sigmoid, sigmoid, tanh,
/// sigmoid), then writes c_t = f·c_{t−1} + i·g, tanh(c_t) and h_t = o·tanh(c_t). float32, contiguous rows.
package func lstmCellForward(units h: Int, gates: UnsafeMutablePointer<Float>, cPrev: UnsafePointer<Float>,
                             cNext: UnsafeMutablePointer<Float>, tanhC: UnsafeMutablePointer<Float>,
                             hNext: UnsafeMutablePointer<Float>) {
    axon_lstm_cell_forward_f32(h, gates, cPrev, cNext, tanhC, hNext)
}

/// For one sequence of `h` units whose state changed at the step: the gates' gradients (`dGates`, 4h values: i, f, g,
/// o) and d(c_{t−1}) from the activated gates, tanh(c_t), c_{t−1}, and the gradients arriving at h_t and c_t from
/// the output (`dhOut`, `dcOut`) and from the next step (`dhNext`, `dcNext`). float32, contiguous rows.
package func lstmCellBackward(units h: Int, gates: UnsafePointer<Float>, tanhC: UnsafePointer<Float>, cPrev: UnsafePointer<Float>,
                              dhOut: UnsafePointer<Float>, dcOut: UnsafePointer<Float>, dhNext: UnsafePointer<Float>,
                              dcNext: UnsafePointer<Float>, dGates: UnsafeMutablePointer<Float>, dcPrev: UnsafeMutablePointer<Float>) {
    axon_lstm_cell_backward_f32(h, gates, tanhC, cPrev, dhOut, dcOut, dhNext, dcNext, dGates, dcPrev)
}
