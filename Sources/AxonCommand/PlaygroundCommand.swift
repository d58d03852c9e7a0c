import ArgumentParser
import AxonPlayground
import Foundation

struct PlaygroundCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "playground",
                                                    abstract: "Serve the Playground: TensorFlow Playground in the browser, trained by Axon.")

    @Option(name: .long, help: "Address to bind (127.0.0.1: this machine only).")
    var host: String = "127.0.0.1"
    @Option(name: .long, help: "Port (0: any free port).")
    var port: Int = 8080
    @Option(name: .long, help: "Most browser sessions at once.")
    var maxSessions: Int = 32
    @Option(name: .long, help: "Seconds before an idle session is reclaimed.")
    var idleTimeout: Double = 600
    @Option(name: .long, help: "Seconds before a connection that sends nothing (no complete request head, no body bytes) is closed.")
    var connectionTimeout: Double = PlaygroundLimits.connectionIdleSeconds

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535, got \(port)") }
        guard maxSessions >= 1 else { throw ValidationError("--max-sessions must be at least 1, got \(maxSessions)") }
        guard idleTimeout > 0 else { throw ValidationError("--idle-timeout must be positive, got \(idleTimeout)") }
        guard connectionTimeout > 0 && connectionTimeout <= 3600 else {
            throw ValidationError("--connection-timeout must be in (0, 3600], got \(connectionTimeout)")
        }
    }

    func run() async throws { try await serve() }

    /// Serves until the process ends.
    func serve() async throws {
        let host = self.host
        try await PlaygroundServer.run(host: host, port: port, maxSessions: maxSessions, idleTimeout: idleTimeout,
                                         connectionIdleTimeout: connectionTimeout) { port in
            // Unbuffered, so a script waiting for this line sees it at once.
            FileHandle.standardOutput.write(Data("Axon Playground: open http://\(host):\(port)/\n".utf8))
        }
    }
}
