import SwitchyardCore

/// The run-time configuration's admin routes, as one table: the HTTP server registers each (behind the master
/// key), and `switchyard runtime PATH` runs the same handler against the database when it has no `--url`.
public enum RuntimeRoutes {
    /// One route.
    public struct Route: Sendable {
        /// `GET` or `POST`.
        public let method: String
        /// The path, without `/v1`.
        public let path: String
        /// What it does, for `--help`.
        public let summary: String
        /// Runs it: the JSON body (for a GET, the query parameters as strings) and the body's text.
        public let run: @Sendable (RuntimeConfigAPI, JSONObject, String) async throws(ProxyError) -> JSONValue
    }

    static func post(
        _ path: String, _ summary: String,
        _ run: @escaping @Sendable (RuntimeConfigAPI, JSONObject) async throws(ProxyError) -> JSONValue
    ) -> Route {
        Route(method: "POST", path: path, summary: summary) { api, body, _ throws(ProxyError) in try await run(api, body) }
    }

    static func get(
        _ path: String, _ summary: String,
        _ run: @escaping @Sendable (RuntimeConfigAPI, JSONObject) async throws(ProxyError) -> JSONValue
    ) -> Route {
        Route(method: "GET", path: path, summary: summary) { api, query, _ throws(ProxyError) in try await run(api, query) }
    }

    /// A whole-number parameter of a GET, when given.
    static func integer(_ query: JSONObject, _ name: String) throws(ProxyError) -> Int? {
        guard let text = query[name]?.stringValue else { return nil }
        guard let value = Int(text) else { throw .invalidRequest("'\(name)' must be a whole number.", param: name) }
        return value
    }

    /// Every route.
    public static let all: [Route] = [
        Route(method: "POST", path: "/model/new", summary: "add a deployment (model_name, litellm_params, model_info)") {
            api, body, text throws(ProxyError) in try await api.create(body, text: text)
        },
        post("/model/update", "change a deployment, the file's or the database's (model_info.id and the fields)") {
            api, body throws(ProxyError) in try await api.update(body)
        },
        post("/model/delete", "remove a deployment (id); the file's is hidden") { api, body throws(ProxyError) in
            try await api.delete(body)
        },
        post("/feature/new", "add a feature endpoint (slug, model, defaults, stream_allowed, active, client_overrides)") {
            api, body throws(ProxyError) in try await api.setFeature(body, update: false)
        },
        post("/feature/update", "change a feature endpoint (slug and the fields)") { api, body throws(ProxyError) in
            try await api.setFeature(body, update: true)
        },
        post("/feature/delete", "remove a feature endpoint and its prompts (slug)") { api, body throws(ProxyError) in
            try await api.remove(.feature, body)
        },
        get("/feature/list", "every feature endpoint") { api, _ throws(ProxyError) in try await api.listFeatures() },
        post("/prompt/new", "add a prompt version (slug, system, user; activate: false keeps the active one)") {
            api, body throws(ProxyError) in try await api.newPrompt(body)
        },
        post("/prompt/activate", "make a version active, or roll back (slug, version)") { api, body throws(ProxyError) in
            try await api.activatePrompt(body)
        },
        get("/prompt/list", "a feature's prompt versions (?slug=)") { api, query throws(ProxyError) in
            guard let slug = query["slug"]?.stringValue else { throw .invalidRequest("'slug' is required.", param: "slug") }
            return try await api.listPrompts(slug: slug)
        },
        post("/flag/set", "set a feature flag (name, enabled, overrides by key, tier, team)") { api, body throws(ProxyError) in
            try await api.set(.flag, body)
        },
        post("/flag/delete", "remove a feature flag (name)") { api, body throws(ProxyError) in try await api.remove(.flag, body)
        },
        get("/flag/list", "every feature flag") { api, _ throws(ProxyError) in try await api.list(.flag) },
        post("/fallback/set", "set a fallback chain (model, trigger, chain)") { api, body throws(ProxyError) in
            try await api.set(.fallback, body)
        },
        post("/fallback/delete", "remove a fallback chain (model, trigger)") { api, body throws(ProxyError) in
            try await api.remove(.fallback, body)
        },
        get("/fallback/list", "every fallback chain") { api, _ throws(ProxyError) in try await api.list(.fallback) },
        post("/rate_limit/set", "set an alias's or deployment's limits (model, rpm, tpm, rpd, headroom, backoff)") {
            api, body throws(ProxyError) in try await api.set(.rateLimit, body)
        },
        post("/rate_limit/delete", "remove a rate-limit configuration (model)") { api, body throws(ProxyError) in
            try await api.remove(.rateLimit, body)
        },
        get("/rate_limit/list", "every rate-limit configuration") { api, _ throws(ProxyError) in try await api.list(.rateLimit) },
        get("/config/audit", "changes, newest first (?kind=&name=&limit=)") { api, query throws(ProxyError) in
            try await api.audit(
                kind: query["kind"]?.stringValue, name: query["name"]?.stringValue,
                limit: try integer(query, "limit") ?? 100)
        },
    ]

    /// The route of a method and path (`/v1` in front is allowed).
    public static func route(method: String, path: String) -> Route? {
        let path = path.hasPrefix("/v1/") ? String(path.dropFirst(3)) : path
        return all.first { $0.method == method.uppercased() && $0.path == path }
    }
}
