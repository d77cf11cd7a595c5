import ArgumentParser
import Foundation
import Logging
import SwitchyardCore
import SwitchyardServer

extension LogFormat: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}

/// `switchyard serve`.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate the config, report disabled models, then serve the OpenAI-compatible API.",
        discussion: """
            Prints 'listening on http://HOST:PORT' once ready. SIGTERM or SIGINT stops it gracefully.
            Exit codes: 0 after a clean shutdown; 1 when the config is invalid or the port cannot be bound; 2 usage error.
            """)

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: "Address to bind.")
    var host = "127.0.0.1"

    @Option(name: .long, help: "Port to bind (0 picks a free port).")
    var port = 4000

    @Option(name: .long, parsing: .singleValue, help: "Serve only this alias (repeatable).")
    var model: [String] = []

    @Option(name: .long, help: "Log format: text or json.")
    var logFormat: LogFormat = .text

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        let loaded = LoadedConfig.load(path: options.path, strict: options.strict)
        let redactors = RedactorStore()
        if let table = loaded.table { redactors.update(Redactor(secrets: table.secrets)) }
        let format = logFormat
        let level = logLevel
        LoggingSystem.bootstrap { label in
            ProxyLogHandler(label: label, level: level, format: format, redactors: redactors, sink: .standardError)
        }
        let logger = Logger(label: "switchyard")
        for diagnostic in loaded.result.diagnostics {
            if diagnostic.severity == .error {
                warn(redactors.redactor.redact(diagnostic.description))
            } else {
                logger.warning("\(diagnostic.description)")
            }
        }
        guard var table = loaded.table, !loaded.result.hasErrors else {
            warn("switchyard: \(options.path) is invalid; not starting (run 'switchyard config check' for details)")
            throw ExitCode(1)
        }
        if !model.isEmpty {
            let (restricted, unknown) = table.restricted(to: model)
            guard unknown.isEmpty else {
                throw ValidationError(
                    "unknown alias \(unknown.joined(separator: ", ")) for --model; configured: \(table.aliases.joined(separator: ", "))"
                )
            }
            table = restricted
        }
        for diagnostic in table.diagnostics { logger.warning("\(diagnostic.description)") }
        let enabled = table.deployments.filter(\.status.isEnabled).count
        logger.info(
            "config loaded",
            metadata: [
                "config": .string(options.path), "deployments": .stringConvertible(table.deployments.count),
                "enabled": .stringConvertible(enabled), "aliases": .string(table.enabledAliases.joined(separator: ",")),
            ])
        let server = ProxyServer(table: table, logger: logger, redactors: redactors)
        let host = self.host
        do {
            try await server.run(host: host, port: port) { boundPort in
                say("listening on http://\(host):\(boundPort)")
            }
        } catch {
            warn("switchyard: cannot serve on \(host):\(port): \(error)")
            throw ExitCode(1)
        }
    }
}
