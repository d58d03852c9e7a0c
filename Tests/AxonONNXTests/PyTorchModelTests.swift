import Axon
import AxonTestSupport
import Foundation
import XCTest

/// Models exported by PyTorch's torch.onnx.export (bench/make_onnx_models.py) run in Axon and give onnxruntime's
/// outputs, committed beside them, within rel 1e-4 of each output's largest magnitude.
final class PyTorchModelTests: XCTestCase {
    func tensor(_ o: [String: Any]) -> Tensor {
        let shape = o["shape"] as! [Int], data = (o["data"] as! [NSNumber]).map(\.doubleValue)
        return (o["dtype"] as! String) == "int64" ? Tensor(shape: shape, scalars: data.map { Int($0) })
            : Tensor(shape: shape, scalars: data.map(Float.init))
    }

    func check(_ name: String) throws {
        let folder = testFolder.appendingPathComponent("Models")
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("expected.json"))) as! [String: Any]
        let runs = expected[name] as! [[String: Any]]
        let model = try ONNXModel(contentsOf: folder.appendingPathComponent("\(name).onnx").path)
        XCTAssertFalse(runs.isEmpty)
        for run in runs {
            let inputs = (run["inputs"] as! [[String: Any]]).map(tensor), outputs = (run["outputs"] as! [[String: Any]]).map(tensor)
            let y = try withNoGrad { try model.forward(inputs[0]) }
            XCTAssertLessThanOrEqual(relativeError(y, outputs[0]), 1e-4, "\(name), batch \(inputs[0].shape[0])")
        }
    }

    func testMLP() throws { try check("mlp") }
    func testCNNWithBatchNorm() throws { try check("cnn_bn") }
    func testLSTM() throws { try check("lstm") }
    func testTransformerEncoder() throws { try check("transformer") }

    /// The initializers are parameters under PyTorch's names, so the imported model fine-tunes: one SGD step on
    /// a batch lowers its loss.
    func testImportedModelFineTunes() throws {
        let model = try ONNXModel(contentsOf: testFolder.appendingPathComponent("Models/cnn_bn.onnx").path)
        let names = model.namedParameters().map(\.0)
        XCTAssertTrue(names.contains("0.weight") && names.contains("9.bias"), "\(names)")
        XCTAssertFalse(names.contains("1.running_mean"), "batch norm statistics are not trained")
        let x = Tensor.randn([8, 1, 12, 12], generator: Generator(seed: 1)), labels = Tensor(shape: [8], scalars: [0, 1, 2, 3, 4, 5, 6, 7])
        let optimizer = SGD(model.parameters(), lr: 0.1)
        let before = crossEntropy(model(x), labels)
        optimizer.zeroGrad()
        before.backward()
        optimizer.step()
        let after = withNoGrad { crossEntropy(model(x), labels) }
        XCTAssertLessThan(after.item, before.item)
    }
}
