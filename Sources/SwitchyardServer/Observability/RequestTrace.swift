import Foundation
import HTTPTypes
import Logging
import OTel
import ServiceLifecycle
import SwitchyardCore
import Synchronization
import Tracing

/// OpenTelemetry traces, on when `general_settings.otel_exporter_endpoint` names an OTLP/HTTP collector: a span per
/// proxied request continuing the client's `traceparent`, a child span per upstream attempt (whose context goes
/// upstream as `traceparent`), with the GenAI semantic conventions' attributes. Spans are batched and exported by
/// swift-otel's service, off the request path. Off, nothing of it runs: no span, no lookup.
public struct ProxyTracing: Sendable {
    /// The tracer spans are made with.
    let tracer: any Tracer
    /// Batches and exports the spans; runs with the proxy's services.
    let service: any Service

    /// The tracing backend for `settings`, or nil when traces are off. The collector's URL is used as written when
    /// it ends in `/v1/traces`, else that path is added. OTel's own `OTEL_*` environment variables apply on top.
    static func make(_ settings: ProxySettings, logger: Logger) throws -> ProxyTracing? {
        guard let endpoint = settings.otelEndpoint else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = settings.otelServiceName
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        configuration.diagnosticLogger = .custom(logger)
        configuration.diagnosticLogLevel = .warning
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        let trimmed = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        configuration.traces.otlpExporter.endpoint = trimmed.hasSuffix("/v1/traces") ? trimmed : trimmed + "/v1/traces"
        // A second between exports: a trace is at the collector soon after its request ends.
        configuration.traces.batchSpanProcessor.scheduleDelay = .seconds(1)
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        return ProxyTracing(tracer: backend.factory, service: backend.service)
    }
}

/// The spans of one request: the server span, and the attempt in progress. Ended when the request's record is
/// complete (for a stream, when it has been relayed whole).
final class RequestTrace: Sendable {
    private let tracer: any Tracer
    private let span: any Span
    private let attempt = Mutex<(any Span)?>(nil)

    private let operation: String

    /// Starts the request's span, a child of the client's `traceparent` when it sent one. It is named for the
    /// operation until the request's model is read (`requested(model:)`).
    init(tracer: any Tracer, headers: HTTPFields, operation: String) {
        self.tracer = tracer
        self.operation = operation
        var context = InstrumentationContext.topLevel
        tracer.extract(headers, into: &context, using: HTTPFieldsExtractor())
        span = tracer.startSpan(operation, context: context, ofKind: .server)
        span.attributes["gen_ai.operation.name"] = operation
    }

    /// The model the request names: the span is named `operation model`, as the GenAI conventions have it.
    func requested(model: String) {
        span.operationName = "\(operation) \(model)"
        span.attributes["gen_ai.request.model"] = model
    }

    /// The GenAI operation of a surface.
    static func operation(_ surface: ClientSurface) -> String {
        switch surface {
        case .chatCompletions, .responses, .messages: "chat"
        case .completions: "text_completion"
        case .embeddings: "embeddings"
        }
    }

    /// Starts an attempt's span (ending one still open); answers the `traceparent` that makes the upstream's work
    /// its child.
    func startAttempt(_ deployment: Deployment) -> String? {
        let child = tracer.startSpan("\(operation) \(deployment.upstreamModel)", context: span.context, ofKind: .client)
        child.attributes["gen_ai.operation.name"] = operation
        child.attributes["gen_ai.system"] = deployment.providerName
        child.attributes["gen_ai.request.model"] = deployment.upstreamModel
        child.attributes["switchyard.deployment"] = deployment.id
        if let host = deployment.baseURL.flatMap({ URLComponents(string: $0.value)?.host }) {
            child.attributes["server.address"] = host
        }
        attempt.withLock { open in
            open?.end()
            open = child
        }
        var carrier: [String: String] = [:]
        tracer.inject(child.context, into: &carrier, using: DictionaryInjector())
        return carrier["traceparent"]
    }

    /// The attempt in progress failed.
    func failAttempt(_ error: ProxyError) {
        guard
            let open = attempt.withLock({ open in
                defer { open = nil }; return open
            })
        else { return }
        open.attributes["error.type"] = error.code
        open.attributes["http.response.status_code"] = error.status
        open.setStatus(SpanStatus(code: .error, message: error.message))
        open.end()
    }

    /// The request is over: the open attempt and the request's span get what it used and end.
    func finish(_ record: RequestRecord) {
        let open = attempt.withLock { open in
            defer { open = nil }; return open
        }
        for target in [open, span].compactMap({ $0 }) {
            if let usage = record.usage {
                target.attributes["gen_ai.usage.input_tokens"] = usage.promptTokens
                target.attributes["gen_ai.usage.output_tokens"] = usage.completionTokens + usage.reasoningTokens
            }
            if let model = record.responseModel { target.attributes["gen_ai.response.model"] = model }
            if let reason = record.finishReason { target.attributes["gen_ai.response.finish_reasons"] = [reason] as [String] }
            target.attributes["http.response.status_code"] = record.status
            if record.status >= 400 {
                target.attributes["error.type"] = record.errorCode ?? String(record.status)
                target.setStatus(SpanStatus(code: .error))
            }
        }
        if let cost = record.cost { span.attributes["switchyard.cost_usd"] = cost }
        if let alias = record.alias { span.attributes["switchyard.alias"] = alias }
        if let feature = record.feature { span.attributes["switchyard.feature"] = feature }
        open?.end()
        span.end()
    }
}

/// Reads `traceparent` and `tracestate` from a request's headers.
struct HTTPFieldsExtractor: Extractor {
    func extract(key: String, from carrier: HTTPFields) -> String? {
        HTTPField.Name(key).flatMap { carrier[$0] }
    }
}

/// Writes a context's headers into a dictionary.
struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }
}
