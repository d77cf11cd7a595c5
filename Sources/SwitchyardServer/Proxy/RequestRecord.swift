import Foundation
import Logging
import ServiceLifecycle
import SwitchyardCore
import SwitchyardStorage
import Synchronization

/// What one finished request leaves behind: written to the request log off the response path.
public struct RequestRecord: Sendable {
    /// The request id (client's `x-request-id` or generated).
    public var requestID: String
    /// The route, e.g. `/v1/chat/completions`.
    public var route: String
    /// The alias asked for, when known.
    public var alias: String?
    /// The deployment that answered, when one was picked.
    public var deploymentID: String?
    /// The provider, when known.
    public var provider: String?
    /// HTTP status sent to the client.
    public var status: Int
    /// The error code sent, if any.
    public var errorCode: String?
    /// Whether the answer streamed.
    public var stream = false
    /// Total time from request to the last byte.
    public var latency: Duration = .zero
    /// Time from request to the first byte of the upstream answer.
    public var timeToFirstByte: Duration?
    /// Token usage, when reported.
    public var usage: Usage?
    /// Cost in USD: the upstream's figure when it sent one, else the catalog's or `model_info`'s prices.
    public var cost: Double?
    /// Where `cost` came from.
    public var costSource: CostSource?
    /// Parameters dropped by the normalizer.
    public var droppedParams: [String] = []
    /// Whether the stream ended without `[DONE]`.
    public var streamTruncated = false
    /// Whether `alias` is in the config (metrics label unknown aliases as `unknown`).
    public var aliasKnown = false
    /// Retries within the alias that served (or failed) last.
    public var attemptedRetries = 0
    /// Retries across every alias tried.
    public var retries = 0
    /// Aliases given up on before the one that served.
    public var attemptedFallbacks = 0
    /// The W3C trace id the client sent, continued upstream.
    public var traceID: String?
    /// When the request arrived, seconds since 1970.
    public var startedAt = Date().timeIntervalSince1970
    /// The virtual key the request was admitted on (its hash and alias; never the key).
    public var keyLease: KeyLease?
    /// The hash of the virtual key presented, admitted or not.
    public var keyHash: String?
    /// Who may read back what the request leaves (a kept response): the key's hash, `master`, or nil on an open proxy.
    public var owner: String?
    /// SHA-256 of the request body, when storage is on.
    public var requestSHA256: String?
    /// Prompt tokens estimated from the request (about four bytes a token), for a stream that ends without usage.
    public var estimatedPromptTokens = 0
    /// Whether `usage` is an estimate: a stream that ended (or was abandoned) before the upstream's usage chunk.
    public var usageEstimated = false
    /// The prompt, only with `general_settings.store_prompts`.
    public var promptText: String?
    /// The completion, only with `general_settings.store_prompts`.
    public var completionText: String?
    /// The feature endpoint the request named.
    public var feature: String?
    /// The version of its prompt used.
    public var promptVersion: Int?
    /// Its OpenTelemetry spans, when traces are on.
    var trace: RequestTrace?
    /// The model the upstream says answered, and why it stopped (read from a JSON answer when traces are on).
    var responseModel: String?
    var finishReason: String?

    /// Creates a record.
    public init(requestID: String, route: String, status: Int) {
        self.requestID = requestID
        self.route = route
        self.status = status
    }

    /// The request-log row for this record.
    var logRow: LogRow {
        LogRow(
            requestID: requestID, time: startedAt, keyHash: keyLease?.token ?? keyHash, keyAlias: keyLease?.keyAlias,
            alias: alias,
            deployment: deploymentID, provider: provider, status: status, errorCode: errorCode,
            latencyMs: Self.milliseconds(latency), ttfbMs: timeToFirstByte.map(Self.milliseconds),
            promptTokens: usage?.promptTokens ?? 0, completionTokens: usage?.completionTokens ?? 0,
            reasoningTokens: usage?.reasoningTokens ?? 0, cachedTokens: usage?.cachedTokens ?? 0, cost: cost,
            upstreamCost: usage?.upstreamCostUSD, costSource: costSource?.rawValue, requestSHA256: requestSHA256, stream: stream,
            usageEstimated: usageEstimated, prompt: promptText,
            completion: completionText, feature: feature, promptVersion: promptVersion)
    }

