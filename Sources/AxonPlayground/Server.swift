import Axon
import Foundation
import Hummingbird
import HummingbirdCore

/// The sessions: bounded in number, reclaimed when idle, trained by one loop while playing.
public actor PlaygroundStore {
    private var sessions: [String: PlaygroundSession] = [:]
    /// Most sessions at once (each browser tab holds one).
    public let maxSessions: Int
    /// Seconds without a request or an open event stream before a session is reclaimed.
    public let idleTimeout: TimeInterval

    /// A store of at most `maxSessions` sessions, each reclaimed after `idleTimeout` seconds idle.
    public init(maxSessions: Int = 32, idleTimeout: TimeInterval = 600) {
        self.maxSessions = maxSessions
        self.idleTimeout = idleTimeout
    }

    func create(_ config: PlaygroundConfig) async throws -> PlaygroundSession {
        await reclaimIdle()
        guard sessions.count < maxSessions else {
            throw PlaygroundError(status: 429, "too many sessions (\(maxSessions)); close a tab or wait for idle ones to expire")
        }
        let id = UUID().uuidString.lowercased()
        let session = try await PlaygroundSession(id: id, config: config)
        sessions[id] = session
        return session
    }

    func session(_ id: String) throws -> PlaygroundSession {
        guard let s = sessions[id] else { throw PlaygroundError(status: 404, "unknown session '\(id.prefix(64))'") }
        return s
    }

    func remove(_ id: String) { sessions[id] = nil }

    func contains(_ id: String) -> Bool { sessions[id] != nil }

    var count: Int { sessions.count }

    /// Drops sessions idle for longer than `idleTimeout`.
    func reclaimIdle() async {
        let now = Date()
        for (id, s) in sessions where now.timeIntervalSince(await s.lastAccess) > idleTimeout {
            sessions[id] = nil
        }
    }

    /// Trains every playing session by one epoch per round, round-robin, until cancelled. The epochs run on the
    /// sessions' executors (``TrainingThreads``), as many at once as there are training threads, so a request
    /// for a session waits for at most that many epochs.
    func trainingLoop() async {
        while !Task.isCancelled {
            var trained = false
            let all = Array(sessions.values), width = TrainingThreads.shared.count
            for start in stride(from: 0, to: all.count, by: width) {
                let round = all[start..<min(start + width, all.count)]
                trained = await withTaskGroup(of: Bool.self) { group in
                    for s in round { group.addTask { await s.tick() } }
                    return await group.reduce(trained) { $0 || $1 }
                }
            }
            // Yield between rounds; sleep a little when nothing plays.
            try? await Task.sleep(nanoseconds: trained ? 2_000_000 : 20_000_000)
        }
    }
}

/// What one connection may hold: the Playground faces browsers, so its limits are small and fixed.
public enum PlaygroundLimits {
    /// Request bodies: 256 KiB (413 beyond).
    public static let bodyBytes = 256 * 1024
    /// All header lines of a request together, and any one of them: 16 KiB (the connection is refused beyond).
    public static let headerBytes = 16 * 1024
    /// Header lines per request: 100.
    public static let headerCount = 100
    /// Seconds a connection may go without completing a request head or sending body bytes, when no response is
    /// being written, before it is closed (slow or idle clients): 15 by default. Event streams are responses, so
    /// they stay open.
    public static let connectionIdleSeconds = 15.0
}

