import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// Answers `mock/<name>` deployments in-process: the last user message echoed back, as JSON or SSE.
///
/// A model name containing `reason` streams `reasoning_content` first, as grok-code-fast-1 does.
enum BuiltInMockResponder {
    static func completion(for body: JSONObject, model: String, requestID: String) -> MockCompletion {
        let text = MockCompletion.lastUserText(in: body)
        let reasoning = model.contains("reason") ? "Thinking about: \(text.prefix(40))" : nil
        var completion = MockCompletion(
            id: "chatcmpl-mock-\(requestID.prefix(12))", model: model, created: Int(Date().timeIntervalSince1970),
            content: MockToolCall.answerAfterTool(in: body) ?? (text.isEmpty ? "(mock) empty prompt" : text),
            reasoning: reasoning, reasoningInMessage: reasoning != nil, promptTokens: MockCompletion.promptTokens(of: body),
            contentChunks: 4, emptyDeltas: reasoning == nil ? 0 : 2)
        if let call = MockToolCall.planned(for: body, prompt: text, id: "call_mock_\(requestID.prefix(12))") {
            completion.toolCalls = [call]
        }
        return completion
    }

    static func respond(to request: NormalizedRequest, endpoint: UpstreamEndpoint, context: RelayContext) -> Response {
        let model = context.deployment.upstreamModel
        let now = ContinuousClock.now
        var headers = context.answerHeaders
        switch endpoint {
        case .embeddings:
            let inputs: [String]
            switch request.body["input"] {
            case .string(let text)?: inputs = [text]
            case .array(let items)?: inputs = items.map { $0.stringValue ?? $0.encodedString() }
            default: inputs = []
            }
            let answer = MockCompletion.embeddings(model: model, inputs: inputs)
            let tokens = answer.objectValue?["usage"]?.objectValue?["prompt_tokens"]?.intValue ?? 0
            context.finish(status: 200, usage: Usage(promptTokens: tokens), firstByte: now)
            headers.append(HTTPField(name: .contentType, value: "application/json"))
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: answer.encodedBytes())))
        case .responses:
            // Never asked: the built-in mock serves no Responses endpoint, so requests reach it translated.
            return context.engine.errorResponse(
                ProxyError.invalidRequest("The built-in mock answers Chat Completions only."), requestID: context.requestID)
        case .completions, .chatCompletions:
            let completion = completion(for: request.body, model: model, requestID: context.requestID)
            let usage = context.usage(from: completion.usage)
            if request.stream {
                let clientWantsUsage =
                    !request.stripUsageChunk && request.body["stream_options"]?.objectValue?["include_usage"]?.boolValue == true
                var frames = completion.streamFrames(includeUsage: clientWantsUsage || context.translation != nil)
                if let translation = context.translation { frames = [translation.translate(frames: frames)] }
                context.finish(status: 200, usage: usage, firstByte: now)
                headers.append(HTTPField(name: .contentType, value: "text/event-stream"))
                headers.append(HTTPField(name: .cacheControl, value: "no-cache"))
                return Response(
                    status: .ok, headers: headers,
                    body: .init(contentsOf: frames.map { ByteBuffer(bytes: $0) }))
            }
            let answer = endpoint == .chatCompletions ? completion.chatCompletion : completion.textCompletion
            var bytes = ByteBuffer(bytes: answer.encodedBytes())
            if let translation = context.translation {
                do {
                    bytes = try translation.json(bytes, model: model).body
                } catch {
                    return context.engine.errorResponse(error, requestID: context.requestID)
                }
            }
            context.finish(status: 200, usage: usage, firstByte: now)
            headers.append(HTTPField(name: .contentType, value: "application/json"))
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: bytes))
        }
    }
}
