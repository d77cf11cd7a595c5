import Hummingbird
import Logging
import NIOCore
import SwitchyardCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Relays one upstream SSE stream: peeks the first event before the 200 is committed, then forwards each
/// event's bytes as they arrive, unchanged, with the writer's back-pressure.
///
/// Unchecked `Sendable`: the relay is owned by one task at a time, never shared. The request handler uses it
/// to peek, then hands it to the response-body writer and never touches it again.
final class SSERelay: @unchecked Sendable {
    private let reader: UpstreamBodyReader
    private var splitter = SSEEventSplitter()
    private var pending: [[UInt8]] = []
    private let context: RelayContext
    private let firstByte: ContinuousClock.Instant
    private let totalDeadline: ContinuousClock.Instant
    private var usage: Usage?
    private var sawDone = false
    /// An upstream error event that ended a translated stream (recorded as the request's error).
    private var failedInStream: ProxyError?
    /// A native Responses stream's response id, from `response.completed`.
    private var nativeResponseID: String?
    private var sawData = false
    /// The answer's text, kept only with `store_prompts`.
    private var completion = ""
    /// With traces on: the model the stream says answered, and why it stopped.
    private var answered: (model: String?, finish: String?) = (nil, nil)
    private var traced: Bool { context.record.trace != nil }
    /// Data events relayed (xAI sends about one token per event): the estimate for a stream without usage.
    private var dataEvents = 0

    init(
        reader: UpstreamBodyReader, context: RelayContext, firstByte: ContinuousClock.Instant,
        totalDeadline: ContinuousClock.Instant
    ) {
        self.reader = reader
        self.context = context
        self.firstByte = firstByte
        self.totalDeadline = totalDeadline
    }

    private var deploymentID: String { context.deployment.id }

    /// Reads until the first data event, so a failure before it still gets a real status.
    func peek() async throws {
        while !sawData {
            guard let chunk = try await nextChunk() else {
                throw ProxyError(
                    status: 502, type: "api_error", code: "upstream_empty_stream",
                    message: "The upstream for \(deploymentID) ended the stream before sending any event.")
            }
            for event in try split(chunk) {
                let parsed = SSEEvent(bytes: event)
                if parsed.data != nil {
                    if !sawData, let error = errorIn(event: parsed) { throw error }
                    sawData = true
                }
                pending.append(event)
            }
        }
    }

    /// The next upstream chunk, or nil at the end; enforces the total timeout at chunk boundaries.
    private func nextChunk() async throws -> ByteBuffer? {
        let chunk = try await reader.next()
        if chunk != nil, ContinuousClock.now > totalDeadline {
            throw ProxyError.upstreamTimeout(deploymentID, which: "total", seconds: context.deployment.timeouts.total ?? 600)
        }
        return chunk
    }

    private func split(_ chunk: ByteBuffer) throws -> [[UInt8]] {
        do {
            return try splitter.append(chunk.readableBytesView)
        } catch {
            throw tooLarge(error)
        }
    }

    private func tooLarge(_ error: SSEEventSplitter.EventTooLarge) -> ProxyError {
        ProxyError(
            status: 502, type: "api_error", code: "upstream_bad_stream",
            message: "The upstream for \(deploymentID) sent an SSE event larger than \(error.limit) bytes.")
    }

    /// An upstream `{"error": ...}` event as a proxy error, or nil.
    private func errorIn(event: SSEEvent) -> ProxyError? {
        guard let data = event.data, data.containsBytes("\"error\""),
            case .object(let object)? = try? JSONParser.parse(data), object["error"] != nil, object["choices"] == nil
        else { return nil }
        let status = object["error"]?.objectValue?["code"]?.intValue ?? object["status"]?.intValue ?? 502
        return UpstreamErrorMapper.map(
            status: (400..<600).contains(status) ? status : 502, contentType: "application/json", body: data,
            deployment: deploymentID, redactor: context.engine.redactors.redactor)
    }

