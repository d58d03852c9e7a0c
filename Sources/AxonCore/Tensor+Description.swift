import Foundation

extension Tensor: CustomStringConvertible {
    /// PyTorch-style printout with dtype and shape; tensors over 1000 elements show 3 entries at
    /// each edge of every dimension.
    public var description: String {
        let values = doubleScalars
        let summarize = count > 1000
        let isInt = dtype == .int64
        let finite = values.filter { $0.isFinite }
        let integral = isInt || finite.allSatisfy { $0 == $0.rounded() }
        let maxAbs = finite.map { Swift.abs($0) }.max() ?? 0
        let scientific = !integral && (maxAbs >= 1e8 || (maxAbs < 1e-4 && maxAbs > 0))
        func format(_ v: Double) -> String {
            if v.isNaN { return "nan" }
            if v.isInfinite { return v > 0 ? "inf" : "-inf" }
            if isInt { return String(Int(v)) }
            if integral { return String(format: "%.0f.", v) }
            return scientific ? String(format: "%.4e", v) : String(format: "%.4f", v)
        }
        let strides = contiguousStrides(shape)
        let width = values.isEmpty ? 0 : (summarize ? [values.first!, values.last!] : values).map { format($0).count }.max()!
        func render(_ dim: Int, _ offset: Int, _ indent: Int) -> String {
            if dim == rank { return format(values[offset]).leftPadded(to: width) }
            let n = shape[dim]
            var items: [String] = []
            let edge = summarize && n > 6
            for i in 0..<n {
                if edge && i == 3 { items.append("..."); continue }
                if edge && i > 3 && i < n - 3 { continue }
                items.append(render(dim + 1, offset + i * strides[dim], indent + 1))
            }
            let separator = dim == rank - 1 ? ", " : ",\n" + String(repeating: "\n", count: Swift.max(0, rank - dim - 2))
                + String(repeating: " ", count: indent + 1)
            return "[" + items.joined(separator: separator) + "]"
        }
        let body = rank == 0 ? format(values[0]) : render(0, 0, 7)
        var extras = ["dtype: \(dtype)", "shape: \(shape)"]
        if gradFn != nil { extras.append("gradFn: \(gradFn!.name)") } else if requiresGrad { extras.append("requiresGrad: true") }
        return "tensor(\(body), \(extras.joined(separator: ", ")))"
    }
}

private extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
