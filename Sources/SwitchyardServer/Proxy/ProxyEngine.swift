import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import SwitchyardCore
import SwitchyardStorage
import Synchronization

/// Everything a request needs, fixed for the life of one configuration: the model table, upstream clients,
/// the redactor and the request log.
public final class ProxyEngine: Sendable {
    /// The resolved models.
    public let table: ModelTable
    /// Upstream HTTP clients.
    public let clients: UpstreamClientPool
    /// The redactor in force.
    public let redactors: RedactorStore
    /// The request log (off the response path).
    public let requestLog: RequestLog
    /// The server logger.
    public let logger: Logger
    /// Picks deployments and counts requests in flight.
    public let router: DeploymentRouter

    /// Whether the server is draining or past its grace period.
    public let lifecycle: ServerLifecycle
    /// Virtual keys, spend and the request-log writer (storage may be off).
    public let accounting: Accounting
    /// OpenTelemetry traces, when `otel_exporter_endpoint` is set (read at start-up; a reload keeps them).
    public let tracing: ProxyTracing?

    /// Creates an engine; a reload passes the previous router so unchanged deployments keep their state.
    public init(
        table: ModelTable, clients: UpstreamClientPool, redactors: RedactorStore, requestLog: RequestLog,
        accounting: Accounting, logger: Logger, lifecycle: ServerLifecycle = ServerLifecycle(),
        carryingOver previous: DeploymentRouter? = nil, tracing: ProxyTracing? = nil
    ) {
        self.tracing = tracing
        self.table = table
        self.accounting = accounting
        self.clients = clients
        self.redactors = redactors
        self.requestLog = requestLog
        self.logger = logger
        self.lifecycle = lifecycle
        self.router = DeploymentRouter(
            strategy: table.settings.routingStrategy, failurePolicy: table.settings.failurePolicy,
            cooldownSeconds: table.settings.cooldownTime, deployments: table.deployments, carryingOver: previous)
    }

    /// The request id a client sent (if sane) or a new one.
    static func requestID(from request: Request) -> String {
        if let given = request.headers[.requestID], !given.isEmpty, given.utf8.count <= 128,
            given.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        {
            return given
        }
        return Hex.uuid()
    }

    /// Who is calling.
    enum Caller: Equatable {
        /// No master key is set: the proxy is open.
        case open
        /// The master key.
        case master
        /// A virtual key known to the key cache, by hash.
        case key(String)
        /// A key the cache does not know, let through because the database is down and
        /// `allow_requests_on_db_unavailable` is true.
        case unverified(String)
        /// A virtual key this instance does not know, by hash: to be looked up (`identify` only).
        case lookUp(String)
    }

