import Foundation
import Logging
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer
@testable import SwitchyardStorage

/// The environment run-time models name their keys in.
let runtimeEnvironment = ["RUNTIME_KEY": testKey]

/// A `/model/new` body for alias `alias` on `mock`, its key named as `os.environ/RUNTIME_KEY`.
func newModel(_ alias: String, mock: MockHandle, model: String = "xai/grok-3-mini", id: String? = nil) -> JSONValue {
    var object: JSONObject = [
        "model_name": .string(alias),
        "litellm_params": .object([
            "model": .string(model), "api_base": .string(mock.baseURL), "api_key": "os.environ/RUNTIME_KEY",
        ]),
    ]
    if let id { object["model_info"] = .object(["id": .string(id)]) }
    return .object(object)
}

/// The ids `/model/info` lists, with each one's model_info.
func modelInfo(_ proxy: ProxyHandle) async throws -> [String: JSONObject] {
    let answer = try await send(.GET, proxy.url + "/model/info", headers: master)
    var byID: [String: JSONObject] = [:]
    for item in answer.json?["data"]?.arrayValue ?? [] {
        if let info = item.objectValue?["model_info"]?.objectValue, let id = info["id"]?.stringValue { byID[id] = info }
    }
    return byID
}

/// Audit rows through the route, newest first.
func auditRows(_ proxy: ProxyHandle, query: String = "") async throws -> [JSONObject] {
    let answer = try await send(.GET, proxy.url + "/config/audit" + query, headers: master)
    return answer.json?["data"]?.arrayValue?.compactMap(\.objectValue) ?? []
}

