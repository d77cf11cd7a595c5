import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// Sends one normalized request upstream and relays the answer: JSON as bytes, SSE event by event.
enum UpstreamRelay {
    /// Largest JSON answer relayed.
    static let maxJSONBytes = 64 * 1024 * 1024
    /// Largest error body read from an upstream.
    static let maxErrorBytes = 64 * 1024
    /// Upstream response headers passed to the client.
    static let passedHeaderPrefixes = ["x-ratelimit-", "retry-after"]

    static func send(
        _ body: JSONObject,
        to deployment: Deployment,
        endpoint: UpstreamEndpoint,
        headers: UpstreamHeaderSet,
        stream: Bool,
        context: RelayContext
    ) async throws -> Response {
        guard let base = deployment.baseURL?.value else {
            throw ProxyError.modelDisabled(deployment.alias, reason: "no base URL", fix: "set api_base")
        }
        let timeouts = deployment.timeouts
        let totalDeadline = context.started + .milliseconds(Int64((timeouts.total ?? 600) * 1000))
        // A JSON answer is read whole on the connection's event loop; a stream is relayed as it comes.
        let response: UpstreamResponse
        do {
            response = try await context.engine.clients.post(
                base + "/" + endpoint.rawValue, headers: headers.fields,
                body: ByteBuffer(
                    bytes: JSONValue.object(body).encodedBytes(capacity: 4 * context.record.estimatedPromptTokens + 1024)),
                timeouts: timeouts, collectUpTo: stream ? nil : maxJSONBytes,
                totalDeadline: .now() + .nanoseconds((totalDeadline - ContinuousClock.now).wholeNanoseconds))
        } catch UpstreamClientError.responseTooLarge(let limit) {
            throw ProxyError.upstreamTooLarge(deployment.id, limit: limit)
        } catch UpstreamClientError.totalTimeout {
            throw ProxyError.upstreamTimeout(deployment.id, which: "total", seconds: timeouts.total ?? 600)
        }
        let firstByte = ContinuousClock.now - .nanoseconds(max(0, (NIODeadline.now() - response.headReceived).nanoseconds))
        let contentType = response.headers.value(of: "content-type")?.lowercased() ?? ""
        guard (200..<300).contains(response.status) else {
            let bytes = try await readBounded(response.body, limit: maxErrorBytes)
            throw UpstreamErrorMapper.map(
                status: response.status, contentType: contentType, body: bytes, deployment: deployment.id,
                redactor: context.engine.redactors.redactor,
                retryAfter: response.headers.value(of: "retry-after").flatMap { Int($0) })
        }
        if stream {
            guard contentType.contains("text/event-stream") else {
                // xAI answers some stream requests with 200 + a JSON error: a failed upstream, not a stream.
                let bytes = try await readBounded(response.body, limit: maxErrorBytes)
                let mapped = UpstreamErrorMapper.map(
                    status: 503, contentType: contentType, body: bytes, deployment: deployment.id,
                    redactor: context.engine.redactors.redactor)
                throw ProxyError(
                    status: 503, type: "api_error", code: "upstream_unavailable",
                    message: mapped.message.replacingOccurrences(of: "answered 503", with: "answered a stream request with JSON"),
                    retryAfter: 1)
            }
            guard case .streamed(let events) = response.body else {
                throw ProxyError.upstreamUnreachable(deployment.id, detail: "the stream was read as a whole")
            }
            let relay = SSERelay(
                reader: events, context: context, firstByte: firstByte,
                totalDeadline: totalDeadline)
            try await relay.peek()
            // Appended: the upstream's passed headers never include these.
            var responseHeaders = passedHeaders(response.headers, to: context.answerHeaders)
            responseHeaders.append(HTTPField(name: .contentType, value: "text/event-stream"))
            responseHeaders.append(HTTPField(name: .cacheControl, value: "no-cache"))
            responseHeaders.append(HTTPField(name: .accelBuffering, value: "no"))
            return Response(
                status: .ok, headers: responseHeaders,
                body: ResponseBody { writer in try await relay.pump(into: &writer) })
        }
        guard case .collected(let buffer) = response.body else {
            throw ProxyError.upstreamUnreachable(deployment.id, detail: "the answer was streamed, not read whole")
        }
        // The answer is relayed as the buffer it arrived in, once its ends show a JSON object (an upstream that
        // loses its framing header sends its chunk framing as the body); its usage is read in place.
        guard Self.isJSONObject(buffer) else { throw ProxyError.upstreamNotJSON(deployment.id) }
        // A translated answer's usage was read on the way; the others' is read in place.
        let translated = try context.translation?.json(buffer, model: deployment.id)
        // A kept native response's id, read without parsing the answer (which was 100,000 instructions a request).
        let responseID =
            context.nativeResponses && context.keepsResponse
            ? buffer.withUnsafeReadableBytes { raw in
                JSONByteReader.topLevelString("id", in: raw.bindMemory(to: UInt8.self))
                    ?? (try? JSONParser.parse(raw.bindMemory(to: UInt8.self)))?.objectValue?["id"]?.stringValue
            } : nil
        context.finish(
            status: 200, usage: translated?.usage ?? context.usage(in: buffer), firstByte: firstByte,
            completion: context.storesText ? RelayContext.completionText(in: Array(buffer.readableBytesView)) : nil,
            responseID: responseID, answer: context.record.trace == nil ? nil : Self.facts(of: buffer))
        var responseHeaders = passedHeaders(response.headers, to: context.answerHeaders)
        responseHeaders.append(HTTPField(name: .contentType, value: contentType.isEmpty ? "application/json" : contentType))
        return Response(status: .ok, headers: responseHeaders, body: .init(byteBuffer: translated?.body ?? buffer))
    }

