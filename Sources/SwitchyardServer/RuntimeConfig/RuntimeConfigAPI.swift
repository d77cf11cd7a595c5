import Foundation
import SwitchyardCore
import SwitchyardStorage

/// Models changed at run time, with LiteLLM's routes and fields: `POST /model/new`, `/model/update`,
/// `/model/delete`, and the audit of every change (`GET /config/audit`). The logic behind the routes and behind
/// `switchyard models add|update|delete` run against the database directly; answers are the JSON the routes send.
///
/// A change is checked against the database's newest records laid over the file, exactly as it will serve: an
/// entry that does not read, names a literal key, or would not serve (unknown provider, unset key variable) is
/// refused whole, with the file's diagnostics. A change is one transaction with its audit row.
public struct RuntimeConfigAPI: Sendable {
    /// The database; nil when storage is off (every call answers 501).
    public let storage: (any Storage)?
    /// The table in force (file and run-time configuration): its file part is what changes are laid over.
    let table: @Sendable () -> ModelTable
    /// Called with a reason once a change is written: a serving proxy applies it before answering.
    let applied: @Sendable (String) async throws -> Void
    /// Who makes the changes, for the audit: `master_key`, or `cli:USER`.
    public let actor: String

    /// An API over `storage` for changes checked against `table`.
    public init(
        storage: (any Storage)?, actor: String, table: @escaping @Sendable () -> ModelTable,
        applied: @escaping @Sendable (String) async throws -> Void = { _ in }
    ) {
        self.storage = storage
        self.actor = actor
        self.table = table
        self.applied = applied
    }

    static let storageOff = ProxyError(
        status: 501, type: "api_error", code: "storage_disabled",
        message: "Run-time configuration needs a database, and storage is off (database_url: none). Set "
            + "general_settings.database_url, or remove 'database_url: none' to use switchyard.db beside the config.")

    /// Runs a database call; a failure is a 503 naming the database's trouble without any secret.
    func call<T: Sendable>(_ body: (any Storage) async throws -> T) async throws(ProxyError) -> T {
        guard let storage else { throw Self.storageOff }
        return try await AdminAPI.call(storage, what: "configuration database", body)
    }

    /// The database's newest run-time configuration, and the table it makes with the file.
    func current() async throws(ProxyError) -> (runtime: RuntimeConfig, table: ModelTable) {
        let (revision, records) = try await call { try await $0.configRecords() }
        let runtime = RuntimeConfig.read(revision: revision, records: records)
        return (runtime, table().with(runtime: runtime))
    }

    // MARK: Routes

    /// `POST /model/new`: `model_name`, `litellm_params`, `model_info` (an id is made when it has none). `text` is
    /// the body as sent, so diagnostics point into it.
    public func create(_ body: JSONObject, text: String, now: Date = Date()) async throws(ProxyError) -> JSONValue {
        _ = try await call { _ in () }
        var object = body
        var info = body["model_info"]?.objectValue ?? JSONObject()
        let id: String
        if let given = info["id"] {
            guard let text = given.stringValue, !text.isEmpty else {
                throw .invalidRequest("'model_info.id' must be a non-empty string.", param: "model_info.id")
            }
            id = text
        } else {
            id = UUID().uuidString.lowercased()
        }
        let parsed = ConfigLoader.parseModelEntry(text, path: "/model/new")
        guard parsed.entry != nil, !parsed.hasErrors else { throw Self.refused(parsed.diagnostics) }
        info["id"] = .string(id)
        object["model_info"] = .object(info)
        let (runtime, table) = try await current()
        if table.deployments.contains(where: { $0.id == id }) {
            throw ProxyError(
                status: 409, type: "invalid_request_error", code: "model_exists",
                message: "A deployment with id '\(id)' already exists; change it with /model/update.", param: "model_info.id")
        }
        return try await write(
            object, id: id, action: "create", runtime: runtime, table: table, warnings: parsed.diagnostics, now: now)
    }