extension PlaygroundError: HTTPResponseError {
    /// The HTTP status of the error response.
    public var status: HTTPResponse.Status { .init(code: code) }
    /// The error as a JSON response: `{"error": "..."}`.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = (try? JSONEncoder().encode(["error": description])) ?? Data()
        return Response(status: .init(code: code), headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}


func json(_ value: some JSONWritable, status: HTTPResponse.Status = .ok) throws -> Response {
    json(bytes: try value.jsonBytes(), status: status)
}

func json(bytes data: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
    return Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                    body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

/// Reads a bounded body; a larger one gives 413.
func body(_ request: Request) async throws -> Data {
    var request = request
    do {
        let buffer = try await request.collectBody(upTo: PlaygroundLimits.bodyBytes)
        return Data(buffer.readableBytesView)
    } catch {
        throw PlaygroundError(status: 413, "request body is larger than \(PlaygroundLimits.bodyBytes) bytes")
    }
}

/// Decodes a JSON body, naming what is wrong when it cannot.
func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws -> T {
    do {
        return try JSONDecoder().decode(T.self, from: data)
    } catch DecodingError.keyNotFound(let key, _) {
        throw PlaygroundError(status: 400, "malformed JSON: missing '\(key.stringValue)'")
    } catch DecodingError.typeMismatch(_, let c) {
        throw PlaygroundError(status: 400, "malformed JSON: wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'")
    } catch {
        throw PlaygroundError(status: 400, "malformed JSON request body")
    }
}

/// A partial configuration: fields not given keep their current values.
struct ConfigPatch: Decodable {
    var dataset: String?, noise: Double?, trainRatio: Double?, samples: Int?, batchSize: Int?, features: [String]?
    var hiddenLayers: [Int]?, activation: String?, learningRate: Double?, regularization: String?
    var regularizationRate: Double?, problem: String?, optimizer: String?, loss: String?, seed: UInt64?

    func applied(to c: PlaygroundConfig) -> PlaygroundConfig {
        var c = c
        if let dataset { c.dataset = dataset }
        if let noise { c.noise = noise }
        if let trainRatio { c.trainRatio = trainRatio }
        if let samples { c.samples = samples }
        if let batchSize { c.batchSize = batchSize }
        if let features { c.features = features }
        if let hiddenLayers { c.hiddenLayers = hiddenLayers }
        if let activation { c.activation = activation }
        if let learningRate { c.learningRate = learningRate }
        if let regularization { c.regularization = regularization }
        if let regularizationRate { c.regularizationRate = regularizationRate }
        if let problem { c.problem = problem }
        if let optimizer { c.optimizer = optimizer }
        if let loss { c.loss = loss }
        if let seed { c.seed = seed }
        return c
    }
}

struct StepRequest: Decodable { var epochs: Int? }

/// The API's request bodies, decoded and checked: everything a client sends goes through here, and each
/// failure is a ``PlaygroundError`` with status 400 naming what was wrong.
public enum PlaygroundRequest {
    /// A JSON configuration patch (`POST /api/sessions`, `PUT .../config`) applied over `base` and validated;
    /// an empty body gives `base`.
    public static func config(_ body: Data, over base: PlaygroundConfig) throws -> PlaygroundConfig {
        let patch = body.isEmpty ? ConfigPatch() : try decode(ConfigPatch.self, body)
        return try patch.applied(to: base).validated()
    }

    /// Epochs asked for by `POST .../step` (`{"epochs": N}`, 1 when the body is empty), checked against 1-1000.
    public static func epochs(_ body: Data) throws -> Int {
        let epochs = body.isEmpty ? 1 : (try decode(StepRequest.self, body).epochs ?? 1)
        guard (1...PlaygroundSession.maxEpochsPerStep).contains(epochs) else {
            throw PlaygroundError(status: 400, "epochs \(epochs) is outside 1-\(PlaygroundSession.maxEpochsPerStep)")
        }
        return epochs
    }

    /// The CSV text of `POST .../upload` (see ``PlaygroundSession/upload(csv:)``).
    public static func csv(_ body: Data) throws -> String {
        guard let text = String(data: body, encoding: .utf8) else {
            throw PlaygroundError(status: 400, "upload: the body must be UTF-8 CSV text")
        }
        return text
    }
}
struct Created { var id: String; var snapshot: [UInt8] }

/// The HTTP API and the page.
public enum PlaygroundServer {
    /// Builds the router: the page at `/`, the JSON API under `/api`.
    public static func router(store: PlaygroundStore) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.index_html)))
        }
        router.get("/playground.js") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/javascript; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.playground_js)))
        }
        router.get("/playground.css") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/css; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.playground_css)))
        }
        // A small sample of a built-in dataset, for the page's thumbnails.
        router.get("/api/preview/:dataset") { _, context in
            let name = try context.parameters.require("dataset")
            guard let kind = Playground.Kind(rawValue: name), name != "moons", name != "blobs" else {
                throw PlaygroundError(status: 404, "unknown dataset '\(name.prefix(64))'")
            }
            let d = Playground.make(kind, samples: 200, noise: 0, trainRatio: 90, generator: Generator(seed: 1))
            let x: [Float] = d.train.inputs.scalars
            let y: [Float] = kind.isClassification ? d.train.targets.intScalars.map { Float($0) } : d.train.targets.scalars
            var points: [[Float]] = []
            for i in 0..<d.train.count { points.append([x[2 * i], x[2 * i + 1], y[i]]) }
            return try json(PointsPayload(dataVersion: 0, train: points, test: []))
        }
        router.post("/api/sessions") { request, _ in
            let session = try await store.create(try PlaygroundRequest.config(try await body(request), over: PlaygroundConfig()))
            return try json(Created(id: session.id, snapshot: await session.snapshotJSON()), status: .created)
        }
        router.get("/api/sessions/:id") { _, context in
            json(bytes: try await store.session(context.parameters.require("id")).snapshotJSON())
        }
        router.delete("/api/sessions/:id") { _, context in
            await store.remove(try context.parameters.require("id"))
            return Response(status: .noContent)
        }
        router.get("/api/sessions/:id/points") { _, context in
            try json(await store.session(context.parameters.require("id")).points())
        }
        router.put("/api/sessions/:id/config") { request, context in
            let session = try await store.session(context.parameters.require("id"))
            try await session.configure(try PlaygroundRequest.config(try await body(request), over: await session.config))
            return json(bytes: try await session.snapshotJSON())
        }
        router.post("/api/sessions/:id/step") { request, context in
            let session = try await store.session(context.parameters.require("id"))
            try await session.step(epochs: try PlaygroundRequest.epochs(try await body(request)))
            return json(bytes: try await session.snapshotJSON())
        }
        for (path, action) in [("play", 0), ("pause", 1), ("reset", 2), ("regenerate", 3)] {
            router.post("/api/sessions/:id/\(path)") { _, context in
                let session = try await store.session(context.parameters.require("id"))
                switch action {
                case 0: await session.setPlaying(true)
                case 1: await session.setPlaying(false)
                case 2: try await session.reset()
                default: try await session.regenerate()
                }
                return json(bytes: try await session.snapshotJSON())
            }
        }
        router.post("/api/sessions/:id/upload") { request, context in
            let session = try await store.session(context.parameters.require("id"))
            try await session.upload(csv: try PlaygroundRequest.csv(try await body(request)))
            return json(bytes: try await session.snapshotJSON())
        }
        router.get("/api/sessions/:id/checkpoint") { _, context in
            let session = try await store.session(context.parameters.require("id"))
            let data = await session.checkpoint()
            return Response(status: .ok, headers: [.contentType: "application/octet-stream",
                                                   .contentDisposition: "attachment; filename=\"playground.safetensors\""],
                            body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        // Server-sent events: a snapshot whenever the session changes (at most every 50 ms), a comment
        // every 10 s otherwise. Keeps the session alive while the tab is open; ends when the session is
        // deleted or reclaimed.
        router.get("/api/sessions/:id/events") { _, context in
            let id = try context.parameters.require("id")
            let session = try await store.session(id)
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
                            body: .init { writer in
                                var seen = -1
                                var quiet = 0
                                while !Task.isCancelled {
                                    let current = await session.streamVersion()
                                    if current != seen {
                                        seen = current
                                        quiet = 0
                                        let data = try await session.snapshotJSON()
                                        var buffer = ByteBuffer(string: "data: ")
                                        buffer.writeBytes(data)
                                        buffer.writeString("\n\n")
                                        try await writer.write(buffer)
                                    } else {
                                        quiet += 1
                                        if quiet % 200 == 0 {
                                            guard await store.contains(id) else { break }
                                            try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                                        }
                                    }
                                    try await Task.sleep(nanoseconds: 50_000_000)
                                }
                                try await writer.finish(nil)
                            })
        }
        return router
    }

    /// Runs the server until the process ends; `onStart` receives the bound port. Sessions idle for `idleTimeout`
    /// seconds are reclaimed; connections idle for `connectionIdleTimeout` seconds are closed (see ``PlaygroundLimits``).
    public static func run(host: String, port: Int, maxSessions: Int = 32, idleTimeout: TimeInterval = 600,
                           connectionIdleTimeout: TimeInterval = PlaygroundLimits.connectionIdleSeconds,
                           onStart: @escaping @Sendable (Int) -> Void) async throws {
        try await run(host: host, port: port, store: PlaygroundStore(maxSessions: maxSessions, idleTimeout: idleTimeout),
                      connectionIdleTimeout: connectionIdleTimeout, onStart: onStart)
    }

    /// Runs the server over a given store (tests use it to inspect sessions).
    static func run(host: String, port: Int, store: PlaygroundStore, connectionIdleTimeout: TimeInterval = PlaygroundLimits.connectionIdleSeconds,
                    onStart: @escaping @Sendable (Int) -> Void) async throws {
        var http = HTTP1Channel.Configuration(idleTimeout: .milliseconds(Int64(connectionIdleTimeout * 1000)))
        http.httpDecoder = .init(maxHeaderFieldSize: PlaygroundLimits.headerBytes, maxHeaderListSize: PlaygroundLimits.headerBytes,
                                 maxHeaderFieldCount: PlaygroundLimits.headerCount)
        let app = Application(router: router(store: store), server: .http1(configuration: http),
                              configuration: .init(address: .hostname(host, port: port)),
                              onServerRunning: { channel in onStart(channel.localAddress?.port ?? port) })
        let loop = Task { await store.trainingLoop() }
        // Reclaims idle sessions: checked at least every 15 s, and four times per idle timeout when that is shorter.
        let interval = UInt64(min(15, max(store.idleTimeout / 4, 0.05)) * 1e9)
        let reaper = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: interval)
                await store.reclaimIdle()
            }
        }
        defer { loop.cancel(); reaper.cancel() }
        // Sessions are in-memory and disposable, and event streams never end on their own: Ctrl-C and
        // SIGTERM keep their default action and stop the server at once rather than wait for open tabs.
        try await app.runService(gracefulShutdownSignals: [])
    }
}
