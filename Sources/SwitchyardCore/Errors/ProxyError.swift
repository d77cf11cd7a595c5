/// An error a client sees, in OpenAI's envelope, with the status that makes OpenAI SDKs raise the matching class.
public struct ProxyError: Error, Sendable, Equatable {
    /// HTTP status.
    public let status: Int
    /// OpenAI error type (`invalid_request_error`, `authentication_error`, ...).
    public let type: String
    /// Machine-readable code, always a string.
    public let code: String
    /// Human message, redacted before it is built into a body.
    public let message: String
    /// The offending parameter, when one is.
    public let param: String?
    /// Seconds a client should wait, for 429/503.
    public let retryAfter: Int?
    /// Extra response headers (`x-ratelimit-*` for a local limit).
    public var headers: [String: String] = [:]

    /// Creates an error.
    public init(status: Int, type: String, code: String, message: String, param: String? = nil, retryAfter: Int? = nil) {
        self.status = status
        self.type = type
        self.code = code
        self.message = message
        self.param = param
        self.retryAfter = retryAfter
    }

    /// The same error telling the client to wait `seconds` (`Retry-After`).
    public func retrying(after seconds: Int) -> ProxyError {
        var error = ProxyError(
            status: status, type: type, code: code, message: message, param: param, retryAfter: seconds)
        error.headers = headers
        return error
    }

    /// The OpenAI error type for a status.
    public static func type(forStatus status: Int) -> String {
        switch status {
        case 400, 404, 409, 413, 415, 422: "invalid_request_error"
        case 401: "authentication_error"
        case 403: "permission_error"
        case 408, 504: "timeout_error"
        case 429: "rate_limit_error"
        default: "api_error"
        }
    }

    /// `{"error":{"message","type","param","code"}}` with `message` passed through `redactor`.
    public func body(redactor: Redactor) -> [UInt8] {
        envelope(redactor: redactor).encodedBytes()
    }

    /// The envelope as a JSON value.
    public func envelope(redactor: Redactor) -> JSONValue {
        .object([
            "error": .object([
                "message": .string(redactor.redact(message)),
                "type": .string(type),
                "param": param.map { .string($0) } ?? .null,
                "code": .string(code),
            ])
        ])
    }

    /// One SSE `data:` frame carrying the envelope.
    public func sseFrame(redactor: Redactor) -> [UInt8] {
        Array("data: ".utf8) + body(redactor: redactor) + Array("\n\n".utf8)
    }
}

extension ProxyError {
    /// OpenAI's code for a prompt longer than the model's context window.
    public static let contextLengthExceeded = "context_length_exceeded"
    /// The code of requests ended by shutdown.
    public static let shuttingDownCode = "server_shutting_down"

    /// 400 when the prompt is longer than every deployment of an alias takes (`model_info.max_input_tokens`).
    public static func contextWindow(alias: String, limit: Int, estimated: Int) -> ProxyError {
        ProxyError(
            status: 400, type: "invalid_request_error", code: contextLengthExceeded,
            message: "The prompt (about \(estimated) tokens) is longer than the model '\(alias)' takes "
                + "(max_input_tokens \(limit)). Shorten it, or set context_window_fallbacks for '\(alias)'.",
            param: "messages")
    }

    /// 503 for a request still running when the shutdown grace period ended.
    public static func shuttingDown(grace: Double) -> ProxyError {
        ProxyError(
            status: 503, type: "api_error", code: shuttingDownCode,
            message: "The proxy is shutting down and ended this request after its \(format(grace)) s grace period; "
                + "send it again.",
            retryAfter: 1)
    }

    /// 499: the client went away.
    public static let clientClosed = ProxyError(
        status: 499, type: "api_error", code: "client_closed_request", message: "The client went away.")

    /// 400 for a malformed or incomplete request.
    public static func invalidRequest(_ message: String, param: String? = nil, code: String = "invalid_request") -> ProxyError {
        ProxyError(status: 400, type: "invalid_request_error", code: code, message: message, param: param)
    }

    /// 404 for an alias the proxy does not know.
    public static func modelNotFound(_ alias: String) -> ProxyError {
        ProxyError(
            status: 404, type: "invalid_request_error", code: "model_not_found",
            message: "The model '\(alias)' does not exist on this proxy. GET /v1/models lists the available models.",
            param: "model")
    }

    /// 503 for an alias whose deployments are all disabled.
    public static func modelDisabled(_ alias: String, reason: String, fix: String) -> ProxyError {
        ProxyError(
            status: 503, type: "api_error", code: "model_disabled",
            message: "The model '\(alias)' is disabled: \(reason). To enable it: \(fix).", param: "model")
    }

    /// 401 for a missing or wrong proxy key.
    public static func unauthorized(_ message: String) -> ProxyError {
        ProxyError(status: 401, type: "authentication_error", code: "invalid_api_key", message: message)
    }

    /// 413 for a body over the limit.
    public static func bodyTooLarge(limit: Int) -> ProxyError {
        ProxyError(
            status: 413, type: "invalid_request_error", code: "request_too_large",
            message: "The request body is larger than \(limit) bytes (general_settings.max_request_size_mb).")
    }

    /// 502 when the upstream cannot be reached.
    public static func upstreamUnreachable(_ deployment: String, detail: String) -> ProxyError {
        ProxyError(
            status: 502, type: "api_error", code: "upstream_unreachable",
            message: "Could not reach the upstream for \(deployment): \(detail).")
    }

    /// 502 when the upstream's bytes are not an HTTP/1.1 response.
    public static func upstreamBadResponse(_ deployment: String, reason: String) -> ProxyError {
        ProxyError(
            status: 502, type: "api_error", code: "upstream_bad_response",
            message: "The upstream for \(deployment) sent an answer that is not valid HTTP/1.1: \(reason).")
    }

    /// 502 when the upstream's successful answer to a JSON endpoint is not a JSON object.
    public static func upstreamNotJSON(_ deployment: String) -> ProxyError {
        ProxyError(
            status: 502, type: "api_error", code: "upstream_bad_response",
            message: "The upstream for \(deployment) answered 200 with a body that is not a JSON object.")
    }

    /// 502 when an upstream answer is larger than its limit.
    public static func upstreamTooLarge(_ deployment: String, limit: Int) -> ProxyError {
        ProxyError(
            status: 502, type: "api_error", code: "upstream_response_too_large",
            message: "The upstream for \(deployment) sent more than \(limit) bytes.")
    }

    public static func upstreamTimeout(_ deployment: String, which: String, seconds: Double) -> ProxyError {
        ProxyError(
            status: 504, type: "timeout_error", code: "upstream_timeout",
            message: "The upstream for \(deployment) timed out (\(which) timeout, \(Self.format(seconds)) s).")
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}
