import Foundation
import SwitchyardCore
import SwitchyardStorage

/// Keys and spend administration with LiteLLM's names: the logic behind `/key/*`, `/spend/logs` and
/// `/global/spend/report`, and behind `switchyard keys` and `switchyard spend` run against the database directly.
/// Answers are the JSON the routes send.
public struct AdminAPI: Sendable {
    /// The database; nil when storage is off (every call answers 501).
    public let storage: (any Storage)?
    /// The cache to keep in step (a running proxy's, or a throwaway one for the CLI).
    public let keys: KeyCache
    /// Writes buffered rows before spend is read, when serving.
    let accounting: Accounting?

    /// An API over `storage`, keeping `keys` in step.
    public init(storage: (any Storage)?, keys: KeyCache = KeyCache()) {
        self.storage = storage
        self.keys = keys
        self.accounting = nil
    }

    init(accounting: Accounting) {
        self.storage = accounting.storage
        self.keys = accounting.keys
        self.accounting = accounting
    }

    static let storageOff = ProxyError(
        status: 501, type: "api_error", code: "storage_disabled",
        message: "Keys and spend need a database, and storage is off (database_url: none). Set "
            + "general_settings.database_url to sqlite:switchyard.db (or postgres://USER:PASSWORD@HOST/DB), or remove "
            + "'database_url: none' to use switchyard.db beside the config.")

    func database() throws(ProxyError) -> any Storage {
        guard let storage else { throw Self.storageOff }
        return storage
    }

    /// Runs a database call; a failure is a 503 that names the database's trouble without any secret.
    func call<T: Sendable>(_ body: (any Storage) async throws -> T) async throws(ProxyError) -> T {
        try await Self.call(try database(), what: "key and spend database", body)
    }

    /// Runs a call on `storage`: a `ProxyError` as it is, any other failure a 503 naming `what` and the error's type
    /// (never its text, which may hold a connection string).
    static func call<T: Sendable>(
        _ storage: any Storage, what: String, _ body: (any Storage) async throws -> T
    ) async throws(ProxyError) -> T {
        do {
            return try await body(storage)
        } catch let error as ProxyError {
            throw error
        } catch {
            throw ProxyError(
                status: 503, type: "api_error", code: "storage_unavailable",
                message: "The \(what) is unavailable (\(type(of: error))); retry later.", retryAfter: 1)
        }
    }

    // MARK: Keys

    /// `POST /key/generate`.
    public func generate(_ body: JSONObject, now: Date = Date()) async throws(ProxyError) -> JSONValue {
        _ = try database()
        let fields = try KeyFields(body)
        let raw = KeyHashing.newKey()
        let time = now.timeIntervalSince1970
        var key = VirtualKey(
            token: KeyHashing.sha256(raw), keyName: KeyHashing.displayName(raw), createdAt: time, updatedAt: time)
        fields.apply(to: &key, now: time)
        let stored = key
        try await call { try await $0.insert(stored) }
        keys.upsert(stored)
        var answer = Self.object(stored)
        answer["key"] = .string(raw)
        return .object(answer)
    }

    /// `GET /key/info?key=` (the key or its hash).
    public func info(_ presented: String) async throws(ProxyError) -> JSONValue {
        let key = try await find(presented)
        return .object(["key": .string(presented), "info": .object(Self.object(key))])
    }

    /// `POST /key/update` with `key` and the fields to change (`null` clears one).
    public func update(_ body: JSONObject, now: Date = Date()) async throws(ProxyError) -> JSONValue {
        guard let presented = body["key"]?.stringValue else {
            throw .invalidRequest("'key' is required: the key or its hash (token).", param: "key")
        }
        let fields = try KeyFields(body)
        var key = try await find(presented)
        fields.apply(to: &key, now: now.timeIntervalSince1970)
        key.updatedAt = now.timeIntervalSince1970
        let changed = key
        guard try await call({ try await $0.update(changed) }) else { throw Self.keyNotFound }
        keys.upsert(changed)
        return .object(Self.object(keys.key(token: changed.token) ?? changed))
    }