/// Models added, changed and removed at run time through the admin routes, on SQLite and PostgreSQL.
@Suite struct RuntimeModelTests {
    @Test(arguments: Backend.allCases)
    func modelAddedAtRunTimeServesAndSurvivesARestart(_ backend: Backend) async throws {
        let database = try await backend.newURL()
        try await withMockUpstream { mock in
            let yaml = keysConfig(mock: mock, database: database)
            let id = try await withProxy(yaml: yaml, environment: runtimeEnvironment, logLevel: .info) { proxy in
                #expect(
                    try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("added", "hi"), headers: master).status
                        == 404)
                let made = try await send(.POST, proxy.url + "/model/new", json: newModel("added", mock: mock), headers: master)
                #expect(made.status == 200, "\(made.text)")
                let id = try #require(made.json?["model_info"]?.objectValue?["id"]?.stringValue)
                #expect(made.json?["revision"]?.intValue == 1)
                #expect(made.json?["model_info"]?.objectValue?["db_model"] == .bool(true))
                // Served at once by the instance that made it, upstream with the key the entry names.
                mock.recorder.reset()
                let answer = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("added", "hi"), headers: master)
                #expect(answer.status == 200, "\(answer.text)")
                let upstream = try #require(mock.recorder.requests.last)
                #expect(upstream.body?.objectValue?["model"]?.stringValue == "grok-3-mini")
                #expect(upstream.headers["authorization"] == "Bearer \(testKey)")
                let info = try await modelInfo(proxy)
                #expect(info[id]?["source"] == "database")
                #expect(info[id]?["updated_by"] == "master_key")
                #expect(info["m-1"]?["source"] == "file")
                #expect(info["m-1"]?["db_model"] == .bool(false))
                // The audit row: who, what, and the body after.
                let rows = try await auditRows(proxy)
                #expect(rows.count == 1)
                #expect(rows.first?["action"] == "create")
                #expect(rows.first?["actor"] == "master_key")
                #expect(rows.first?["name"]?.stringValue == id)
                #expect(rows.first?["before"] == .null)
                #expect(rows.first?["after"]?.objectValue?["model_name"] == "added")
                let ready = try await send(.GET, proxy.url + "/health/readiness")
                #expect(ready.json?["config_revision"]?.intValue == 1)
                return id
            }
            // A new instance on the same database serves it from its first request.
            try await withProxy(yaml: yaml, environment: runtimeEnvironment, logLevel: .info) { proxy in
                let answer = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("added", "hi"), headers: master)
                #expect(answer.status == 200, "\(answer.text)")
                #expect(try await modelInfo(proxy)[id]?["source"] == "database")
            }
        }
    }

    @Test(arguments: Backend.allCases)
    func anInvalidEntryIsRefusedWholeAndNothingIsWritten(_ backend: Backend) async throws {
        let database = try await backend.newURL()
        try await withMockUpstream { mock in
            let yaml = keysConfig(mock: mock, database: database)
            try await withProxy(yaml: yaml, environment: runtimeEnvironment, logLevel: .info) { proxy in
                func refused(_ body: String, _ expected: String, status: Int = 400) async throws {
                    let answer = try await send(.POST, proxy.url + "/model/new", raw: body, headers: master)
                    #expect(answer.status == status, "\(body): \(answer.text)")
                    let message = answer.json?["error"]?.objectValue?["message"]?.stringValue ?? ""
                    #expect(message.contains(expected), "\(body): \(message)")
                    #expect(!answer.text.contains("xai-literal-secret"))
                }
                let base = mock.baseURL
                // A literal key: the database and its audit never hold a secret.
                try await refused(
                    #"{"model_name": "x", "litellm_params": {"model": "xai/grok-3-mini", "api_key": "xai-literal-secret-1234"}}"#,
                    "litellm_params.api_key of x is a literal key")
                try await refused(
                    #"{"model_name": "x", "litellm_params": {"model": "xai/grok-3-mini", "api_key": "os.environ/RUNTIME_KEY", "extra_headers": {"Authorization": "Bearer xai-literal-secret-1234"}}}"#,
                    "is a literal credential")
                // A typo, located in the body as sent.
                try await refused(
                    #"{"model_name": "x", "litellm_params": {"modle": "xai/grok-3-mini", "api_key": "os.environ/RUNTIME_KEY"}}"#,
                    "/model/new:1:")
                try await refused(
                    #"{"model_name": "x", "litellm_params": {"model": "xai/grok-3-mini", "api_key": "os.environ/RUNTIME_KEY", "tmp": 1}}"#,
                    "unknown key 'tmp'")
                // Reads, but would not serve.
                try await refused(
                    #"{"model_name": "x", "litellm_params": {"model": "xia/grok-3-mini", "api_base": "\#(base)", "api_key": "os.environ/RUNTIME_KEY"}}"#,
                    "would not serve: unknown provider 'xia'")
                try await refused(
                    #"{"model_name": "x", "litellm_params": {"model": "xai/grok-3-mini", "api_base": "\#(base)", "api_key": "os.environ/NOT_SET_HERE"}}"#,
                    "NOT_SET_HERE")
                // Not JSON, not an object, an id taken.
                try await refused(#"{"model_name": "x", "#, "not valid JSON")
                try await refused(#"["x"]"#, "must be a JSON object")
                try await refused(
                    #"{"model_name": "x", "litellm_params": {"model": "xai/grok-3-mini", "api_base": "\#(base)", "api_key": "os.environ/RUNTIME_KEY"}, "model_info": {"id": "m-1"}}"#,
                    "already exists", status: 409)
                // Nothing was written, and everything still serves.
                #expect(try await auditRows(proxy).isEmpty)
                #expect(try await modelInfo(proxy).keys.sorted() == ["m-1", "n-1"])
                #expect(try await send(.GET, proxy.url + "/health/readiness").json?["config_revision"]?.intValue == 0)
                #expect(
                    try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("m", "hi"), headers: master).status
                        == 200)
                // A virtual key cannot change models; an admin key can, and the audit names it.
                let (key, _) = try await generateKey(proxy)
                let forbidden = try await send(
                    .POST, proxy.url + "/model/new", json: newModel("y", mock: mock), headers: bearer(key))
                #expect(forbidden.status == 403)
                let (admin, _) = try await generateKey(
                    proxy, ["key_alias": "ops-admin", "metadata": .object(["role": "admin"])])
                let byAdmin = try await send(
                    .POST, proxy.url + "/model/new", json: newModel("y", mock: mock), headers: bearer(admin))
                #expect(byAdmin.status == 200, "\(byAdmin.text)")
                #expect(try await auditRows(proxy).first?["actor"] == "key:ops-admin")
                // ... but not the key routes, which stay the master's.
                #expect(
                    try await send(.POST, proxy.url + "/key/generate", json: .object([:]), headers: bearer(admin)).status == 403)
            }
        }
    }

    @Test func updateAndDeleteReachTheFilesDeploymentsToo() async throws {
        let database = try await Backend.sqlite.newURL()
        try await withMockUpstream { mock in
            let yaml = keysConfig(mock: mock, database: database)
            try await withProxy(yaml: yaml, environment: runtimeEnvironment, logLevel: .info) { proxy in
                // The file's m-1 has a literal key: the database never holds one, so the update must name a variable.
                let literal = try await send(
                    .POST, proxy.url + "/model/update",
                    json: .object(["model_info": .object(["id": "m-1"]), "litellm_params": .object(["model": "xai/grok-3-mini"])]
                    ),
                    headers: master)
                #expect(literal.status == 400)
                #expect(literal.text.contains("litellm_params.api_key of m is a literal key"))
                #expect(!literal.text.contains(testKey))
                // Now m-1 sends grok-3-mini upstream; its other fields (the base URL, the prices) are kept.
                let changed = try await send(
                    .POST, proxy.url + "/model/update",
                    json: .object([
                        "model_info": .object(["id": "m-1"]),
                        "litellm_params": .object(["model": "xai/grok-3-mini", "api_key": "os.environ/RUNTIME_KEY"]),
                    ]), headers: master)
                #expect(changed.status == 200, "\(changed.text)")
                mock.recorder.reset()
                #expect(
                    try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("m", "hi"), headers: master).status
                        == 200)
                #expect(mock.recorder.requests.last?.body?.objectValue?["model"] == "grok-3-mini")
                let info = try await modelInfo(proxy)
                #expect(info["m-1"]?["source"] == "database")
                #expect(info["m-1"]?["overrides_file"] == .bool(true))
                #expect(info["m-1"]?["input_cost_per_token"]?.doubleValue == 0.000001)
                // An update that would not serve changes nothing.
                let broken = try await send(
                    .POST, proxy.url + "/model/update",
                    json: .object([
                        "model_info": .object(["id": "m-1"]), "litellm_params": .object(["model": "nope/grok-3-mini"]),
                    ]), headers: master)
                #expect(broken.status == 400)
                #expect(try await auditRows(proxy).count == 1)
                // Deleting the file's n-1 hides it; an unknown id is a 404.
                let deleted = try await send(.POST, proxy.url + "/model/delete", json: .object(["id": "n-1"]), headers: master)
                #expect(deleted.status == 200, "\(deleted.text)")
                #expect(
                    try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("n", "hi"), headers: master).status
                        == 404)
                #expect(
                    try await send(.POST, proxy.url + "/model/delete", json: .object(["id": "n-1"]), headers: master).status
                        == 404)
                #expect(
                    try await send(
                        .POST, proxy.url + "/model/update", json: .object(["model_info": .object(["id": "zz"])]), headers: master
                    ).status == 404)
                // A database model added then deleted is gone, and the audit has every step with before and after.
                let made = try await send(
                    .POST, proxy.url + "/model/new", json: newModel("added", mock: mock, id: "added-1"), headers: master)
                #expect(made.status == 200, "\(made.text)")
                #expect(
                    try await send(.POST, proxy.url + "/model/delete", json: .object(["id": "added-1"]), headers: master).status
                        == 200)
                #expect(try await modelInfo(proxy).keys.sorted() == ["m-1"])
                let rows = try await auditRows(proxy)
                #expect(rows.map { $0["action"]?.stringValue ?? "" } == ["delete", "create", "delete", "update"])
                #expect(rows.map { $0["revision"]?.intValue ?? 0 } == [4, 3, 2, 1])
                #expect(rows[0]["after"] == .null)
                #expect(rows[0]["before"]?.objectValue?["model_name"] == "added")
                #expect(try await auditRows(proxy, query: "?name=m-1").count == 1)
            }
        }
    }

    @Test(arguments: Backend.allCases)
    func aChangeReachesAnotherInstanceWithinTheCacheTTL(_ backend: Backend) async throws {
        let database = try await backend.newURL()
        try await withMockUpstream { mock in
            let yaml = keysConfig(mock: mock, database: database, general: "user_api_key_cache_ttl: 0.2")
            try await withProxy(yaml: yaml, environment: runtimeEnvironment, logLevel: .info) { first in
                try await withProxy(yaml: yaml, environment: runtimeEnvironment, logLevel: .info) { second in
                    let made = try await send(
                        .POST, first.url + "/model/new", json: newModel("added", mock: mock, id: "added-1"), headers: master)
                    #expect(made.status == 200, "\(made.text)")
                    #expect(
                        try await eventually {
                            try await send(
                                .POST, second.url + "/v1/chat/completions", json: chat("added", "hi"), headers: master
                            ).status == 200
                        })
                    #expect(
                        try await send(.POST, second.url + "/model/delete", json: .object(["id": "added-1"]), headers: master)
                            .status == 200)
                    #expect(
                        try await eventually {
                            try await send(
                                .POST, first.url + "/v1/chat/completions", json: chat("added", "hi"), headers: master
                            ).status == 404
                        })
                    // A flag set on one instance refuses on the other too.
                    let flag = try await send(
                        .POST, second.url + "/flag/set", json: .object(["name": "enable_streaming", "enabled": false]),
                        headers: master)
                    #expect(flag.status == 200)
                    #expect(
                        try await eventually {
                            try await send(
                                .POST, first.url + "/v1/chat/completions", json: chat("m", "hi", stream: true), headers: master
                            ).status == 403
                        })
                    // Each made changes; each sees all of them in the one audit.
                    #expect(try await auditRows(first).map { $0["revision"]?.intValue ?? 0 } == [3, 2, 1])
                }
            }
        }
    }

    @Test func postgresAnnouncesAChangeSoTheFleetNeedNotWaitForItsPoll() async throws {
        let database = try await Backend.postgres.newURL()
        try await withMockUpstream { mock in
            // A poll once a minute: within the test's few seconds only the announcement can carry the change.
            let yaml = keysConfig(mock: mock, database: database, general: "user_api_key_cache_ttl: 60")
            try await withProxy(yaml: yaml, environment: runtimeEnvironment, logLevel: .info) { first in
                try await withProxy(yaml: yaml, environment: runtimeEnvironment, logLevel: .info) { second in
                    // Each listens once it started; a change made before that reaches it by its start-up read.
                    #expect(try await eventually { second.logs.lines.contains { $0.contains("listening for run-time") } })
                    let made = try await send(
                        .POST, first.url + "/model/new", json: newModel("added", mock: mock, id: "added-1"), headers: master)
                    #expect(made.status == 200, "\(made.text)")
                    #expect(
                        try await eventually(seconds: 5) {
                            try await send(
                                .POST, second.url + "/v1/chat/completions", json: chat("added", "hi"), headers: master
                            ).status == 200
                        })
                    #expect(second.logs.lines.contains { $0.contains("notified") && $0.contains("config reloaded") })
                }
            }
        }
    }

    @Test func aFileReloadKeepsTheRunTimeChanges() async throws {
        let database = try await Backend.sqlite.newURL()
        try await withMockUpstream { mock in
            let path = NSTemporaryDirectory() + "switchyard-runtime-\(UUID().uuidString.prefix(8)).yaml"
            defer { try? FileManager.default.removeItem(atPath: path) }
            try keysConfig(mock: mock, database: database).write(toFile: path, atomically: true, encoding: .utf8)
            try await withReloadableProxy(path: path, environment: runtimeEnvironment) { proxy, server in
                let made = try await send(.POST, proxy.url + "/model/new", json: newModel("added", mock: mock), headers: master)
                #expect(made.status == 200, "\(made.text)")
                let hidden = try await send(.POST, proxy.url + "/model/delete", json: .object(["id": "n-1"]), headers: master)
                #expect(hidden.status == 200)
                // The file changes: m-1 is gone from it, a new alias comes.
                let edited = keysConfig(mock: mock, database: database)
                    .replacingOccurrences(of: "- model_name: m\n", with: "- model_name: renamed\n")
                try edited.write(toFile: path, atomically: true, encoding: .utf8)
                #expect(server.reload(from: try #require(server.source), reason: "test") != .rejected(""))
                func status(_ alias: String) async throws -> Int {
                    try await send(.POST, proxy.url + "/v1/chat/completions", json: chat(alias, "hi"), headers: master).status
                }
                #expect(try await status("renamed") == 200)
                #expect(try await status("m") == 404)
                #expect(try await status("added") == 200)
                #expect(try await status("n") == 404)
                #expect(server.engine.table.runtime.revision == 2)
            }
        }
    }
}