    /// The answering model and why it stopped, for a trace: chat's `choices[0].finish_reason`, the Responses API's
    /// `status`, Messages' `stop_reason`. Parsed only when traces are on.
    static func facts(of buffer: ByteBuffer) -> (model: String?, finish: String?) {
        guard let answer = (try? JSONParser.parse(buffer.readableBytesView))?.objectValue else { return (nil, nil) }
        let finish =
            answer["choices"]?.arrayValue?.first?.objectValue?["finish_reason"]?.stringValue
            ?? answer["stop_reason"]?.stringValue ?? answer["status"]?.stringValue
        return (answer["model"]?.stringValue, finish)
    }

    /// Whether `buffer`, less surrounding JSON whitespace, starts with `{` and ends with `}`: a cheap check (the
    /// body is not parsed) that rules out answers that are not a JSON object at all.
    static func isJSONObject(_ buffer: ByteBuffer) -> Bool {
        buffer.withUnsafeReadableBytes { bytes in
            func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }
            guard let first = bytes.firstIndex(where: { !isSpace($0) }),
                let last = bytes.lastIndex(where: { !isSpace($0) })
            else { return false }
            return first < last && bytes[first] == UInt8(ascii: "{") && bytes[last] == UInt8(ascii: "}")
        }
    }

    /// `fields` with the upstream's headers that pass (`passedHeaderPrefixes`) appended, named in lower case. Only
    /// the passed fields become strings; their usual names are made once (`knownPassedNames`).
    static func passedHeaders(_ upstream: HTTPResponseParser.Fields, to fields: HTTPFields) -> HTTPFields {
        var fields = fields
        upstream.forEachField { name, value in
            guard isPassed(name), let name = passedName(name) else { return }
            fields.append(HTTPField(name: name, value: String(decoding: value, as: UTF8.self)))
        }
        return fields
    }

    /// Whether an upstream header starts with one of `passedHeaderPrefixes`, in any case.
    static func isPassed(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { isPassed(UnsafeRawBufferPointer($0)) }
    }

    /// Whether a header name, as bytes, starts with one of `passedHeaderPrefixes`, in any case (most headers of an
    /// answer are not passed: they never become strings).
    static func isPassed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        // Most names are ruled out by their first letter.
        guard let first = bytes.first, passedFirstBytes[Int(first)] else { return false }
        return passedHeaderPrefixUTF8.contains { prefix in
            bytes.count >= prefix.count && UnsafeRawBufferPointer(rebasing: bytes[..<prefix.count]).equalsLowercased(prefix)
        }
    }

    /// The name a passed header goes on with, in lower case: one made once when it is one of the names xAI and
    /// OpenAI send, else made from `bytes` (nil if they are not a valid name).
    static func passedName(_ bytes: UnsafeRawBufferPointer) -> HTTPField.Name? {
        for known in knownPassedNames where known.utf8.count == bytes.count && bytes.equalsLowercased(known.utf8) {
            return known.name
        }
        return HTTPField.Name(String(decoding: bytes, as: UTF8.self).lowercased())
    }

    /// The passed headers' usual names (OpenAI's and xAI's rate-limit headers, `retry-after`).
    private static let knownPassedNames: [(utf8: [UInt8], name: HTTPField.Name)] = [
        "x-ratelimit-limit-requests", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-requests",
        "x-ratelimit-remaining-tokens", "x-ratelimit-reset-requests", "x-ratelimit-reset-tokens", "retry-after",
        "retry-after-ms",
    ].compactMap { text in HTTPField.Name(text).map { (Array(text.utf8), $0) } }

    private static let passedHeaderPrefixUTF8 = passedHeaderPrefixes.map { Array($0.utf8) }

    /// For each byte, whether a passed name can start with it (either case).
    private static let passedFirstBytes: [Bool] = (0..<256).map { byte in
        passedHeaderPrefixUTF8.contains { prefix in prefix.first.map { Int($0) == byte || Int($0) == byte | 0x20 } ?? false }
    }

    /// Reads at most `limit` bytes of a body, ignoring the rest.
    static func readBounded(_ body: UpstreamResponse.Body, limit: Int) async throws -> [UInt8] {
        switch body {
        case .collected(let buffer): return Array(buffer.readableBytesView.prefix(limit))
        case .streamed(let reader):
            var bytes: [UInt8] = []
            while let chunk = try await reader.next() {
                bytes.append(contentsOf: chunk.readableBytesView.prefix(limit - bytes.count))
                if bytes.count >= limit { break }
            }
            return bytes
        }
    }
}
