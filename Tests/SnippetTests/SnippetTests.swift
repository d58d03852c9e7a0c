import AxonTestSupport
import Foundation
import XCTest

/// The documentation's code: every snippet in Snippets/ (which the DocC articles show) is built with the package and
/// run here, and what it prints is checked, so the articles cannot go stale.
final class SnippetTests: XCTestCase {
    func run(_ snippet: String, environment: [String: String] = [:]) throws -> String {
        let (status, output) = try runProcess(builtProduct(snippet), environment: environment)
        XCTAssertEqual(status, 0, "\(snippet):\n\(output)")
        return output
    }

    /// The number printed after `prefix` on its line.
    func number(after prefix: String, in output: String) -> Double? {
        output.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count).split(separator: " ")[0]) }
    }

    func testGettingStarted() throws {
        let output = try run("GettingStarted")
        XCTAssertGreaterThan(number(after: "test accuracy ", in: output) ?? 0, 0.9, output)
    }

    func testFromANeuronToBackpropagation() throws {
        let output = try run("NeuronToBackpropagation")
        for line in ["z = 2.60", "derivative [0.017662706213291", "0.25, 0.0643582991757734", "one neuron learns XOR: false",
                     "two layers on XOR: [0.0, 1.0, 1.0, 0.0]", "y = 11.65207", "dy/dx1 = 5.5 dy/dx2 = 1.71633", "minibatch output shape [8, 2]"] {
            XCTAssertTrue(output.contains(line), "\(line) not in:\n\(output)")
        }
        let sigmoid = number(after: "sigmoid: first/last gradient norm ", in: output) ?? 1
        let relu = number(after: "relu: first/last gradient norm ", in: output) ?? 0
        XCTAssertLessThan(sigmoid, 1e-3, "the first sigmoid layer's gradient vanishes")
        XCTAssertGreaterThan(relu, 100 * sigmoid, output)
    }

    func testTrainingOnFashionMNIST() throws {
        let output = try run("TrainingOnFashionMNIST", environment: ["AXON_SNIPPET_QUICK": "1"])
        for line in ["epoch 2/2", "epoch 3/3", "Total params: 60074"] { XCTAssertTrue(output.contains(line), "\(line) not in:\n\(output)") }
    }

    func testCustomLayersAndOps() throws {
        let output = try run("CustomLayersAndOps")
        for line in [#"["scale", "value.weight", "value.bias", "gate.weight", "gate.bias"]"#, "Total params: 37",
                     "softplus gradient check passed: true", "GatedLinear input gradient check passed: true"] {
            XCTAssertTrue(output.contains(line), "\(line) not in:\n\(output)")
        }
    }

    func testCheckpointsAndPyTorch() throws {
        let output = try run("CheckpointsAndPyTorch")
        for line in ["1.running_mean", "made in Swift true", "unexpected keys", #"["lower", "upper"]"#,
                     "onnx round trip: 6 parameters, largest difference below 1e-5"] {
            XCTAssertTrue(output.contains(line), "\(line) not in:\n\(output)")
        }
    }

    func testThePlayground() throws {
        let output = try run("ThePlayground")
        let line = output.split(separator: "\n").first { $0.hasPrefix("epoch 100:") }.map(String.init) ?? ""
        let testLoss = line.components(separatedBy: "test loss ").last.flatMap(Double.init) ?? 1
        XCTAssertLessThan(testLoss, 0.2, output)
        XCTAssertTrue(output.contains("checkpoint: "), output)
    }

    func testHowAxonIsFast() throws {
        let output = try run("HowAxonIsFast")
        XCTAssertTrue(output.contains("1 and 2 threads give the same weights: true"), output)
        XCTAssertTrue(output.contains("512x512 GEMM: [512, 512]"), output)
    }
}
