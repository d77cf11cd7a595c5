import NIOCore
import ServiceLifecycle
import SwitchyardCore

/// The upstream client the proxy shares across reloads, and the service that shuts it down.
///
/// Timeouts are per call (each deployment's own), so one client with one pool of kept-alive connections per
/// upstream host serves every deployment.
public final class UpstreamClientPool: Service, Sendable {
    /// The client.
    public let client: UpstreamHTTPClient

    /// A pool on the shared event loop group; `verification` is read once (a reload does not change it).
    public init(verification: TLSVerification = .system) {
        client = UpstreamHTTPClient(verification: verification)
    }

    /// Sends a POST (or `method`) with a deployment's timeouts: connect, first byte (from now) and idle; with `collectUpTo`, the
    /// body is read whole (at most that many bytes) before this returns, by `totalDeadline`.
    public func post(
        _ url: String, method: String = "POST", headers: [UpstreamHeaderSet.Field], body: ByteBuffer, timeouts: Timeouts,
        firstByteSeconds: Double? = nil, collectUpTo: Int? = nil, totalDeadline: NIODeadline? = nil
    ) async throws -> UpstreamResponse {
        let firstByte = firstByteSeconds ?? timeouts.firstByte ?? Timeouts.defaults.firstByte ?? 120
        return try await client.post(
            url, method: method, headers: headers, body: body,
            connectTimeout: .milliseconds(Int64((timeouts.connect ?? 10) * 1000)),
            firstByteDeadline: .now() + .milliseconds(Int64(firstByte * 1000)),
            idleTimeout: .milliseconds(Int64((timeouts.idle ?? 120) * 1000)), collectUpTo: collectUpTo,
            totalDeadline: totalDeadline)
    }

    /// Waits for graceful shutdown (or cancellation), then shuts the client down.
    public func run() async {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Closes every upstream connection; requests still running on them fail at once. Safe to call again.
    public func shutdown() async {
        await client.shutdown()
    }
}