    /// `POST /key/delete {"keys": [...]}` (keys or hashes).
    public func delete(_ body: JSONObject) async throws(ProxyError) -> JSONValue {
        guard let list = body["keys"]?.arrayValue, !list.isEmpty else {
            throw .invalidRequest("'keys' is required: a list of keys or their hashes (tokens).", param: "keys")
        }
        let tokens = try list.map { value throws(ProxyError) -> String in
            guard let text = value.stringValue else {
                throw .invalidRequest("'keys' must hold strings.", param: "keys")
            }
            return Self.token(for: text)
        }
        let deleted = try await call { try await $0.delete(tokens: tokens) }
        guard !deleted.isEmpty else { throw Self.keyNotFound }
        keys.remove(deleted)
        return .object(["deleted_keys": .array(deleted.map { .string($0) })])
    }

    /// Keys per page of `GET /key/list` when no `size` is given, and the most one page holds (LiteLLM's).
    public static let defaultPageSize = 10
    public static let maxPageSize = 100

    /// `GET /key/list`: one page of hashes, or of whole objects with `return_full_object=true`, oldest first;
    /// `key_alias` keeps the keys with that alias.
    public func list(
        fullObjects: Bool, page: Int = 1, size: Int = defaultPageSize, keyAlias: String? = nil
    ) async throws(ProxyError) -> JSONValue {
        guard page >= 1 else { throw .invalidRequest("'page' must be 1 or more.", param: "page") }
        guard (1...Self.maxPageSize).contains(size) else {
            throw .invalidRequest("'size' must be between 1 and \(Self.maxPageSize).", param: "size")
        }
        let stored = try await call { try await $0.keys() }
            .filter { keyAlias == nil || $0.keyAlias == keyAlias }
            .sorted { ($0.createdAt, $0.token) < ($1.createdAt, $1.token) }
        let pages = max(1, (stored.count + size - 1) / size)
        let data: [JSONValue] = stored.dropFirst((page - 1) * size).prefix(size).map { key in
            fullObjects ? .object(Self.object(keys.key(token: key.token) ?? key)) : .string(key.token)
        }
        return .object([
            "keys": .array(data), "total_count": .int(stored.count), "current_page": .int(page),
            "total_pages": .int(pages),
        ])
    }

    static let keyNotFound = ProxyError(
        status: 404, type: "invalid_request_error", code: "key_not_found", message: "No such key (or it was deleted).")

    func find(_ presented: String) async throws(ProxyError) -> VirtualKey {
        let token = Self.token(for: presented)
        guard let key = try await call({ try await $0.key(token: token) }) else { throw Self.keyNotFound }
        return keys.key(token: token).map { cached in
            var merged = key
            merged.spend = max(key.spend, cached.spend)
            return merged
        } ?? key
    }

    /// A key's hash: the text itself when it already is one.
    static func token(for presented: String) -> String {
        KeyHashing.isHash(presented) ? presented : KeyHashing.sha256(presented)
    }

    /// A key as LiteLLM shows it.
    static func object(_ key: VirtualKey) -> JSONObject {
        func optional(_ value: Double?) -> JSONValue { value.map { .double($0) } ?? .null }
        func optional(_ value: Int?) -> JSONValue { value.map { .int($0) } ?? .null }
        func optional(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }
        let metadata = (try? JSONParser.parse(Array(key.metadata.utf8))) ?? .object([:])
        return [
            "token": .string(key.token), "key_name": .string(key.keyName), "key_alias": optional(key.keyAlias),
            "models": .array(key.models.map { .string($0) }), "spend": .double(key.spend),
            "max_budget": optional(key.maxBudget), "budget_duration": optional(key.budgetDuration),
            "budget_reset_at": optional(key.budgetResetAt.map(KeyCache.iso)), "rpm_limit": optional(key.rpmLimit),
            "tpm_limit": optional(key.tpmLimit), "max_parallel_requests": optional(key.maxParallelRequests),
            "expires": optional(key.expires.map(KeyCache.iso)), "metadata": metadata,
            "created_at": .string(KeyCache.iso(key.createdAt)), "updated_at": .string(KeyCache.iso(key.updatedAt)),
        ]
    }

    // MARK: Spend