    /// `POST /model/update`: `model_info.id` names the deployment (the file's or the database's); the other fields
    /// are merged into its entry (an object key by key, `null` removes a key). A file deployment changed this way is
    /// replaced by the database's entry, in its place.
    public func update(_ body: JSONObject, now: Date = Date()) async throws(ProxyError) -> JSONValue {
        _ = try await call { _ in () }
        guard let id = body["model_info"]?.objectValue?["id"]?.stringValue, !id.isEmpty else {
            throw .invalidRequest("'model_info.id' is required: the id of the deployment to change.", param: "model_info.id")
        }
        let (runtime, table) = try await current()
        guard let existing = Self.entryJSON(id: id, runtime: runtime, table: table) else { throw Self.notFound(id) }
        var merged = existing.merging(body)
        var info = merged["model_info"]?.objectValue ?? JSONObject()
        info["id"] = .string(id)
        merged["model_info"] = .object(info)
        let parsed = ConfigLoader.parseModelEntry(JSONValue.object(merged).encodedString(), path: "/model/update")
        guard parsed.entry != nil, !parsed.hasErrors else { throw Self.refused(parsed.diagnostics, located: false) }
        return try await write(
            merged, id: id, action: "update", runtime: runtime, table: table, warnings: parsed.diagnostics, now: now)
    }

    /// `POST /model/delete` with `id`. A database deployment is removed; a file deployment is hidden (the database
    /// keeps a record saying so) until the record is removed or the id is made again with `/model/new`.
    public func delete(_ body: JSONObject, now: Date = Date()) async throws(ProxyError) -> JSONValue {
        _ = try await call { _ in () }
        guard let id = body["id"]?.stringValue, !id.isEmpty else {
            throw .invalidRequest("'id' is required: the deployment's model_info.id.", param: "id")
        }
        let table = try await current().table
        guard table.deployments.contains(where: { $0.id == id }) else { throw Self.notFound(id) }
        let inFile = table.base.deploymentIDs.contains(id)
        let change = ConfigChange(
            kind: RuntimeConfig.modelKind, name: id, body: inFile ? RuntimeConfig.hiddenBody : nil, action: "delete",
            actor: actor, time: now.timeIntervalSince1970)
        let revision = try await call { try await $0.change(config: [change]) }
        try await apply("model \(id) deleted")
        return .object([
            "message": .string(inFile ? "deployment \(id) of the config file is hidden" : "deployment \(id) deleted"),
            "id": .string(id), "revision": .int(revision),
        ])
    }

    /// `GET /config/audit`: changes, newest first, each with the body before and after.
    public func audit(kind: String?, name: String?, limit: Int) async throws(ProxyError) -> JSONValue {
        let rows = try await call { try await $0.configAudit(kind: kind, name: name, limit: limit) }
        return .object([
            "data": .array(
                rows.map { row in
                    func body(_ text: String?) -> JSONValue {
                        guard let text else { return .null }
                        return (try? JSONParser.parse(text)) ?? .string(text)
                    }
                    return .object([
                        "revision": .int(row.revision), "time": .double(row.time), "actor": .string(row.actor),
                        "kind": .string(row.kind), "name": .string(row.name), "action": .string(row.action),
                        "before": body(row.before), "after": body(row.after),
                    ])
                })
        ])
    }

    // MARK: Shared

