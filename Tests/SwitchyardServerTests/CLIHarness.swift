import Foundation
import Testing

/// The repository root.
func repositoryRoot(file: String = #filePath) -> String {
    var components = file.split(separator: "/", omittingEmptySubsequences: false)
    components.removeLast(3)
    return components.joined(separator: "/")
}

/// The built `switchyard` executable.
var switchyardBinary: String { repositoryRoot() + "/.build/debug/switchyard" }

/// The process environment without any provider or proxy variables, plus `extra`.
func cleanEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
    var environment = ProcessInfo.processInfo.environment.filter { key, _ in
        !["GROK_", "XAI_", "OPENAI_", "SWITCHYARD_"].contains { key.hasPrefix($0) }
    }
    for (key, value) in extra { environment[key] = value }
    return environment
}

/// What a finished command printed.
struct CLIResult {
    let status: Int32
    let stdout: String
    let stderr: String
    var output: String { stdout + stderr }
}

/// A command running in the background, its output going to files.
final class RunningCommand: @unchecked Sendable {
    let process: ChildProcess
    let stdoutPath: String
    let stderrPath: String

    init(
        _ arguments: [String], environment: [String: String] = [:], directory: String = repositoryRoot(),
        executable: String = switchyardBinary
    ) throws {
        let folder = NSTemporaryDirectory() + "switchyard-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        stdoutPath = folder + "/stdout"
        stderrPath = folder + "/stderr"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process = try ChildProcess(
            executable: executable, arguments: arguments, environment: cleanEnvironment(environment), directory: directory,
            stdout: stdoutPath, stderr: stderrPath)
    }

    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Waits (up to `seconds`) for a line of standard output with `prefix`, returning it.
    func line(startingWith prefix: String, seconds: Double = 60) async throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let line = stdout.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) { return String(line) }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw CLIError.noLine(prefix: prefix, stdout: stdout, stderr: stderr)
    }

    /// Waits for the process to end (up to `seconds`, then kills it) and returns what it printed.
    func finish(seconds: Double = 60) async -> CLIResult {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        return CLIResult(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }

    /// Sends SIGTERM and waits.
    func stop() async -> CLIResult {
        if process.isRunning { process.terminate() }
        return await finish(seconds: 20)
    }
}

enum CLIError: Error, CustomStringConvertible {
    case noLine(prefix: String, stdout: String, stderr: String)
    var description: String {
        switch self {
        case .noLine(let prefix, let stdout, let stderr): "no line starting with '\(prefix)'; stdout: \(stdout) stderr: \(stderr)"
        }
    }
}

/// Runs the CLI to completion.
func runCLI(_ arguments: [String], environment: [String: String] = [:], directory: String = repositoryRoot()) async throws
    -> CLIResult
{
    try await RunningCommand(arguments, environment: environment, directory: directory).finish()
}

/// Writes `text` to a new temporary file and returns its path.
func temporaryFile(_ text: String, name: String = "proxy.yaml") throws -> String {
    let folder = NSTemporaryDirectory() + "switchyard-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let path = folder + "/" + name
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}
