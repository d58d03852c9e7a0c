import AxonCore
import Foundation

/// Self-contained SVG plots (no other tool needed to view them): training curves, a classifier's
/// decision boundary with its points, and per-layer gradient norms.
public enum Plot {
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    static func fmt(_ v: Double) -> String {
        if v == 0 { return "0" }
        if abs(v) >= 1000 || abs(v) < 0.01 { return String(format: "%.1e", v) }
        return String(format: "%.3g", v)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// A line chart of named series over x = 1, 2, ...; `logScale` plots log10 of positive values.
    public static func lines(_ series: [(name: String, values: [Double])], title: String, xLabel: String = "epoch",
                             yLabel: String = "", logScale: Bool = false, width: Int = 640, height: Int = 400) -> String {
        let (left, right, top, bottom) = (70.0, 20.0, 40.0, 50.0)
        let w = Double(width) - left - right, h = Double(height) - top - bottom
        let transform = { (v: Double) -> Double in logScale ? Foundation.log10(max(v, 1e-12)) : v }
        let all = series.flatMap { $0.values.filter(\.isFinite).map(transform) }
        var lo = all.min() ?? 0, hi = all.max() ?? 1
        if hi - lo < 1e-12 { lo -= 0.5; hi += 0.5 }
        let n = max(series.map(\.values.count).max() ?? 1, 2)
        func x(_ i: Int) -> Double { left + w * Double(i) / Double(n - 1) }
        func y(_ v: Double) -> Double { top + h * (1 - (transform(v) - lo) / (hi - lo)) }
        var svg = header(width, height, title)
        svg += "<rect x='\(left)' y='\(top)' width='\(w)' height='\(h)' fill='none' stroke='#999'/>\n"
        for k in 0...4 {
            let v = lo + (hi - lo) * Double(k) / 4, yy = top + h * (1 - Double(k) / 4)
            let label = logScale ? fmt(Foundation.pow(10, v)) : fmt(v)
            svg += "<line x1='\(left)' x2='\(left + w)' y1='\(yy)' y2='\(yy)' stroke='#eee'/>"
            svg += "<text x='\(left - 6)' y='\(yy + 4)' text-anchor='end' font-size='11'>\(label)</text>\n"
        }
        for i in stride(from: 0, to: n, by: max(1, n / 10)) {
            svg += "<text x='\(x(i))' y='\(top + h + 16)' text-anchor='middle' font-size='11'>\(i + 1)</text>\n"
        }
        svg += "<text x='\(left + w / 2)' y='\(Double(height) - 12)' text-anchor='middle' font-size='12'>\(escape(xLabel))</text>\n"
        svg += "<text x='16' y='\(top + h / 2)' text-anchor='middle' font-size='12' transform='rotate(-90 16 \(top + h / 2))'>\(escape(yLabel))</text>\n"
        for (k, s) in series.enumerated() {
            let color = palette[k % palette.count]
            let pts = s.values.enumerated().filter { $0.element.isFinite }.map { "\(x($0.offset)),\(y($0.element))" }
            if pts.count > 1 {
                svg += "<polyline fill='none' stroke='\(color)' stroke-width='2' points='\(pts.joined(separator: " "))'/>\n"
            } else if let p = pts.first {
                let xy = p.split(separator: ",")
                svg += "<circle cx='\(xy[0])' cy='\(xy[1])' r='3' fill='\(color)'/>\n"
            }
            svg += "<rect x='\(left + 10)' y='\(top + 8 + Double(k) * 16)' width='12' height='3' fill='\(color)'/>"
            svg += "<text x='\(left + 28)' y='\(top + 13 + Double(k) * 16)' font-size='11'>\(escape(s.name))</text>\n"
        }
        return svg + "</svg>\n"
    }

    /// A classifier's decision boundary: `probability(x1, x2)` of class 1 on a grid over `range`,
    /// coloured from orange (class 0) to blue (class 1), with the points on top.
    public static func decisionBoundary(title: String, range: ClosedRange<Double> = -6...6, resolution: Int = 100,
                                        points: Tensor, labels: Tensor, probability: (Tensor) -> Tensor,
                                        size: Int = 480) -> String {
        let step = (range.upperBound - range.lowerBound) / Double(resolution)
        var grid = [Float]()
        for j in 0..<resolution {
            for i in 0..<resolution {
                grid.append(Float(range.lowerBound + (Double(i) + 0.5) * step))
                grid.append(Float(range.upperBound - (Double(j) + 0.5) * step))
            }
        }
        let p = probability(Tensor(shape: [resolution * resolution, 2], scalars: grid)).scalars
        let cell = Double(size) / Double(resolution)
        var svg = header(size, size + 30, title)
        svg += "<g transform='translate(0,30)'>\n"
        for j in 0..<resolution {
            for i in 0..<resolution {
                let v = Double(p[j * resolution + i])
                svg += "<rect x='\(String(format: "%.2f", Double(i) * cell))' y='\(String(format: "%.2f", Double(j) * cell))' "
                    + "width='\(String(format: "%.2f", cell + 0.3))' height='\(String(format: "%.2f", cell + 0.3))' fill='\(blend(v))'/>"
            }
            svg += "\n"
        }
        let xs = points.scalars, ys = labels.scalars
        for k in 0..<points.shape[0] {
            let px = (Double(xs[2 * k]) - range.lowerBound) / (range.upperBound - range.lowerBound) * Double(size)
            let py = (range.upperBound - Double(xs[2 * k + 1])) / (range.upperBound - range.lowerBound) * Double(size)
            let color = ys[k] > 0.5 ? "#0877bd" : "#f59322"
            svg += "<circle cx='\(String(format: "%.1f", px))' cy='\(String(format: "%.1f", py))' r='3.5' fill='\(color)' stroke='#333' stroke-width='0.6'/>\n"
        }
        return svg + "</g></svg>\n"
    }

    /// Per-layer gradient norms by epoch (log scale), first layer to last: vanishing gradients show as
    /// the early layers' lines lying far below the late ones'.
    public static func gradientNorms(_ history: [EpochRecord], title: String = "Gradient norm per layer") -> String {
        let layers = history.first?.gradientNorms.map(\.layer) ?? []
        let series = layers.enumerated().map { i, name in
            (name: name, values: history.map { $0.gradientNorms.count > i ? $0.gradientNorms[i].norm : .nan })
        }
        return lines(series, title: title, yLabel: "mean L2 norm of weight gradient", logScale: true)
    }

    /// Orange (0) to white (0.5) to blue (1), as the Playground's colours.
    static func blend(_ v: Double) -> String {
        let t = max(0, min(1, v))
        let (a, b): ((Double, Double, Double), (Double, Double, Double)) = t < 0.5
            ? ((245, 147, 34), (232, 234, 235)) : ((232, 234, 235), (8, 119, 189))
        let u = t < 0.5 ? t * 2 : (t - 0.5) * 2
        let c = (a.0 + (b.0 - a.0) * u, a.1 + (b.1 - a.1) * u, a.2 + (b.2 - a.2) * u)
        return String(format: "#%02x%02x%02x", Int(c.0), Int(c.1), Int(c.2))
    }

    static func header(_ w: Int, _ h: Int, _ title: String) -> String {
        "<svg xmlns='http://www.w3.org/2000/svg' width='\(w)' height='\(h)' viewBox='0 0 \(w) \(h)' font-family='sans-serif'>\n"
            + "<rect width='100%' height='100%' fill='white'/>\n"
            + "<text x='\(w / 2)' y='22' text-anchor='middle' font-size='15'>\(escape(title))</text>\n"
    }
}
