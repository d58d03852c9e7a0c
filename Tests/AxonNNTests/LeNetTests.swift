import Axon
import AxonTestSupport
import Foundation
import XCTest

// The seed's network, written as in the issue.
final class Net: Module {
    let conv1 = Conv2d(1, 6, kernelSize: 3)
    let conv2 = Conv2d(6, 16, kernelSize: 3)
    let fc1 = Linear(16 * 5 * 5, 120)
    let fc2 = Linear(120, 84)
    let fc3 = Linear(84, 10)

    func callAsFunction(_ x: Tensor) -> Tensor {
        var x = maxPool2d(relu(conv1(x)), 2)
        x = maxPool2d(relu(conv2(x)), 2)
        x = x.flattened(from: 1)
        x = relu(fc1(x))
        x = relu(fc2(x))
        return fc3(x)
    }
}

final class LeNetTests: XCTestCase {
    /// The seed's program runs as written: one zeroGrad / backward / step.
    func testSeedProgramRunsAsWritten() {
        onEveryBackend { _ in
            let input = Tensor.randn([4, 1, 28, 28])
            let target = Tensor(shape: [4], scalars: [3, 1, 4, 1])
            let net = Net()
            let before = net.fc3.weight.scalars
            let optimizer = SGD(net.parameters(), lr: 0.01, momentum: 0.9)
            optimizer.zeroGrad()
            let loss = crossEntropy(net(input), target)
            loss.backward()
            optimizer.step()
            XCTAssertTrue(loss.item.isFinite)
            XCTAssertNotEqual(net.fc3.weight.scalars, before)
            XCTAssertEqual(net.namedParameters().map(\.0), ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                                                            "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
                                                            "fc3.weight", "fc3.bias"])
            XCTAssertEqual(net.parameterCount, 60 + 880 + 48120 + 10164 + 850)
        }
    }

    /// With PyTorch's parameters loaded, logits, loss, every gradient and every parameter after one
    /// SGD(lr 0.01, momentum 0.9) step match lenet_step.json.
    func testOneStepMatchesPyTorch() throws {
        try onEveryBackend { _ in
            let json = try Fixtures.json("lenet_step.json")
            func tensor(_ any: Any?) throws -> FixtureTensor {
                guard let any else { throw FixtureError.malformed("lenet_step.json: missing tensor") }
                return try FixtureTensor.parse(any)
            }
            func named(_ key: String) throws -> [String: FixtureTensor] {
                guard let d = json[key] as? [String: Any] else { throw FixtureError.malformed("lenet_step.json: no \(key)") }
                return try d.mapValues { try FixtureTensor.parse($0) }
            }
            let parameters = try named("parameters"), grads = try named("grads"), after = try named("after")
            let net = Net()
            try net.loadStateDict(parameters.mapValues { $0.tensor(.float32) })
            let input = try tensor(json["input"]).tensor(.float32), target = try tensor(json["target"]).tensor()
            let optimizer = SGD(net.parameters(), lr: 0.01, momentum: 0.9)
            optimizer.zeroGrad()
            let logits = net(input)
            let loss = crossEntropy(logits, target)
            loss.backward()

            let expectedLogits = try tensor(json["logits"])
            XCTAssertEqual(logits.shape, expectedLogits.shape)
            XCTAssertLessThanOrEqual(relativeError(logits.doubleScalars, expectedLogits.data), 1e-4, "logits")
            let expectedLoss = (json["loss"] as? NSNumber)?.doubleValue ?? ((json["loss"] as? [String: Any]).flatMap { ($0["data"] as? [NSNumber])?.first?.doubleValue } ?? .nan)
            XCTAssertEqual(loss.item, expectedLoss, accuracy: 1e-4 * abs(expectedLoss))
            let params = Dictionary(uniqueKeysWithValues: net.namedParameters())
            XCTAssertEqual(Set(params.keys), Set(grads.keys))
            for (name, expected) in grads {
                let g = try XCTUnwrap(params[name]?.grad, "no gradient for \(name)")
                XCTAssertLessThanOrEqual(relativeError(g.doubleScalars, expected.data), 1e-4, "gradient of \(name)")
            }
            optimizer.step()
            for (name, expected) in after {
                XCTAssertLessThanOrEqual(relativeError(params[name]!.doubleScalars, expected.data), 1e-4, "\(name) after the step")
            }
        }
    }
}