    /// Whether `"usage"` and `"error"` occur in an event's data: one pass over its bytes for both, as every
    /// event is checked for both.
    static func markers(in data: [UInt8]) -> (usage: Bool, error: Bool) {
        data.withUnsafeBufferPointer { markers(in: $0) }
    }

    /// `markers(in:)` on bytes in place. Eight places are ruled out at a time: a marker is a quote, five letters
    /// and a quote, so only a place with a quote at it and another six bytes on is looked at.
    static func markers(in bytes: UnsafeBufferPointer<UInt8>) -> (usage: Bool, error: Bool) {
        var usage = false
        var error = false
        guard let base = bytes.baseAddress else { return (false, false) }
        let count = bytes.count
        let quote = UInt8(ascii: "\"")
        func check(_ index: Int) {
            guard base[index] == quote, base[index + 6] == quote else { return }
            if !usage, matches(bytes, index + 1, "usage") { usage = true }
            if !error, matches(bytes, index + 1, "error") { error = true }
        }
        var index = 0
        while index + 14 <= count {
            var candidates = ByteScan.quotedFiveLetterCandidates(base + index)
            while candidates != 0 {
                check(index + candidates.trailingZeroBitCount / 8)
                candidates &= candidates - 1
            }
            if usage && error { return (true, true) }
            index += 8
        }
        while index + 6 < count {
            check(index)
            index += 1
        }
        return (usage, error)
    }

    /// Whether `word` (five ASCII letters) starts at `index`.
    private static func matches(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int, _ word: StaticString) -> Bool {
        word.withUTF8Buffer { letters in
            for offset in 0..<letters.count where bytes[index + offset] != letters[offset] { return false }
            return true
        }
    }

    /// Appends what to send the client for one upstream event to `output`. The usual event, one `data:` line
    /// with neither usage nor an error in it, is checked and copied in place (`plainData`); any other goes
    /// through `process`.
    private func relay(_ event: UnsafeBufferPointer<UInt8>, into output: inout ByteBuffer) {
        if context.translation == nil, !context.nativeResponses, !traced, let data = Self.plainData(event) {
            if data.elementsEqual("[DONE]".utf8) {
                dataEvents += 1
                sawDone = true
                output.writeBytes(event)
                return
            }
            if !context.storesText {
                let markers = Self.markers(in: data)
                if !markers.usage && !markers.error {
                    dataEvents += 1
                    output.writeBytes(event)
                    return
                }
            }
        }
        if context.translation == nil, context.nativeResponses, let data = Self.namedEventData(event),
            !Self.mayEndOrFail(data) || Self.continuesResponses(data)
        {
            // A native Responses event that neither ends the stream nor carries an error: copied as it is.
            dataEvents += 1
            output.writeBytes(event)
            return
        }
        if let bytes = process(Array(event)) { output.writeBytes(bytes) }
    }

