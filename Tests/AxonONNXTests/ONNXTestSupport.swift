import Axon
import AxonTestSupport
import Foundation
import XCTest

/// A scratch folder for one test.
func scratchFolder(_ name: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("axon-onnx-\(name)-\(ProcessInfo.processInfo.processIdentifier)")
    try? FileManager.default.removeItem(at: url)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The folder of this test target's sources (the helper script, the committed models).
let testFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

/// Checks `model` with onnx.checker and runs it in onnxruntime on each set of inputs; returns each run's outputs.
func onnxRuntime(_ model: URL, runs: [[Tensor]]) throws -> [[Tensor]] {
    func encode(_ t: Tensor) -> [String: Any] {
        ["shape": t.shape, "dtype": t.dtype == .int64 ? "int64" : t.dtype == .float64 ? "float64" : "float32",
         "data": t.dtype == .int64 ? t.intScalars.map { $0 as Any } : t.doubleScalars.map { $0 as Any }]
    }
    let folder = model.deletingLastPathComponent()
    let inputs = folder.appendingPathComponent("inputs.json"), outputs = folder.appendingPathComponent("outputs.json")
    let body: [String: Any] = ["runs": runs.map { ["inputs": $0.map(encode)] }]
    try JSONSerialization.data(withJSONObject: body).write(to: inputs)
    let (status, output) = try runProcess(URL(fileURLWithPath: "/usr/bin/env"),
                                          ["python3", testFolder.appendingPathComponent("onnx_runtime.py").path, model.path, inputs.path, outputs.path])
    guard status == 0 else { throw ONNXError("onnx_runtime.py failed (\(status)): \(output)") }
    let decoded = try JSONSerialization.jsonObject(with: Data(contentsOf: outputs)) as! [String: Any]
    return (decoded["outputs"] as! [[[String: Any]]]).map { run in
        run.map { o in Tensor(shape: o["shape"] as! [Int], scalars: (o["data"] as! [NSNumber]).map(\.doubleValue)) }
    }
}

/// The largest difference between `actual` and `expected`, relative to the largest magnitude in `expected`.
func relativeError(_ actual: Tensor, _ expected: Tensor) -> Double {
    guard actual.shape == expected.shape else { return .infinity }
    let scale = max(expected.doubleScalars.map { abs($0) }.max() ?? 0, 1e-6)
    return maxDifference(actual.converted(to: .float64), expected.converted(to: .float64)) / scale
}
