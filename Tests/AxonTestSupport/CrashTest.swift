import Foundation

/// Checks that a programmer error stops the process with a given message. A crash cannot be caught
/// in-process, so the test re-runs its own test binary with `AXON_CRASH_CASE` set; the child performs
/// the crash in `runIfChild` (called from the test class's `setUp`), and the parent reads its stderr.
public enum CrashTest {
    /// In the child process: runs the case named by `AXON_CRASH_CASE` and exits (status 0 means no crash).
    public static func runIfChild(_ cases: [String: () -> Void]) {
        guard let name = ProcessInfo.processInfo.environment["AXON_CRASH_CASE"], let body = cases[name] else { return }
        body()
        exit(0)
    }

    /// Runs `testID` ("Module.Class/testMethod") in a child process with `AXON_CRASH_CASE = name` (and
    /// `environment` added); returns its exit status and standard error.
    public static func run(_ name: String, testID: String, environment: [String: String] = [:]) -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = [testID]
        var env = ProcessInfo.processInfo.environment
        env["AXON_CRASH_CASE"] = name
        env.merge(environment) { _, new in new }
        process.environment = env
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch { return (-1, "could not start \(CommandLine.arguments[0]): \(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Test id for the calling test method: `Module.Class/method`.
    public static func testID(_ testCase: AnyObject, function: String) -> String {
        let type = String(reflecting: Swift.type(of: testCase))
        return "\(type)/\(function.prefix(while: { $0 != "(" }))"
    }
}
