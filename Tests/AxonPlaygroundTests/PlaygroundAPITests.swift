import Axon
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
@testable import AxonPlayground

/// Where a test server listens.
struct Client: Sendable { let base: String }

/// Status codes as the API uses them.
enum Status: Int { case ok = 200, created = 201, noContent = 204, badRequest = 400, notFound = 404, contentTooLarge = 413, tooManyRequests = 429 }

/// The Playground's HTTP API, against a real server on a free loopback port.
final class PlaygroundAPITests: XCTestCase, @unchecked Sendable {
    func withApp(store: PlaygroundStore = PlaygroundStore(), _ body: @escaping @Sendable (Client) async throws -> Void) async throws {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let server = Task { try await PlaygroundServer.run(host: "127.0.0.1", port: 0, store: store) { continuation.yield($0) } }
        defer { server.cancel() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { return XCTFail("the server did not start") }
        try await body(Client(base: "http://127.0.0.1:\(port)"))
    }

    struct Reply { let status: Status?; let text: String; let data: Data }

    func call(_ client: Client, _ method: String, _ uri: String, _ body: String? = nil) async throws -> Reply {
        var request = URLRequest(url: URL(string: client.base + uri)!)
        request.httpMethod = method
        if let body { request.httpBody = Data(body.utf8) }
        request.timeoutInterval = 30
        let (data, response) = try await URLSession.shared.data(for: request)
        let code = (response as? HTTPURLResponse)?.statusCode ?? 0
        return Reply(status: Status(rawValue: code), text: String(decoding: data, as: UTF8.self), data: data)
    }

    func created(_ client: Client, _ config: String = "{}") async throws -> (String, [String: Any]) {
        let r = try await call(client, "POST", "/api/sessions", config)
        XCTAssertEqual(r.status, .created, r.text)
        let object = try JSONSerialization.jsonObject(with: Data(r.text.utf8)) as! [String: Any]
        return (object["id"] as! String, object["snapshot"] as! [String: Any])
    }

    func snapshot(_ text: String) throws -> [String: Any] { try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any] }

