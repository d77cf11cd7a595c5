import AsyncHTTPClient
import NIOCore
import ServiceLifecycle
import SwitchyardCore
import Synchronization

/// One AsyncHTTPClient per distinct (connect, idle) timeout pair.
///
/// AsyncHTTPClient sets connect and read timeouts per client, so deployments with their own values get
/// their own client. The clients a table needs are built at start-up; a reloaded table with new timeouts
/// adds clients, and the pool outlives reloads so warm connections stay warm.
public final class UpstreamClientPool: Service, Sendable {
    struct Key: Hashable {
        let connectMilliseconds: Int64
        let idleMilliseconds: Int64
    }

    private let clients = Mutex<[Key: HTTPClient]>([:])
    private let isShutDown = Atomic<Bool>(false)

    /// Builds the clients every deployment of `table` needs.
    public init(table: ModelTable) {
        prepare(for: table)
    }

    /// Builds the clients a (reloaded) table needs that the pool does not have yet.
    public func prepare(for table: ModelTable) {
        _ = client(for: table.settings.timeouts.inheriting(from: .defaults))
        for deployment in table.deployments where deployment.status.isEnabled {
            _ = client(for: deployment.timeouts)
        }
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
        client(for: deployment.timeouts)
    }

    func client(for timeouts: Timeouts) -> HTTPClient {
        let key = Self.key(for: timeouts)
        return clients.withLock { clients in
            if let client = clients[key] { return client }
            let client = Self.makeClient(key)
            clients[key] = client
            return client
        }
    }

    /// Waits for graceful shutdown (or cancellation), then shuts every client down.
    public func run() async {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Shuts every client down; requests still running on them fail at once. Safe to call more than once.
    public func shutdown() async {
        guard !isShutDown.exchange(true, ordering: .relaxed) else { return }
        for client in clients.withLock({ Array($0.values) }) {
            try? await client.shutdown()
        }
    }
}
