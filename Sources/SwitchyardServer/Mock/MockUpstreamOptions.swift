import SwitchyardCore

/// Knobs of the standalone mock upstream.
public struct MockUpstreamOptions: Sendable {
    /// Bind host (loopback by default).
    public var host = "127.0.0.1"
    /// Bind port; 0 picks a free one.
    public var port = 0
    /// Delay before the response head.
    public var firstByteLatency: Duration = .zero
    /// Content deltas per streamed answer.
    public var chunks = 8
    /// Delay between streamed frames.
    public var chunkInterval: Duration = .zero
    /// Extra bytes of content per answer (body size knob).
    public var paddingBytes = 0
    /// When set, any other key gets xAI's 400 "Incorrect API key provided".
    public var requiredKey: String?
    /// Send a `: keepalive` comment before the first frame, as xAI sometimes does.
    public var keepaliveComment = true
    /// Prompt tokens every model takes; nil uses each model's real context window.
    public var contextWindow: Int?
    /// Serve HTTPS with this PEM certificate chain and key.
    public var tls: (certificateFile: String, keyFile: String)?
    /// Record requests (headers and body) for tests; off for benchmarks.
    public var recordRequests = true
    /// Send xAI's billed cost (`usage.cost_in_usd_ticks`) in usage, as xAI does since 2026.
    public var sendsCostTicks = true
    /// The models served and their facts (rejected parameters, efforts, context windows, prices): the `xai` section.
    public var catalog = ModelCatalog.shipped

    /// Default options.
    public init() {}
}