/// The configuration tables on both databases: concurrent writers from two connections get distinct revisions.
@Suite struct RuntimeConfigStorageTests {
    @Test(arguments: Backend.allCases)
    func concurrentChangesGetOneRevisionEach(_ backend: Backend) async throws {
        let url = try await backend.newURL()
        let first = try backend.storage(url)
        let second = try backend.storage(url)
        do {
            try await Self.writeConcurrently(first, second)
        } catch {
            await first.close()
            await second.close()
            throw error
        }
        await first.close()
        await second.close()
    }

    static func writeConcurrently(_ first: SQLStorage, _ second: SQLStorage) async throws {
        try await first.migrate()
        try await second.migrate()
        #expect(try await first.configRevision() == 0)
        let perWriter = 15
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (writer, storage) in [("a", first), ("b", second)] {
                group.addTask {
                    for index in 0..<perWriter {
                        let body = #"{"n": \#(index)}"#
                        _ = try await storage.change(config: [
                            ConfigChange(
                                kind: "model", name: "\(writer)\(index % 3)", body: body, action: "update", actor: writer,
                                time: Double(index))
                        ])
                    }
                }
            }
            try await group.waitForAll()
        }
        let rows = try await first.configAudit(kind: nil, name: nil, limit: 1000)
        #expect(rows.map(\.revision) == Array((1...(2 * perWriter)).reversed()))
        let (revision, records) = try await second.configRecords()
        #expect(revision == 2 * perWriter)
        #expect(records.map(\.name) == ["a0", "a1", "a2", "b0", "b1", "b2"])
        // Each record's audit chain: every row's before is the previous row's after.
        for name in ["a0", "b2"] {
            let chain = try await first.configAudit(kind: "model", name: name, limit: 100).reversed().map { $0 }
            #expect(chain.first?.before == nil)
            for (earlier, later) in zip(chain, chain.dropFirst()) { #expect(later.before == earlier.after) }
            #expect(records.first { $0.name == name }?.body == chain.last?.after)
        }
        // A removal is audited with its before, and the record goes.
        let removed = try await first.change(config: [
            ConfigChange(kind: "model", name: "a0", body: nil, action: "delete", actor: "t", time: 99)
        ])
        #expect(removed == 2 * perWriter + 1)
        #expect(try await first.configAudit(kind: "model", name: "a0", limit: 1).first?.after == nil)
        #expect(try await second.configRecords().records.count == 5)
    }
}