    func testPageAndSessionLifecycle() async throws {
        try await withApp { client in
            let page = try await self.call(client, "GET", "/")
            XCTAssertEqual(page.status, .ok)
            XCTAssertTrue(page.text.contains("Axon <b>Playground</b>"))
            let value1 = try await self.call(client, "GET", "/playground.js").text.contains("EventSource")
            XCTAssertTrue(value1)
            let preview = try await self.call(client, "GET", "/api/preview/spiral")
            XCTAssertEqual(((try self.snapshot(preview.text))["train"] as? [Any])?.count, 180)
            let noPreview = try await self.call(client, "GET", "/api/preview/nonsense")
            XCTAssertEqual(noPreview.status, .notFound)
            let (id, snap) = try await self.created(client, #"{"dataset": "circle", "hiddenLayers": [4, 2]}"#)
            XCTAssertEqual(snap["epoch"] as? Int, 0)
            XCTAssertEqual((snap["output"] as? [Double])?.count, 50 * 50)
            XCTAssertEqual((snap["neurons"] as? [Any])?.count, 3, "inputs and two hidden layers")
            let before = snap["testLoss"] as! Double
            let stepped = try await self.call(client, "POST", "/api/sessions/\(id)/step", #"{"epochs": 60}"#)
            XCTAssertEqual(stepped.status, .ok, stepped.text)
            let after = try self.snapshot(stepped.text)
            XCTAssertEqual(after["epoch"] as? Int, 60)
            XCTAssertLessThan(after["testLoss"] as! Double, before, "training lowers the test loss")
            let points = try self.snapshot(try await self.call(client, "GET", "/api/sessions/\(id)/points").text)
            XCTAssertEqual((points["train"] as? [Any])?.count, 250)
            let reset = try self.snapshot(try await self.call(client, "POST", "/api/sessions/\(id)/reset").text)
            XCTAssertEqual(reset["epoch"] as? Int, 0)
            let play = try self.snapshot(try await self.call(client, "POST", "/api/sessions/\(id)/play").text)
            XCTAssertEqual(play["playing"] as? Bool, true)
            let configured = try await self.call(client, "PUT", "/api/sessions/\(id)/config",
                                                 #"{"dataset": "spiral", "features": ["x1", "x2", "sinX1"], "hiddenLayers": [8, 8, 8, 8, 8, 8]}"#)
            XCTAssertEqual(configured.status, .ok, configured.text)
            XCTAssertEqual(((try self.snapshot(configured.text))["config"] as? [String: Any])?["dataset"] as? String, "spiral")
            let deleted = try await self.call(client, "DELETE", "/api/sessions/\(id)")
            XCTAssertEqual(deleted.status, .noContent)
            let value2 = try await self.call(client, "GET", "/api/sessions/\(id)").status
            XCTAssertEqual(value2, .notFound)
        }
    }

    func testMalformedAndOutOfRangeRequestsGet400WithAMessage() async throws {
        try await withApp { client in
            let cases: [(String, String, String)] = [
                ("/api/sessions", "{not json", "malformed JSON request body"),
                ("/api/sessions", #"{"noise": "loud"}"#, "wrong type at 'noise'"),
                ("/api/sessions", #"{"noise": 51}"#, "noise 51.0 is outside 0-50"),
                ("/api/sessions", #"{"trainRatio": 95}"#, "trainRatio 95.0 is outside 10-90"),
                ("/api/sessions", #"{"batchSize": 0}"#, "batchSize 0 is outside 1-30"),
                ("/api/sessions", #"{"hiddenLayers": [1, 2, 3, 4, 5, 6, 7]}"#, "must be 0-6 layers of 1-8 neurons"),
                ("/api/sessions", #"{"hiddenLayers": [9]}"#, "must be 0-6 layers of 1-8 neurons"),
                ("/api/sessions", #"{"learningRate": 100}"#, "learningRate 100.0 is outside 0.00001-10"),
                ("/api/sessions", #"{"activation": "swish"}"#, "activation 'swish'"),
                ("/api/sessions", #"{"optimizer": "adamq"}"#, "optimizer 'adamq' is not one of momentum (SGD with momentum 0.9), sgd, adam"),
                ("/api/sessions", #"{"features": ["x3"]}"#, "must be distinct, from x1, x2"),
                ("/api/sessions", #"{"dataset": "plane"}"#, "regression set but problem is classification"),
                ("/api/sessions", #"{"problem": "regression", "dataset": "plane", "loss": "cross-entropy"}"#, "cross-entropy needs a classification problem"),
            ]
            for (uri, body, message) in cases {
                let r = try await self.call(client, "POST", uri, body)
                XCTAssertEqual(r.status, .badRequest, body)
                XCTAssertTrue(r.text.contains(message), "\(body): \(r.text)")
            }
            let (id, _) = try await self.created(client)
            let step = try await self.call(client, "POST", "/api/sessions/\(id)/step", #"{"epochs": 100000}"#)
            XCTAssertEqual(step.status, .badRequest)
            XCTAssertTrue(step.text.contains("epochs 100000 is outside 1-1000"))
            let config = try await self.call(client, "PUT", "/api/sessions/\(id)/config", #"{"regularizationRate": -1}"#)
            XCTAssertEqual(config.status, .badRequest)
            // A refused change leaves the session as it was.
            let still = try self.snapshot(try await self.call(client, "GET", "/api/sessions/\(id)").text)
            XCTAssertEqual((still["config"] as? [String: Any])?["regularizationRate"] as? Double, 0)
        }
    }

    func testUploadsAreBoundedAndChecked() async throws {
        try await withApp { client in
            let (id, _) = try await self.created(client)
            let huge = String(repeating: "1.0,2.0,1\n", count: 30_000)  // ~300 KB
            let tooBig = try await self.call(client, "POST", "/api/sessions/\(id)/upload", huge)
            XCTAssertEqual(tooBig.status, .contentTooLarge)
            XCTAssertTrue(tooBig.text.contains("larger than 262144 bytes"), tooBig.text)
            let badValue = try await self.call(client, "POST", "/api/sessions/\(id)/upload", "x1,x2,label\n1,2,0\n1,oops,1\n")
            XCTAssertEqual(badValue.status, .badRequest)
            XCTAssertTrue(badValue.text.contains("upload:3:2"), badValue.text)
            let threeClasses = try await self.call(client, "POST", "/api/sessions/\(id)/upload", "a,b,c\n1,2,0\n2,3,1\n3,4,2\n4,5,0\n")
            XCTAssertEqual(threeClasses.status, .badRequest)
            let rows = (0..<40).map { i in "\(Double(i % 8) - 4),\(Double(i / 8) - 2),\(i % 8 < 4 ? "left" : "right")" }
            let ok = try await self.call(client, "POST", "/api/sessions/\(id)/upload", "x1,x2,side\n" + rows.joined(separator: "\n"))
            XCTAssertEqual(ok.status, .ok, ok.text)
            XCTAssertEqual(((try self.snapshot(ok.text))["config"] as? [String: Any])?["dataset"] as? String, "upload")
            let points = try self.snapshot(try await self.call(client, "GET", "/api/sessions/\(id)/points").text)
            XCTAssertEqual((points["train"] as! [Any]).count + (points["test"] as! [Any]).count, 40)
        }
    }

    func testUnknownSessionsGet404() async throws {
        try await withApp { client in
            for (method, path) in [("GET", ""), ("POST", "/step"), ("PUT", "/config"), ("POST", "/play"),
                                   ("GET", "/events"), ("GET", "/checkpoint"), ("POST", "/upload")] {
                let r = try await self.call(client, method, "/api/sessions/no-such-session\(path)", method == "GET" ? nil : "{}")
                XCTAssertEqual(r.status, .notFound, path)
                XCTAssertTrue(r.text.contains("unknown session 'no-such-session'"), r.text)
            }
        }
    }

    func testSessionsAreIndependentBoundedAndReclaimedWhenIdle() async throws {
        let store = PlaygroundStore(maxSessions: 2, idleTimeout: 0.2)
        try await withApp(store: store) { client in
            let (a, _) = try await self.created(client)
            let (b, _) = try await self.created(client, #"{"activation": "relu"}"#)
            _ = try await self.call(client, "POST", "/api/sessions/\(a)/step", #"{"epochs": 3}"#)
            let snapA = try self.snapshot(try await self.call(client, "GET", "/api/sessions/\(a)").text)
            let snapB = try self.snapshot(try await self.call(client, "GET", "/api/sessions/\(b)").text)
            XCTAssertEqual(snapA["epoch"] as? Int, 3)
            XCTAssertEqual(snapB["epoch"] as? Int, 0, "sessions train independently")
            let third = try await self.call(client, "POST", "/api/sessions", "{}")
            XCTAssertEqual(third.status, .tooManyRequests)
            XCTAssertTrue(third.text.contains("too many sessions"))
            try await Task.sleep(nanoseconds: 300_000_000)
            await store.reclaimIdle()
            let value3 = await store.count
            XCTAssertEqual(value3, 0)
            let value4 = try await self.call(client, "GET", "/api/sessions/\(a)").status
            XCTAssertEqual(value4, .notFound)
            let value5 = try await self.call(client, "POST", "/api/sessions", "{}").status
            XCTAssertEqual(value5, .created)
        }
    }

    func testADivergedNetworkIsStillServed() async throws {
        try await withApp { client in
            let (id, _) = try await self.created(client, #"{"problem": "regression", "dataset": "plane", "learningRate": 10, "activation": "relu", "hiddenLayers": [8, 8]}"#)
            let r = try await self.call(client, "POST", "/api/sessions/\(id)/step", #"{"epochs": 50}"#)
            XCTAssertEqual(r.status, .ok, r.text)
            XCTAssertTrue(r.text.contains("\"NaN\"") || r.text.contains("Infinity"), "non-finite values travel as strings")
        }
    }

    func testCheckpointExportLoadsIntoAxon() async throws {
        try await withApp { client in
            let (id, _) = try await self.created(client, #"{"hiddenLayers": [3]}"#)
            let bytes = try await self.call(client, "GET", "/api/sessions/\(id)/checkpoint").data
            let (tensors, metadata) = try SafeTensors.decode(bytes, source: "export")
            XCTAssertEqual(Set(tensors.keys), ["0.weight", "0.bias", "2.weight", "2.bias"])
            XCTAssertEqual(tensors["0.weight"]?.shape, [3, 2])
            XCTAssertNotNil(metadata["axon.playground.config"])
            let model = Sequential(Linear(2, 3), Tanh(), Linear(3, 1))
            try model.loadStateDict(tensors)
            // Checkpoint.loadModel rebuilds it from the file alone, with the same outputs.
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("axon-playground-\(getpid()).safetensors")
            defer { try? FileManager.default.removeItem(at: file) }
            try bytes.write(to: file)
            let trained = try Checkpoint.loadModel(file.path)
            XCTAssertEqual(trained.task, .classification)
            XCTAssertEqual(trained.inputShape, [2])
            let x = Tensor(shape: [4, 2], scalars: [1, 2, -3, 0.5, 0, 0, 6, -6] as [Float])
            XCTAssertEqual(trained.predict(x).scalars, withNoGrad { model(x) }.scalars)
            let accuracy = trained.evaluate(try TensorDataset(inputs: x, targets: Tensor(shape: [4, 1], scalars: [1, 0, 1, 0] as [Float])))["accuracy"]
            XCTAssertNotNil(accuracy)
        }
    }

    /// The hand-written JSON of snapshots and points decodes to the same values as JSONEncoder's, non-finite
    /// numbers as the strings the page reads, and strings escaped.
    func testJSONWriterAgreesWithJSONEncoder() throws {
        var config = PlaygroundConfig()
        config.dataset = "quote\"back\\slash\nnew"
        let odd: [Float] = [0, -0.0, 1, -1.5, .nan, .infinity, -.infinity, 1e-45, 3.4e38, 0.1, 123456.79]
        let snapshot = Snapshot(epoch: 3, trainLoss: .nan, testLoss: 0.25, playing: true, dataVersion: 2, trainHistory: [1, .infinity],
                                testHistory: [], gridSize: 2, output: odd, neuronGridSize: 1, neurons: [[odd, []], []],
                                weights: [[[1, 2]], [[.nan]]], biases: [[0.5], []], gradientNorms: [1e300, -.infinity],
                                gradientHistory: [[], [2]], config: config)
        let points = PointsPayload(dataVersion: 4, train: [odd, [1, 2, 0]], test: [])
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        func same<T: Codable & JSONWritable>(_ value: T) throws {
            let decoded = try decoder.decode(T.self, from: Data(try value.jsonBytes()))
            XCTAssertEqual(String(decoding: try encoder.encode(decoded), as: UTF8.self), String(decoding: try encoder.encode(value), as: UTF8.self))
        }
        try same(snapshot)
        try same(points)
        let created = try JSONSerialization.jsonObject(with: Data(try Created(id: "a\"b", snapshot: try snapshot.jsonBytes()).jsonBytes())) as! [String: Any]
        XCTAssertEqual(created["id"] as? String, "a\"b")
        XCTAssertEqual((created["snapshot"] as? [String: Any])?["epoch"] as? Int, 3)
    }
}
