import ArgumentParser
import SwitchyardCore

/// `switchyard config ...`.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Check, export and import configuration.",
        subcommands: [Check.self, Export.self, Import.self])

    /// `switchyard config check [FILE] [--strict]`.
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a config: exit 0 when the proxy would start, 1 when it would not, 2 on usage errors.",
            discussion: "Warnings and disabled models are listed; neither stops start-up (unless --strict and an unknown key).")

        @Argument(help: "Config file (default: --config, $SWITCHYARD_CONFIG, else ./proxy.yaml).")
        var file: String?

        @OptionGroup var options: ConfigOptions

        func run() async throws {
            let path = file ?? options.path
            let loaded = LoadedConfig.load(path: path, strict: options.strict)
            for diagnostic in loaded.diagnostics { say(diagnostic.description) }
            guard let table = loaded.table, !loaded.result.hasErrors,
                !loaded.diagnostics.contains(where: { $0.severity == .error })
            else {
                say("\(path): invalid: the proxy would not start")
                throw ExitCode(1)
            }
            let enabled = table.deployments.filter(\.status.isEnabled).count
            let warnings = loaded.diagnostics.filter { $0.severity == .warning }.count
            say(
                "\(path): ok: \(table.deployments.count) deployments (\(enabled) enabled, "
                    + "\(table.deployments.count - enabled) disabled) in \(table.aliases.count) aliases, \(warnings) warnings")
            say("database: \(table.database.value) (from \(table.database.source))")
        }
    }
}
