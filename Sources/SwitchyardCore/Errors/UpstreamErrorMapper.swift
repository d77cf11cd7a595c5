import Foundation

/// Turns an upstream's error answer (OpenAI envelope, xAI's flat body, HTML, text) into a ``ProxyError``.
public enum UpstreamErrorMapper {
    /// Longest upstream message passed on, in characters.
    public static let maxMessageLength = 600

    /// Maps an upstream error response. The message is bounded and redacted.
    public static func map(
        status: Int,
        contentType: String?,
        body: [UInt8],
        deployment: String,
        redactor: Redactor,
        retryAfter: Int? = nil
    ) -> ProxyError {
        let (upstreamMessage, upstreamCode, upstreamType, param) = extract(body: body, contentType: contentType)
        let clipped = clip(redactor.redact(upstreamMessage))
        let mappedStatus: Int
        var code: String
        switch status {
        case 400:
            if upstreamMessage.localizedCaseInsensitiveContains("incorrect api key")
                || upstreamMessage.localizedCaseInsensitiveContains("invalid api key")
            {
                mappedStatus = 401
                code = "invalid_api_key"
            } else if isContextWindowMessage(upstreamMessage) {
                mappedStatus = 400
                code = ProxyError.contextLengthExceeded
            } else {
                mappedStatus = 400
                code = "invalid_request"
            }
        case 401: (mappedStatus, code) = (401, "invalid_api_key")
        case 403: (mappedStatus, code) = (403, "permission_denied")
        case 404:
            (mappedStatus, code) = (
                404, upstreamMessage.localizedCaseInsensitiveContains("model") ? "model_not_found" : "not_found"
            )
        case 408: (mappedStatus, code) = (504, "upstream_timeout")
        case 409: (mappedStatus, code) = (409, "conflict")
        case 410: (mappedStatus, code) = (400, "feature_removed")
        case 413: (mappedStatus, code) = (413, "request_too_large")
        case 415: (mappedStatus, code) = (400, "unsupported_media_type")
        case 422: (mappedStatus, code) = (422, "unprocessable_entity")
        case 429: (mappedStatus, code) = (429, "rate_limit_exceeded")
        case 503: (mappedStatus, code) = (503, "upstream_unavailable")
        case 504: (mappedStatus, code) = (504, "upstream_timeout")
        case 400..<500: (mappedStatus, code) = (400, "upstream_client_error")
        default: (mappedStatus, code) = (502, "upstream_error")
        }
        if let upstreamCode, !upstreamCode.contains(" "), upstreamCode.count <= 64, status < 500,
            upstreamType != nil
        {
            code = upstreamCode
        }
        let type = upstreamType.flatMap { status < 500 ? $0 : nil } ?? ProxyError.type(forStatus: mappedStatus)
        let prefix = "Upstream \(deployment) answered \(status)"
        let message = clipped.isEmpty ? "\(prefix) with no message." : "\(prefix): \(clipped)"
        return ProxyError(
            status: mappedStatus, type: type, code: code, message: message, param: param,
            retryAfter: retryAfter)
    }

    /// Whether an upstream's 400 says the prompt is longer than the context window (xAI: "This model's maximum
    /// prompt length is N but the request contains M tokens"; OpenAI: "maximum context length").
    static func isContextWindowMessage(_ message: String) -> Bool {
        let lowered = message.lowercased()
        return lowered.contains("maximum prompt length") || lowered.contains("maximum context length")
            || lowered.contains("context length exceeded") || lowered.contains("context_length_exceeded")
            || lowered.contains("context window")
    }

    /// The message, code, type and param from an upstream body in any of the known shapes.
    static func extract(body: [UInt8], contentType: String?) -> (String, String?, String?, String?) {
        if let json = try? JSONParser.parse(body), case .object(let object) = json {
            if case .object(let error) = object["error"] {
                // OpenAI envelope.
                let code = error["code"]?.stringValue ?? error["code"]?.intValue.map(String.init)
                return (
                    error["message"]?.stringValue ?? "", code, error["type"]?.stringValue, error["param"]?.stringValue
                )
            }
            if let message = object["error"]?.stringValue {
                // xAI's flat body: the code is prose and changes format, so keep it in the message only.
                let detail = object["code"]?.stringValue.map { " (\($0))" } ?? ""
                return (message + detail, nil, nil, nil)
            }
            if let message = object["message"]?.stringValue ?? object["detail"]?.stringValue {
                return (message, nil, nil, nil)
            }
            return (String(decoding: body.prefix(maxMessageLength), as: UTF8.self), nil, nil, nil)
        }
        let text = String(decoding: body.prefix(64 * 1024), as: UTF8.self)
        let isHTML =
            contentType?.lowercased().contains("html") == true
            || text.range(of: "<html", options: .caseInsensitive) != nil
        if isHTML {
            let title = between(text, "<title>", "</title>").map { ": \($0)" } ?? ""
            return ("an HTML error page\(title)", nil, nil, nil)
        }
        return (text.trimmingCharacters(in: .whitespacesAndNewlines), nil, nil, nil)
    }

    static func between(_ text: String, _ start: String, _ end: String) -> String? {
        guard let open = text.range(of: start, options: .caseInsensitive),
            let close = text.range(of: end, options: .caseInsensitive, range: open.upperBound..<text.endIndex)
        else { return nil }
        return String(text[open.upperBound..<close.lowerBound]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func clip(_ text: String) -> String {
        let singleLine = text.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ")
        guard singleLine.count > maxMessageLength else { return singleLine }
        return String(singleLine.prefix(maxMessageLength)) + "…"
    }
}