/// Feature endpoints, prompt versions, flags, fallback chains and rate limits set at run time, on both databases.
@Suite struct RuntimeFeatureTests {
    static func post(_ proxy: ProxyHandle, _ path: String, _ body: JSONObject) async throws -> HTTPResult {
        try await send(.POST, proxy.url + path, json: .object(body), headers: master)
    }

    /// The last request the mock received, as an object.
    static func upstream(_ mock: MockHandle) -> JSONObject { mock.recorder.requests.last?.body?.objectValue ?? [:] }

    static func messages(_ body: JSONObject) -> [(String, String)] {
        (body["messages"]?.arrayValue ?? []).map {
            ($0.objectValue?["role"]?.stringValue ?? "", $0.objectValue?["content"]?.stringValue ?? "")
        }
    }

    @Test(arguments: Backend.allCases)
    func aFeatureSlugAppliesItsModelDefaultsAndActivePromptAndARollbackChangesTheNextRequest(_ backend: Backend)
        async throws
    {
        let database = try await backend.newURL()
        try await withMockUpstream { mock in
            try await withProxy(yaml: keysConfig(mock: mock, database: database), logLevel: .info) { proxy in
                let made = try await Self.post(
                    proxy, "/feature/new",
                    [
                        "slug": "document_summary", "model": "n",
                        "defaults": .object(["temperature": 0.2, "max_tokens": 64]),
                        "client_overrides": .array(["temperature"]),
                    ])
                #expect(made.status == 200, "\(made.text)")
                let first = try await Self.post(
                    proxy, "/prompt/new",
                    ["slug": "document_summary", "system": "You summarise {{kind}} documents.", "user": "Summarise: {{ text }}"])
                #expect(first.json?["version"]?.intValue == 1)
                let variables: JSONValue = .object(["kind": "legal", "text": "abc"])
                func call(_ extra: JSONObject) async throws -> HTTPResult {
                    var body: JSONObject = ["model": "document_summary", "prompt_variables": variables]
                    for (key, value) in extra { body[key] = value }
                    return try await send(.POST, proxy.url + "/v1/chat/completions", json: .object(body), headers: master)
                }
                mock.recorder.reset()
                let answer = try await call(["temperature": 0.9, "max_tokens": 999])
                #expect(answer.status == 200, "\(answer.text)")
                var sent = Self.upstream(mock)
                #expect(sent["model"] == "grok-3-mini")
                #expect(sent["temperature"]?.doubleValue == 0.9)  // the feature lets the client set it
                // It does not for max_tokens (which xAI's reasoning models take as max_completion_tokens).
                #expect((sent["max_tokens"] ?? sent["max_completion_tokens"])?.intValue == 64)
                #expect(sent["prompt_variables"] == nil && sent["prompt_id"] == nil)
                #expect(Self.messages(sent).map(\.0) == ["system", "user"])
                #expect(Self.messages(sent).map(\.1) == ["You summarise legal documents.", "Summarise: abc"])
                // A second version becomes active: the next request uses it.
                let second = try await Self.post(
                    proxy, "/prompt/new", ["slug": "document_summary", "system": "V2 for {{kind}}.", "user": "{{text}}"])
                #expect(second.json?["version"]?.intValue == 2)
                #expect(try await call([:]).status == 200)
                sent = Self.upstream(mock)
                #expect(Self.messages(sent).first?.1 == "V2 for legal.")
                #expect(sent["temperature"]?.doubleValue == 0.2)
                // A rollback to version 1 changes the next request.
                let rolledBack = try await Self.post(proxy, "/prompt/activate", ["slug": "document_summary", "version": 1])
                #expect(rolledBack.json?["previous_version"]?.intValue == 2)
                #expect(try await call([:]).status == 200)
                #expect(Self.messages(Self.upstream(mock)).first?.1 == "You summarise legal documents.")
                // LiteLLM's prompt_id names the feature too; the client's messages follow the prompt's.
                let byPromptID = try await send(
                    .POST, proxy.url + "/v1/chat/completions",
                    json: .object([
                        "model": "m", "prompt_id": "document_summary", "prompt_variables": variables,
                        "messages": .array([.object(["role": "user", "content": "and be brief"])]),
                    ]), headers: master)
                #expect(byPromptID.status == 200, "\(byPromptID.text)")
                sent = Self.upstream(mock)
                #expect(sent["model"] == "grok-3-mini")
                #expect(Self.messages(sent).map(\.1).last == "and be brief")
                // A missing variable is a 400 naming it; an unknown prompt_id a 404.
                let missing = try await send(
                    .POST, proxy.url + "/v1/chat/completions",
                    json: .object(["model": "document_summary", "prompt_variables": .object(["kind": "x"])]), headers: master)
                #expect(missing.status == 400)
                #expect(missing.error?["message"]?.stringValue?.contains("'text'") == true)
                #expect(missing.error?["param"] == "prompt_variables")
                let unknown = try await send(
                    .POST, proxy.url + "/v1/chat/completions",
                    json: .object([
                        "model": "m", "prompt_id": "nope", "messages": .array([.object(["role": "user", "content": "x"])]),
                    ]),
                    headers: master)
                #expect(unknown.status == 404)
                // No streaming when the feature says so; nothing at all when it is switched off.
                #expect(
                    try await Self.post(proxy, "/feature/update", ["slug": "document_summary", "stream_allowed": false]).status
                        == 200)
                #expect(try await call(["stream": true]).status == 400)
                #expect(
                    try await Self.post(proxy, "/feature/update", ["slug": "document_summary", "active": false]).status == 200)
                #expect(try await call([:]).status == 403)
                // Each request's log row names the feature and the prompt version.
                let logs = try await send(.GET, proxy.url + "/spend/logs?limit=100", headers: master)
                let rows = ((try? JSONParser.parse(logs.body))?.arrayValue ?? []).compactMap(\.objectValue).filter {
                    $0["status"]?.intValue == 200
                }
                #expect(rows.count == 4)
                #expect(Set(rows.compactMap { $0["feature"]?.stringValue }) == ["document_summary"])
                #expect(rows.compactMap { $0["prompt_version"]?.intValue }.sorted() == [1, 1, 1, 2])
                // Refused whole: a feature on an unknown alias, a slug that is an alias, a bad default.
                for body: JSONObject in [
                    ["slug": "x", "model": "nope"], ["slug": "m", "model": "n"],
                    ["slug": "y", "model": "n", "defaults": .object(["temperature": "hot"])],
                ] {
                    #expect(try await Self.post(proxy, "/feature/new", body).status == 400, "\(body)")
                }
                let audit = try await auditRows(proxy, query: "?kind=feature")
                #expect(
                    audit.map { $0["action"]?.stringValue ?? "" } == [
                        "update", "update", "activate", "activate", "activate", "create",
                    ])
            }
        }
    }

    @Test(arguments: Backend.allCases)
    func aFlagOffRefusesWith403AndOverridesWin(_ backend: Backend) async throws {
        let database = try await backend.newURL()
        try await withMockUpstream { mock in
            try await withProxy(yaml: keysConfig(mock: mock, database: database), logLevel: .info) { proxy in
                let (pro, _) = try await generateKey(proxy, ["metadata": .object(["tier": "pro"])])
                let (free, _) = try await generateKey(proxy, ["metadata": .object(["tier": "free", "team": "labs"])])
                let (named, _) = try await generateKey(proxy, ["key_alias": "vip", "metadata": .object(["tier": "free"])])
                func status(_ key: String, _ extra: JSONObject) async throws -> HTTPResult {
                    var body = chat("m", "hi").objectValue ?? [:]
                    for (name, value) in extra { body[name] = value }
                    return try await send(.POST, proxy.url + "/v1/chat/completions", json: .object(body), headers: bearer(key))
                }
                #expect(try await status(free, ["stream": true]).status == 200)
                let set = try await Self.post(
                    proxy, "/flag/set",
                    [
                        "name": "enable_streaming", "enabled": false,
                        "overrides": .array([
                            .object(["tier": "pro", "enabled": true]), .object(["key": "vip", "enabled": true]),
                        ]),
                    ])
                #expect(set.status == 200, "\(set.text)")
                let refused = try await status(free, ["stream": true])
                #expect(refused.status == 403)
                #expect(refused.error?["message"]?.stringValue?.contains("enable_streaming") == true)
                #expect(refused.error?["code"] == "feature_flag_off")
                #expect(try await status(free, [:]).status == 200)
                #expect(try await status(pro, ["stream": true]).status == 200)
                #expect(try await status(named, ["stream": true]).status == 200)
                // Tool use off for a team; vision off for everyone but on for the pro tier.
                #expect(
                    try await Self.post(
                        proxy, "/flag/set",
                        [
                            "name": "enable_tool_use", "enabled": true,
                            "overrides": .array([.object(["team": "labs", "enabled": false])]),
                        ]
                    ).status == 200)
                let tools: JSONObject = [
                    "tools": .array([
                        .object(["type": "function", "function": .object(["name": "f", "parameters": .object([:])])])
                    ])
                ]
                #expect(try await status(free, tools).status == 403)
                #expect(try await status(pro, tools).status == 200)
                #expect(
                    try await Self.post(
                        proxy, "/flag/set",
                        [
                            "name": "enable_vision", "enabled": false,
                            "overrides": .array([.object(["tier": "pro", "enabled": true])]),
                        ]
                    ).status == 200)
                let image: JSONObject = [
                    "messages": .array([
                        .object([
                            "role": "user",
                            "content": .array([
                                .object(["type": "image_url", "image_url": .object(["url": "data:image/png;base64,AA=="])])
                            ]),
                        ])
                    ])
                ]
                #expect(try await status(named, image).status == 403)
                #expect(try await status(pro, image).status == 200)
                // Deleted: everything allowed again.
                #expect(try await Self.post(proxy, "/flag/delete", ["name": "enable_streaming"]).status == 200)
                #expect(try await status(free, ["stream": true]).status == 200)
                #expect(try await Self.post(proxy, "/flag/set", ["name": "enable_streaming"]).status == 400)
            }
        }
    }

    @Test(arguments: Backend.allCases)
    func anOnBudgetExceededChainMovesASpentKeyToTheCheaperModel(_ backend: Backend) async throws {
        let database = try await backend.newURL()
        try await withMockUpstream { mock in
            try await withProxy(yaml: keysConfig(mock: mock, database: database), logLevel: .info) { proxy in
                let (key, _) = try await generateKey(proxy, ["max_budget": 0.000_000_1])
                func ask() async throws -> HTTPResult {
                    try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("m", "hi"), headers: bearer(key))
                }
                #expect(try await ask().status == 200)
                // Spent now: refused without a chain.
                let refused = try await ask()
                #expect(refused.status == 429)
                #expect(refused.error?["code"] == "budget_exceeded")
                let set = try await Self.post(
                    proxy, "/fallback/set", ["model": "m", "trigger": "on_budget_exceeded", "chain": .array(["n"])])
                #expect(set.status == 200, "\(set.text)")
                mock.recorder.reset()
                let moved = try await ask()
                #expect(moved.status == 200, "\(moved.text)")
                #expect(Self.upstream(mock)["model"] == "grok-3-mini")
                // A chain to an alias that does not serve is refused.
                let bad = try await Self.post(
                    proxy, "/fallback/set", ["model": "m", "trigger": "on_budget_exceeded", "chain": .array(["nope"])])
                #expect(bad.status == 400)
                #expect(
                    try await Self.post(proxy, "/fallback/delete", ["model": "m", "trigger": "on_budget_exceeded"]).status == 200)
                #expect(try await ask().status == 429)
            }
        }
    }

    @Test func anOnRateLimitChainTakesA429ToAnotherAlias() async throws {
        let database = try await Backend.sqlite.newURL()
        try await withMockUpstream { mock in
            try await withProxy(yaml: keysConfig(mock: mock, database: database), logLevel: .info) { proxy in
                func ask() async throws -> HTTPResult {
                    try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("m", "hi"), headers: master)
                }
                // One request a minute on m: the next is a 429 without a chain.
                #expect(try await Self.post(proxy, "/rate_limit/set", ["model": "m", "rpm": 1]).status == 200)
                #expect(try await ask().status == 200)
                #expect(try await ask().status == 429)
                // With an on_rate_limit chain, n answers instead.
                #expect(
                    try await Self.post(
                        proxy, "/fallback/set", ["model": "m", "trigger": "on_rate_limit", "chain": .array(["n"])]
                    )
                    .status == 200)
                mock.recorder.reset()
                let moved = try await ask()
                #expect(moved.status == 200, "\(moved.text)")
                #expect(Self.upstream(mock)["model"] == "grok-3-mini")
                #expect(moved.headers.first(name: "x-switchyard-attempted-fallbacks") == "1")
            }
        }
    }

    @Test func rateLimitConfigsApplyTheirHeadroomAndDailyLimits() async throws {
        let database = try await Backend.sqlite.newURL()
        try await withMockUpstream { mock in
            try await withProxy(yaml: keysConfig(mock: mock, database: database), logLevel: .info) { proxy in
                func status(_ alias: String) async throws -> HTTPResult {
                    try await send(.POST, proxy.url + "/v1/chat/completions", json: chat(alias, "hi"), headers: master)
                }
                // rpm 3 with 30% kept free: 2 a minute.
                let set = try await Self.post(
                    proxy, "/rate_limit/set", ["model": "m", "rpm": 3, "headroom": 0.3, "backoff": "fixed"])
                #expect(set.status == 200, "\(set.text)")
                #expect(try await status("m").status == 200)
                #expect(try await status("m").status == 200)
                let limited = try await status("m")
                #expect(limited.status == 429)
                #expect(limited.error?["message"]?.stringValue?.contains("2 requests per minute") == true)
                // Two a day on n's deployment.
                #expect(try await Self.post(proxy, "/rate_limit/set", ["model": "n-1", "rpd": 2]).status == 200)
                #expect(try await status("n").status == 200)
                #expect(try await status("n").status == 200)
                let daily = try await status("n")
                #expect(daily.status == 429)
                #expect(daily.error?["message"]?.stringValue?.contains("2 requests per day") == true)
                #expect(try await Self.post(proxy, "/rate_limit/set", ["model": "zz", "rpm": 1]).status == 400)
                #expect(try await Self.post(proxy, "/rate_limit/set", ["model": "m", "headroom": 2]).status == 400)
            }
        }
    }
}

