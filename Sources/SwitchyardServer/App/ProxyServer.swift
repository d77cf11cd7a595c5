import Hummingbird
import Logging
import ServiceLifecycle
import SwitchyardCore
import SwitchyardStorage
import UnixSignals

/// The proxy: a Hummingbird server, its request-log service and upstream clients, serving the engine in force.
/// A reload swaps the engine; requests already running finish on the one they started with.
public struct ProxyServer: Sendable {
    /// The engine in force.
    public let store: EngineStore
    /// Where reloads read the config, if anywhere.
    public let source: ConfigSource?
    /// Overrides `general_settings.shutdown_grace_period`.
    public let gracePeriod: Double?
    /// Keeps the run-time configuration (models changed through `/model/*`) in step with the database.
    public let runtime: RuntimeConfigSync
    /// The console's log-ins.
    public let consoleSessions = ConsoleSessions()

    /// The engine new requests use.
    public var engine: ProxyEngine { store.current }

    /// Builds the server for a table; the redactor learns the table's secrets.
    public init(
        table: ModelTable, logger: Logger, redactors: RedactorStore, source: ConfigSource? = nil, gracePeriod: Double? = nil
    ) {
        redactors.update(redactors.redactor.adding(secrets: table.secrets))
        let metrics = ProxyMetrics()
        let accounting = Accounting(
            storage: SQLStorage.open(table.database.value, logger: logger), settings: table.settings, metrics: metrics,
            logger: logger)
        var tracing: ProxyTracing?
        do {
            tracing = try ProxyTracing.make(table.settings, logger: logger)
        } catch {
            logger.error("OpenTelemetry traces are off: the exporter could not be made", metadata: ["error": "\(error)"])
        }
        self.store = EngineStore(
            ProxyEngine(
                table: table, clients: UpstreamClientPool(verification: table.settings.tlsVerification), redactors: redactors,
                requestLog: RequestLog(logger: logger, metrics: metrics, accounting: accounting), accounting: accounting,
                logger: logger, tracing: tracing))
        self.source = source
        self.gracePeriod = gracePeriod
        self.runtime = RuntimeConfigSync(storage: accounting.storage, store: store, logger: logger)
    }

    /// Reads the config again: an invalid one is logged and rejected, and the old one keeps serving; a valid one
    /// serves new requests at once, with the run-time configuration in force laid over it, and deployments it leaves
    /// unchanged keep their counters and breakers.
    @discardableResult
    public func reload(from source: ConfigSource, reason: String) -> ReloadOutcome {
        store.change(what: source.path, reason: reason) { old in
            source.load().map { $0.with(runtime: old.runtime) }
        } ?? .rejected("nothing to reload")
    }

    /// The routes; each request runs on the engine in force when it arrived.
    public func buildRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let store = self.store
        for prefix in ["/v1", ""] {
            // The same routes the completion front answers (`ClientSurface`), for the requests it hands over.
            for surface in ClientSurface.allCases {
                router.post(RouterPath(prefix + surface.path)) { request, _ in
                    await store.current.handle(request, surface: surface)
                }
            }
            router.get(RouterPath("\(prefix)/responses/{id}")) { request, context in
                await store.current.storedResponseRoute(request, id: context.parameters.get("id") ?? "")
            }
            router.delete(RouterPath("\(prefix)/responses/{id}")) { request, context in
                await store.current.storedResponseRoute(request, id: context.parameters.get("id") ?? "")
            }
            router.get(RouterPath("\(prefix)/responses/{id}/input_items")) { request, context in
                await store.current.storedResponseRoute(request, id: context.parameters.get("id") ?? "", inputItems: true)
            }
            router.post(RouterPath("\(prefix)/messages/count_tokens")) { request, _ in
                await store.current.countTokens(request)
            }
            router.get(RouterPath("\(prefix)/models")) { request, _ in await store.current.listModels(request) }
            router.get(RouterPath("\(prefix)/models/{alias}")) { request, context in
                await store.current.model(request, alias: context.parameters.get("alias") ?? "")
            }
        }
        for path in ["/model/info", "/v1/model/info"] {
            router.get(RouterPath(path)) { request, _ in await store.current.modelInfo(request) }
        }
        router.get("/metrics") { request, _ in await store.current.metrics(request) }
        HealthRoutes.add(to: router, store: store)
        AdminRoutes.add(to: router, store: store, runtime: runtime)
        ConsoleRoutes.add(to: router, store: store, sessions: consoleSessions, runtime: runtime)
        return router
    }

    /// How many connections the kernel queues for accept. Hummingbird's default, 256, overflows when a thousand
    /// clients connect at once: the kernel drops the SYNs past it and each client retries a second later (the
    /// benchmark's 1,024-stream start, TTFB p90 2.3 s). Linux caps it at `net.core.somaxconn` (4096 since 5.4).
    public static let listenBacklog = 4096

    /// The HTTP application; `onRunning` receives the bound port.
    public func application(
        host: String, port: Int, onRunning: @escaping @Sendable (Int) async -> Void
    ) -> some ApplicationProtocol {
        let store = self.store
        return Application(
            router: buildRouter(),
            server: .fronted { CompletionFront(store: store, serverName: "switchyard") },
            configuration: .init(
                address: .hostname(host, port: port), serverName: "switchyard", backlog: Self.listenBacklog),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: engine.logger)
    }

    /// The services to run together, in start order; they stop in reverse: the reloader, then the server (draining
    /// for the grace period), then the upstream clients, and the request log last, so every record is written.
    public func services(
        host: String, port: Int, reloadSignals: [UnixSignal] = [], watchInterval: Duration? = nil,
        onRunning: @escaping @Sendable (Int) async -> Void
    ) -> [any Service] {
        let engine = self.engine
        // The span exporter first: it stops last, after every request (and its spans) has ended.
        var services: [any Service] = engine.tracing.map { [$0.service] } ?? []
        services.append(engine.accounting)
        // After the request log's writer, before the server: it stops once the server has drained.
        if let storage = engine.accounting.storage,
            let interval = engine.table.settings.fleetSync(for: engine.table.database.value)
        {
            services.append(FleetSync(storage: storage, store: store, interval: interval, logger: engine.logger))
        }
        if engine.accounting.storage != nil { services.append(runtime) }
        services += [
            engine.requestLog, engine.clients,
            DrainingService(
                app: application(host: host, port: port, onRunning: onRunning), store: store, lifecycle: engine.lifecycle,
                gracePeriod: gracePeriod, logger: engine.logger),
        ]
        if let source, !reloadSignals.isEmpty || watchInterval != nil {
            services.append(ConfigReloader(server: self, source: source, watchInterval: watchInterval, signals: reloadSignals))
        }
        return services
    }

    /// Serves until SIGTERM or SIGINT (or until `shutdownSignals` is empty and the task is cancelled); SIGHUP
    /// reloads the config, and so does a change to the file when `watchInterval` is set.
    public func run(
        host: String, port: Int, shutdownSignals: [UnixSignal] = [.sigterm, .sigint], reloadSignals: [UnixSignal] = [.sighup],
        watchInterval: Duration? = nil, onRunning: @escaping @Sendable (Int) async -> Void
    ) async throws {
        let group = ServiceGroup(
            configuration: .init(
                services: services(
                    host: host, port: port, reloadSignals: reloadSignals, watchInterval: watchInterval, onRunning: onRunning
                ).map { .init(service: $0) },
                gracefulShutdownSignals: shutdownSignals,
                logger: engine.logger))
        try await group.run()
    }
}
