import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SwitchyardCore
import SwitchyardServer
import SwitchyardStorage

/// Where `keys` and `spend` act: a running proxy (`--url`, with the master key) or the configured database directly.
struct AdminTarget: ParsableArguments {
    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: "Ask a running proxy (e.g. http://127.0.0.1:4000) instead of opening the database.")
    var url: String?

    @Option(name: .long, help: "Master key for --url (default: $SWITCHYARD_MASTER_KEY, else $SWITCHYARD_API_KEY).")
    var key: String?

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    /// One admin call, against the proxy or the database; both answer the same JSON.
    func call(
        method: HTTPMethod, path: String, query: [String: String] = [:], body: JSONObject? = nil,
        local: (AdminAPI) async throws(ProxyError) -> JSONValue
    ) async throws -> JSONValue {
        if let url { return try await remote(url: url, method: method, path: path, query: query, body: body) }
        return try await LocalRuntime.with(options, purpose: "use keys and spend") { runtime throws(ProxyError) in
            try await local(AdminAPI(storage: runtime.storage))
        }
    }

    func remote(
        url: String, method: HTTPMethod, path: String, query: [String: String], body: JSONObject?
    ) async throws -> JSONValue {
        var target = ProxyClient.base(url) + path
        if !query.isEmpty {
            var components = URLComponents()
            components.queryItems = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
            target += "?" + (components.percentEncodedQuery ?? "")
        }
        let environment = ProcessInfo.processInfo.environment
        let masterKey = [key, environment["SWITCHYARD_MASTER_KEY"], environment["SWITCHYARD_API_KEY"]]
            .compactMap { $0 }.first { !$0.isEmpty }
        do {
            let (status, bytes) = try await ProxyClient.withClient { client in
                let response = try await client.execute(
                    ProxyClient.request(target, key: masterKey, method: method, body: body.map { .object($0) }),
                    timeout: .seconds(30))
                return (response.status.code, Array(try await response.body.collect(upTo: 64 * 1024 * 1024).readableBytesView))
            }
            guard status == 200 else {
                warn("switchyard: \(path) answered \(status): \(ProxyClient.errorMessage(bytes))")
                throw ExitCode(1)
            }
            guard let value = try? JSONParser.parse(bytes) else {
                warn("switchyard: \(path) did not answer JSON")
                throw ExitCode(1)
            }
            return value
        } catch let exit as ExitCode {
            throw exit
        } catch {
            warn("switchyard: \(ProxyClient.describe(error, url: url))")
            throw ExitCode(1)
        }
    }
}

/// The settings a key is made or changed with.
struct KeyOptions: ParsableArguments {
    @Option(name: .long, help: "Aliases the key may use, comma-separated (default: all).")
    var models: String?

    @Option(name: .long, help: "Budget in USD.")
    var maxBudget: Double?

    @Option(name: .long, help: "The budget resets after this long: 30s, 1h, 30d.")
    var budgetDuration: String?

    @Option(name: .long, help: "Requests per minute.")
    var rpm: Int?

    @Option(name: .long, help: "Tokens per minute.")
    var tpm: Int?

    @Option(name: .long, help: "Requests at once.")
    var maxParallel: Int?

    @Option(name: .long, help: "The key expires after this long: 1h, 30d.")
    var duration: String?

    @Option(name: .long, help: "A name for the key.")
    var alias: String?

    @Option(name: .long, help: "Metadata, a JSON object.")
    var metadata: String?

    /// The `/key/generate` / `/key/update` fields.
    func fields() throws -> JSONObject {
        var body = JSONObject()
        if let models {
            body["models"] = .array(
                models.split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) })
        }
        if let maxBudget { body["max_budget"] = .double(maxBudget) }
        if let budgetDuration { body["budget_duration"] = .string(budgetDuration) }
        if let rpm { body["rpm_limit"] = .int(rpm) }
        if let tpm { body["tpm_limit"] = .int(tpm) }
        if let maxParallel { body["max_parallel_requests"] = .int(maxParallel) }
        if let duration { body["duration"] = .string(duration) }
        if let alias { body["key_alias"] = .string(alias) }
        if let metadata {
            guard let value = try? JSONParser.parse(Array(metadata.utf8)), value.objectValue != nil else {
                throw ValidationError("--metadata must be a JSON object")
            }
            body["metadata"] = value
        }
        return body
    }
}