    /// The data of an event that is an `event:` line and one `data:` line ended by a blank line (as the Responses
    /// API sends each event), or nil for any other shape.
    static func namedEventData(_ event: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8>? {
        guard event.count > 7, matches(event, 0, "event:"), let base = event.baseAddress,
            let newline = memchr(base, Int32(UInt8(ascii: "\n")), event.count)
        else { return nil }
        let lineEnd = base.distance(to: newline.assumingMemoryBound(to: UInt8.self))
        guard lineEnd > 0, event[lineEnd - 1] != UInt8(ascii: "\r") else { return nil }
        return plainData(UnsafeBufferPointer(rebasing: event[(lineEnd + 1)...]))
    }

    /// The data of an event that is a single `data:` line ended by a blank line (`data: x\n\n`), or nil for any
    /// other shape (several lines, other fields, comments, CR line ends), which `SSEEvent` reads instead.
    static func plainData(_ event: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8>? {
        let count = event.count
        let lf = UInt8(ascii: "\n")
        guard count >= 7, event[count - 1] == lf, event[count - 2] == lf, event[0] == UInt8(ascii: "d"),
            event[1] == UInt8(ascii: "a"), event[2] == UInt8(ascii: "t"), event[3] == UInt8(ascii: "a"),
            event[4] == UInt8(ascii: ":")
        else { return nil }
        let start = count >= 8 && event[5] == UInt8(ascii: " ") ? 6 : 5
        let data = UnsafeBufferPointer(rebasing: event[start..<(count - 2)])
        if let base = data.baseAddress {
            guard memchr(base, Int32(lf), data.count) == nil, memchr(base, Int32(UInt8(ascii: "\r")), data.count) == nil
            else { return nil }
        }
        return data
    }

    /// What to send the client for one upstream event, or nil to hold it back.
    private func process(_ event: [UInt8]) -> [UInt8]? {
        let parsed = SSEEvent(bytes: event)
        if let translation = context.translation { return translate(parsed, with: translation) }
        guard let data = parsed.data else { return event }
        dataEvents += 1
        if parsed.isDone {
            sawDone = true
            return event
        }
        if context.nativeResponses { return responsesEvent(event, data: data) }
        if traced, data.containsBytes("\"finish_reason\":\""), case .object(let object)? = try? JSONParser.parse(data) {
            // Traces on: the chunk that says why the answer stopped (one a stream), and the model.
            answered.finish = object["choices"]?.arrayValue?.first?.objectValue?["finish_reason"]?.stringValue
            answered.model = object["model"]?.stringValue ?? answered.model
        }
        let markers = Self.markers(in: data)
        if markers.usage, case .object(let object)? = try? JSONParser.parse(data), case .object = object["usage"] {
            usage = context.usage(from: object["usage"])
            if context.stripUsageChunk, object["choices"]?.arrayValue?.isEmpty ?? true { return nil }
            return event
        }
        if markers.error, let error = errorIn(event: parsed) {
            return error.sseFrame(redactor: context.engine.redactors.redactor)
        }
        if context.storesText, data.containsBytes("\"content\""), case .object(let object)? = try? JSONParser.parse(data),
            let choice = object["choices"]?.arrayValue?.first?.objectValue,
            let text = choice["delta"]?.objectValue?["content"]?.stringValue ?? choice["text"]?.stringValue
        {
            completion += text
        }
        return event
    }

    /// A native Responses API event, relayed as it is: its usage read from `response.completed` (or `incomplete`,
    /// `failed`), which ends the stream as `[DONE]` ends a chat one; an `error` event ends it too. An event that
    /// carries an error goes through the redactor (an upstream may echo a key in it).
    private func responsesEvent(_ event: [UInt8], data: [UInt8]) -> [UInt8] {
        // Only the events that end the stream or carry an error are parsed (every event's type starts with
        // `response.`: parsing each one made a native stream cost 2.7 times a chat one).
        guard Self.mayEndOrFail(data), case .object(let object)? = try? JSONParser.parse(data) else { return event }
        let failed = readResponsesEvent(object)
        return failed ? Array(context.engine.redactors.redactor.redact(String(decoding: event, as: UTF8.self)).utf8) : event
    }

    /// Whether a Responses API event's bytes may be one that ends the stream (`response.completed`, `incomplete`,
    /// `failed`) or carries an error; a false yes only costs a parse.
    static func mayEndOrFail(_ data: [UInt8]) -> Bool { data.withUnsafeBufferPointer { mayEndOrFail($0) } }

    /// `mayEndOrFail` on bytes in place.
    static func mayEndOrFail(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        // Each `response.` in the event (its type, usually the only one), and what follows it.
        var position = 0
        while position + 15 <= bytes.count {
            if bytes[position] == UInt8(ascii: "r"), matches(bytes, position, "response.") {
                let rest = position + 9
                if matches(bytes, rest, "failed") { return true }
                if rest + 9 <= bytes.count, matches(bytes, rest, "completed") { return true }
                if rest + 10 <= bytes.count, matches(bytes, rest, "incomplete") { return true }
                position = rest
            } else {
                position += 1
            }
        }
        let error: StaticString = "\"error\""
        return error.withUTF8Buffer { ByteSearch.contains(bytes, $0) }
    }

    /// Whether a Responses API event's bytes are plainly one that neither ends the stream nor carries an error (read
    /// without parsing: `response.created` holds the whole request, with an `"error": null` of its own that
    /// `mayEndOrFail` cannot tell from an error). False also when they are not plain JSON: they are parsed then.
    static func continuesResponses(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let kind = JSONByteReader.responsesEventKind(in: bytes), !kind.hasError, let type = kind.type else {
            return false
        }
        return !["error", "response.failed", "response.completed", "response.incomplete"].contains(type)
    }

    /// What a Responses API event says of the stream: `response.completed` (or `incomplete`, `failed`) ends it as
    /// `[DONE]` ends a chat one, with its usage (and, completed, the response's id); an `error` event ends it as a
    /// failure (`upstream_stream_error`). Whether the event carries an error.
    private func readResponsesEvent(_ object: JSONObject) -> Bool {
        let type = object["type"]?.stringValue ?? ""
        let failed = type == "error" || type == "response.failed" || (object["error"] ?? .null) != .null
        if failed, type != "response.failed" {
            // The upstream's error ends the answer; the request is recorded as failed.
            sawDone = true
            failedInStream = ProxyError(
                status: 502, type: "api_error", code: "upstream_stream_error",
                message: "The upstream for \(deploymentID) ended the stream with an error event.")
            return true
        }
        switch type {
        case "response.completed", "response.incomplete", "response.failed":
            sawDone = true
            let response = object["response"]?.objectValue
            if let value = response?["usage"], value != .null { usage = context.usage(from: value) }
            if type != "response.failed" { nativeResponseID = response?["id"]?.stringValue }
            if traced { answered = (response?["model"]?.stringValue, response?["status"]?.stringValue) }
        default:
            break
        }
        return failed
    }

    /// An upstream event in the client's surface: usage is read as it passes (the translation carries it on too),
    /// an error event ends the answer in the surface's way, a keep-alive comment is the surface's keep-alive.
    private func translate(_ event: SSEEvent, with translation: any AnswerTranslation) -> [UInt8]? {
        // A keep-alive goes on in the surface's way (Anthropic's `ping`); other events without data do not.
        if event.isCommentOnly { return translation.keepAlive() }
        guard let data = event.data else { return nil }
        dataEvents += 1
        if context.nativeResponses {
            // The upstream speaks the Responses API: its events end the stream and carry the usage. One that does
            // neither is the translation's alone, which parses only the events it reads.
            if data.withUnsafeBufferPointer(Self.continuesResponses) {
                let frames = data.withUnsafeBufferPointer { translation.event($0) }
                return sawDone ? frames + translation.done() : frames
            }
            guard case .object(let object)? = try? JSONParser.parse(data) else { return nil }
            if readResponsesEvent(object) {
                let failure =
                    failedInStream
                    ?? ProxyError(
                        status: 502, type: "api_error", code: "upstream_stream_error",
                        message: object["response"]?.objectValue?["error"]?.objectValue?["message"]?.stringValue
                            ?? "The upstream for \(deploymentID) failed the response.")
                failedInStream = failure
                return context.errorFrame(failure)
            }
            let frames = translation.event(parsed: object)
            return sawDone ? frames + translation.done() : frames
        }
        if event.isDone {
            sawDone = true
            return translation.done()
        }
        let markers = Self.markers(in: data)
        if markers.usage, case .object(let object)? = try? JSONParser.parse(data), case .object = object["usage"] {
            usage = context.usage(from: object["usage"])
        }
        if markers.error, let error = errorIn(event: event) {
            // The upstream's error ends the answer: what follows is not relayed.
            sawDone = true
            failedInStream = error
            return context.errorFrame(error)
        }
        return data.withUnsafeBufferPointer { translation.event($0) }
    }

    /// Writes every event to the client until `[DONE]` or the end of the upstream stream. When the writer can be
    /// driven from the event loop the upstream is read on, the rest of the stream is relayed there, chunk by
    /// chunk as it is read (`relayOnLoop`); otherwise this task reads and writes each chunk.
    func pump(into writer: inout any ResponseBodyWriter) async throws {
        do {
            try await write(pending, to: &writer)
            pending = []
        } catch {
            return finishClientGone()
        }
        if !sawDone, let onLoop = writer as? any EventLoopBodyWriter, onLoop.isStreaming,
            onLoop.eventLoop === reader.stream.loop
        {
            return await relayOnLoop(onLoop)
        }
        var failure: ProxyError?
        var truncated = false
        do {
            upstream: while !sawDone {
                let chunk: ByteBuffer?
                do {
                    chunk = try await nextChunk()
                } catch {
                    failure = upstreamFailure(error)
                    break upstream
                }
                guard let chunk else { break upstream }
                let events: [[UInt8]]
                do {
                    events = try split(chunk)
                } catch {
                    failure = error as? ProxyError
                    break upstream
                }
                try await write(events, to: &writer)
            }
            if !sawDone {
                truncated = true
                let error = endedEarly(failure)
                try await writer.write(ByteBuffer(bytes: context.errorFrame(error)))
                failure = error
            }
            try await writer.finish(nil)
        } catch {
            // The client went away: returning drops the upstream reader, which cancels the upstream request.
            return finishClientGone()
        }
        finishRecord(failure: failure, truncated: truncated)
    }

    /// The proxy error for an upstream stream that failed.
    private func upstreamFailure(_ error: any Error) -> ProxyError {
        context.engine.lifecycle.isPastGrace
            ? ProxyError.shuttingDown(grace: context.engine.lifecycle.gracePeriod)
            : (error as? ProxyError) ?? ProxyEngine.classify(error, deployment: deploymentID)
    }

    /// The error a stream that ended before `[DONE]` ends with (the upstream's failure, else "truncated"), logged.
    private func endedEarly(_ failure: ProxyError?) -> ProxyError {
        let error =
            failure
            ?? ProxyError(
                status: 502, type: "api_error", code: "upstream_stream_truncated",
                message: "The upstream for \(deploymentID) ended the stream without [DONE]; the answer may be incomplete.")
        context.engine.logger.warning(
            "stream ended without [DONE]",
            metadata: [
                "request_id": .string(context.requestID), "deployment": .string(deploymentID), "reason": .string(error.code),
            ])
        return error
    }

    /// The record of a stream the client left before its end.
    private func finishClientGone() {
        context.finish(
            status: 499, usage: usage ?? estimatedUsage, firstByte: firstByte, errorCode: "client_closed_request",
            truncated: !sawDone, completion: context.storesText ? completion : nil, estimated: usage == nil,
            answer: traced ? answered : nil)
    }

    /// The record of a stream relayed to its end (`failure` is how it ended, when not with `[DONE]`).
    private func finishRecord(failure: ProxyError?, truncated: Bool) {
        let failure = failure ?? failedInStream
        context.finish(
            status: 200, usage: usage ?? (truncated ? estimatedUsage : nil), firstByte: firstByte, errorCode: failure?.code,
            truncated: truncated, completion: context.storesText ? completion : nil, estimated: usage == nil && truncated,
            responseID: nativeResponseID, answer: traced ? answered : nil)
    }

    // MARK: Relaying on the event loop

    /// Set while the stream is relayed on the event loop (touched there only).
    private var loopWriter: (any EventLoopBodyWriter)?
    private var loopDone: CheckedContinuation<Void, Never>?
    private var loopEnded = false

    /// Attaches this relay to the upstream body as its sink and waits, suspended, for the stream's end; the
    /// client leaving (the task cancelled) ends it too.
    private func relayOnLoop(_ writer: any EventLoopBodyWriter) async {
        let loop = writer.eventLoop
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let start: @Sendable () -> Void = {
                    self.loopDone = continuation
                    self.loopWriter = writer
                    if self.loopEnded { return self.resumeTask() }
                    self.reader.stream.attach(self)
                }
                if loop.inEventLoop { start() } else { loop.execute(start) }
            }
        } onCancel: {
            loop.execute { self.clientLeftOnLoop() }
        }
    }

