import Hummingbird
import NIOCore
import SwitchyardCore

/// `/health`, `/health/liveliness`, `/health/readiness`.
enum HealthRoutes {
    static func add(to router: Router<BasicRequestContext>, store: EngineStore) {
        for path in ["/health/liveliness", "/health/liveness"] {
            router.get(RouterPath(path)) { request, _ in
                ProxyEngine.jsonResponse(.object(["status": "alive"]), requestID: ProxyEngine.requestID(from: request))
            }
        }
        router.get("/health/readiness") { request, _ in
            let engine = store.current
            let enabled = engine.table.deployments.filter(\.status.isEnabled).count
            let draining = engine.lifecycle.isDraining
            let body: JSONValue = .object([
                "status": draining ? "draining" : "ready",
                "models": .object(["enabled": .int(enabled), "disabled": .int(engine.table.deployments.count - enabled)]),
                "version": .string(SwitchyardVersion.current),
                "config_revision": .int(engine.table.runtime.revision),
            ])
            var response = ProxyEngine.jsonResponse(body, requestID: ProxyEngine.requestID(from: request))
            // A load balancer stops sending new requests to a draining instance.
            if draining { response.status = .serviceUnavailable }
            return response
        }
        router.get("/health") { request, _ in
            let engine = store.current
            let requestID = ProxyEngine.requestID(from: request)
            do throws(ProxyError) { try await engine.authorize(request) } catch {
                return engine.errorResponse(error, requestID: requestID)
            }
            let probe = request.uri.queryParameters.get("probe") == "true"
            return ProxyEngine.jsonResponse(await report(engine: engine, probe: probe), requestID: requestID)
        }
    }

    static func report(engine: ProxyEngine, probe: Bool) async -> JSONValue {
        var models = JSONObject()
        var healthy = 0
        var unhealthy = 0
        for alias in engine.table.aliases {
            var deployments: [JSONValue] = []
            var aliasHealthy = false
            for deployment in engine.table.deployments(for: alias) ?? [] {
                var entry: JSONObject = [
                    "id": .string(deployment.id), "provider": .string(deployment.providerName),
                    "model": .string(deployment.upstreamModel),
                ]
                switch deployment.status {
                case .enabled:
                    entry["status"] = "enabled"
                    let slot = engine.router.slot(for: deployment)
                    let usage = slot.usage()
                    entry["breaker"] = .string(slot.breakerState.rawValue)
                    entry["in_flight"] = .int(usage.inFlight)
                    entry["requests_last_minute"] = .int(usage.requests)
                    entry["tokens_last_minute"] = .int(usage.tokens)
                    if let latency = usage.latencyMs { entry["latency_ms"] = .double((latency * 10).rounded() / 10) }
                    if probe {
                        let result = await self.probe(deployment, engine: engine)
                        entry["probe"] = .string(result.map { "failed: \($0)" } ?? "ok")
                        if result == nil { aliasHealthy = true }
                    } else {
                        aliasHealthy = true
                    }
                case .disabled(let reason, let fix):
                    entry["status"] = "disabled"
                    entry["reason"] = .string(reason)
                    entry["fix"] = .string(fix)
                }
                deployments.append(.object(entry))
            }
            if aliasHealthy { healthy += 1 } else { unhealthy += 1 }
            models[alias] = .object([
                "status": .string(aliasHealthy ? "healthy" : "unhealthy"), "deployments": .array(deployments),
            ])
        }
        return .object([
            "healthy_count": .int(healthy), "unhealthy_count": .int(unhealthy), "probed": .bool(probe),
            "models": .object(models), "storage": storage(engine.accounting),
        ])
    }

    /// Where keys and spend live and whether the database answers (its URL with the password masked).
    static func storage(_ accounting: Accounting) -> JSONValue {
        guard let storage = accounting.storage else { return .object(["status": "off"]) }
        let status = !accounting.isReady ? "starting" : accounting.keys.databaseUnavailable ? "unavailable" : "ok"
        var report: JSONObject = [
            "status": .string(status), "database": .string(storage.description),
            "rows_buffered": .int(accounting.bufferedCount), "keys": .int(accounting.keys.count),
        ]
        let fleet = accounting.fleet.withLock { $0 }
        if let interval = fleet.interval {
            report["fleet"] = .object([
                "sync_interval": .double(interval), "instances": .int(fleet.instances),
                "status": .string(fleet.failing ? "failing" : "ok"),
            ])
        }
        return .object(report)
    }

    /// Sends a one-token request; nil when it succeeds, else a redacted reason.
    static func probe(_ deployment: Deployment, engine: ProxyEngine) async -> String? {
        guard let provider = deployment.provider, !provider.isBuiltIn else { return nil }
        guard let base = deployment.baseURL?.value else { return "no base URL" }
        let headers = UpstreamHeaderSet(deployment: deployment, clientHeaders: [], streaming: false).fields
        let body: JSONValue = .object([
            "model": .string(deployment.upstreamModel), "max_completion_tokens": 1,
            "messages": .array([.object(["role": "user", "content": "ping"])]),
        ])
        do {
            let response = try await engine.clients.post(
                base + "/chat/completions", headers: headers, body: ByteBuffer(bytes: body.encodedBytes()),
                timeouts: deployment.timeouts, firstByteSeconds: 15)
            let bytes = try await UpstreamRelay.readBounded(response.body, limit: 16 * 1024)
            guard (200..<300).contains(response.status) else {
                let error = UpstreamErrorMapper.map(
                    status: response.status, contentType: response.headers.value(of: "content-type"),
                    body: bytes, deployment: deployment.id, redactor: engine.redactors.redactor)
                return engine.redactors.redactor.redact(error.message)
            }
            return nil
        } catch {
            return ProxyEngine.classify(error, deployment: deployment.id).message
        }
    }
}
