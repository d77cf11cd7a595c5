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
            Prints 'listening on http://HOST:PORT' once ready. SIGHUP re-reads the config (so does a change to the file
            with --watch): an invalid config is rejected with a log line and the running one keeps serving. SIGTERM or
            SIGINT stops accepting connections, lets requests in flight finish for the grace period, ends the rest with
            a clean error, and exits 0.
            Exit codes: 0 after a clean shutdown; 1 when the config is invalid or the port cannot be bound; 2 usage error.
            """)

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: "Address to bind.")
    var host = "127.0.0.1"

    @Option(name: .long, help: "Port to bind (0 picks a free port).")
    var port = 4000

    @Option(name: .long, parsing: .singleValue, help: "Serve only this alias (repeatable).")
    var model: [String] = []

    @Flag(name: .long, help: "Reload the config when the file changes (checked every second).")
    var watch = false

    @Option(name: .long, help: "Seconds in-flight requests may take to finish after SIGTERM (default: config, else 30).")
    var gracePeriod: Double?

    @Option(name: .long, help: "Log format: text or json.")
    var logFormat: LogFormat = .text

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        if let gracePeriod, gracePeriod < 0 || !gracePeriod.isFinite {
            throw ValidationError("--grace-period must be zero or more seconds")
        }
    }

    /// The config read again for a reload, with the same checks and `--model` restriction as at start-up.
    static func reloadTable(path: String, strict: Bool, models: [String]) -> Result<ModelTable, ConfigReloadError> {
        let loaded = LoadedConfig.load(path: path, strict: strict)
        guard var table = loaded.table, !loaded.result.hasErrors else {
            let errors = loaded.result.diagnostics.filter { $0.severity == .error }.map(\.description)
            return .failure(ConfigReloadError(problems: errors.isEmpty ? ["\(path) could not be read"] : errors))
        }
        if !models.isEmpty {
            let (restricted, unknown) = table.restricted(to: models)
            guard unknown.isEmpty else {
                return .failure(
                    ConfigReloadError(problems: ["--model names \(unknown.joined(separator: ", ")), no longer in \(path)"]))
            }
            table = restricted
        }
        return .success(table)
    }

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
        for diagnostic in table.diagnostics where diagnostic.severity != .error { logger.warning("\(diagnostic.description)") }
        if let problem = table.diagnostics.first(where: { $0.severity == .error }) {
            warn(redactors.redactor.redact("switchyard: \(problem.description)"))
            throw ExitCode(1)
        }
        let enabled = table.deployments.filter(\.status.isEnabled).count
        logger.info(
            "config loaded",
            metadata: [
                "config": .string(options.path), "deployments": .stringConvertible(table.deployments.count),
                "enabled": .stringConvertible(enabled), "aliases": .string(table.enabledAliases.joined(separator: ",")),
                "database": .string("\(table.database.value) (\(table.database.source))"),
            ])
        let (path, strict, models) = (options.path, options.strict, model)
        let source = ConfigSource(path: path) { Self.reloadTable(path: path, strict: strict, models: models) }
        let server = ProxyServer(table: table, logger: logger, redactors: redactors, source: source, gracePeriod: gracePeriod)
        let host = self.host
        // The database's run-time models serve from the first request.
        await server.runtime.load()
        do {
            try await server.run(host: host, port: port, watchInterval: watch ? .seconds(1) : nil) { boundPort in
                say("listening on http://\(host):\(boundPort)")
            }
        } catch {
            warn("switchyard: cannot serve on \(host):\(port): \(error)")
            throw ExitCode(1)
        }
    }
}