    /// The log metadata for the request's one info line.
    public var metadata: Logger.Metadata {
        var metadata: Logger.Metadata = [
            "request_id": .string(requestID),
            "route": .string(route),
            "status": .stringConvertible(status),
            "latency_ms": .stringConvertible(Self.milliseconds(latency)),
            "stream": .stringConvertible(stream),
        ]
        if let alias { metadata["alias"] = .string(alias) }
        if let deploymentID { metadata["deployment"] = .string(deploymentID) }
        if let provider { metadata["provider"] = .string(provider) }
        if let errorCode { metadata["error_code"] = .string(errorCode) }
        if let timeToFirstByte { metadata["ttfb_ms"] = .stringConvertible(Self.milliseconds(timeToFirstByte)) }
        if let usage {
            metadata["prompt_tokens"] = .stringConvertible(usage.promptTokens)
            metadata["completion_tokens"] = .stringConvertible(usage.completionTokens)
            metadata["reasoning_tokens"] = .stringConvertible(usage.reasoningTokens)
            metadata["cached_tokens"] = .stringConvertible(usage.cachedTokens)
            if let upstreamCost = usage.upstreamCostUSD { metadata["upstream_cost_usd"] = .stringConvertible(upstreamCost) }
        }
        if let cost { metadata["cost_usd"] = .stringConvertible(cost) }
        if let costSource { metadata["cost_source"] = .string(costSource.rawValue) }
        if usageEstimated { metadata["usage_estimated"] = .stringConvertible(true) }
        if !droppedParams.isEmpty { metadata["dropped_params"] = .string(droppedParams.joined(separator: ",")) }
        if streamTruncated { metadata["stream_truncated"] = .stringConvertible(true) }
        if retries > 0 { metadata["retries"] = .stringConvertible(retries) }
        if attemptedFallbacks > 0 { metadata["fallbacks"] = .stringConvertible(attemptedFallbacks) }
        if let traceID { metadata["trace_id"] = .string(traceID) }
        if let keyHash = keyLease?.token ?? keyHash { metadata["key_hash"] = .string(String(keyHash.prefix(12))) }
        if let keyAlias = keyLease?.keyAlias { metadata["key_alias"] = .string(keyAlias) }
        return metadata
    }

    static func milliseconds(_ duration: Duration) -> Double {
        (duration.inMilliseconds * 1000).rounded() / 1000
    }
}

/// Receives request records on the response path and writes them from a service, off that path.
///
/// The buffer is bounded: when the writer falls behind, the oldest waiting records are dropped and counted.
public final class RequestLog: Service, Sendable {
    private let logger: Logger
    /// Metrics, updated from each record as it is written.
    public let metrics: ProxyMetrics
    /// Where request-log rows go when storage is on.
    let accounting: Accounting?
    /// Records kept at most; past that the oldest give way.
    private let capacity: Int
    private let state = Mutex(Queue())
    /// One batch written at a time, in order.
    private let writing = Mutex(())

    private struct Queue {
        var records: [RequestRecord] = []
        /// The writer, parked while there is nothing to write.
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
    }

    /// How long the writer gathers records after the first of a batch: under load it wakes once per batch,
    /// not once per request (each wake-up is a thread switch).
    static let batchWindow: Duration = .milliseconds(20)

    public init(
        logger: Logger, metrics: ProxyMetrics = ProxyMetrics(), accounting: Accounting? = nil, capacity: Int = 10_000
    ) {
        self.logger = logger
        self.metrics = metrics
        self.accounting = accounting
        self.capacity = capacity
    }

    public func record(_ record: RequestRecord) {
        // The row is queued at once (a lock and an append), so spend read back includes every answered request;
        // the database write happens later, in batches, in the accounting service.
        accounting?.enqueue(record.logRow)
        let (waiter, dropped) = state.withLock { queue -> (CheckedContinuation<Void, Never>?, Int) in
            var dropped = 0
            if queue.records.count >= capacity {
                // Drop a tenth at once, so a full queue is not shifted on every record.
                dropped = max(1, capacity / 10)
                queue.records.removeFirst(min(dropped, queue.records.count))
            }
            queue.records.append(record)
            defer { queue.waiter = nil }
            return (queue.waiter, dropped)
        }
        for _ in 0..<dropped {
            metrics.logQueued(dropped: true)
            metrics.logWritten()
        }
        metrics.logQueued(dropped: false)
        waiter?.resume()
    }

    /// Writes what is queued: metrics, then the log line of each record. `/metrics` calls it before rendering,
    /// so a scrape counts every request answered before it.
    func drain() {
        writing.withLock { _ in
            let batch = state.withLock { queue in
                defer { queue.records = [] }
                return queue.records
            }
            for record in batch {
                metrics.logWritten()
                metrics.observe(record, knownAlias: record.aliasKnown)
                let level: Logger.Level = record.status >= 500 || record.streamTruncated ? .warning : .info
                logger.log(level: level, "request", metadata: record.metadata)
            }
        }
    }

    public func run() async {
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                while true {
                    await withCheckedContinuation { continuation in
                        let ready = state.withLock { queue -> Bool in
                            if queue.records.isEmpty, !queue.finished {
                                queue.waiter = continuation
                                return false
                            }
                            return true
                        }
                        if ready { continuation.resume() }
                    }
                    if !state.withLock({ $0.finished }) { try? await Task.sleep(for: Self.batchWindow) }
                    drain()
                    if state.withLock({ $0.finished && $0.records.isEmpty }) { return }
                }
            } onCancel: {
                self.stop()
            }
        } onGracefulShutdown: {
            self.stop()
        }
    }

    /// Ends the writer once what is queued is written.
    private func stop() {
        let waiter = state.withLock { queue in
            queue.finished = true
            defer { queue.waiter = nil }
            return queue.waiter
        }
        waiter?.resume()
    }
}
