import AsyncHTTPClient
import NIOCore
import ServiceLifecycle
import SwitchyardCore

/// One AsyncHTTPClient per distinct (connect, idle) timeout pair, built once for a model table.
///
/// AsyncHTTPClient sets connect and read timeouts per client, so deployments with their own values get
/// their own client; the map is immutable after start-up and needs no lock on the request path.
public final class UpstreamClientPool: Service, Sendable {
    struct Key: Hashable {
        let connectMilliseconds: Int64
        let idleMilliseconds: Int64
    }

    private let clients: [Key: HTTPClient]
    private let fallback: HTTPClient

    /// Builds the clients every deployment of `table` needs.
    public init(table: ModelTable) {
        var clients: [Key: HTTPClient] = [:]
        for deployment in table.deployments where deployment.status.isEnabled {
            let key = Self.key(for: deployment.timeouts)
            if clients[key] == nil { clients[key] = Self.makeClient(key) }
        }
        let defaultKey = Self.key(for: table.settings.timeouts.inheriting(from: .defaults))
        let fallback = clients[defaultKey] ?? Self.makeClient(defaultKey)
        clients[defaultKey] = fallback
        self.clients = clients
        self.fallback = fallback
    }

    static func key(for timeouts: Timeouts) -> Key {
        Key(
            connectMilliseconds: Int64((timeouts.connect ?? 10) * 1000),
            idleMilliseconds: Int64((timeouts.idle ?? 120) * 1000))
    }

    static func makeClient(_ key: Key) -> HTTPClient {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(
                connect: .milliseconds(key.connectMilliseconds),
                read: .milliseconds(key.idleMilliseconds)),
            decompression: .disabled)
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 2048)
        // A refused connection is an answer (502 now), not something to retry until the deadline; retries
        // across deployments are the router's decision.
        configuration.connectionPool.retryConnectionEstablishment = false
        // No tracer: a span per upstream request is work nobody reads until tracing is configured.
        configuration.tracing.tracer = nil
        configuration.httpVersion = .automatic
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// The client for a deployment's timeouts.
    public func client(for deployment: Deployment) -> HTTPClient {
        clients[Self.key(for: deployment.timeouts)] ?? fallback
    }

    /// Waits for graceful shutdown (or cancellation), then shuts every client down.
    public func run() async {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Shuts every client down.
    public func shutdown() async {
        for client in clients.values {
            try? await client.shutdown()
        }
    }
}
