import Axon
import Foundation
import XCTest

/// JSON model descriptions: building, the bounds checked before anything is allocated, and the errors
/// that name the layer (descriptions come from files and checkpoints, so none of this may trap).
final class ModelSpecTests: XCTestCase {
    func spec(_ json: String) throws -> ModelSpec { try ModelSpec(json: Data(json.utf8), source: "test.json") }

    func assertRefused(_ json: String, mentions: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try spec(json).build(vocabulary: 40), file: file, line: line) { error in
            XCTAssertTrue(error is ModelSpecError, "\(error)", file: file, line: line)
            XCTAssertTrue("\(error)".contains(mentions), "\(error) should mention \(mentions)", file: file, line: line)
        }
    }

    /// The parameter count checked before building is the built model's, for every layer type that has
    /// parameters, and a forward pass gives the shape the builder tracked.
    func testTheCountedParametersAreTheBuiltModelsAndShapesAgree() throws {
        let cases: [(String, [Int])] = [
            (#"{"input": [1, 12, 12], "layers": [{"type": "conv2d", "out": 4, "kernel": 3, "padding": 1}, {"type": "batchnorm"}, {"type": "relu"}, {"type": "maxpool", "kernel": 2}, {"type": "conv2d", "out": 5, "kernel": 3, "stride": 2}, {"type": "avgpool", "kernel": 2, "stride": 1}, {"type": "flatten"}, {"type": "linear", "out": 3}]}"#, [3]),
            (#"{"input": [8], "layers": [{"type": "embedding", "out": 6}, {"type": "lstm", "out": 5, "layers": 2, "bidirectional": true}, {"type": "layernorm"}, {"type": "linear", "out": 40}]}"#, [8, 40]),
            (#"{"input": [4], "layers": [{"type": "embedding", "out": 4}, {"type": "gru", "out": 3, "layers": 3}, {"type": "linear", "out": 40}]}"#, [4, 40]),
            (#"{"input": [6], "layers": [{"type": "embedding", "out": 8}, {"type": "transformer-encoder", "heads": 2, "ff": 16, "layers": 2, "causal": true}, {"type": "linear", "out": 40}]}"#, [6, 40]),
            (#"{"input": [3], "layers": [{"type": "batchnorm"}, {"type": "linear", "out": 7}, {"type": "leaky-relu", "slope": 0.2}, {"type": "dropout", "p": 0.1}, {"type": "linear", "out": 2}]}"#, [2]),
        ]
        for (json, outShape) in cases {
            let s = try spec(json)
            let net = try s.build(vocabulary: 40)
            XCTAssertThrowsError(try s.build(vocabulary: 40, maxParameters: net.parameterCount - 1), json) {
                XCTAssertTrue("\($0)".contains("more than \(net.parameterCount - 1) parameters"), "\($0)")
            }
            XCTAssertNoThrow(try s.build(vocabulary: 40, maxParameters: net.parameterCount), json)
            net.eval()
            let input = s.readsTokens ? Tensor.zeros([2] + s.input, dtype: .int64) : Tensor.zeros([2] + s.input)
            XCTAssertEqual(withNoGrad { net(input) }.shape, [2] + outShape, json)
        }
    }

    /// Descriptions that would allocate without bound, overflow or trap; each is refused before any weight exists.
    func testHostileDescriptionsAreRefusedWithTheLayerNamed() {
        assertRefused(#"{"input": [1000], "layers": [{"type": "linear", "out": 16000000}, {"type": "linear", "out": 16000000}]}"#,
                      mentions: "layer 0 (linear): the model would hold more than 268435456 parameters")
        assertRefused(#"{"input": [2], "layers": [{"type": "linear", "out": 9223372036854775807}]}"#, mentions: "layer 0 (linear): out 9223372036854775807 is outside 1-16777216")
        assertRefused(#"{"input": [16777216, 16777216, 16777216], "layers": [{"type": "flatten"}]}"#, mentions: "input: [16777216, 16777216, 16777216] holds more than 16777216 values")
        assertRefused(#"{"input": [-3], "layers": [{"type": "relu"}]}"#, mentions: "input size -3 is outside")
        assertRefused(#"{"input": [], "layers": [{"type": "relu"}]}"#, mentions: "input [] must have 1 to 3 axes")
        assertRefused(#"{"input": [1, 8, 8], "layers": [{"type": "conv2d", "out": 2, "kernel": 3, "padding": -4}]}"#, mentions: "needs a positive 'padding'")
        assertRefused(#"{"input": [1, 8, 8], "layers": [{"type": "conv2d", "out": 2, "kernel": 3, "stride": 0}]}"#, mentions: "needs a positive 'stride'")
        assertRefused(#"{"input": [1, 8, 8], "layers": [{"type": "conv2d", "out": 2, "kernel": 30}]}"#, mentions: "kernel 30 does not fit input [1, 8, 8]")
        assertRefused(#"{"input": [1, 4000, 4000], "layers": [{"type": "conv2d", "out": 16, "kernel": 1, "padding": 100}]}"#, mentions: "holds more than 16777216 values per example")
        assertRefused(#"{"input": [1, 8, 8], "layers": [{"type": "maxpool", "kernel": 2, "stride": -1}]}"#, mentions: "needs a positive 'stride'")
        assertRefused(#"{"input": [8], "layers": [{"type": "embedding", "out": 4}, {"type": "lstm", "out": 4, "layers": 0}]}"#, mentions: "needs a positive 'layers'")
        // Found by the model-json fuzzer: an embedding after a layer whose output keeps one axis trapped on float32 ids.
        assertRefused(#"{"input": [3], "layers": [{"type": "linear", "out": 30}, {"type": "tanh"}, {"type": "embedding", "out": 6}]}"#,
                      mentions: "layer 2 (embedding): needs token ids (text data), as the first layer")
        assertRefused(#"{"input": [8], "layers": [{"type": "embedding", "out": 6}, {"type": "transformer-encoder", "heads": 4}]}"#, mentions: "heads 4 must divide the width 6")
        assertRefused(#"{"input": [2], "layers": [{"type": "leaky-relu", "slope": 1e999}]}"#, mentions: "not a model description")
        assertRefused(#"{"input": [2], "layers": []}"#, mentions: "the model has no layers")
        assertRefused(#"{"input": [2], "layers": [{"type": "wormhole"}]}"#, mentions: "layer 0 (wormhole): unknown layer type 'wormhole'")
        assertRefused(#"{"input": [2], "layers": [{"out": 3}]}"#, mentions: "missing key 'type'")
    }
}
