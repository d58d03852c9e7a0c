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

/// The round trip the ONNX suites share: export, onnx.checker, onnxruntime at batches 1, 3 and 7 against Axon's own
/// output (within rel 1e-4 of the output's largest magnitude), and the file imported back into Axon (rel 1e-5).
class ONNXTestCase: XCTestCase {
    /// A model in evaluation mode and how to draw its input for a batch size.
    struct Case {
        let name: String
        let model: Module & Layer
        let input: (Int) -> Tensor
    }

    /// Trains batch norm's running statistics away from 0 and 1, so that evaluation mode shows them.
    func warmUp(_ model: Module & Layer, _ input: Tensor) {
        model.train()
        for _ in 0..<3 { _ = withNoGrad { model(input) } }
        model.eval()
    }

    func roundTrip(_ c: Case, opset: Int = 17, file: StaticString = #filePath, line: UInt = #line) throws {
        let folder = try scratchFolder(c.name)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("\(c.name).onnx")
        warmUp(c.model, c.input(8))
        try ONNXExport.export(c.model, exampleInput: c.input(2), to: path.path, opset: opset)
        let batches = [1, 3, 7]
        let inputs = batches.map { c.input($0) }
        let expected = inputs.map { x in withNoGrad { c.model(x) } }
        let runtime = try onnxRuntime(path, runs: inputs.map { [$0] })
        let imported = try ONNXModel(contentsOf: path.path)
        for (i, batch) in batches.enumerated() {
            XCTAssertEqual(runtime[i].count, 1, c.name, file: file, line: line)
            XCTAssertLessThanOrEqual(relativeError(runtime[i][0], expected[i]), 1e-4, "\(c.name): onnxruntime, batch \(batch)",
                                     file: file, line: line)
            let mine = try withNoGrad { try imported.forward(inputs[i]) }
            XCTAssertLessThanOrEqual(relativeError(mine, expected[i]), 1e-5, "\(c.name): imported into Axon, batch \(batch)",
                                     file: file, line: line)
        }
    }

    func input(_ shape: [Int], seed: UInt64) -> (Int) -> Tensor {
        { n in Tensor.randn([n] + shape, generator: Generator(seed: seed + UInt64(n))) }
    }

}