    /// `GET /spend/logs` with LiteLLM's filters: `api_key` (key or hash), `start_date`, `end_date`, `model`,
    /// `request_id`, and `limit`; and Switchyard's `key_alias` and `status`.
    public func spendLogs(_ query: [String: String]) async throws(ProxyError) -> JSONValue {
        _ = try database()
        await accounting?.flushNow()
        var filter = LogFilter()
        filter.keyHash = query["api_key"].map(Self.token(for:))
        filter.alias = query["model"]
        filter.requestID = query["request_id"]
        filter.keyAlias = query["key_alias"]
        if let status = query["status"] {
            guard let code = Int(status), (100...599).contains(code) else {
                throw .invalidRequest("'status' must be an HTTP status such as 429.", param: "status")
            }
            filter.status = code
        }
        filter.start = try query["start_date"].map { text throws(ProxyError) in try Self.time(text, "start_date") }
        filter.end = try query["end_date"].map { text throws(ProxyError) in try Self.time(text, "end_date", endOfDay: true) }
        if let limit = query["limit"] {
            guard let count = Int(limit), count > 0 else {
                throw .invalidRequest("'limit' must be a positive whole number.", param: "limit")
            }
            filter.limit = min(count, 100_000)
        }
        let chosen = filter
        let rows = try await call { try await $0.logs(chosen) }
        return .array(rows.map { .object(Self.object($0)) })
    }

    /// A request-log row as `/spend/logs` shows it.
    static func object(_ row: LogRow) -> JSONObject {
        func optional(_ value: Double?) -> JSONValue { value.map { .double($0) } ?? .null }
        func optional(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }
        var object: JSONObject = [
            "request_id": .string(row.requestID), "startTime": .string(KeyCache.iso(row.time)),
            "api_key": optional(row.keyHash), "key_alias": optional(row.keyAlias), "model": optional(row.alias),
            "model_group": optional(row.alias), "model_id": optional(row.deployment),
            "custom_llm_provider": optional(row.provider), "status": .int(row.status), "error_code": optional(row.errorCode),
            "request_duration_ms": .double(row.latencyMs), "ttfb_ms": optional(row.ttfbMs), "spend": .double(row.cost ?? 0),
            "upstream_cost": optional(row.upstreamCost),
            "cost_source": row.costSource.map { .string($0) } ?? .null, "prompt_tokens": .int(row.promptTokens),
            "completion_tokens": .int(row.completionTokens), "reasoning_tokens": .int(row.reasoningTokens),
            "cached_tokens": .int(row.cachedTokens),
            "total_tokens": .int(row.promptTokens + row.completionTokens + row.reasoningTokens),
            "stream": .bool(row.stream), "usage_estimated": .bool(row.usageEstimated),
            "request_sha256": optional(row.requestSHA256),
            "feature": optional(row.feature), "prompt_version": row.promptVersion.map { .int($0) } ?? .null,
        ]
        if let prompt = row.prompt { object["messages"] = .string(prompt) }
        if let completion = row.completion { object["response"] = .string(completion) }
        return object
    }

    /// `GET /global/spend/report?group_by=api_key|model|day&start_date=&end_date=`.
    public func spendReport(_ query: [String: String]) async throws(ProxyError) -> JSONValue {
        _ = try database()
        let groupText = query["group_by"] ?? "model"
        guard let grouping = SpendGrouping(rawValue: groupText) else {
            throw .invalidRequest(
                "'group_by' must be one of api_key, model, day (got '\(groupText)').", param: "group_by")
        }
        let from = try query["start_date"].map { text throws(ProxyError) in
            LogRow.day(of: try Self.time(text, "start_date"))
        }
        let to = try query["end_date"].map { text throws(ProxyError) in LogRow.day(of: try Self.time(text, "end_date")) }
        await accounting?.flushNow()
        let lines = try await call { try await $0.report(groupBy: grouping, fromDay: from, toDay: to) }
        var aliases: [String: String] = [:]
        if grouping == .apiKey {
            for key in (try? await call { try await $0.keys() }) ?? [] { aliases[key.token] = key.keyAlias }
        }
        let data: [JSONValue] = lines.map { line in
            var object: JSONObject = [
                grouping.rawValue: line.group.isEmpty && grouping == .apiKey ? .null : .string(line.group),
                "spend": .double(line.spend), "requests": .int(line.requests), "prompt_tokens": .int(line.promptTokens),
                "completion_tokens": .int(line.completionTokens),
            ]
            if grouping == .apiKey { object["key_alias"] = aliases[line.group].map { .string($0) } ?? .null }
            return .object(object)
        }
        return .object([
            "group_by": .string(grouping.rawValue), "data": .array(data),
            "total_spend": .double(lines.reduce(0) { $0 + $1.spend }),
        ])
    }