    private func resumeTask() {
        let done = loopDone
        loopDone = nil
        loopWriter = nil
        done?.resume()
    }

    /// The client left: the upstream is dropped and the request recorded as closed.
    private func clientLeftOnLoop() {
        guard !loopEnded else { return }
        loopEnded = true
        reader.stream.abandon()
        finishClientGone()
        resumeTask()
    }

    /// The stream's end on the loop: `[DONE]`, the upstream's end or failure (`failure`), or a bad chunk.
    private func concludeOnLoop(failure: ProxyError?) {
        guard !loopEnded, let writer = loopWriter else { return }
        var failure = failure
        var truncated = false
        if !sawDone {
            truncated = true
            let error = endedEarly(failure)
            guard writer.writeOnLoop(ByteBuffer(bytes: context.errorFrame(error))) else {
                return clientLeftOnLoop()
            }
            failure = error
        }
        loopEnded = true
        writer.finishOnLoop()
        if sawDone {
            // The rest of the upstream's answer (its last chunk) is read and dropped: the connection is kept.
            reader.stream.detach()
        } else {
            reader.stream.abandon()
        }
        finishRecord(failure: failure, truncated: truncated)
        resumeTask()
    }
}

extension SSERelay: UpstreamBodySink {
    func received(_ chunk: ByteBuffer) -> Bool {
        guard !loopEnded, let writer = loopWriter else { return false }
        if ContinuousClock.now > totalDeadline {
            concludeOnLoop(
                failure: ProxyError.upstreamTimeout(
                    deploymentID, which: "total", seconds: context.deployment.timeouts.total ?? 600))
            return false
        }
        // The events are checked and copied straight into the buffer written to the client.
        var tooLarge: SSEEventSplitter.EventTooLarge?
        let written = writer.writeOnLoop(capacity: chunk.readableBytes) { buffer in
            do {
                try chunk.withUnsafeReadableBytes { raw in
                    try splitter.forEachEvent(in: raw) { event in relay(event, into: &buffer) }
                }
            } catch {
                tooLarge = error as? SSEEventSplitter.EventTooLarge
            }
        }
        guard written else {
            clientLeftOnLoop()
            return false
        }
        if let tooLarge {
            concludeOnLoop(failure: self.tooLarge(tooLarge))
            return false
        }
        if sawDone {
            concludeOnLoop(failure: nil)
            return false
        }
        guard writer.clientTakesMore else {
            // The client's socket is full: the upstream is read again once it drains.
            writer.whenClientTakesMore { [self] in
                if !loopEnded { reader.stream.demand() }
            }
            return false
        }
        return true
    }

    func ended(_ error: (any Error)?) {
        concludeOnLoop(failure: error.map(upstreamFailure))
    }
}

extension SSERelay {
    /// For a stream cut short before the upstream's usage chunk: the prompt's estimate and one completion token
    /// per data event relayed (the first carries only the role), so an abandoned stream is still charged.
    private var estimatedUsage: Usage {
        Usage(promptTokens: context.record.estimatedPromptTokens, completionTokens: max(0, dataEvents - 1))
    }

    private func write(_ events: [[UInt8]], to writer: inout any ResponseBodyWriter) async throws {
        let buffer = relayed(events)
        if buffer.readableBytes > 0 { try await writer.write(buffer) }
    }

    /// What the client gets for a batch of upstream events, in one buffer.
    fileprivate func relayed(_ events: [[UInt8]]) -> ByteBuffer {
        guard !events.isEmpty else { return ByteBuffer() }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(events.reduce(0) { $0 + $1.count })
        for event in events {
            if let bytes = process(event) { buffer.writeBytes(bytes) }
        }
        return buffer
    }
}