/// The same changes from the command line, against the database; export and import of the effective config.
@Suite struct RuntimeCLITests {
    static func config(database: String) -> String {
        """
        model_list:
          - model_name: fast
            litellm_params: {model: xai/grok-code-fast-1, api_key: os.environ/RUNTIME_KEY}
          - model_name: literal
            litellm_params: {model: xai/grok-3-mini, api_key: xai-literal-in-file-0123456789}
        general_settings:
          database_url: "\(database)"
          master_key: sk-master-literal-0123456789
        """
    }

    @Test func theCLIAsksARunningProxyWithURL() async throws {
        let database = try await Backend.sqlite.newURL()
        try await withMockUpstream { mock in
            try await withProxy(yaml: keysConfig(mock: mock, database: database), logLevel: .info) { proxy in
                func cli(_ arguments: [String]) async throws -> CLIResult {
                    try await runCLI(["runtime"] + arguments + ["--url", proxy.url, "--key", masterKey, "--json"])
                }
                let set = try await cli(["/flag/set", "--data", #"{"name": "enable_tool_use", "enabled": false}"#])
                #expect(set.status == 0, "\(set.output)")
                let listed = try await cli(["/flag/list"])
                #expect(listed.stdout.contains(#""name":"enable_tool_use""#), "\(listed.output)")
                let audit = try await cli(["/config/audit", "--data", #"{"kind": "flag", "limit": 5}"#])
                #expect(audit.stdout.contains(#""actor":"master_key""#), "\(audit.output)")
                // The proxy's refusal is the CLI's, exit 1.
                let refused = try await cli(["/flag/set", "--data", #"{"name": "enable_tool_use"}"#])
                #expect(refused.status == 1)
                #expect(refused.stderr.contains("'enabled' is required"))
                let unknown = try await cli(["/nope"])
                #expect(unknown.status == 2)
            }
        }
    }

    @Test func theCLIChangesExportsAndImportsTheRunTimeConfiguration() async throws {
        let first = try temporaryFile(Self.config(database: "sqlite:first.db"))
        let environment = ["RUNTIME_KEY": testKey, "USER": "ops"]
        func cli(_ arguments: [String], config: String = first) async throws -> CLIResult {
            try await runCLI(arguments + ["--config", config], environment: environment)
        }
        let added = try await cli([
            "runtime", "/model/new", "--json", "--data",
            #"{"model_name": "added", "litellm_params": {"model": "xai/grok-4", "api_key": "os.environ/RUNTIME_KEY"}, "model_info": {"id": "added-1"}}"#,
        ])
        #expect(added.status == 0, "\(added.output)")
        #expect(added.stdout.contains(#""revision":1"#))
        let literal = try await cli([
            "runtime", "/model/new", "--data",
            #"{"model_name": "x", "litellm_params": {"model": "xai/grok-4", "api_key": "xai-secret-cli-0123456789"}}"#,
        ])
        #expect(literal.status == 1)
        #expect(literal.stderr.contains("literal key"))
        #expect(!literal.output.contains("xai-secret-cli-0123456789"))
        #expect(try await cli(["runtime", "/feature/new", "--data", #"{"slug": "summary", "model": "fast"}"#]).status == 0)
        #expect(
            try await cli(["runtime", "/prompt/new", "--data", #"{"slug": "summary", "system": "Be brief about {{topic}}."}"#])
                .status == 0)
        #expect(
            try await cli(["runtime", "/flag/set", "--data", #"{"name": "enable_vision", "enabled": false}"#]).status == 0)
        // models list: where each deployment came from.
        let listed = try await cli(["models", "list", "--json"])
        let rows = (try? JSONParser.parse(listed.stdout))?.arrayValue?.compactMap(\.objectValue) ?? []
        #expect(rows.first { $0["alias"] == "added" }?["source"] == "database (cli:ops)")
        #expect(rows.first { $0["alias"] == "fast" }?["source"] == "file")
        let audit = try await cli(["runtime", "/config/audit", "--json"])
        #expect(audit.stdout.contains(#""actor":"cli:ops""#))
        // Export: the file's models and the database's, every id, the runtime section; the file's literal key
        // redacted.
        let exported = try await cli(["config", "export"])
        #expect(exported.status == 0, "\(exported.output)")
        #expect(!exported.stdout.contains("xai-literal-in-file"))
        #expect(!exported.stdout.contains("sk-master-literal-0123456789"))
        for text in ["added-1", "fast#1", "literal#1", "summary", "Be brief about {{topic}}.", "enable_vision", "runtime:"] {
            #expect(exported.stdout.contains(text), "\(text)")
        }
        // Imported into an empty database beside another copy of the file: the same effective configuration.
        let second = try temporaryFile(Self.config(database: "sqlite:second.db"))
        let exportPath = (second as NSString).deletingLastPathComponent + "/export.yaml"
        try exported.stdout.write(toFile: exportPath, atomically: true, encoding: .utf8)
        let imported = try await cli(["config", "import", exportPath], config: second)
        #expect(imported.status == 0, "\(imported.output)")
        #expect(imported.stdout.contains("4 entries written, 2 unchanged"), "\(imported.stdout)")
        let again = try await cli(["config", "import", exportPath], config: second)
        #expect(again.stdout.contains("0 entries written, 6 unchanged"), "\(again.stdout)")
        let reexported = try await cli(["config", "export"], config: second)
        func body(_ text: String) -> String {
            text.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.contains("database_url") }.joined(separator: "\n")
        }
        #expect(body(reexported.stdout) == body(exported.stdout))
        // serve ignores the runtime section, and says so.
        let checked = try await cli(["config", "check", exportPath])
        #expect(checked.stdout.contains("runtime: is read by 'switchyard config import'"))
        // An import with one bad entry writes nothing.
        let bad = exported.stdout.replacingOccurrences(of: "\"xai/grok-4\"", with: "\"xia/grok-4\"")
        try bad.write(toFile: exportPath, atomically: true, encoding: .utf8)
        let refused = try await cli(["config", "import", exportPath], config: second)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("unknown provider 'xia'"), "\(refused.stderr)")
    }
}

/// A feature's prompt messages are written once as text: the text must mean what the value says.
@Suite struct FeaturePromptTextTests {
    static let prompt = PromptVersion(
        slug: "s", version: 3, system: PromptText("Sys \"{{a}}\"\n"), user: PromptText("User {{b}} ✓"))

    @Test(arguments: [
        #"{"model":"s","messages":[{"role":"user","content":"hi \"there\""}],"prompt_variables":{"a":"x","b":2}}"#,
        #"{ "model" : "s" , "messages" : [ {"role": "user", "content": "one"} , {"role":"assistant","content":"two"} ] }"#,
        #"{"model":"s","messages":[]}"#,
        #"{"model":"s"}"#,
        #"{"model":"s","messages":null}"#,
        #"{"mess\"ages":1,"messages":[{"role":"user","content":"q"}]}"#,
    ])
    func theWrittenTextMeansTheValue(_ document: String) throws {
        var body = try #require(try JSONParser.parse(document).objectValue)
        let variables = body.removeValue(forKey: "prompt_variables") ?? .object(["a": "x", "b": 2])
        let given = body["messages"]?.arrayValue ?? []
        try ProxyEngine.prepend(Self.prompt, of: "s", variables: variables, to: &body)
        let encoded = JSONValue.object(body).encodedBytes()
        let reread = try #require(try JSONParser.parse(encoded).objectValue)
        #expect(reread == body, "\(String(decoding: encoded, as: UTF8.self))")
        let messages = try #require(reread["messages"]?.arrayValue)
        #expect(messages.count == 2 + given.count)
        #expect(messages[0].objectValue?["content"] == "Sys \"x\"\n")
        #expect(messages[1].objectValue?["content"] == "User 2 ✓")
        #expect(Array(messages.dropFirst(2)) == given)
        // The same object built without any parsed text encodes to the same value.
        var plain = try #require(try JSONParser.parse(document).objectValue).forgettingSource()
        _ = plain.removeValue(forKey: "prompt_variables")
        try ProxyEngine.prepend(Self.prompt, of: "s", variables: variables, to: &plain)
        #expect(try JSONParser.parse(JSONValue.object(plain).encodedBytes()) == .object(body))
    }

    @Test func aMissingVariableIsNamed() throws {
        var body: JSONObject = ["model": "s"]
        #expect(throws: ProxyError.self) { try ProxyEngine.prepend(Self.prompt, of: "s", variables: nil, to: &body) }
        do {
            try ProxyEngine.prepend(Self.prompt, of: "s", variables: .object(["a": "x"]), to: &body)
        } catch {
            #expect(error.message.contains("'b'"))
            #expect(error.code == "missing_prompt_variable")
        }
    }
}

/// Mangled bodies at every run-time route: each answer is a JSON error or a change, the proxy keeps serving, and
/// what was applied is what the database holds.
@Suite struct RuntimeConfigFuzzTests {
    static let alphabet = Array(#"{}[]":,\ 0123456789.-aezntrufl/#"#.utf8) + [0x00, 0xFF, 0x0A]

    @Test func mangledBodiesGetJSONAnswersAndLeaveTheProxyServing() async throws {
        let database = try await Backend.sqlite.newURL()
        try await withMockUpstream { mock in
            try await withProxy(
                yaml: keysConfig(mock: mock, database: database), environment: runtimeEnvironment, logLevel: .info
            ) {
                proxy in
                let bodies: [(String, String)] = [
                    (
                        "/model/new",
                        #"{"model_name": "z", "litellm_params": {"model": "xai/grok-3-mini", "api_base": "\#(mock.baseURL)", "api_key": "os.environ/RUNTIME_KEY", "rpm": 5}, "model_info": {"id": "z1", "input_cost_per_token": 0.000001}}"#
                    ),
                    (
                        "/model/update",
                        #"{"model_info": {"id": "n-1"}, "litellm_params": {"api_key": "os.environ/RUNTIME_KEY", "tpm": 100}}"#
                    ),
                    (
                        "/feature/new",
                        #"{"slug": "f", "model": "n", "defaults": {"temperature": 0.5}, "client_overrides": ["temperature"]}"#
                    ),
                    ("/prompt/new", #"{"slug": "f", "system": "S {{a}}", "user": "U {{b}}"}"#),
                    (
                        "/flag/set",
                        #"{"name": "enable_streaming", "enabled": false, "overrides": [{"tier": "x", "enabled": true}]}"#
                    ),
                    ("/fallback/set", #"{"model": "m", "trigger": "on_error", "chain": ["n"]}"#),
                    ("/rate_limit/set", #"{"model": "n", "rpm": 100, "headroom": 0.1, "backoff": "fixed"}"#),
                ]
                var mangler = Mangler(seed: 24)
                var statuses: [Int: Int] = [:]
                for (path, body) in bodies {
                    for _ in 0..<60 {
                        var bytes = Array(body.utf8)
                        mangler.mangle(&bytes, maxEdits: 4, alphabet: Self.alphabet)
                        let answer = try await send(
                            .POST, proxy.url + path, raw: String(decoding: bytes, as: UTF8.self), headers: master)
                        statuses[answer.status, default: 0] += 1
                        #expect([200, 400, 404, 409].contains(answer.status), "\(path): \(answer.status) \(answer.text)")
                        if answer.status != 200 {
                            #expect(answer.error?["message"]?.stringValue?.isEmpty == false, "\(path): \(answer.text)")
                        }
                    }
                }
                #expect(statuses[200, default: 0] > 0 && statuses[400, default: 0] > 0, "\(statuses)")
                // Still serving, on a configuration that is the database's.
                #expect(
                    try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("m", "hi"), headers: master).status
                        == 200)
                let revision = try await send(.GET, proxy.url + "/health/readiness").json?["config_revision"]?.intValue
                let newest = try await auditRows(proxy, query: "?limit=1").first?["revision"]?.intValue
                #expect(revision == newest)
            }
        }
    }
}

/// Records as another build (or a hand) may have left them: read without a crash, each bad one left out alone.
@Suite struct RuntimeRecordFuzzTests {
    @Test func mangledRecordsAreLeftOutNotFatal() {
        let good: [ConfigRecord] = [
            ConfigRecord(
                kind: "model", name: "a", body: #"{"model_name": "a", "litellm_params": {"model": "xai/grok-3-mini"}}"#,
                changedAt: 1, changedBy: "t"),
            ConfigRecord(
                kind: "feature", name: "f", body: #"{"slug": "f", "model": "a", "prompt_version": 1}"#, changedAt: 1,
                changedBy: "t"),
            ConfigRecord(
                kind: "prompt", name: "f#1", body: #"{"slug": "f", "version": 1, "system": "s {{x}}"}"#, changedAt: 1,
                changedBy: "t"),
            ConfigRecord(
                kind: "flag", name: "enable_vision", body: #"{"name": "enable_vision", "enabled": false}"#, changedAt: 1,
                changedBy: "t"),
            ConfigRecord(
                kind: "fallback", name: "a:on_error", body: #"{"model": "a", "chain": ["b"]}"#, changedAt: 1, changedBy: "t"),
            ConfigRecord(kind: "rate_limit", name: "a", body: #"{"model": "a", "rpd": 3}"#, changedAt: 1, changedBy: "t"),
        ]
        let clean = RuntimeConfig.read(revision: 6, records: good)
        #expect(clean.diagnostics.isEmpty, "\(clean.diagnostics)")
        #expect(clean.features["f"]?.prompt?.version == 1)
        var mangler = Mangler(seed: 2024)
        let alphabet = Array(#"{}[]":,\ 0123456789.-aezntrufl#"#.utf8) + [0xFF]
        for _ in 0..<2_000 {
            var records = good
            let index = Int(mangler.next() % UInt64(records.count))
            var bytes = Array(records[index].body.utf8)
            mangler.mangle(&bytes, maxEdits: 5, alphabet: alphabet)
            records[index].body = String(decoding: bytes, as: UTF8.self)
            let read = RuntimeConfig.read(revision: 6, records: records)
            // Every other record still reads; a diagnostic is a warning, never an error.
            #expect(read.diagnostics.allSatisfy { $0.severity == .warning })
            #expect(
                read.models.count + read.features.count + read.flags.count + read.fallbacks.count + read.rateLimits.count >= 4)
        }
    }
}
