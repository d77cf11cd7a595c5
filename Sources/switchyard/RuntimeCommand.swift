import ArgumentParser
import Foundation
import Logging
import NIOHTTP1
import SwitchyardCore
import SwitchyardServer
import SwitchyardStorage

/// The config file's table and its database, opened for run-time configuration from the command line.
struct LocalRuntime {
    let table: ModelTable
    let storage: SQLStorage

    /// Opens the database the config names (migrating it); exits 1 with the reason when it cannot. `purpose` ends
    /// the message when storage is off.
    static func open(_ options: ConfigOptions, purpose: String = "change the run-time configuration") async throws
        -> LocalRuntime
    {
        let loaded = LoadedConfig.load(path: options.path, strict: options.strict)
        guard let table = loaded.table, !loaded.result.hasErrors else {
            warn("switchyard: \(options.path) is invalid (run 'switchyard config check' for details)")
            throw ExitCode(1)
        }
        if let problem = table.diagnostics.first(where: { $0.severity == .error }) {
            warn("switchyard: \(problem.description)")
            throw ExitCode(1)
        }
        let logger = Logger(label: "switchyard", factory: { _ in SwiftLogNoOpLogHandler() })
        guard let storage = SQLStorage.open(table.database.value, logger: logger) else {
            warn("switchyard: storage is off (database_url: none); set general_settings.database_url to \(purpose)")
            throw ExitCode(1)
        }
        do {
            try await storage.migrate()
        } catch {
            await storage.close()
            warn("switchyard: cannot open \(storage.description): \(error)")
            throw ExitCode(1)
        }
        return LocalRuntime(table: table, storage: storage)
    }

    /// The API over the database, changes audited as `cli:USER`.
    var api: RuntimeConfigAPI {
        let user = ProcessInfo.processInfo.environment["USER"].flatMap { $0.isEmpty ? nil : $0 } ?? "unknown"
        let table = self.table
        return RuntimeConfigAPI(storage: storage, actor: "cli:\(user)", table: { table })
    }

    /// Runs `body` with the API and closes the database; a refusal is printed and exits 1.
    static func run(_ options: ConfigOptions, _ body: (RuntimeConfigAPI) async throws(ProxyError) -> JSONValue) async throws
        -> JSONValue
    {
        try await with(options) { runtime throws(ProxyError) in try await body(runtime.api) }
    }

    /// Opens the database, runs `body` and closes it, whatever happened; a refusal is printed and exits 1.
    static func with(
        _ options: ConfigOptions, purpose: String = "change the run-time configuration",
        _ body: (LocalRuntime) async throws(ProxyError) -> JSONValue
    ) async throws -> JSONValue {
        let local = try await open(options, purpose: purpose)
        do throws(ProxyError) {
            let value = try await body(local)
            await local.storage.close()
            return value
        } catch {
            await local.storage.close()
            warn("switchyard: \(error.message)")
            throw ExitCode(1)
        }
    }
}

/// `switchyard runtime PATH [--data JSON]`: the run-time configuration's admin routes from the command line.
struct RuntimeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runtime",
        abstract: "Change models, feature endpoints, prompts, flags, fallback chains and rate limits at run time.",
        discussion: """
            Runs one admin route against the configured database (changes are audited as cli:$USER), or with --url
            against a running proxy (with the master key). Running proxies apply a change within
            user_api_key_cache_ttl. Routes:

            \(RuntimeRoutes.all.map { "  \($0.method) \($0.path): \($0.summary)" }.joined(separator: "\n"))

            Example: switchyard runtime /flag/set --data '{"name": "enable_vision", "enabled": false}'
            """)

    @Argument(help: "The route, e.g. /model/new or /feature/list.")
    var path: String

    @Option(name: .long, help: "The JSON body (for a list route, its query parameters as an object).")
    var data: String?

    @Option(name: .long, help: "Read the JSON body from this file.")
    var file: String?

    @OptionGroup var target: AdminTarget

    func run() async throws {
        let route =
            RuntimeRoutes.route(method: "POST", path: path) ?? RuntimeRoutes.route(method: "GET", path: path)
        guard let route else {
            warn("switchyard: no run-time route \(path); see switchyard runtime --help")
            throw ExitCode(2)
        }
        var text = data ?? "{}"
        if let file {
            guard let contents = FileManager.default.contents(atPath: file) else {
                warn("switchyard: cannot read \(file)")
                throw ExitCode(1)
            }
            text = String(decoding: contents, as: UTF8.self)
        }
        guard let object = (try? JSONParser.parse(text))?.objectValue else {
            warn("switchyard: --data must be a JSON object")
            throw ExitCode(2)
        }
        let value: JSONValue
        if let url = target.url {
            var query: [String: String] = [:]
            if route.method == "GET" { for (key, value) in object { query[key] = value.stringValue ?? value.encodedString() } }
            value = try await target.remote(
                url: url, method: route.method == "GET" ? .GET : .POST, path: route.path, query: query,
                body: route.method == "GET" ? nil : object)
        } else {
            var input = object
            if route.method == "GET" {
                for (key, value) in object { input[key] = .string(value.stringValue ?? value.encodedString()) }
            }
            value = try await LocalRuntime.run(target.options) { api throws(ProxyError) in
                try await route.run(api, input, text)
            }
        }
        // YAML reads best; --json for scripts.
        if target.json || value.objectValue == nil {
            say(value.encodedString())
        } else if let object = value.objectValue {
            print(YAMLWriter.document(object), terminator: "")
        }
    }
}

extension ConfigCommand {
    /// `switchyard config export`.
    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the effective config (the file with the database's run-time entries) as YAML.",
            discussion: "Literal secrets of the file are written redacted; run-time entries only name variables.")

        @OptionGroup var options: ConfigOptions

        @Option(name: .shortAndLong, help: "Write to this file instead of standard output.")
        var output: String?

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: options.path) else {
                warn("switchyard: cannot read \(options.path)")
                throw ExitCode(1)
            }
            let fileText = String(decoding: data, as: UTF8.self)
            var exported = ""
            _ = try await LocalRuntime.run(options) { api throws(ProxyError) in
                exported = try await api.export(fileText: fileText)
                return .null
            }
            if let output {
                do {
                    try exported.write(toFile: output, atomically: true, encoding: .utf8)
                } catch {
                    warn("switchyard: cannot write \(output): \(error.localizedDescription)")
                    throw ExitCode(1)
                }
            } else {
                print(exported, terminator: "")
            }
        }
    }

    /// `switchyard config import FILE`.
    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load a config's model_list and runtime section into the database (one transaction, audited).",
            discussion: """
                Entries that differ from those in force are written, the same ones are left alone, nothing is removed.
                One entry that does not read or would not serve refuses the whole file.
                """)

        @Argument(help: "The YAML file to load (e.g. one 'config export' wrote).")
        var file: String

        @OptionGroup var options: ConfigOptions

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else {
                warn("switchyard: cannot read \(file)")
                throw ExitCode(1)
            }
            let text = String(decoding: data, as: UTF8.self)
            let path = file
            let answer = try await LocalRuntime.run(options) { api throws(ProxyError) in
                try await api.importConfig(text, path: path)
            }
            say(
                "\(file): \(answer.objectValue?["changed"]?.intValue ?? 0) entries written, "
                    + "\(answer.objectValue?["unchanged"]?.intValue ?? 0) unchanged; revision "
                    + "\(answer.objectValue?["revision"]?.intValue ?? 0)")
        }
    }
}
