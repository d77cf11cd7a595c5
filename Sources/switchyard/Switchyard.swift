import ArgumentParser
import Foundation

/// The `switchyard` command: lists its subcommands and maps usage errors to exit code 2.
@main
struct Switchyard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchyard",
        abstract: "An OpenAI-compatible LLM proxy: public model aliases in front of xAI (Grok) and OpenAI-compatible APIs.",
        discussion: """
            Exit codes: 0 success; 1 the configuration is invalid or the command failed; 2 usage error.
            The config file is --config, else $SWITCHYARD_CONFIG, else ./proxy.yaml.
            """,
        version: "0.1.0",
        subcommands: [
            Serve.self, Models.self, ConfigCommand.self, RuntimeCommand.self, Keys.self, Spend.self, DB.self, Mock.self,
            Chat.self,
        ]
    )

    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message = fullMessage(for: error)
            if !message.isEmpty { FileHandle.standardError.write(Data((message + "\n").utf8)) }
            // ArgumentParser uses 64 for usage errors; Switchyard documents 2.
            Foundation.exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }
}

/// Writes a line to standard output and flushes it at once (scripts wait for these lines).
func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// Writes a line to standard error.
func warn(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