/// `switchyard keys`.
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list, inspect, change and revoke virtual keys.",
        discussion: """
            Acts on the configured database directly, or on a running proxy with --url and the master key. A key is
            printed once, when it is created; only its SHA-256 hash (its token) is stored.
            """,
        subcommands: [Create.self, List.self, Info.self, Update.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a key and print it (shown only this once).")
        @OptionGroup var target: AdminTarget
        @OptionGroup var settings: KeyOptions

        func run() async throws {
            let body = try settings.fields()
            let value = try await target.call(method: .POST, path: "/key/generate", body: body) { api throws(ProxyError) in
                try await api.generate(body)
            }
            if target.json {
                say(value.encodedString())
                return
            }
            guard let key = value.objectValue?["key"]?.stringValue else { throw ExitCode(1) }
            say(key)
            warn("token (hash): \(value.objectValue?["token"]?.stringValue ?? "-"); the key is not shown again")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never the keys themselves).")
        @OptionGroup var target: AdminTarget

        func run() async throws {
            // Every page, the largest the route allows.
            var keys: [JSONObject] = []
            var page = 1
            while true {
                let number = page
                let size = AdminAPI.maxPageSize
                let value = try await target.call(
                    method: .GET, path: "/key/list",
                    query: ["return_full_object": "true", "page": String(number), "size": String(size)]
                ) { api throws(ProxyError) in try await api.list(fullObjects: true, page: number, size: size) }
                keys += value.objectValue?["keys"]?.arrayValue?.compactMap(\.objectValue) ?? []
                let pages = value.objectValue?["total_pages"]?.intValue ?? 1
                if page >= pages { break }
                page += 1
            }
            if target.json {
                say(JSONValue.array(keys.map { .object($0) }).encodedString())
                return
            }
            say(Keys.table(keys))
        }
    }

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one key: settings and spend.")
        @OptionGroup var target: AdminTarget
        @Argument(help: "The key or its token (hash).") var key: String

        func run() async throws {
            let presented = key
            let value = try await target.call(method: .GET, path: "/key/info", query: ["key": presented]) {
                api throws(ProxyError) in try await api.info(presented)
            }
            let info = value.objectValue?["info"]?.objectValue ?? JSONObject()
            say(target.json ? JSONValue.object(info).encodedString() : Keys.table([info]))
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a key's settings.")
        @OptionGroup var target: AdminTarget
        @OptionGroup var settings: KeyOptions
        @Argument(help: "The key or its token (hash).") var key: String

        func run() async throws {
            var body = try settings.fields()
            guard !body.isEmpty else { throw ValidationError("nothing to change: give at least one setting") }
            body["key"] = .string(key)
            let request = body
            let value = try await target.call(method: .POST, path: "/key/update", body: request) {
                api throws(ProxyError) in try await api.update(request)
            }
            say(target.json ? value.encodedString() : Keys.table([value.objectValue ?? JSONObject()]))
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete keys: they are refused from then on.")
        @OptionGroup var target: AdminTarget
        @Argument(help: "Keys or their tokens (hashes).") var keys: [String]

        func validate() throws {
            if keys.isEmpty { throw ValidationError("name at least one key to revoke") }
        }

        func run() async throws {
            let body: JSONObject = ["keys": .array(keys.map { .string($0) })]
            let value = try await target.call(method: .POST, path: "/key/delete", body: body) { api throws(ProxyError) in
                try await api.delete(body)
            }
            if target.json {
                say(value.encodedString())
                return
            }
            for token in value.objectValue?["deleted_keys"]?.arrayValue ?? [] {
                say("revoked \(token.stringValue ?? "-")")
            }
        }
    }

    static func table(_ keys: [JSONObject]) -> String {
        func text(_ value: JSONValue?) -> String {
            switch value {
            case .string(let text)?: text
            case .number(let text)?: text
            case .array(let list)?: list.isEmpty ? "all" : list.compactMap(\.stringValue).joined(separator: ",")
            default: "-"
            }
        }
        let rows = keys.map { key in
            [
                String(text(key["token"]).prefix(12)), text(key["key_name"]), text(key["key_alias"]), text(key["models"]),
                key["spend"]?.doubleValue.map { String(format: "%.6f", $0) } ?? "-",
                key["max_budget"]?.doubleValue.map { String(format: "%.6f", $0) } ?? "-", text(key["budget_duration"]),
                text(key["rpm_limit"]), text(key["tpm_limit"]), text(key["expires"]),
            ]
        }
        return TextTable.render(
            header: ["TOKEN", "KEY", "ALIAS", "MODELS", "SPEND $", "BUDGET $", "RESETS", "RPM", "TPM", "EXPIRES"],
            rows: rows)
    }
}

