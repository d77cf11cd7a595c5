import HTTPTypes
import NIOCore
import SwitchyardCore
import SwitchyardStorage

/// The per-request facts a relay needs to finish the request and write its record.
struct RelayContext: Sendable {
    let engine: ProxyEngine
    let deployment: Deployment
    /// The deployment's live state; the request ends on it.
    let slot: DeploymentSlot
    let requestID: String
    let started: ContinuousClock.Instant
    var record: RequestRecord
    let stripUsageChunk: Bool
    /// How the answer becomes the client's surface, when the upstream does not speak it.
    var translation: (any AnswerTranslation)? = nil
    /// Whether the answer is the Responses API's own (relayed as is; a stream ends with `response.completed`, not
    /// `[DONE]`, and carries its usage there).
    var nativeResponses = false
    /// Whether the request asked for its response to be kept (`store` not false).
    var keepsResponse = false

    /// An error event for a stream that broke, in the client's surface.
    func errorFrame(_ error: ProxyError) -> [UInt8] {
        if let translation {
            let redacted = ProxyError(
                status: error.status, type: error.type, code: error.code,
                message: engine.redactors.redactor.redact(error.message), param: error.param)
            return translation.failed(redacted)
        }
        if nativeResponses {
            // The Responses API's own `error` event.
            let event: JSONObject = [
                "type": "error", "code": .string(error.code), "message": .string(engine.redactors.redactor.redact(error.message)),
                "param": .null,
            ]
            return ResponsesStream.frame(event)
        }
        return error.sseFrame(redactor: engine.redactors.redactor)
    }

    /// Completes the record with usage and cost and hands it to the request log.
    func finish(
        status: Int, usage: Usage?, firstByte: ContinuousClock.Instant?, errorCode: String? = nil, truncated: Bool = false,
        completion: String? = nil, estimated: Bool = false, responseID: String? = nil,
        answer: (model: String?, finish: String?)? = nil
    ) {
        var record = self.record
        (record.responseModel, record.finishReason) = (answer?.model, answer?.finish)
        record.completionText = completion
        record.usageEstimated = estimated && usage != nil
        record.status = status
        record.errorCode = errorCode
        record.usage = usage
        if let usage, let cost = deployment.pricing.cost(of: usage) {
            record.cost = cost.usd
            record.costSource = cost.source
        }
        record.latency = ContinuousClock.now - started
        record.timeToFirstByte = firstByte.map { $0 - started }
        record.streamTruncated = truncated
        slot.end(tokens: usage.map { $0.promptTokens + $0.completionTokens + $0.reasoningTokens } ?? 0)
        if nativeResponses, keepsResponse, status == 200, errorCode == nil, let responseID {
            // The upstream keeps it; the proxy keeps where it went, so a follow-up goes back there.
            engine.accounting.responses.keep(
                StoredResponse(
                    id: responseID, createdAt: record.startedAt, keyHash: record.owner,
                    alias: record.alias ?? deployment.alias, input: "", response: "", deployment: deployment.id,
                    native: true),
                persist: engine.accounting.storage != nil)
        }
        if status == 200, errorCode == nil, let translation = translation as? ResponsesTranslation,
            let response = translation.completedResponse
        {
            engine.accounting.responses.keep(
                StoredResponse(
                    id: translation.responseID, createdAt: record.startedAt, keyHash: record.owner,
                    alias: record.alias ?? deployment.alias,
                    input: JSONValue.array(translation.conversation).encodedString(), response: response),
                persist: engine.accounting.storage != nil)
        }
        engine.complete(record)
    }

    /// The headers every answer of this attempt starts with: its request id, the deployment that answered, and
    /// how many retries and fallbacks it took (built by appending: each keyed set of an `HTTPFields` searches it).
    var answerHeaders: HTTPFields {
        var fields = HTTPFields()
        fields.reserveCapacity(12)
        fields.append(HTTPField(name: .requestID, value: requestID))
        fields.append(HTTPField(name: .switchyardDeployment, value: deployment.id))
        fields.append(HTTPField(name: .attemptedRetries, value: String(record.attemptedRetries)))
        fields.append(HTTPField(name: .attemptedFallbacks, value: String(record.attemptedFallbacks)))
        return fields
    }

    /// Whether the completion text is kept (`general_settings.store_prompts`, storage on).
    var storesText: Bool { record.promptText != nil }

    /// The answer text of a non-streamed completion body.
    static func completionText(in bytes: [UInt8]) -> String? {
        guard case .object(let object)? = try? JSONParser.parse(bytes),
            let choice = object["choices"]?.arrayValue?.first?.objectValue
        else { return nil }
        return choice["message"]?.objectValue?["content"]?.stringValue ?? choice["text"]?.stringValue
    }

    /// The usage of a JSON answer, read in place, in this deployment's semantics.
    func usage(in answer: ByteBuffer) -> Usage? {
        UsageScanner.read(
            in: answer, completionIncludesReasoning: deployment.provider?.completionIncludesReasoning ?? false)
    }

    /// Usage from an OpenAI-shaped `usage` value in this deployment's semantics.
    func usage(from json: JSONValue?) -> Usage? {
        Usage(json: json, completionIncludesReasoning: deployment.provider?.completionIncludesReasoning ?? false)
    }
}
