import Axon
import Foundation
import XCTest

@testable import AxonONNX

/// Malformed, truncated and hostile files give an ONNXError that says what is wrong and where; none stops the
/// process or allocates what its data does not hold.
final class BadFileTests: XCTestCase {
    /// A valid model: y = x·Wᵀ + b (Gemm), x [batch, 3].
    func gemmModel() -> Onnx_ModelProto {
        var graph = ONNXGraph(opset: 17)
        let w = graph.initializer(Tensor.ones([2, 3]), name: "fc.weight"), b = graph.initializer(Tensor.zeros([2]), name: "fc.bias")
        let y = graph.add1("Gemm", ["x", w, b], ["transB": .int(1)], name: "fc")
        var g = Onnx_GraphProto()
        g.node = graph.nodes
        g.initializer = graph.initializers
        g.input = [ONNXExport.valueInfo("x", Tensor.zeros([1, 3]), dynamicBatch: true)]
        g.output = [ONNXExport.valueInfo(y, Tensor.zeros([1, 2]), dynamicBatch: true)]
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var op = Onnx_OperatorSetIdProto()
        op.version = 17
        m.opsetImport = [op]
        m.graph = g
        return m
    }

    func node(_ op: String, _ name: String, _ inputs: [String], _ outputs: [String]) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op
        n.name = name
        n.input = inputs
        n.output = outputs
        return n
    }

    func load(_ m: Onnx_ModelProto) throws -> ONNXModel { try ONNXModel(serializedData: try m.serializedData(), source: "bad.onnx") }

    func assertError(_ m: Onnx_ModelProto, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try load(m), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(error is ONNXError, text, file: file, line: line)
            XCTAssertTrue(text.contains(fragment), "expected '\(fragment)' in: \(text)", file: file, line: line)
        }
    }

    func testTheValidModelLoads() throws {
        let model = try load(gemmModel())
        XCTAssertEqual(try model.forward(Tensor.ones([4, 3])).doubleScalars, [Double](repeating: 3, count: 8))
    }

    func testTruncatedAndRandomBytes() throws {
        let bytes = try gemmModel().serializedData()
        for cut in [1, bytes.count / 3, bytes.count / 2, bytes.count - 1] {
            XCTAssertThrowsError(try ONNXModel(serializedData: bytes.prefix(cut), source: "cut.onnx"), "cut at \(cut)")
        }
        var g = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let random = Data((0..<Int.random(in: 0..<300, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) })
            _ = try? ONNXModel(serializedData: random, source: "random.onnx")
        }
        XCTAssertThrowsError(try ONNXModel(contentsOf: "/nonexistent/model.onnx")) { XCTAssertTrue("\($0)".contains("cannot read")) }
    }

    func testHugeDeclaredSizesAreRefusedBeforeAllocating() {
        var m = gemmModel()
        m.graph.initializer[0].dims = [1 << 40, 1 << 30]
        assertError(m, "initializer 'fc.weight': declared shape [1099511627776, 1073741824] is larger than")
        m = gemmModel()
        m.graph.initializer[0].dims = [1000, 3]
        assertError(m, "initializer 'fc.weight': shape [1000, 3] needs 3000 values, the data has 6")
        m = gemmModel()
        m.graph.initializer[0].dims = [-2, 3]
        assertError(m, "negative dimension")
        // An input whose declared axes multiply past the limit (each one alone is under it).
        m = gemmModel()
        var dimension = Onnx_TensorShapeProto.Dimension()
        dimension.dimValue = 1 << 27
        m.graph.input[0].type.tensorType.shape.dim = [dimension, dimension, dimension]
        assertError(m, "input 'x' declares shape [134217728, 134217728, 134217728], more than 268435456 elements")
        // A graph that asks for a huge tensor at run time.
        m = gemmModel()
        let constant = node("ConstantOfShape", "huge", ["shape"], ["big"])
        m.graph.node.append(constant)
        m.graph.initializer.append(ONNXTensors.proto(Tensor(shape: [2], scalars: [1 << 30, 1 << 30]), name: "shape"))
        m.graph.output[0].name = "big"
        assertError(m, "node 'huge' (ConstantOfShape): shape [1073741824, 1073741824] has more than")
    }

    func testExternalDataIsNotRead() {
        var m = gemmModel()
        var entry = Onnx_StringStringEntryProto()
        entry.key = "location"
        entry.value = "../../etc/passwd"
        m.graph.initializer[0].externalData = [entry]
        m.graph.initializer[0].dataLocation = .external
        assertError(m, "initializer 'fc.weight': external data ('../../etc/passwd') is not read")
    }

    func testCyclesAndUnsortedGraphs() {
        var m = gemmModel()
        let relu = node("Relu", "loop", ["later"], ["early"])
        let tanh = node("Tanh", "back", ["early"], ["later"])
        m.graph.node += [relu, tanh]
        assertError(m, "node 'loop' (Relu) reads 'later' before any node makes it (the graph is unsorted or has a cycle)")
        m = gemmModel()
        m.graph.node.append(m.graph.node[0])
        assertError(m, "makes 'fc/Gemm_output', which is already defined")
        m = gemmModel()
        m.graph.output[0].name = "nowhere"
        assertError(m, "output 'nowhere' is made by no node")
    }

    func testUnsupportedOpsAndAttributesNameTheNode() {
        var m = gemmModel()
        m.graph.node[0].opType = "FooBar"
        assertError(m, "node 'fc/Gemm' (FooBar): op FooBar is not supported")
        m = gemmModel()
        var a = Onnx_AttributeProto()
        a.name = "mystery"
        a.type = .int
        m.graph.node[0].attribute.append(a)
        assertError(m, "node 'fc/Gemm' (Gemm): attribute 'mystery' is not supported")
        m = gemmModel()
        m.graph.node[0].domain = "com.example"
        assertError(m, "domain 'com.example' is not supported")
        m = gemmModel()
        m.opsetImport = []
        assertError(m, "the default operator set is missing")
        // A valid attribute with a value Axon does not run.
        m = gemmModel()
        var conv = node("Conv", "conv", ["x", "fc.weight"], ["c"])
        var pad = Onnx_AttributeProto()
        pad.name = "auto_pad"
        pad.type = .string
        pad.s = Data("SAME_LOWER".utf8)
        conv.attribute = [pad]
        m.graph.node.append(conv)
        assertError(m, "node 'conv' (Conv), attribute 'auto_pad': 'SAME_LOWER' is not supported")
        m = gemmModel()
        var sub = Onnx_AttributeProto()
        sub.name = "then_branch"
        sub.type = .graph
        var branch = node("If", "branch", ["x"], ["z"])
        branch.attribute = [sub]
        m.graph.node.append(branch)
        assertError(m, "node 'branch' (If): op If is not supported")
    }

    func testShapesThatDoNotFitFailAtLoad() {
        var m = gemmModel()
        m.graph.initializer[0] = ONNXTensors.proto(Tensor.ones([2, 4]), name: "fc.weight")
        assertError(m, "node 'fc/Gemm' (Gemm): A [1, 3] and B [2, 4] do not multiply")
        m = gemmModel()
        m.graph.initializer[1] = ONNXTensors.proto(Tensor.ones([5]), name: "fc.bias")
        assertError(m, "C [5] does not broadcast to [1, 2]")
        // An empty batch reaches no kernel that needs a sample.
        let cnn = try? ONNXModel(contentsOf: testFolder.appendingPathComponent("Models/cnn_bn.onnx").path)
        XCTAssertThrowsError(try cnn?.forward(Tensor.zeros([0, 1, 12, 12])) ?? Tensor.zeros([])) {
            XCTAssertTrue("\($0)".contains("input [0, 1, 12, 12] has an empty axis"), "\($0)")
        }
        // A Reshape to sizes whose product overflows (found by the onnx fuzz target) is an error, not a trap.
        m = gemmModel()
        m.graph.initializer.append(ONNXTensors.proto(Tensor(shape: [3], scalars: [1 << 40, 1 << 40, -1]), name: "huge"))
        m.graph.node.append(node("Reshape", "r", [m.graph.output[0].name, "huge"], ["z"]))
        m.graph.output[0].name = "z"
        assertError(m, "node 'r' (Reshape): shape [1099511627776, 1099511627776, 1] has more than")
        // At run time, an input of the wrong shape is an error too.
        XCTAssertThrowsError(try load(gemmModel()).forward(Tensor.ones([2, 4]))) {
            XCTAssertTrue("\($0)".contains("input 'x' has shape [2, 4]; the model expects [?, 3]"), "\($0)")
        }
    }
}
