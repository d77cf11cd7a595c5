import ArgumentParser
import Foundation
import SwitchyardCore

/// `--config` and `--strict`, shared by the commands that read a config file.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "Config file (default: $SWITCHYARD_CONFIG, else ./proxy.yaml).")
    var config: String?

    @Flag(name: .long, help: "Treat unknown config keys as errors.")
    var strict = false

    /// The config path in force.
    var path: String {
        config ?? ProcessInfo.processInfo.environment["SWITCHYARD_CONFIG"].flatMap { $0.isEmpty ? nil : $0 } ?? "proxy.yaml"
    }
}

/// A loaded config: the parse result and, when it parsed, the resolved table.
struct LoadedConfig {
    let result: ConfigLoadResult
    let table: ModelTable?

    /// Every diagnostic, parse and resolution.
    var diagnostics: [ConfigDiagnostic] { result.diagnostics + (table?.diagnostics ?? []) }

    static func load(path: String, strict: Bool) -> LoadedConfig {
        let result = ConfigLoader.load(path: path, strict: strict)
        let environment = EnvironmentSnapshot(ProcessInfo.processInfo.environment)
        return LoadedConfig(result: result, table: result.config.map { ModelTable(config: $0, environment: environment) })
    }
}