/// `switchyard spend`.
struct Spend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Spend by key, model or day, from the configured database or a running proxy (--url).")

    enum Grouping: String, ExpressibleByArgument, CaseIterable {
        case key, model, day
    }

    @OptionGroup var target: AdminTarget

    @Option(name: .long, help: "Group by key, model or day.")
    var by: Grouping = .model

    @Option(name: .long, help: "Only this recent: 7d, 12h (default: everything).")
    var since: String?

    func run() async throws {
        var query = ["group_by": by == .key ? "api_key" : by.rawValue]
        if let since {
            guard let seconds = DurationText.seconds(since) else {
                throw ValidationError("--since must be a duration such as 7d or 12h")
            }
            query["start_date"] = LogRow.day(of: Date().timeIntervalSince1970 - seconds)
        }
        let request = query
        let value = try await target.call(method: .GET, path: "/global/spend/report", query: request) {
            api throws(ProxyError) in try await api.spendReport(request)
        }
        if target.json {
            say(value.encodedString())
            return
        }
        let column = query["group_by"] ?? "model"
        let lines = value.objectValue?["data"]?.arrayValue?.compactMap(\.objectValue) ?? []
        var rows = lines.map { line -> [String] in
            var group = line[column]?.stringValue ?? "(master key / none)"
            if column == "api_key", let alias = line["key_alias"]?.stringValue { group = "\(group.prefix(12)) (\(alias))" }
            return [
                group, String(format: "%.6f", line["spend"]?.doubleValue ?? 0), String(line["requests"]?.intValue ?? 0),
                String(line["prompt_tokens"]?.intValue ?? 0), String(line["completion_tokens"]?.intValue ?? 0),
            ]
        }
        rows.append(["TOTAL", String(format: "%.6f", value.objectValue?["total_spend"]?.doubleValue ?? 0), "", "", ""])
        say(TextTable.render(header: [by.rawValue.uppercased(), "SPEND $", "REQUESTS", "PROMPT", "COMPLETION"], rows: rows))
    }
}

/// `switchyard db`.
struct DB: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "The key and spend database.", subcommands: [Migrate.self])

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create or upgrade the schema of the configured database (serve also does it at start-up).")
        @OptionGroup var options: ConfigOptions

        func run() async throws {
            let loaded = LoadedConfig.load(path: options.path, strict: options.strict)
            guard let table = loaded.table, !loaded.result.hasErrors else {
                warn("switchyard: \(options.path) is invalid (run 'switchyard config check' for details)")
                throw ExitCode(1)
            }
            let logger = Logger(label: "switchyard", factory: { _ in SwiftLogNoOpLogHandler() })
            guard let storage = SQLStorage.open(table.database.value, logger: logger) else {
                warn("switchyard: storage is off (database_url: none): nothing to migrate")
                throw ExitCode(1)
            }
            do {
                let before = try await storage.schemaVersion()
                let after = try await storage.migrate()
                await storage.close()
                say(
                    before == after
                        ? "\(storage.description): schema version \(after), up to date"
                        : "\(storage.description): schema version \(before) -> \(after)")
            } catch {
                await storage.close()
                warn("switchyard: cannot migrate \(storage.description): \(error)")
                throw ExitCode(1)
            }
        }
    }
}