    /// `YYYY-MM-DD` (the day's start, or with `endOfDay` the next day's) or ISO 8601, as seconds since 1970.
    static func time(_ text: String, _ name: String, endOfDay: Bool = false) throws(ProxyError) -> Double {
        let plain = ISO8601DateFormatter()
        if let date = plain.date(from: text) { return date.timeIntervalSince1970 }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        if let date = day.date(from: text) { return date.timeIntervalSince1970 + (endOfDay ? 86400 : 0) }
        throw .invalidRequest("'\(name)' must be a date (YYYY-MM-DD) or an ISO 8601 time.", param: name)
    }
}

/// The fields of `/key/generate` and `/key/update`, checked.
struct KeyFields {
    var values: [String: JSONValue] = [:]

    static let known: Set<String> = [
        "models", "max_budget", "budget_duration", "rpm_limit", "tpm_limit", "max_parallel_requests", "duration",
        "key_alias", "metadata",
    ]
    /// LiteLLM fields accepted and not acted on, so LiteLLM scripts keep working.
    static let ignored: Set<String> = [
        "key", "user_id", "team_id", "tags", "permissions", "soft_budget", "send_invite_email", "aliases", "config",
        "allowed_cache_controls", "guardrails", "blocked", "model_max_budget", "model_rpm_limit", "model_tpm_limit",
        "key_type", "allowed_routes", "organization_id", "budget_id",
    ]

    init(_ body: JSONObject) throws(ProxyError) {
        for (name, value) in body {
            if Self.ignored.contains(name) { continue }
            guard Self.known.contains(name) else {
                throw .invalidRequest(
                    "Unknown field '\(name)'. Known: \(Self.known.sorted().joined(separator: ", ")).", param: name)
            }
            try Self.check(name, value)
            values[name] = value
        }
    }

    static func check(_ name: String, _ value: JSONValue) throws(ProxyError) {
        if value == .null { return }
        switch name {
        case "models":
            guard let list = value.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
                throw .invalidRequest("'models' must be a list of model aliases.", param: name)
            }
        case "max_budget":
            guard let number = value.doubleValue, number >= 0 else {
                throw .invalidRequest("'max_budget' must be a number of USD, zero or more.", param: name)
            }
        case "rpm_limit", "tpm_limit", "max_parallel_requests":
            guard let number = value.intValue, number >= 0 else {
                throw .invalidRequest("'\(name)' must be a whole number, zero or more.", param: name)
            }
        case "budget_duration", "duration":
            guard let text = value.stringValue, DurationText.seconds(text) != nil else {
                throw .invalidRequest("'\(name)' must be a duration such as 30s, 1h or 30d.", param: name)
            }
        case "key_alias":
            guard value.stringValue != nil else { throw .invalidRequest("'key_alias' must be a string.", param: name) }
        case "metadata":
            guard value.objectValue != nil else { throw .invalidRequest("'metadata' must be an object.", param: name) }
        default: break
        }
    }

    /// Writes the fields into `key`; `now` starts the budget period and the expiry clock.
    func apply(to key: inout VirtualKey, now: Double) {
        for (name, value) in values {
            switch name {
            case "models": key.models = value.arrayValue?.compactMap(\.stringValue) ?? []
            case "max_budget": key.maxBudget = value.doubleValue
            case "budget_duration":
                key.budgetDuration = value.stringValue
                key.budgetResetAt = value.stringValue.flatMap(DurationText.seconds).map { now + $0 }
            case "rpm_limit": key.rpmLimit = value.intValue
            case "tpm_limit": key.tpmLimit = value.intValue
            case "max_parallel_requests": key.maxParallelRequests = value.intValue
            case "duration": key.expires = value.stringValue.flatMap(DurationText.seconds).map { now + $0 }
            case "key_alias": key.keyAlias = value.stringValue
            case "metadata": key.metadata = value == .null ? "{}" : String(decoding: value.encodedBytes(), as: UTF8.self)
            default: break
            }
        }
    }
}
