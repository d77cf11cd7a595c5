import ArgumentParser
import Hummingbird
import Logging
import ServiceLifecycle
import SwitchyardCore
import SwitchyardServer

/// `switchyard mock`.
struct Mock: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a mock upstream that speaks xAI's dialect (for tests, demos and benchmarks).",
        discussion: """
            Serves /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models and /v1/responses (POST, and GET
            and DELETE of the responses it kept) like api.x.ai: flat error
            bodies, the model catalog's models and rejected parameters (--catalog merges a file over the built-in
            one), retired names answered by their successor, reasoning content, the usage chunk with
            cost_in_usd_ticks. A prompt containing FAULT:<name> picks a
            fault: 400, 500, 503, 429, 429-retry-after, html, non-json, echo-key, json-on-stream, slow, drip, empty-stream, abrupt, stall,
            error-event, keepalive, think (a stream's events 2 s after its head). Prints 'mock upstream listening on http://HOST:PORT' once ready.
            """)

    @Option(name: .long, help: "Address to bind.")
    var host = "127.0.0.1"

    @Option(name: .long, help: "Port to bind (0 picks a free port).")
    var port = 4010

    @Option(name: .long, help: "Delay before the response head, in milliseconds.")
    var latencyMs = 0

    @Option(name: .long, help: "Content deltas per streamed answer.")
    var chunks = 8

    @Option(name: .long, help: "Delay between streamed frames, in milliseconds.")
    var chunkIntervalMs = 0

    @Option(name: .long, help: "Extra bytes of content per answer.")
    var paddingBytes = 0

    @Option(name: .long, help: "Accept only this API key (others get xAI's 400 'Incorrect API key').")
    var key: String?

    @Option(name: .long, help: "Prompt tokens every model takes (default: each model's real context window).")
    var contextWindow: Int?

    @Flag(name: .long, help: "Do not keep a record of requests (for benchmarks).")
    var noRecord = false

    @Flag(name: .long, help: "Send no usage.cost_in_usd_ticks (as an upstream that reports no cost).")
    var noCostTicks = false

    @Option(name: .long, help: "A model catalog file merged over the built-in one (the models served and their rules).")
    var catalog: String?

    func validate() throws {
        guard latencyMs >= 0, chunkIntervalMs >= 0, paddingBytes >= 0 else {
            throw ValidationError("--latency-ms, --chunk-interval-ms and --padding-bytes must not be negative")
        }
        guard chunks >= 1 else { throw ValidationError("--chunks must be at least 1") }
        guard (contextWindow ?? 1) >= 1 else { throw ValidationError("--context-window must be at least 1") }
    }

    func run() async throws {
        var options = MockUpstreamOptions()
        options.host = host
        options.port = port
        options.firstByteLatency = .milliseconds(latencyMs)
        options.chunks = chunks
        options.chunkInterval = .milliseconds(chunkIntervalMs)
        options.paddingBytes = paddingBytes
        options.requiredKey = key
        options.contextWindow = contextWindow
        options.recordRequests = !noRecord
        options.sendsCostTicks = !noCostTicks
        if let catalog {
            let loaded = CatalogLoader.load(path: catalog)
            for diagnostic in loaded.diagnostics { warn(diagnostic.description) }
            guard let extra = loaded.catalog else { throw ExitCode(1) }
            options.catalog = ModelCatalog.shipped.overlaid(with: extra)
        }
        var logger = Logger(label: "switchyard-mock")
        logger.logLevel = .warning
        let host = self.host
        let application = try MockUpstream(options: options).application(logger: logger) { boundPort in
            say("mock upstream listening on http://\(host):\(boundPort)")
        }
        try await application.runService()
    }
}
