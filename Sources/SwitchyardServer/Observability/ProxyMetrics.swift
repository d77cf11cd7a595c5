import CoreMetrics
import Prometheus
import SwitchyardCore
import Synchronization

/// The proxy's Prometheus metrics, kept per server (not in the process-wide `MetricsSystem`, so several proxies
/// in one process, as in the tests, keep their own). Request metrics are recorded by the request-log service
/// from each finished request's record, never on the request's path; gauges are read when scraped.
///
/// Label values are bounded: aliases and deployments come from the config (an alias the config does not know
/// is `unknown`), statuses and error codes from a fixed set, dropped parameters from the provider tables.
public final class ProxyMetrics: Sendable {
    /// The registry rendered at `GET /metrics`.
    public let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let logDropped: CoreMetrics.Counter
    private let logQueued = Atomic<Int>(0)
    private let rowsDropped: CoreMetrics.Counter
    private let rowsWritten: CoreMetrics.Counter
    private let storageErrors: CoreMetrics.Counter
    /// Request-log rows waiting for the database.
    let rowsBuffered = Atomic<Int>(0)
    /// Handles already made, by name and labels: making one asks the Prometheus registry, which validates the
    /// name and sorts and hashes the labels each time.
    private let handles = Mutex(Handles())

    private struct HandleKey: Hashable {
        let label: String
        let dimensions: [String]
    }

    private struct Handles {
        var counters: [HandleKey: CoreMetrics.Counter] = [:]
        var timers: [HandleKey: CoreMetrics.Timer] = [:]
        /// What every request records, by its labels: one lookup per request instead of one per metric.
        var perRequest: [RequestKey: RequestHandles] = [:]
        /// The same requests summed per alias, for the console's overview.
        var summaries: [String: AliasSummary] = [:]
    }

    /// One alias's requests since start: what `switchyard_requests_total` and
    /// `switchyard_request_duration_seconds` count, summed over deployments, statuses and streaming.
    public struct AliasSummary: Sendable, Equatable {
        /// Requests answered.
        public var requests = 0
        /// Requests answered with a status of 400 or more.
        public var errors = 0
        /// Requests per latency bucket: `latencyBuckets[i]` holds those up to that bound, the last those above all.
        public var buckets = [Int](repeating: 0, count: ProxyMetrics.latencyBuckets.count + 1)

        /// The `q` quantile's estimate (0 < q < 1) from the buckets, as Prometheus's `histogram_quantile` makes
        /// it: linear within the bucket it falls in; the largest bound when it falls above all. Nil with no requests.
        public func quantile(_ q: Double) -> Duration? {
            guard requests > 0 else { return nil }
            let rank = q * Double(requests)
            var below = 0
            for (index, count) in buckets.enumerated() where count > 0 {
                guard Double(below + count) >= rank else {
                    below += count
                    continue
                }
                guard index < ProxyMetrics.latencyBuckets.count else { return ProxyMetrics.latencyBuckets.last }
                let upper = ProxyMetrics.latencyBuckets[index]
                let lower = index == 0 ? .zero : ProxyMetrics.latencyBuckets[index - 1]
                return lower + (upper - lower) * ((rank - Double(below)) / Double(count))
            }
            return ProxyMetrics.latencyBuckets.last
        }
    }

    /// Each alias's summary (the console's overview); the alias is as labelled in the metrics.
    public func summaries() -> [String: AliasSummary] {
        handles.withLock { $0.summaries }
    }

    private struct RequestKey: Hashable {
        let alias: String
        let deployment: String
        let status: Int
        let stream: Bool
    }

    /// The metrics a finished request records; token and spend handles are made when first needed (a series
    /// appears once it has a value).
    private struct RequestHandles {
        let requests: CoreMetrics.Counter
        let duration: CoreMetrics.Timer
        var tokens: [CoreMetrics.Counter?] = [nil, nil, nil, nil]
        var spend: CoreMetrics.FloatingPointCounter?
    }

