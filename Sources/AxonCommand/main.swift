import ArgumentParser
import Axon
import Foundation

/// `axon`: train, evaluate and run Axon models from the command line.
struct AxonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "axon",
        abstract: "Train, evaluate and run neural networks with Axon.",
        subcommands: [Demo.self, Train.self, Generate.self, Eval.self, Predict.self, Export.self, Summary.self, PlaygroundCommand.self])
}

// A training tool: the allocator keeps a step's freed buffers for the next step (AXON_MALLOC_TUNING=0 declines).
Allocator.tuneForTraining()
// Errors go to stderr as one line, with a non-zero status; help and version keep argument-parser's output.
do {
    var command = try AxonCommand.parseAsRoot()
    // On an existential, `run()` resolves to the synchronous requirement: call the server directly.
    if let playground = command as? PlaygroundCommand {
        try await playground.serve()
    } else {
        try command.run()
    }
} catch {
    // Problems with the user's input and data: one line, status 1.
    if error is UserError || error is ModelSpecError || error is TrainingError || error is CheckpointError || error is DataError {
        FileHandle.standardError.write(Data("axon: error: \(error)\n".utf8))
        exit(1)
    }
    // argument-parser's errors: help and version print as usual; usage errors become one line.
    let code = AxonCommand.exitCode(for: error)
    if code == .success || error is CleanExit { AxonCommand.exit(withError: error) }
    let message = AxonCommand.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
    FileHandle.standardError.write(Data("axon: error: \(message.replacingOccurrences(of: "Error: ", with: ""))\n".utf8))
    exit(code.rawValue == 0 ? 1 : code.rawValue)
}
