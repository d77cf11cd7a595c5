import Hummingbird
import NIOCore
import SwitchyardCore

/// LiteLLM's key and spend routes, behind the master key: `/key/generate`, `/key/info`, `/key/update`,
/// `/key/delete`, `/key/list`, `/spend/logs`, `/global/spend/report`.
enum AdminRoutes {
    static func add(to router: Router<BasicRequestContext>, store: EngineStore, runtime: RuntimeConfigSync) {
        addRuntimeRoutes(to: router, store: store, runtime: runtime)
        router.post("/key/generate") { request, _ in
            await answer(request, store: store) { api, request throws(ProxyError) in
                try await api.generate(try await body(request, store))
            }
        }
        router.get("/key/info") { request, _ in
            await answer(request, store: store) { api, request throws(ProxyError) in
                guard let key = request.uri.queryParameters.get("key"), !key.isEmpty else {
                    throw .invalidRequest("'key' is required: the key or its hash (token).", param: "key")
                }
                return try await api.info(key)
            }
        }
        router.post("/key/update") { request, _ in
            await answer(request, store: store) { api, request throws(ProxyError) in
                try await api.update(try await body(request, store))
            }
        }
        router.post("/key/delete") { request, _ in
            await answer(request, store: store) { api, request throws(ProxyError) in
                try await api.delete(try await body(request, store))
            }
        }
        router.get("/key/list") { request, _ in
            await answer(request, store: store) { api, request throws(ProxyError) in
                let parameters = request.uri.queryParameters
                return try await api.list(
                    fullObjects: parameters.get("return_full_object") == "true",
                    page: try integer(parameters.get("page"), "page") ?? 1,
                    size: try integer(parameters.get("size"), "size") ?? AdminAPI.defaultPageSize,
                    keyAlias: parameters.get("key_alias"))
            }
        }
        router.get("/spend/logs") { request, _ in
            await answer(request, store: store) { api, request throws(ProxyError) in try await api.spendLogs(query(request)) }
        }
        router.get("/global/spend/report") { request, _ in
            await answer(request, store: store) { api, request throws(ProxyError) in try await api.spendReport(query(request)) }
        }
    }

    /// Checks the master key, runs `handler` and answers its JSON, or the error in OpenAI's envelope.
    static func answer(
        _ request: Request, store: EngineStore,
        _ handler: (AdminAPI, Request) async throws(ProxyError) -> JSONValue
    ) async -> Response {
        let engine = store.current
        let requestID = ProxyEngine.requestID(from: request)
        do throws(ProxyError) {
            try engine.authorizeAdmin(request)
            let value = try await handler(AdminAPI(accounting: engine.accounting), request)
            return ProxyEngine.jsonResponse(value, requestID: requestID)
        } catch {
            return engine.errorResponse(error, requestID: requestID)
        }
    }

    /// The request's JSON object body.
    static func body(_ request: Request, _ store: EngineStore) async throws(ProxyError) -> JSONObject {
        try await bodyAndText(request).object
    }

    /// The request's JSON object body, and its text.
    static func bodyAndText(_ request: Request) async throws(ProxyError) -> (object: JSONObject, text: String) {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: 1024 * 1024)
        } catch {
            throw .invalidRequest("The request body is too large or could not be read.", code: "invalid_json")
        }
        if buffer.readableBytes == 0 { return (JSONObject(), "{}") }
        return (try ProxyEngine.parseObject(buffer), String(buffer: buffer))
    }

    /// The run-time configuration's routes (`RuntimeRoutes`), behind the master key; `/model/*` also under `/v1`.
    static func addRuntimeRoutes(to router: Router<BasicRequestContext>, store: EngineStore, runtime: RuntimeConfigSync) {
        @Sendable func api(_ engine: ProxyEngine, actor: String) -> RuntimeConfigAPI {
            RuntimeConfigAPI(
                storage: engine.accounting.storage, actor: actor, table: { store.current.table },
                applied: { reason in try await runtime.refresh(reason: reason) })
        }
        /// Checks the master key or an admin key, runs the route and answers its JSON, or the error.
        @Sendable func answer(
            _ request: Request, _ handler: (RuntimeConfigAPI, Request) async throws(ProxyError) -> JSONValue
        ) async -> Response {
            let engine = store.current
            let requestID = ProxyEngine.requestID(from: request)
            do throws(ProxyError) {
                let actor = try await engine.authorizeConfigAdmin(request)
                return ProxyEngine.jsonResponse(try await handler(api(engine, actor: actor), request), requestID: requestID)
            } catch {
                return engine.errorResponse(error, requestID: requestID)
            }
        }
        for route in RuntimeRoutes.all {
            let paths = route.path.hasPrefix("/model/") ? [route.path, "/v1" + route.path] : [route.path]
            for path in paths {
                if route.method == "GET" {
                    router.get(RouterPath(path)) { request, _ in
                        await answer(request) { api, request throws(ProxyError) in
                            var query = JSONObject()
                            for (name, value) in request.uri.queryParameters { query[String(name)] = .string(String(value)) }
                            return try await route.run(api, query, "")
                        }
                    }
                } else {
                    router.post(RouterPath(path)) { request, _ in
                        await answer(request) { api, request throws(ProxyError) in
                            let (object, text) = try await bodyAndText(request)
                            return try await route.run(api, object, text)
                        }
                    }
                }
            }
        }
    }

    /// A whole-number query parameter, when given.
    static func integer(_ text: String?, _ name: String) throws(ProxyError) -> Int? {
        guard let text else { return nil }
        guard let value = Int(text) else { throw .invalidRequest("'\(name)' must be a whole number.", param: name) }
        return value
    }

    static func query(_ request: Request) -> [String: String] {
        var values: [String: String] = [:]
        for (name, value) in request.uri.queryParameters { values[String(name)] = String(value) }
        return values
    }
}
