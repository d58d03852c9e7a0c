import Axon
import AxonIO
import AxonTestSupport
import Foundation
import XCTest

/// A character LSTM trained in PyTorch (bench/char_lstm_reference.py) loads into Axon's CharLSTM from its
/// safetensors state_dict, gives PyTorch's logits, and continues a prompt as PyTorch does.
final class PyTorchLanguageModelTests: XCTestCase {
    func testPyTorchCharLSTMLoadsAndContinuesAsInPyTorch() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        guard let reference = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("char_lstm.json"))) as? [String: Any],
              let vocabulary = reference["vocabulary"] as? [Int], let prompt = reference["prompt"] as? [Int],
              let greedy = reference["greedy"] as? [Int], let logits = reference["logits"] else {
            throw FixtureError.malformed("char_lstm.json")
        }
        let (state, _) = try SafeTensors.load(path: folder.appendingPathComponent("char_lstm.safetensors").path)
        let model = CharLSTM(vocabSize: vocabulary.count, embeddingDim: 16, hiddenSize: 32, numLayers: 2)
        try model.loadStateDict(state)
        model.eval()
        let expected = try FixtureTensor.parse(logits)
        let actual = withNoGrad { model(Tensor(shape: [1, prompt.count], scalars: prompt)) }
        XCTAssertEqual(actual.shape, expected.shape)
        XCTAssertLessThanOrEqual(relativeError(actual.doubleScalars, expected.data), 1e-4)
        let continuation = generate(model, prompt: prompt, length: greedy.count, temperature: 0)
        XCTAssertEqual(continuation, greedy)
        let tokenizer = try ByteTokenizer(vocabulary: vocabulary.map { UInt8($0) })
        print("PyTorch's char LSTM in Axon continues \"\(try tokenizer.decode(prompt))\" with \"\(try tokenizer.decode(continuation))\"")
        // And back: Axon's state_dict holds the same names and values.
        let roundTrip = model.stateDict()
        XCTAssertEqual(Set(roundTrip.keys), Set(state.keys))
        for (k, v) in state { XCTAssertEqual(roundTrip[k]!.scalars, v.scalars, k) }
    }
}
