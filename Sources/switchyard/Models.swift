import ArgumentParser
import Foundation
import Logging
import SwitchyardCore
import SwitchyardStorage

/// `switchyard models ...`.
struct Models: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect the configured models and the model catalog.", subcommands: [List.self, Catalog.self])

    /// `switchyard models list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One row per deployment: alias, provider, model, base URL, status, and where key and URL came from.",
            discussion: "Keys are never printed in full. With --url, asks a running proxy for its enabled models instead.")

        @OptionGroup var options: ConfigOptions

        @Flag(name: .long, help: "Print JSON instead of a table.")
        var json = false

        @Option(name: .long, help: "Ask a running proxy (e.g. http://127.0.0.1:4000) instead of reading the file.")
        var url: String?

        @Option(name: .long, help: "Key for --url (default: $SWITCHYARD_API_KEY).")
        var key: String?

        func run() async throws {
            if let url {
                try await RemoteModels.list(url: url, key: key, json: json)
                return
            }
            let loaded = LoadedConfig.load(path: options.path, strict: options.strict)
            guard let table = loaded.table, !loaded.result.hasErrors else {
                for diagnostic in loaded.diagnostics where diagnostic.severity == .error { warn(diagnostic.description) }
                throw ExitCode(1)
            }
            let rows = await Models.withRuntime(table).deployments.map(Row.init)
            if json {
                say(JSONValue.array(rows.map(\.json)).encodedString())
            } else {
                say(Row.table(rows))
            }
        }
    }

    /// The table with the database's run-time entries laid over it, when the config names a database that
    /// answers; else the file's, with a warning.
    static func withRuntime(_ table: ModelTable) async -> ModelTable {
        let logger = Logger(label: "switchyard", factory: { _ in SwiftLogNoOpLogHandler() })
        // A database file that does not exist yet holds nothing: not made by a command that only reads.
        if case .sqlite(let path) = table.database.value, !FileManager.default.fileExists(atPath: path) { return table }
        guard let storage = SQLStorage.open(table.database.value, logger: logger) else { return table }
        var result = table
        do {
            if try await storage.schemaVersion() >= 6 {
                let (revision, records) = try await storage.configRecords()
                result = table.with(runtime: RuntimeConfig.read(revision: revision, records: records))
            }
        } catch {
            warn("switchyard: \(storage.description) did not answer; the file's models only (\(error))")
        }
        await storage.close()
        return result
    }

    /// `switchyard models catalog`.
    struct Catalog: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The model catalog: parameter rules, reasoning efforts, context windows, prices, retired names.",
            discussion: """
                Prints the catalog built into the binary with the config's model_catalog file merged over it (the \
                config is read when it exists). --json prints it in the catalog file's own shape, a valid \
                model_catalog file; --markdown prints a provider's tables as docs/providers.md shows them.
                """)

        @OptionGroup var options: ConfigOptions

        @Option(name: .long, help: "Only this provider (e.g. xai).")
        var provider: String?

        @Flag(name: .long, help: "Print JSON instead of a table.")
        var json = false

        @Flag(name: .long, help: "Print the provider's tables as Markdown (needs --provider).")
        var markdown = false

        func run() async throws {
            var catalog = ModelCatalog.shipped
            if FileManager.default.fileExists(atPath: options.path) {
                let result = ConfigLoader.load(path: options.path, strict: options.strict)
                guard let config = result.config else {
                    for diagnostic in result.diagnostics where diagnostic.severity == .error { warn(diagnostic.description) }
                    throw ExitCode(1)
                }
                catalog = config.catalog
            }
            if let provider, catalog.providers[provider.lowercased()] == nil {
                warn(
                    "the catalog has no provider '\(provider)'; it has: \(catalog.providers.keys.sorted().joined(separator: ", "))"
                )
                throw ExitCode(2)
            }
            if markdown {
                guard let provider else {
                    warn("--markdown needs --provider")
                    throw ExitCode(2)
                }
                say(catalog.markdown(provider: provider.lowercased()))
            } else if json {
                say(catalog.json(provider: provider).encodedString())
            } else {
                say(TextTable.render(header: ModelCatalog.tableHeader, rows: catalog.tableRows(provider: provider)))
            }
        }
    }

    /// One deployment, printable.
    struct Row {
        let alias: String
        let provider: String
        let model: String
        let baseURL: String
        let status: String
        let key: String
        let keySource: String
        let baseURLSource: String
        let reason: String
        let price: String
        let servedBy: String
        let source: String

        init(_ deployment: Deployment) {
            switch deployment.origin {
            case .file: source = "file"
            case .database(_, let changedBy, let overridesFile):
                source = "database (\(changedBy)\(overridesFile ? ", over the file's" : ""))"
            }
            let redactor = Redactor()
            alias = deployment.alias
            provider = deployment.providerName.isEmpty ? "-" : deployment.providerName
            model = deployment.upstreamModel
            baseURL = deployment.provider?.isBuiltIn == true ? "(built-in)" : redactor.redact(deployment.baseURL?.value ?? "-")
            switch deployment.status {
            case .enabled:
                status = "enabled"
                reason = ""
            case .disabled(let why, let fix):
                status = "disabled"
                reason = "\(why); fix: \(fix)"
            }
            key = deployment.apiKey?.value.masked ?? "-"
            keySource = deployment.apiKey?.source.description ?? (deployment.provider?.isBuiltIn == true ? "not needed" : "unset")
            baseURLSource = deployment.baseURL?.source.description ?? "-"
            price = deployment.priceSummary
            servedBy = deployment.retirementSummary.map { "retired: served by \($0)" } ?? "-"
        }

        var json: JSONValue {
            .object([
                "alias": .string(alias), "provider": .string(provider), "model": .string(model),
                "base_url": .string(baseURL), "status": .string(status), "key": .string(key),
                "key_source": .string(keySource), "base_url_source": .string(baseURLSource),
                "reason": reason.isEmpty ? .null : .string(reason), "price_per_1m": .string(price),
                "served_by": servedBy == "-" ? .null : .string(servedBy), "source": .string(source),
            ])
        }

        static func table(_ rows: [Row]) -> String {
            let header = [
                "ALIAS", "PROVIDER", "MODEL", "BASE URL", "STATUS", "ENTRY FROM", "KEY", "KEY FROM", "URL FROM",
                "PRICE IN/CACHED/OUT", "RETIRED", "REASON",
            ]
            let cells = rows.map {
                [
                    $0.alias, $0.provider, $0.model, $0.baseURL, $0.status, $0.source, $0.key, $0.keySource,
                    $0.baseURLSource, $0.price, $0.servedBy, $0.reason,
                ]
            }
            return TextTable.render(header: header, rows: cells)
        }
    }
}

/// Aligned plain-text tables.
enum TextTable {
    static func render(header: [String], rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}