    /// Checks the entry as it would serve, writes it with its audit row, and applies it.
    private func write(
        _ object: JSONObject, id: String, action: String, runtime: RuntimeConfig, table: ModelTable,
        warnings: [ConfigDiagnostic], now: Date
    ) async throws(ProxyError) -> JSONValue {
        let text = JSONValue.object(object).encodedString()
        let stored = ConfigLoader.parseModelEntry(text, path: "database model \(id)")
        guard var entry = stored.entry else { throw Self.refused(stored.diagnostics, located: false) }
        entry.id = id
        let model = RuntimeModel(
            id: id, entry: entry, body: text, changedAt: now.timeIntervalSince1970, changedBy: actor)
        let candidate = table.with(runtime: runtime.replacing(model: id, with: model))
        guard let deployment = candidate.deployments.first(where: { $0.id == id }) else {
            throw ProxyError(
                status: 400, type: "invalid_request_error", code: "invalid_model_entry",
                message: "Deployment '\(id)' would not serve: the proxy was started with --model and does not list its alias.")
        }
        if case .disabled(let reason, let fix) = deployment.status {
            throw ProxyError(
                status: 400, type: "invalid_request_error", code: "invalid_model_entry",
                message: "Model \(deployment.alias) would not serve: \(reason); fix: \(fix). Nothing was changed.")
        }
        let change = ConfigChange(
            kind: RuntimeConfig.modelKind, name: id, body: text, action: action, actor: actor,
            time: now.timeIntervalSince1970)
        let revision = try await call { try await $0.change(config: [change]) }
        try await apply("model \(id) \(action)d")
        let origin = DeploymentOrigin.database(
            changedAt: model.changedAt, changedBy: actor, overridesFile: table.base.deploymentIDs.contains(id))
        var answer = Self.describe(object, origin: origin)
        answer["revision"] = .int(revision)
        let notes = warnings.filter { $0.severity == .warning }
        if !notes.isEmpty { answer["warnings"] = .array(notes.map { .string($0.description) }) }
        return .object(answer)
    }

    func apply(_ reason: String) async throws(ProxyError) {
        do {
            try await applied(reason)
        } catch {
            throw ProxyError(
                status: 503, type: "api_error", code: "storage_unavailable",
                message:
                    "The change was saved, but reading it back failed (\(type(of: error))); instances apply it at their next poll.",
                retryAfter: 1)
        }
    }

    /// The entry of a deployment as JSON: the database's body, else the file's entry written back.
    static func entryJSON(id: String, runtime: RuntimeConfig, table: ModelTable) -> JSONObject? {
        if let model = runtime.model(id: id) {
            guard model.entry != nil else { return nil }
            return (try? JSONParser.parse(model.body))?.objectValue
        }
        guard let index = table.base.deploymentIDs.firstIndex(of: id) else { return nil }
        var entry = table.base.deployments[index]
        entry.id = id
        return entry.json()
    }

    /// A model entry as `/model/info` and the routes show it: `model_info` says where it came from (LiteLLM's
    /// `db_model`).
    static func describe(_ object: JSONObject, origin: DeploymentOrigin) -> JSONObject {
        var object = object
        var info = object["model_info"]?.objectValue ?? JSONObject()
        info["db_model"] = .bool(origin != .file)
        info["source"] = .string(origin.name)
        if case .database(let changedAt, let changedBy, let overridesFile) = origin {
            info["updated_at"] = .double(changedAt)
            info["updated_by"] = .string(changedBy)
            if overridesFile { info["overrides_file"] = .bool(true) }
        }
        object["model_info"] = .object(info)
        return object
    }

    static func notFound(_ id: String) -> ProxyError {
        ProxyError(
            status: 404, type: "invalid_request_error", code: "model_not_found",
            message: "No deployment has id '\(id)'. GET /model/info lists them.", param: "id")
    }

    /// The errors of an entry as one 400; `located`: the locations point into the body as sent.
    static func refused(_ diagnostics: [ConfigDiagnostic], located: Bool = true) -> ProxyError {
        let errors = diagnostics.filter { $0.severity == .error }.map { diagnostic in
            var shown = diagnostic
            if !located { shown.location = nil }
            return shown.description
        }
        return ProxyError(
            status: 400, type: "invalid_request_error", code: "invalid_model_entry",
            message: "The model entry was refused; nothing was changed: " + errors.joined(separator: "; "))
    }
}