    /// The key a request presents: `Authorization: Bearer KEY`, else `x-api-key`.
    static func presentedKey(_ request: Request) -> String? {
        if var authorization = request.headers[.authorization] {
            // "Bearer KEY", the scheme in any case, spaces around the key ignored; read on the bytes (the views'
            // generic slices cost thousands of instructions on every request).
            let key = authorization.withUTF8 { bytes -> String? in
                guard bytes.count > 7, bytes[6] == 0x20 else { return nil }
                for (index, letter) in "bearer".utf8.enumerated() where bytes[index] | 0x20 != letter { return nil }
                var start = 7
                var end = bytes.count
                while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
                while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
                return start < end ? String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self) : nil
            }
            if let key { return key }
        }
        return request.headers[.apiKey]
    }

    /// Who sent a request, from memory alone: `.lookUp` when the key is a virtual key this instance does not know
    /// and the database should be asked.
    func identify(_ request: Request) throws(ProxyError) -> Caller {
        guard let masterKey = table.masterKey?.value.revealed else { return .open }
        guard let presented = Self.presentedKey(request) else {
            throw .unauthorized(
                "No API key provided. Send 'Authorization: Bearer <key>' (or 'x-api-key: <key>') with the proxy's key.")
        }
        if Self.constantTimeEquals(presented, masterKey) { return .master }
        if accounting.storage != nil, presented.hasPrefix("sk-") {
            let token = KeyHashing.sha256(presented)
            if accounting.keys.contains(token: token) { return .key(token) }
            if accounting.keys.databaseUnavailable { return try Self.databaseDown(token, settings: table.settings) }
            return .lookUp(token)
        }
        throw Self.incorrectKey
    }

    static let incorrectKey = ProxyError.unauthorized(
        "Incorrect API key provided. Use the proxy's master key or a key it issued.")

    /// A key the cache does not know while the database cannot be asked.
    static func databaseDown(_ token: String, settings: ProxySettings) throws(ProxyError) -> Caller {
        if settings.allowRequestsOnDBUnavailable { return .unverified(token) }
        throw ProxyError(
            status: 401, type: "authentication_error", code: "invalid_api_key",
            message: "This key is not known to this instance and the key database is unavailable; retry later "
                + "(set general_settings.allow_requests_on_db_unavailable to let such keys through).")
    }

    /// Checks the key, when a master key is set: the master key, or a virtual key, from the cache or else looked up
    /// in the database once (a key made on another instance works here at once).
    @discardableResult
    func authenticate(_ request: Request) async throws(ProxyError) -> Caller {
        let caller = try identify(request)
        guard case .lookUp(let token) = caller else { return caller }
        return try await lookUp(token)
    }

    /// A virtual key this instance does not know, looked up in the database.
    func lookUp(_ token: String) async throws(ProxyError) -> Caller {
        switch await accounting.lookUp(token: token) {
        case .found: return .key(token)
        case .unknown: throw Self.incorrectKey
        case .limited:
            throw .unauthorized(
                "This key is not known to this instance, and looking keys up is over its rate just now; retry in a "
                    + "second.")
        case .unavailable: return try Self.databaseDown(token, settings: table.settings)
        }
    }

    /// Only the master key: for admin routes.
    func authorizeAdmin(_ request: Request) throws(ProxyError) {
        guard table.masterKey != nil else {
            throw ProxyError(
                status: 401, type: "authentication_error", code: "master_key_required",
                message: "Admin routes need general_settings.master_key to be set; then send it as a Bearer token.")
        }
        let caller = try identify(request)
        if case .lookUp = caller { throw Self.incorrectKey }
        guard caller == .master else {
            throw ProxyError(
                status: 403, type: "permission_error", code: "admin_only",
                message: "This route needs the master key; a virtual key cannot use it.")
        }
    }

    /// Who may change the run-time configuration: the master key, or a virtual key the master made with
    /// `"metadata": {"role": "admin"}`. Answers who it is, for the audit: `master_key`, or `key:ALIAS` (`key:` and
    /// the hash's first 12 characters for a key without an alias).
    func authorizeConfigAdmin(_ request: Request) async throws(ProxyError) -> String {
        guard table.masterKey != nil else { throw Self.masterKeyRequired }
        guard let presented = Self.presentedKey(request) else {
            throw .unauthorized(
                "No API key provided. Send 'Authorization: Bearer <key>' (or 'x-api-key: <key>') with the proxy's key.")
        }
        return try await adminActor(presented)
    }

    static let masterKeyRequired = ProxyError(
        status: 401, type: "authentication_error", code: "master_key_required",
        message: "Admin routes need general_settings.master_key to be set; then send it as a Bearer token.")

    /// Who a presented key is, when it is the master key or an admin key: `master_key` or `key:ALIAS`.
    func adminActor(_ presented: String) async throws(ProxyError) -> String {
        guard let masterKey = table.masterKey?.value.revealed else { throw Self.masterKeyRequired }
        if Self.constantTimeEquals(presented, masterKey) { return "master_key" }
        guard accounting.storage != nil, presented.hasPrefix("sk-") else { throw Self.incorrectKey }
        let token = KeyHashing.sha256(presented)
        if !accounting.keys.contains(token: token) { _ = try await lookUp(token) }
        if let identity = accounting.keys.identity(token: token), identity.role == "admin" {
            return "key:" + (identity.alias ?? String(token.prefix(12)))
        }
        throw ProxyError(
            status: 403, type: "permission_error", code: "admin_only",
            message: "This route needs the master key or an admin key (a key made with metadata role: admin).")
    }

    /// Checks the master key (or a virtual key) when a master key is set.
    func authorize(_ request: Request) async throws(ProxyError) { try await authenticate(request) }

    /// A finished request: its key is charged and released, and its record goes to the request log.
    func complete(_ record: RequestRecord) {
        record.trace?.finish(record)
        if let lease = record.keyLease {
            let tokens = record.usage.map { $0.promptTokens + $0.completionTokens + $0.reasoningTokens } ?? 0
            accounting.keys.finish(lease, cost: record.cost ?? 0, tokens: tokens)
        }
        requestLog.record(record)
    }

    static func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        var (lhs, rhs) = (lhs, rhs)
        return lhs.withUTF8 { a in
            rhs.withUTF8 { b in
                var difference = UInt8(a.count == b.count ? 0 : 1)
                for index in 0..<max(a.count, b.count) {
                    difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
                }
                return difference == 0
            }
        }
    }

    /// An error response in OpenAI's envelope, or the surface's own (Anthropic's for `/v1/messages`).
    func errorResponse(_ error: ProxyError, requestID: String, surface: ClientSurface = .chatCompletions) -> Response {
        var headers: HTTPFields = [.contentType: "application/json", .requestID: requestID]
        if let retryAfter = error.retryAfter { headers[.retryAfter] = String(retryAfter) }
        for (name, value) in error.headers.sorted(by: { $0.key < $1.key }) {
            if let fieldName = HTTPField.Name(name) { headers[fieldName] = value }
        }
        let body =
            SurfaceAdapter.forSurface(surface)?.errorBody.map { $0(error, redactors.redactor).encodedBytes() }
            ?? error.body(redactor: redactors.redactor)
        return Response(status: .init(code: error.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// A 200 JSON response.
    static func jsonResponse(_ value: JSONValue, requestID: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json", .requestID: requestID],
            body: .init(byteBuffer: ByteBuffer(bytes: value.encodedBytes())))
    }

    // MARK: Completions

    /// Handles `POST /v1/chat/completions`, `/v1/completions` and `/v1/embeddings`, relayed as they are.
    public func handleCompletion(_ request: Request, body: ByteBuffer? = nil, endpoint: UpstreamEndpoint) async -> Response {
        await handle(request, body: body, surface: ClientSurface(endpoint))
    }

    /// Handles a request to one of the client surfaces (`ClientSurface`): the same auth, limits, routing, retries,
    /// fallbacks and accounting for each; a surface the upstream does not speak is translated on the way
    /// (`SurfaceAdapter`). `body` is the request's body when the caller has already read it whole (the completion
    /// front keeps at most the limit and one byte more, so a body too large is still told apart); without it the
    /// body is read from `request`.
    public func handle(_ request: Request, body: ByteBuffer? = nil, surface: ClientSurface) async -> Response {
        let started = ContinuousClock.now
        let requestID = Self.requestID(from: request)
        var record = RequestRecord(requestID: requestID, route: request.uri.path, status: 200)
        if let tracing {
            record.trace = RequestTrace(
                tracer: tracing.tracer, headers: request.headers, operation: RequestTrace.operation(surface))
        }
        do {
            return try await proxy(
                request, body: body, surface: surface, requestID: requestID, started: started, record: &record)
        } catch {
            let proxyError = (error as? ProxyError) ?? Self.classify(error, deployment: record.deploymentID ?? "the upstream")
            record.status = proxyError.status
            record.errorCode = proxyError.code
            record.latency = ContinuousClock.now - started
            complete(record)
            if proxyError.status >= 500 {
                logger.debug(
                    "upstream failure", metadata: ["request_id": .string(requestID), "error": .string(proxyError.message)])
            }
            return errorResponse(proxyError, requestID: requestID, surface: surface)
        }
    }

    private func proxy(
        _ request: Request,
        body read: ByteBuffer?,
        surface: ClientSurface,
        requestID: String,
        started: ContinuousClock.Instant,
        record: inout RequestRecord
    ) async throws -> Response {
        // From memory; only a key this instance does not know waits for the database.
        var caller = try identify(request)
        if case .lookUp(let token) = caller { caller = try await lookUp(token) }
        let limit = table.settings.maxRequestBodyBytes
        // A body declared larger than the limit is refused from its head, before a byte of it is read. The
        // completion front hands over such a request with no body; a body it read whole is within the limit
        // already (reading the header costs ~3,800 instructions: HTTPFields joins the values).
        if read.map({ $0.readableBytes == 0 }) ?? true, let declared = request.headers[.contentLength],
            let length = Int(declared), length > limit
        {
            throw ProxyError.bodyTooLarge(limit: limit)
        }
        let buffer: ByteBuffer
        if let read {
            guard read.readableBytes <= limit else { throw ProxyError.bodyTooLarge(limit: limit) }
            buffer = read
        } else {
            do {
                buffer = try await request.body.collect(upTo: limit)
            } catch is NIOTooManyBytesError {
                throw ProxyError.bodyTooLarge(limit: limit)
            } catch is CancellationError {
                throw ProxyError.clientClosed
            } catch {
                // The client's body ended before its length, or its chunked framing was broken: the client's
                // error, not the upstream's (nothing was sent upstream yet).
                throw ProxyError.invalidRequest(
                    "The request body could not be read: it ended before its declared length or its framing is "
                        + "malformed.", code: "invalid_request_body")
            }
        }
        let endpoint = surface.upstream
        var body: JSONObject
        var native: SurfaceRequest?
        /// The deployment a follow-up to a native upstream's response must go to (it keeps the response, for its key).
        var pinned: String?
        if let adapter = SurfaceAdapter.forSurface(surface) {
            var object = try Self.parseObject(buffer)
            // A response this proxy made by translation and kept: its conversation goes in front of this input,
            // so the request stands alone for a native upstream and a translated one alike.
            if surface == .responses { (object, pinned) = await expandingPreviousResponse(object, caller: caller) }
            // Translated for each deployment's upstream API when one is first tried (what cannot be translated,
            // such as server-side tools, still goes to the native ones); the client's body stands for the request
            // meanwhile. A body any upstream would refuse is refused now.
            try adapter.check(object)
            native = SurfaceRequest(body: object, adapter: adapter)
            body = object
        } else {
            body = try Self.parseObject(buffer)
            // A feature endpoint's slug (run-time configuration) stands for its alias, defaults and prompt.
            if !table.features.isEmpty, endpoint == .chatCompletions, let feature = try applyFeature(&body) {
                record.feature = feature.slug
                record.promptVersion = feature.prompt?.version
            }
            try Self.check(body, endpoint: endpoint)
        }
        guard case .string(let requested)? = body["model"], !requested.isEmpty else {
            throw ProxyError.invalidRequest("'model' is required and must be a string naming a model alias.", param: "model")
        }
        record.trace?.requested(model: requested)
        // A name clients send that `model_group_alias` points at an alias (Claude Code's model names, say).
        var alias = table.settings.aliasServing(requested)
        record.traceID = request.headers[.traceParent].flatMap(TraceParent.init(header:))?.traceID
        record.alias = alias
        record.aliasKnown = table.deployments(for: alias) != nil
        let promptTokens = TokenEstimate.prompt(of: body)
        record.estimatedPromptTokens = promptTokens
        if accounting.storage != nil {
            record.requestSHA256 = buffer.withUnsafeReadableBytes { KeyHashing.sha256(buffer: $0) }
            if table.settings.storePrompts {
                record.promptText = (body["messages"] ?? body["prompt"] ?? body["input"]).map {
                    String(decoding: $0.encodedBytes(), as: UTF8.self)
                }
            }
        }
        switch caller {
        case .key(let token), .unverified(let token), .lookUp(let token): record.owner = token
        case .master: record.owner = ProxyEngine.masterOwner
        case .open: record.owner = nil
        }
        if !table.capabilityFlags.isEmpty { try checkFlags(body, surface: surface, caller: caller) }
        switch caller {
        case .key(let token):
            record.keyHash = token
            switch accounting.keys.admit(token: token, alias: alias, promptTokens: promptTokens) {
            case .admitted(let lease): record.keyLease = lease
            case .rejected(let error):
                // A spent key goes to the cheaper alias its `on_budget_exceeded` chain names, instead of a refusal.
                guard error.code == "budget_exceeded",
                    let moved = budgetFallback(token: token, alias: alias, promptTokens: promptTokens)
                else { throw error }
                logger.debug(
                    "budget spent: falling back",
                    metadata: ["request_id": .string(requestID), "from": .string(alias), "to": .string(moved.alias)])
                alias = moved.alias
                record.alias = alias
                record.aliasKnown = true
                record.keyLease = moved.lease
            case .unknown: throw ProxyError.unauthorized("This key was revoked. Ask for a new key.")
            }
        case .unverified(let token): record.keyLease = KeyLease(token: token, keyAlias: nil)
        case .open, .master, .lookUp: break
        }
        var chain = [alias]
        var index = 0
        var lastError: ProxyError?
        while index < chain.count {
            let current = chain[index]
            do throws(ProxyError) {
                let deployments = try enabledDeployments(current)
                record.attemptedFallbacks = index
                // The answer carries the attempted retries and fallbacks already (`RelayContext.answerHeaders`).
                return try await withRetries(
                    pinned.flatMap { id in deployments.filter { $0.id == id }.nilIfEmpty } ?? deployments, request: request,
                    body: body, endpoint: endpoint, native: native,
                    requestID: requestID, started: started, promptTokens: promptTokens,
                    fallbackAvailable: fallbackAvailable(alias, chain: chain, index: index), record: &record)
            } catch {
                // An unknown alias is the client's mistake; an unknown or disabled fallback is skipped, and the error
                // the client sees stays the one of the last alias that really ran.
                let unknownFallback = index > 0 && (error.code == "model_not_found" || error.code == "model_disabled")
                if index == 0 {
                    if error.code == "model_not_found" { throw error }
                    let contextChain = table.settings.contextWindowChain(for: alias)
                    let rateLimitChain = table.settings.rateLimitChain(for: alias)
                    chain +=
                        error.code == ProxyError.contextLengthExceeded && !contextChain.isEmpty
                        ? contextChain
                        : error.status == 429 && !rateLimitChain.isEmpty
                            ? rateLimitChain : table.settings.fallbackChain(for: alias)
                }
                let fallsBack =
                    unknownFallback || RetryPolicy.isRetryable(error) || error.code == ProxyError.contextLengthExceeded
                guard fallsBack, index + 1 < chain.count, !lifecycle.isPastGrace else {
                    throw unknownFallback ? lastError ?? error : error
                }
                if !unknownFallback { lastError = error }
                logger.debug(
                    "falling back",
                    metadata: [
                        "request_id": .string(requestID), "from": .string(current), "to": .string(chain[index + 1]),
                        "status": .stringConvertible(error.status), "code": .string(error.code),
                    ])
                index += 1
            }
        }
        throw lastError ?? ProxyError.modelNotFound(alias)
    }

    /// Whether `alias` has a deployment that can serve.
    /// Whether an alias after `chain[index]` (for the first, its configured fallbacks) has an enabled deployment.
    /// Without fallbacks configured (the common case) it is known without a lookup.
    private func fallbackAvailable(_ alias: String, chain: [String], index: Int) -> Bool {
        if index > 0 { return chain[(index + 1)...].contains(where: hasEnabledDeployment) }
        if table.settings.fallbacks.isEmpty, table.settings.defaultFallbacks.isEmpty,
            table.settings.rateLimitFallbacks.isEmpty
        {
            return false
        }
        return (table.settings.fallbackChain(for: alias) + table.settings.rateLimitChain(for: alias))
            .contains(where: hasEnabledDeployment)
    }

    private func hasEnabledDeployment(_ alias: String) -> Bool {
        table.deployments(for: alias)?.contains { $0.status.isEnabled } ?? false
    }

    /// Attempts on an alias's deployments: one, then up to `num_retries` more on untried ones (or again on tried
    /// ones when all were tried), with backoff. A deployment that timed out is not tried again for this request.
    /// `fallbackAvailable`: a fallback alias can take the request, so deployments cooling down may be skipped.
    private func withRetries(
        _ original: [Deployment], request: Request, body: JSONObject, endpoint: UpstreamEndpoint,
        native: SurfaceRequest?, requestID: String,
        started: ContinuousClock.Instant, promptTokens: Int, fallbackAvailable: Bool, record: inout RequestRecord
    ) async throws(ProxyError) -> Response {
        var tried: Set<String> = []
        var timedOut: Set<String> = []
        var attempt = 0
        let deployments = original.filter { ($0.limits.maxInputTokens ?? .max) >= promptTokens }
        if deployments.isEmpty, let first = original.first {
            throw ProxyError.contextWindow(
                alias: first.alias, limit: original.compactMap(\.limits.maxInputTokens).max() ?? 0, estimated: promptTokens)
        }
        while true {
            // The first attempt (the common path) filters nothing.
            let candidates = timedOut.isEmpty ? deployments : deployments.filter { !timedOut.contains($0.id) }
            let untried = tried.isEmpty ? candidates : candidates.filter { !tried.contains($0.id) }
            let deployment: Deployment
            let slot: DeploymentSlot
            switch router.pick(
                untried.isEmpty ? candidates : untried, promptTokens: promptTokens, fallbackAvailable: fallbackAvailable)
            {
            case .deployment(let picked, let pickedSlot): (deployment, slot) = (picked, pickedSlot)
            case .coolingDown(let seconds):
                throw ProxyError(
                    status: 503, type: "api_error", code: "deployment_cooldown",
                    message: "Every deployment of '\(deployments.first?.alias ?? "")' is cooling down after upstream failures; "
                        + "retry in \(seconds) s.",
                    retryAfter: seconds)
            case .rateLimited(let rejection):
                throw ProxyError.localRateLimit(rejection, alias: deployments.first?.alias ?? "")
            }
            let attemptStarted = ContinuousClock.now
            record.attemptedRetries = attempt
            do {
                let response = try await attemptOnce(
                    request, body: body, endpoint: endpoint, deployment: deployment, slot: slot,
                    native: native, requestID: requestID, started: started, record: &record)
                slot.recordSuccess(latency: ContinuousClock.now - attemptStarted)
                return response
            } catch {
                slot.end()
                let proxyError =
                    lifecycle.isPastGrace
                    ? ProxyError.shuttingDown(grace: lifecycle.gracePeriod)
                    : (error as? ProxyError) ?? Self.classify(error, deployment: deployment.id)
                record.trace?.failAttempt(proxyError)
                if case UpstreamClientError.connectionClosed? = error as? UpstreamClientError {
                    // The upstream may have the request (and bill it): an attempt like any other, never a silent re-send.
                    logger.warning(
                        "upstream closed the connection after the request was sent; not re-sent",
                        metadata: ["request_id": .string(requestID), "deployment": .string(deployment.id)])
                }
                // Nobody's failure (the client left, the proxy is stopping) counts for nothing.
                let kind = FailureKind(proxyError)
                if let kind, router.recordFailure(slot, kind: kind, latency: ContinuousClock.now - attemptStarted) {
                    logger.warning(
                        "deployment cooling down",
                        metadata: [
                            "deployment": .string(deployment.id), "status": .stringConvertible(proxyError.status),
                            "kind": .string(kind.rawValue), "seconds": .stringConvertible(table.settings.cooldownTime),
                        ])
                }
                tried.insert(deployment.id)
                // A timeout is not waited for twice on the same deployment: the client would wait timeout x attempts.
                if kind == .timeout { timedOut.insert(deployment.id) }
                let allowed = deployment.numRetries ?? table.settings.numRetries
                guard attempt < allowed, RetryPolicy.isRetryable(proxyError), deployments.count > timedOut.count,
                    !Task.isCancelled, !lifecycle.isPastGrace
                else {
                    // A rate limit without the upstream's own Retry-After says when the deployment may be tried again.
                    if proxyError.status == 429, proxyError.retryAfter == nil {
                        throw proxyError.retrying(after: max(1, slot.secondsUntilClosed()))
                    }
                    throw proxyError
                }
                attempt += 1
                record.retries += 1
                logger.debug(
                    "retrying",
                    metadata: [
                        "request_id": .string(requestID), "deployment": .string(deployment.id),
                        "status": .stringConvertible(proxyError.status), "attempt": .stringConvertible(attempt),
                    ])
                do {
                    try await Task.sleep(
                        for: RetryPolicy.delay(
                            attempt: attempt, base: table.settings.retryAfter,
                            strategy: deployment.retryStrategy ?? table.settings.retryStrategy,
                            retryAfter: proxyError.retryAfter))
                } catch {
                    throw ProxyError.clientClosed
                }
            }
        }
    }

    /// One attempt against one deployment: normalize for it, build its headers, send and relay.
    private func attemptOnce(
        _ request: Request, body: JSONObject, endpoint: UpstreamEndpoint, deployment: Deployment, slot: DeploymentSlot,
        native: SurfaceRequest?, requestID: String, started: ContinuousClock.Instant,
        record: inout RequestRecord
    ) async throws -> Response {
        let alias = deployment.alias
        record.deploymentID = deployment.id
        record.provider = deployment.providerName
        var (body, endpoint) = (body, endpoint)
        var translation: (any AnswerTranslation)?
        if let native {
            // The first upstream API of the surface's that the deployment serves: the client's own (the request
            // goes as it is) or one it is translated for.
            let form = native.form(for: deployment)
            endpoint = form.endpoint
            if form.translate != nil {
                let translated = try native.translated(form).get()
                (body, translation) = (translated.body, translated.answer(deployment))
            } else {
                body = native.body
            }
        }
        guard let provider = deployment.provider, deployment.serves(endpoint) else {
            throw ProxyError.invalidRequest(
                "The model '\(alias)' (\(deployment.qualifiedModel)) does not serve /v1/\(endpoint.rawValue).",
                param: "model", code: "unsupported_endpoint")
        }
        let normalized: NormalizedRequest
        switch ParamNormalizer.normalize(body, for: deployment, endpoint: endpoint) {
        case .success(let value): normalized = value
        case .failure(let rejected):
            throw ProxyError.invalidRequest(rejected.message, param: rejected.parameter, code: "unsupported_parameter")
        }
        if !normalized.dropped.isEmpty {
            record.droppedParams = normalized.dropped
            logger.debug(
                "dropped parameters",
                metadata: [
                    "model": .string(deployment.qualifiedModel),
                    "params": .string(normalized.dropped.joined(separator: ",")),
                ])
        }
        record.stream = normalized.stream && endpoint != .embeddings
        let context = RelayContext(
            engine: self, deployment: deployment, slot: slot, requestID: requestID, started: started, record: record,
            stripUsageChunk: normalized.stripUsageChunk, translation: translation, nativeResponses: endpoint == .responses,
            keepsResponse: endpoint == .responses && translation == nil && body["store"]?.boolValue != false)
        if provider.isBuiltIn {
            return BuiltInMockResponder.respond(to: normalized, endpoint: endpoint, context: context)
        }
        // Only the headers the provider lets through are copied out of the request.
        let forwarded = deployment.headerTemplate.forwarded
        var clientHeaders: [(name: String, value: String)] = []
        for field in request.headers {
            let name = field.name.canonicalName
            if forwarded.contains(name), name != "x-request-id", name != "traceparent" {
                clientHeaders.append((name: name, value: field.value))
            }
        }
        clientHeaders.append((name: "x-request-id", value: requestID))
        if let trace = record.trace {
            // The attempt's span: the upstream's work is its child.
            if let parent = trace.startAttempt(deployment) { clientHeaders.append((name: "traceparent", value: parent)) }
        } else if let trace = request.headers[.traceParent].flatMap(TraceParent.init(header:)) {
            // The proxy's hop is a span of the client's trace.
            clientHeaders.append((name: "traceparent", value: trace.continued().header))
        }
        let headers = UpstreamHeaderSet(deployment: deployment, clientHeaders: clientHeaders, streaming: record.stream)
        return try await UpstreamRelay.send(
            normalized.body, to: deployment, endpoint: endpoint, headers: headers, stream: record.stream, context: context)
    }

    /// A client's request to a surface of its own (`SurfaceAdapter`): as it is, for the deployments whose provider
    /// speaks its API, and its translation for each other upstream API, made the first time a deployment needs it.
    final class SurfaceRequest: Sendable {
        let body: JSONObject
        private let adapter: SurfaceAdapter
        /// Translations made, by the position of their form in `adapter.forms` (an array: a dictionary cost ~1,500
        /// instructions a request).
        private let made: Mutex<[Result<Translated, ProxyError>?]>

        struct Translated: Sendable {
            let body: JSONObject
            let answer: @Sendable (Deployment) -> any AnswerTranslation
        }

        init(body: JSONObject, adapter: SurfaceAdapter) {
            self.body = body
            self.adapter = adapter
            self.made = Mutex(Array(repeating: nil, count: adapter.forms.count))
        }

        /// The form for `deployment`: the first whose endpoint it serves (the last when it serves none: the attempt
        /// then says so).
        func form(for deployment: Deployment) -> SurfaceAdapter.Form {
            adapter.forms.first { deployment.serves($0.endpoint) } ?? adapter.forms[adapter.forms.count - 1]
        }

        /// The request translated by `form` (or why it cannot be), made once.
        func translated(_ form: SurfaceAdapter.Form) -> Result<Translated, ProxyError> {
            guard let translate = form.translate else {
                return .failure(.invalidRequest("The request needs no translation.", code: "internal_error"))
            }
            return made.withLock { made in
                if let result = made[form.position] { return result }
                let result: Result<Translated, ProxyError>
                do throws(ProxyError) {
                    let (body, answer) = try translate(self.body)
                    result = .success(Translated(body: body, answer: answer))
                } catch {
                    result = .failure(error)
                }
                made[form.position] = result
                return result
            }
        }
    }

    /// A request body that must be a JSON object.
    static func parseObject(_ buffer: ByteBuffer) throws(ProxyError) -> JSONObject {
        let value: JSONValue
        do {
            value = try JSONParser.parse(buffer.readableBytesView)
        } catch {
            throw .invalidRequest("The request body is not valid JSON: \(error.description).", code: "invalid_json")
        }
        guard case .object(let object) = value else {
            throw .invalidRequest("The request body must be a JSON object, not \(value.typeName).", code: "invalid_json")
        }
        return object
    }

    /// Parses and checks the request body once.
    static func parseBody(_ buffer: ByteBuffer, endpoint: UpstreamEndpoint) throws(ProxyError) -> JSONObject {
        let object = try parseObject(buffer)
        try check(object, endpoint: endpoint)
        return object
    }

    /// Checks a parsed request body for `endpoint`: the fields it must have, `stream` a boolean.
    static func check(_ object: JSONObject, endpoint: UpstreamEndpoint) throws(ProxyError) {
        switch endpoint {
        case .chatCompletions:
            guard let messages = object["messages"] else {
                throw .invalidRequest("'messages' is required: a list of {role, content} objects.", param: "messages")
            }
            guard case .array(let list) = messages, !list.isEmpty else {
                throw .invalidRequest("'messages' must be a non-empty array.", param: "messages")
            }
            for (index, message) in list.enumerated() {
                guard case .object(let fields) = message, fields["role"]?.stringValue != nil else {
                    throw .invalidRequest("messages[\(index)] must be an object with a string 'role'.", param: "messages")
                }
            }
        case .completions:
            guard object["prompt"] != nil else { throw .invalidRequest("'prompt' is required.", param: "prompt") }
        case .embeddings:
            guard object["input"] != nil else { throw .invalidRequest("'input' is required.", param: "input") }
        case .responses:
            guard object["input"] != nil || object["previous_response_id"] != nil else {
                throw .invalidRequest("input is required.", param: "input")
            }
        }
        if let stream = object["stream"], stream != .null, stream.boolValue == nil {
            throw .invalidRequest("'stream' must be true or false.", param: "stream")
        }
    }

    /// The enabled deployments of an alias; 404 for an unknown alias, 503 naming what to set when none is enabled.
    func enabledDeployments(_ alias: String) throws(ProxyError) -> [Deployment] {
        guard let deployments = table.deployments(for: alias) else { throw .modelNotFound(alias) }
        let enabled = deployments.filter(\.status.isEnabled)
        if !enabled.isEmpty { return enabled }
        if let first = deployments.first, case .disabled(let reason, let fix) = first.status {
            throw .modelDisabled(alias, reason: reason, fix: fix)
        }
        throw .modelNotFound(alias)
    }

    /// Maps a transport error to a client error.
    static func classify(_ error: any Error, deployment: String) -> ProxyError {
        if let clientError = error as? UpstreamClientError {
            switch clientError {
            case .connectTimeout:
                return ProxyError(
                    status: 504, type: "timeout_error", code: "upstream_timeout",
                    message: "Connecting to the upstream for \(deployment) timed out.")
            case .idleTimeout:
                return ProxyError(
                    status: 504, type: "timeout_error", code: "upstream_timeout",
                    message: "The upstream for \(deployment) sent nothing within the idle timeout.")
            case .firstByteTimeout:
                return ProxyError(
                    status: 504, type: "timeout_error", code: "upstream_timeout",
                    message: "The upstream for \(deployment) did not answer within the first-byte timeout.")
            case .connectionClosed:
                return .upstreamUnreachable(
                    deployment,
                    detail: "the connection closed after the request was sent, before any answer (not sent again on its own: "
                        + "the upstream may have received it)")
            case .notSent:
                return .upstreamUnreachable(deployment, detail: "the connection closed before the request could be sent")
            case .closedMidAnswer:
                return .upstreamBadResponse(deployment, reason: "the connection closed before the answer's end")
            case .connectFailed(let detail):
                return .upstreamUnreachable(deployment, detail: "could not connect (\(detail))")
            case .tls(let detail):
                return .upstreamUnreachable(deployment, detail: "TLS failed (\(detail))")
            case .invalidURL(let url):
                return .upstreamUnreachable(deployment, detail: "the base URL \(url) is not usable")
            case .shutDown:
                return .upstreamUnreachable(deployment, detail: "the proxy is shutting down")
            case .invalidHeader(let name):
                return .upstreamUnreachable(
                    deployment, detail: "the header \(name) holds a line break or NUL (check the key and extra_headers)")
            case .responseTooLarge(let limit):
                return .upstreamTooLarge(deployment, limit: limit)
            case .malformedResponse(let reason):
                return .upstreamBadResponse(deployment, reason: reason)
            case .totalTimeout:
                return ProxyError(
                    status: 504, type: "timeout_error", code: "upstream_timeout",
                    message: "The upstream for \(deployment) did not finish its answer within the total timeout.")
            }
        }
        if error is CancellationError { return .clientClosed }
        return .upstreamUnreachable(deployment, detail: String(describing: type(of: error)))
    }

    // MARK: Stored responses

    /// The owner a kept response made with the master key records.
    static let masterOwner = "master"

    /// A kept response the caller may read: its own key's, or any for the master key (or an open proxy).
    func storedResponse(id: String, for caller: Caller) async -> StoredResponse? {
        var found = accounting.responses.recent(id: id)
        if found == nil, let storage = accounting.storage, accounting.isReady {
            found = try? await storage.storedResponse(id: id)
        }
        guard let found else { return nil }
        switch caller {
        case .open, .master: return found
        case .key(let token), .unverified(let token), .lookUp(let token):
            return found.keyHash == token ? found : nil
        }
    }

    /// `body` with a kept `previous_response_id` replaced by that conversation's items (its input, then its output)
    /// in front of this input; as it was when the id is not one this proxy kept, or is a native upstream's, whose
    /// deployment is returned so the follow-up goes back to it (the upstream keeps it for that key).
    func expandingPreviousResponse(_ body: JSONObject, caller: Caller) async -> (JSONObject, pinned: String?) {
        guard let id = body["previous_response_id"]?.stringValue, let stored = await storedResponse(id: id, for: caller)
        else { return (body, nil) }
        if stored.native { return (body, stored.deployment) }
        var items = (try? JSONParser.parse(Array(stored.input.utf8)))?.arrayValue ?? []
        items += (try? JSONParser.parse(Array(stored.response.utf8)))?.objectValue?["output"]?.arrayValue ?? []
        switch body["input"] {
        case .string(let text)?: items.append(.object(["role": "user", "content": .string(text)]))
        case .array(let more)?: items += more
        default: break
        }
        var expanded = body
        expanded["input"] = .array(items)
        expanded.removeValue(forKey: "previous_response_id")
        return (expanded, nil)
    }

    /// `GET /v1/responses/{id}`, `DELETE /v1/responses/{id}` and `GET /v1/responses/{id}/input_items`: for the
    /// responses this proxy made by translation and kept, from its store; for a native upstream's, from that upstream.
    public func storedResponseRoute(_ request: Request, id: String, inputItems: Bool = false) async -> Response {
        let requestID = Self.requestID(from: request)
        do throws(ProxyError) {
            let caller = try await authenticate(request)
            guard let stored = await storedResponse(id: id, for: caller) else { throw Self.responseNotFound(id) }
            // A native upstream's response is kept by that upstream: asked of the deployment that made it.
            if stored.native {
                return try await upstreamStoredResponse(request, stored: stored, inputItems: inputItems, requestID: requestID)
            }
            if request.method == .delete {
                _ = accounting.responses.forget(id: id)
                if let storage = accounting.storage { _ = try? await storage.deleteStoredResponse(id: id) }
                return Self.jsonResponse(
                    .object(["id": .string(id), "object": "response", "deleted": true]), requestID: requestID)
            }
            if inputItems {
                let raw = (try? JSONParser.parse(Array(stored.input.utf8)))?.arrayValue ?? []
                let items: [JSONValue] = raw.enumerated().map { index, item in
                    var object = item.objectValue ?? [:]
                    if object["type"] == nil { object["type"] = "message" }
                    if object["id"] == nil { object["id"] = .string("msg_\(id.dropFirst(5))_\(index)") }
                    if case .string(let text)? = object["content"] {
                        object["content"] = .array([.object(["type": "input_text", "text": .string(text)])])
                    }
                    return .object(object)
                }
                return Self.jsonResponse(
                    .object([
                        "object": "list", "data": .array(items),
                        "first_id": items.first?.objectValue?["id"] ?? .null,
                        "last_id": items.last?.objectValue?["id"] ?? .null, "has_more": false,
                    ]), requestID: requestID)
            }
            return Response(
                status: .ok, headers: [.contentType: "application/json", .requestID: requestID],
                body: .init(byteBuffer: ByteBuffer(string: stored.response)))
        } catch {
            return errorResponse(error, requestID: requestID)
        }
    }

    static func responseNotFound(_ id: String) -> ProxyError {
        ProxyError(
            status: 404, type: "invalid_request_error", code: "not_found", message: "Response with id '\(id)' not found.")
    }

    /// `GET` or `DELETE` of a response a native upstream keeps (or `GET` of its input items), sent to the deployment
    /// that made it with that deployment's key, and its answer relayed; a deleted one is forgotten here too.
    private func upstreamStoredResponse(_ request: Request, stored: StoredResponse, inputItems: Bool, requestID: String)
        async throws(ProxyError) -> Response
    {
        let id = stored.id
        // Ids go into the upstream's path: only the letters an id is made of.
        guard
            id.utf8.allSatisfy({ byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                    || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
            }),
            let deployment = table.deployments(for: stored.alias)?.first(where: { $0.id == stored.deployment }),
            deployment.status.isEnabled, let base = deployment.baseURL?.value
        else { throw Self.responseNotFound(id) }
        let delete = request.method == .delete
        var url = base + "/responses/" + id
        if inputItems {
            url += "/input_items"
            if let query = request.uri.query, !query.isEmpty { url += "?" + query }
        }
        let headers = UpstreamHeaderSet(
            deployment: deployment, clientHeaders: [(name: "x-request-id", value: requestID)], streaming: false)
        let response: UpstreamResponse
        do {
            response = try await clients.post(
                url, method: delete ? "DELETE" : "GET", headers: headers.fields, body: ByteBuffer(),
                timeouts: deployment.timeouts, collectUpTo: UpstreamRelay.maxJSONBytes)
        } catch {
            throw (error as? ProxyError) ?? Self.classify(error, deployment: deployment.id)
        }
        guard case .collected(let body) = response.body else {
            throw ProxyError.upstreamUnreachable(deployment.id, detail: "the answer was streamed, not read whole")
        }
        guard (200..<300).contains(response.status) else {
            if response.status == 404 { throw Self.responseNotFound(id) }
            throw UpstreamErrorMapper.map(
                status: response.status, contentType: response.headers.value(of: "content-type") ?? "",
                body: Array(body.readableBytesView), deployment: deployment.id, redactor: redactors.redactor,
                retryAfter: nil)
        }
        if delete {
            _ = accounting.responses.forget(id: id)
            if let storage = accounting.storage { _ = try? await storage.deleteStoredResponse(id: id) }
        }
        return Response(
            status: .ok,
            headers: [.contentType: "application/json", .requestID: requestID, .switchyardDeployment: deployment.id],
            body: .init(byteBuffer: body))
    }

    // MARK: Anthropic's token count

    /// `POST /v1/messages/count_tokens` (Anthropic's): the prompt's tokens as the proxy estimates them (about four
    /// bytes a token, tools' schemas included), with no upstream call; errors in Anthropic's envelope.
    public func countTokens(_ request: Request) async -> Response {
        let requestID = Self.requestID(from: request)
        do throws(ProxyError) {
            try await authorize(request)
            let buffer: ByteBuffer
            do {
                buffer = try await request.body.collect(upTo: table.settings.maxRequestBodyBytes)
            } catch is NIOTooManyBytesError {
                throw ProxyError.bodyTooLarge(limit: table.settings.maxRequestBodyBytes)
            } catch {
                throw ProxyError.invalidRequest(
                    "The request body could not be read: it ended before its declared length or its framing is malformed.",
                    code: "invalid_request_body")
            }
            var body = try Self.parseObject(buffer)
            if body["max_tokens"] == nil { body["max_tokens"] = 1 }
            let chat: JSONObject
            switch MessagesRequest.toChat(body) {
            case .success(let translated): chat = translated.chat
            case .failure(let error): throw ProxyError.invalidRequest(error.message, param: error.param)
            }
            let alias = table.settings.aliasServing(body["model"]?.stringValue ?? "")
            _ = try enabledDeployments(alias)
            let tools = chat["tools"].map { ($0.encodedBytes().count + 3) / 4 } ?? 0
            return Self.jsonResponse(
                .object(["input_tokens": .int(TokenEstimate.prompt(of: chat) + tools)]), requestID: requestID)
        } catch {
            return errorResponse(error, requestID: requestID, surface: .messages)
        }
    }

    // MARK: Models

    /// `GET /v1/models`.
    public func listModels(_ request: Request) async -> Response {
        let requestID = Self.requestID(from: request)
        do throws(ProxyError) { try await authorize(request) } catch { return errorResponse(error, requestID: requestID) }
        let data = table.enabledAliases.map(Self.modelObject)
        return Self.jsonResponse(.object(["object": "list", "data": .array(data)]), requestID: requestID)
    }

    /// `GET /v1/models/{alias}`.
    public func model(_ request: Request, alias: String) async -> Response {
        let requestID = Self.requestID(from: request)
        do throws(ProxyError) {
            try await authorize(request)
            guard table.enabledAliases.contains(alias) else {
                _ = try enabledDeployments(alias)
                throw .modelNotFound(alias)
            }
        } catch {
            return errorResponse(error, requestID: requestID)
        }
        return Self.jsonResponse(Self.modelObject(alias), requestID: requestID)
    }

    /// `GET /model/info` (LiteLLM's route): each enabled deployment's alias, upstream model, prices in force (the
    /// catalog's, or `model_info`'s) with the long-prompt tier, context window and retirement; never a key.
    public func modelInfo(_ request: Request) async -> Response {
        let requestID = Self.requestID(from: request)
        do throws(ProxyError) { try await authorize(request) } catch { return errorResponse(error, requestID: requestID) }
        let wanted = request.uri.queryParameters.get("model")
        let data: [JSONValue] = table.deployments.filter { $0.status.isEnabled && (wanted == nil || $0.alias == wanted) }.map {
            deployment in
            var info: JSONObject = ["id": .string(deployment.id), "provider": .string(deployment.providerName)]
            let pricing = deployment.pricing
            if let price = pricing.base.inputPerToken { info["input_cost_per_token"] = .double(price) }
            if let price = pricing.base.cachedInputPerToken { info["cache_read_input_token_cost"] = .double(price) }
            if let price = pricing.base.outputPerToken { info["output_cost_per_token"] = .double(price) }
            if pricing.base.isSet { info["pricing_source"] = .string(pricing.source.rawValue) }
            if let threshold = pricing.longPromptThreshold, let tier = pricing.longPromptPrices {
                // LiteLLM's names for a tier: `input_cost_per_token_above_200k_tokens`.
                let suffix = "_above_\(threshold / 1000)k_tokens"
                if let price = tier.inputPerToken { info["input_cost_per_token" + suffix] = .double(price) }
                if let price = tier.cachedInputPerToken { info["cache_read_input_token_cost" + suffix] = .double(price) }
                if let price = tier.outputPerToken { info["output_cost_per_token" + suffix] = .double(price) }
                info["long_prompt_threshold"] = .int(threshold)
            }
            let facts = deployment.facts
            if let window = deployment.limits.maxInputTokens ?? facts.contextWindow { info["max_input_tokens"] = .int(window) }
            if let output = facts.maxOutputTokens { info["max_output_tokens"] = .int(output) }
            if facts.catalogName != nil { info["supports_reasoning"] = .bool(facts.reasoning) }
            if let retirement = facts.retirement {
                info["retired"] = .string(retirement.date)
                info["served_by"] = .string(retirement.servedBy)
            }
            info["completion_tokens_include_reasoning"] = .bool(deployment.provider?.completionIncludesReasoning ?? false)
            return .object(
                RuntimeConfigAPI.describe(
                    [
                        "model_name": .string(deployment.alias),
                        "litellm_params": .object(["model": .string(deployment.qualifiedModel)]),
                        "model_info": .object(info),
                    ], origin: deployment.origin))
        }
        return Self.jsonResponse(.object(["data": .array(data)]), requestID: requestID)
    }

    /// `GET /metrics`: Prometheus text; behind the master key when
    /// `litellm_settings.require_auth_for_metrics_endpoint` is true.
    public func metrics(_ request: Request) async -> Response {
        let requestID = Self.requestID(from: request)
        if table.settings.metricsRequireAuth {
            do throws(ProxyError) { try await authorize(request) } catch { return errorResponse(error, requestID: requestID) }
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .requestID: requestID],
            body: .init(byteBuffer: ByteBuffer(bytes: renderedMetrics())))
    }

    /// The metrics text, counting every request answered so far (the request log's queue is written first).
    func renderedMetrics() -> [UInt8] {
        requestLog.drain()
        return requestLog.metrics.render(engine: self)
    }

    static let startedAt = Int(Date().timeIntervalSince1970)

    static func modelObject(_ alias: String) -> JSONValue {
        .object(["id": .string(alias), "object": "model", "created": .int(startedAt), "owned_by": "switchyard"])
    }
}

extension Array {
    /// The array, or nil when it is empty.
    fileprivate var nilIfEmpty: [Element]? { isEmpty ? nil : self }
}