    static let tokenKinds = ["prompt", "completion", "reasoning", "cached"]

    /// The handle for a name and labels, made by `make` the first time.
    private func handle<Handle: Sendable>(
        _ table: WritableKeyPath<Handles, [HandleKey: Handle]>, _ label: String, _ dimensions: [(String, String)],
        make: () -> Handle
    ) -> Handle {
        let key = HandleKey(label: label, dimensions: dimensions.flatMap { [$0.0, $0.1] })
        return handles.withLock { handles in
            if let made = handles[keyPath: table][key] { return made }
            let made = make()
            handles[keyPath: table][key] = made
            return made
        }
    }

    private func counter(_ label: String, _ dimensions: [(String, String)]) -> CoreMetrics.Counter {
        handle(\.counters, label, dimensions) { CoreMetrics.Counter(label: label, dimensions: dimensions, factory: factory) }
    }

    private func timer(_ label: String, _ dimensions: [(String, String)]) -> CoreMetrics.Timer {
        handle(\.timers, label, dimensions) {
            CoreMetrics.Timer(label: label, dimensions: dimensions, preferredDisplayUnit: .seconds, factory: factory)
        }
    }

    /// Histogram buckets for request latency and time to first token, in seconds.
    static let latencyBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60), .seconds(120),
    ]

    /// Empty metrics.
    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.latencyBuckets
        self.factory = factory
        logDropped = CoreMetrics.Counter(label: "switchyard_request_log_dropped_total", factory: factory)
        rowsDropped = CoreMetrics.Counter(label: "switchyard_log_rows_dropped_total", factory: factory)
        rowsWritten = CoreMetrics.Counter(label: "switchyard_log_rows_written_total", factory: factory)
        storageErrors = CoreMetrics.Counter(label: "switchyard_storage_errors_total", factory: factory)
    }

    /// Records one finished request. `knownAlias` says whether the alias is in the config.
    func observe(_ record: RequestRecord, knownAlias: Bool) {
        let alias = knownAlias ? (record.alias ?? "none") : (record.alias == nil ? "none" : "unknown")
        let deployment = record.deploymentID ?? "none"
        let key = RequestKey(alias: alias, deployment: deployment, status: record.status, stream: record.stream)
        let counts = record.usage.map { [$0.promptTokens, $0.completionTokens, $0.reasoningTokens, $0.cachedTokens] } ?? []
        let cost = record.cost ?? 0
        let bundle = handles.withLock { handles in
            var found =
                handles.perRequest[key]
                ?? RequestHandles(
                    requests: CoreMetrics.Counter(
                        label: "switchyard_requests_total",
                        dimensions: [("alias", alias), ("deployment", deployment), ("status", String(record.status))],
                        factory: factory),
                    duration: CoreMetrics.Timer(
                        label: "switchyard_request_duration_seconds",
                        dimensions: [("alias", alias), ("stream", String(record.stream))], preferredDisplayUnit: .seconds,
                        factory: factory))
            var made = handles.perRequest[key] == nil
            for (index, count) in counts.enumerated() where count > 0 && found.tokens[index] == nil {
                found.tokens[index] = CoreMetrics.Counter(
                    label: "switchyard_tokens_total", dimensions: [("alias", alias), ("kind", Self.tokenKinds[index])],
                    factory: factory)
                made = true
            }
            if cost > 0, found.spend == nil {
                found.spend = CoreMetrics.FloatingPointCounter(
                    label: "switchyard_spend_usd_total", dimensions: [("alias", alias)], factory: factory)
                made = true
            }
            if made { handles.perRequest[key] = found }
            var summary = handles.summaries[alias] ?? AliasSummary()
            summary.requests += 1
            if record.status >= 400 { summary.errors += 1 }
            let nanoseconds = record.latency.wholeNanoseconds
            let bucket = Self.latencyBuckets.firstIndex { nanoseconds <= $0.wholeNanoseconds } ?? Self.latencyBuckets.count
            summary.buckets[bucket] += 1
            handles.summaries[alias] = summary
            return found
        }
        bundle.requests.increment()
        bundle.duration.recordNanoseconds(record.latency.wholeNanoseconds)
        if record.stream, record.status == 200, let firstByte = record.timeToFirstByte {
            timer("switchyard_time_to_first_token_seconds", [("alias", alias)])
                .recordNanoseconds(firstByte.wholeNanoseconds)
        }
        for (index, count) in counts.enumerated() where count > 0 { bundle.tokens[index]?.increment(by: count) }
        if cost > 0 { bundle.spend?.increment(by: cost) }
        if let code = record.errorCode, record.status >= 500 || code.hasPrefix("upstream_") {
            counter("switchyard_upstream_errors_total", [("deployment", deployment), ("code", code)]).increment()
        }
        if record.retries > 0 {
            counter("switchyard_retries_total", [("alias", alias)]).increment(by: record.retries)
        }
        if record.attemptedFallbacks > 0 {
            counter("switchyard_fallbacks_total", [("alias", alias)]).increment(by: record.attemptedFallbacks)
        }
        for parameter in record.droppedParams {
            counter("switchyard_dropped_params_total", [("deployment", deployment), ("param", parameter)]).increment()
        }
    }

    /// A record was queued for the request log; `dropped` when the queue was full and an old one gave way.
    func logQueued(dropped: Bool) {
        logQueued.add(1, ordering: .relaxed)
        if dropped { logDropped.increment() }
    }

    /// Request-log rows were written to the database, dropped from a full buffer, or a database call failed.
    func rows(written: Int = 0, dropped: Int = 0, failed: Bool = false) {
        if written > 0 { rowsWritten.increment(by: written) }
        if dropped > 0 { rowsDropped.increment(by: dropped) }
        if failed { storageErrors.increment() }
    }

    /// A key the cache did not know was looked up in the database (`found`, `unknown`, `unavailable`), or not,
    /// because lookups were over their rate (`limited`).
    func keyLookup(_ result: String) {
        counter("switchyard_key_lookups_total", [("result", result)]).increment()
    }

    /// A queued record was written.
    func logWritten() {
        logQueued.subtract(1, ordering: .relaxed)
    }

    /// The Prometheus text exposition, gauges read from `engine` now.
    public func render(engine: ProxyEngine) -> [UInt8] {
        var inFlight = 0
        for deployment in engine.table.deployments where deployment.status.isEnabled {
            let slot = engine.router.slot(for: deployment)
            let usage = slot.usage()
            inFlight += usage.inFlight
            let state = slot.breakerState
            for candidate in [DeploymentRouter.BreakerState.closed, .cooldown, .halfOpen] {
                CoreMetrics.Gauge(
                    label: "switchyard_deployment_state",
                    dimensions: [("deployment", deployment.id), ("state", candidate.rawValue)], factory: factory
                ).record(candidate == state ? 1 : 0)
            }
            CoreMetrics.Gauge(
                label: "switchyard_deployment_in_flight", dimensions: [("deployment", deployment.id)], factory: factory
            )
            .record(usage.inFlight)
        }
        CoreMetrics.Gauge(label: "switchyard_requests_in_flight", factory: factory).record(inFlight)
        CoreMetrics.Gauge(label: "switchyard_request_log_queued", factory: factory).record(
            max(0, logQueued.load(ordering: .relaxed)))
        CoreMetrics.Gauge(label: "switchyard_log_rows_buffered", factory: factory).record(
            rowsBuffered.load(ordering: .relaxed))
        CoreMetrics.Gauge(label: "switchyard_models_enabled", factory: factory).record(engine.table.enabledAliases.count)
        return registry.emitToBuffer()
    }
}
