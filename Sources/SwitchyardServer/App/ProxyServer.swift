import Hummingbird
import Logging
import ServiceLifecycle
import SwitchyardCore
import UnixSignals

/// The proxy: a Hummingbird server and its request-log service, built from one model table.
public struct ProxyServer: Sendable {
    /// What requests run on.
    public let engine: ProxyEngine

    /// Builds the server for a table; the redactor learns the table's secrets.
    public init(table: ModelTable, logger: Logger, redactors: RedactorStore) {
        redactors.update(redactors.redactor.adding(secrets: table.secrets))
        self.engine = ProxyEngine(
            table: table, clients: UpstreamClientPool(table: table), redactors: redactors,
            requestLog: RequestLog(logger: logger), logger: logger)
    }

    /// The routes.
    public func buildRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let engine = self.engine
        for prefix in ["/v1", ""] {
            router.post(RouterPath("\(prefix)/chat/completions")) { request, _ in
                await engine.handleCompletion(request, endpoint: .chatCompletions)
            }
            router.post(RouterPath("\(prefix)/completions")) { request, _ in
                await engine.handleCompletion(request, endpoint: .completions)
            }
            router.post(RouterPath("\(prefix)/embeddings")) { request, _ in
                await engine.handleCompletion(request, endpoint: .embeddings)
            }
            router.get(RouterPath("\(prefix)/models")) { request, _ in engine.listModels(request) }
            router.get(RouterPath("\(prefix)/models/{alias}")) { request, context in
                engine.model(request, alias: context.parameters.get("alias") ?? "")
            }
        }
        for path in ["/model/info", "/v1/model/info"] {
            router.get(RouterPath(path)) { request, _ in engine.modelInfo(request) }
        }
        HealthRoutes.add(to: router, engine: engine)
        return router
    }

    /// The HTTP application; `onRunning` receives the bound port.
    public func application(
        host: String, port: Int, onRunning: @escaping @Sendable (Int) async -> Void
    ) -> some ApplicationProtocol {
        Application(
            router: buildRouter(),
            configuration: .init(address: .hostname(host, port: port), serverName: "switchyard"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: engine.logger)
    }

    /// The services to run together, in start order; they stop in reverse: the server first, then the upstream
    /// clients, and the request log last, so every record is written.
    public func services(
        host: String, port: Int, onRunning: @escaping @Sendable (Int) async -> Void
    ) -> [any Service] {
        [engine.requestLog, engine.clients, application(host: host, port: port, onRunning: onRunning)]
    }

    /// Serves until SIGTERM or SIGINT (or until `shutdownSignals` is empty and the task is cancelled).
    public func run(
        host: String, port: Int, shutdownSignals: [UnixSignal] = [.sigterm, .sigint],
        onRunning: @escaping @Sendable (Int) async -> Void
    ) async throws {
        let group = ServiceGroup(
            configuration: .init(
                services: services(host: host, port: port, onRunning: onRunning).map { .init(service: $0) },
                gracefulShutdownSignals: shutdownSignals,
                logger: engine.logger))
        try await group.run()
    }
}
