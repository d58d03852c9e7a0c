import AxonCore
import Foundation

/// A table read from a CSV file: numeric feature columns and, optionally, a label column.
public struct CSVTable {
    /// Which column holds the labels.
    public enum LabelColumn: Sendable, Equatable {
        /// The column with this header name.
        case name(String)
        /// The column at this 0-based index (negative counts from the end).
        case index(Int)
    }

    /// What the labels are.
    public enum Task: Sendable {
        /// Class labels: integers are class indices, other values are class names (indexed in sorted order).
        case classification
        /// Real-valued targets.
        case regression
    }

    /// Features `[N, F]` (float32).
    public let features: Tensor
    /// Labels: int64 `[N]` for classification, float32 `[N, 1]` for regression; nil without a label column.
    public let labels: Tensor?
    /// Header names of the feature columns (`x0`, `x1`, ... without a header).
    public let featureNames: [String]
    /// Class names by index, when the labels were names; nil for numeric classes and regression.
    public let classNames: [String]?

    /// The table as a dataset (requires a label column).
    public var dataset: TensorDataset {
        // Whether a label column was asked for is the caller's code, not the file's data.
        guard let labels else { fatalError("Axon.CSVTable.dataset: the table has no label column") }
        return TensorDataset(rows: features, targets: labels)  // one label per row, as parsed
    }

    /// Reads `path`. Bad values give a `DataError` naming the file, line and column.
    public static func load(path: String, label: LabelColumn?, task: Task = .classification, hasHeader: Bool = true,
                            classNames: [String]? = nil) throws -> CSVTable {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(FileManager.default.fileExists(atPath: path) ? "\(path): cannot be read" : "\(path): no such file")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw DataError("\(path): not UTF-8 text") }
        return try parse(text, source: path, label: label, task: task, hasHeader: hasHeader, classNames: classNames)
    }

    /// Parses CSV text; `source` names it in errors. `classNames` fixes the name-to-index mapping (for
    /// evaluation with a model's classes); otherwise names are indexed in sorted order.
    public static func parse(_ text: String, source: String, label: LabelColumn?, task: Task = .classification,
                             hasHeader: Bool = true, classNames: [String]? = nil) throws -> CSVTable {
        var rows: [(line: Int, fields: [String])] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            rows.append((i + 1, try fields(of: line, source: source, line: i + 1)))
        }
        guard !rows.isEmpty else { throw DataError("\(source): no rows") }
        let width = rows[0].fields.count
        let header = hasHeader ? rows.removeFirst().fields.map { $0.trimmingCharacters(in: .whitespaces) }
                               : (0..<width).map { "x\($0)" }
        guard !rows.isEmpty else { throw DataError("\(source): header but no data rows") }
        for r in rows where r.fields.count != width {
            throw DataError("\(source):\(r.line): expected \(width) fields, found \(r.fields.count)")
        }
        var labelIndex: Int? = nil
        switch label {
        case .name(let name)?:
            guard let i = header.firstIndex(of: name) else {
                throw DataError("\(source): no column named '\(name)' (columns: \(header.joined(separator: ", ")))")
            }
            labelIndex = i
        case .index(let i)?:
            let j = i < 0 ? i + width : i
            guard j >= 0 && j < width else { throw DataError("\(source): label column \(i) is out of range for \(width) columns") }
            labelIndex = j
        case nil: break
        }
        let featureColumns = (0..<width).filter { $0 != labelIndex }
        guard !featureColumns.isEmpty else { throw DataError("\(source): no feature columns") }
        var values = [Float]()
        values.reserveCapacity(rows.count * featureColumns.count)
        for r in rows {
            for c in featureColumns {
                let field = r.fields[c].trimmingCharacters(in: .whitespaces)
                guard let v = Float(field), v.isFinite else {
                    throw DataError("\(source):\(r.line):\(c + 1): '\(field)' is not a finite number (column '\(header[c])')")
                }
                values.append(v)
            }
        }
        let features = Tensor(shape: [rows.count, featureColumns.count], scalars: values)
        var labels: Tensor? = nil
        var names: [String]? = nil
        if let li = labelIndex {
            let raw = rows.map { $0.fields[li].trimmingCharacters(in: .whitespaces) }
            switch task {
            case .regression:
                var ys = [Float]()
                for (r, s) in zip(rows, raw) {
                    guard let v = Float(s), v.isFinite else {
                        throw DataError("\(source):\(r.line):\(li + 1): label '\(s)' is not a finite number (column '\(header[li])')")
                    }
                    ys.append(v)
                }
                labels = Tensor(shape: [rows.count, 1], scalars: ys)
            case .classification:
                if classNames == nil, raw.allSatisfy({ Int($0) != nil }) {
                    let ints = raw.compactMap { Int($0) }  // all of them, as just checked
                    if let bad = zip(rows, ints).first(where: { $0.1 < 0 }) {
                        throw DataError("\(source):\(bad.0.line):\(li + 1): class index \(bad.1) is negative")
                    }
                    labels = Tensor(shape: [rows.count], scalars: ints)
                } else {
                    let known = classNames ?? Array(Set(raw)).sorted()
                    let index = Dictionary(uniqueKeysWithValues: known.enumerated().map { ($1, $0) })
                    var ids = [Int]()
                    for (r, s) in zip(rows, raw) {
                        guard let id = index[s] else {
                            throw DataError("\(source):\(r.line):\(li + 1): unknown class '\(s)' (known: \(known.joined(separator: ", ")))")
                        }
                        ids.append(id)
                    }
                    labels = Tensor(shape: [rows.count], scalars: ids)
                    names = known
                }
            }
        }
        return CSVTable(features: features, labels: labels, featureNames: featureColumns.map { header[$0] }, classNames: names)
    }

    /// Splits one line into fields: commas separate, double quotes enclose fields with commas, "" is a quote.
    static func fields(of line: Substring, source: String, line number: Int) throws -> [String] {
        var out: [String] = []
        var field = ""
        var quoted = false
        var i = line.startIndex
        while i < line.endIndex {
            let c = line[i]
            if quoted {
                if c == "\"" {
                    let next = line.index(after: i)
                    if next < line.endIndex && line[next] == "\"" { field.append("\""); i = next } else { quoted = false }
                } else {
                    field.append(c)
                }
            } else if c == "," {
                out.append(field); field = ""
            } else if c == "\"" && field.trimmingCharacters(in: .whitespaces).isEmpty {
                quoted = true; field = ""
            } else {
                field.append(c)
            }
            i = line.index(after: i)
        }
        if quoted { throw DataError("\(source):\(number): unterminated quoted field") }
        out.append(field)
        return out
    }
}
