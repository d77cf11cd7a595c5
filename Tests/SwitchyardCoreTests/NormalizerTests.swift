import Testing

@testable import SwitchyardCore

@Suite struct NormalizerTests {
    func xai(_ model: String, dropParams: Bool = true, additional: [String] = []) -> Deployment {
        Deployment(
            id: "d", alias: "a", providerName: "xai", provider: .xai, upstreamModel: model,
            baseURL: Resolved("http://x", from: .providerDefault), apiKey: nil, status: .enabled, dropParams: dropParams,
            additionalDropParams: additional)
    }

    func body(_ extra: JSONObject) -> JSONObject {
        var object: JSONObject = ["model": "alias", "messages": .array([.object(["role": "user", "content": "hi"])])]
        for (key, value) in extra { object[key] = value }
        return object
    }

    func normalized(_ extra: JSONObject, _ deployment: Deployment) throws -> NormalizedRequest {
        try ParamNormalizer.normalize(body(extra), for: deployment, endpoint: .chatCompletions).get()
    }

    @Test func droppedPresencePenaltyNeverReachesGrokCodeFast() throws {
        let result = try normalized(["presence_penalty": 0.5, "frequency_penalty": 1, "stop": ["x"]], xai("grok-code-fast-1"))
        #expect(result.body["presence_penalty"] == nil)
        #expect(result.body["frequency_penalty"] == nil)
        #expect(result.body["stop"] == nil)
        #expect(Set(result.dropped) == ["presence_penalty", "frequency_penalty", "stop"])
        #expect(result.body["model"] == "grok-code-fast-1")
    }

    @Test func withoutDropParamsTheRequestIsRejectedNamingTheSetting() {
        let result = ParamNormalizer.normalize(
            body(["presence_penalty": 1]), for: xai("grok-code-fast-1", dropParams: false), endpoint: .chatCompletions)
        guard case .failure(let rejected) = result else {
            Issue.record("expected a rejection")
            return
        }
        #expect(rejected.parameter == "presence_penalty")
        #expect(rejected.message.contains("drop_params: true"))
        #expect(rejected.message.contains("xai/grok-code-fast-1"))
    }

    @Test func nonReasoningGrok4KeepsPenaltiesButNotPresencePenalty() throws {
        let result = try normalized(
            ["presence_penalty": 1, "frequency_penalty": 1, "stop": "x"], xai("grok-4-fast-non-reasoning"))
        #expect(result.dropped == ["presence_penalty"])
        #expect(result.body["frequency_penalty"] != nil)
        #expect(result.body["stop"] != nil)
    }

    @Test func grok3RejectsPresencePenaltyOnly() throws {
        let result = try normalized(["presence_penalty": 1, "frequency_penalty": 1], xai("grok-3"))
        #expect(result.dropped == ["presence_penalty"])
    }

    @Test func reasoningEffortKeptForGrok3MiniDroppedElsewhere() throws {
        #expect(try normalized(["reasoning_effort": "high"], xai("grok-3-mini")).body["reasoning_effort"] == "high")
        #expect(try normalized(["reasoning_effort": "high"], xai("grok-4")).dropped == ["reasoning_effort"])
        #expect(try normalized(["reasoning_effort": "high"], xai("grok-code-fast-1")).dropped == ["reasoning_effort"])
    }

    @Test func maxTokensBecomesMaxCompletionTokens() throws {
        let result = try normalized(["max_tokens": 50], xai("grok-3"))
        #expect(result.body["max_tokens"] == nil)
        #expect(result.body["max_completion_tokens"] == 50)
        let both = try normalized(["max_tokens": 50, "max_completion_tokens": 10], xai("grok-3"))
        #expect(both.body["max_completion_tokens"] == 10)
    }

    @Test func nameIsStrippedFromNonUserMessagesOnly() throws {
        var request = body([:])
        request["messages"] = .array([
            .object(["role": "system", "name": "sys", "content": "be brief"]),
            .object(["role": "user", "name": "alice", "content": "hi"]),
        ])
        let result = try ParamNormalizer.normalize(request, for: xai("grok-3"), endpoint: .chatCompletions).get()
        let messages = try #require(result.body["messages"]?.arrayValue)
        #expect(messages[0].objectValue?["name"] == nil)
        #expect(messages[1].objectValue?["name"] == "alice")
    }

    @Test func streamOptionsRemovedWithoutStream() throws {
        let result = try normalized(["stream_options": .object(["include_usage": true])], xai("grok-3"))
        #expect(result.body["stream_options"] == nil)
    }

    @Test func streamingAsksForUsageAndMarksTheChunkForStripping() throws {
        let result = try normalized(["stream": true], xai("grok-3"))
        #expect(result.body["stream_options"]?.objectValue?["include_usage"] == true)
        #expect(result.stripUsageChunk)
        let asked = try normalized(["stream": true, "stream_options": .object(["include_usage": true])], xai("grok-3"))
        #expect(!asked.stripUsageChunk)
    }

    @Test func topLogprobsIsClampedToEight() throws {
        #expect(try normalized(["top_logprobs": 20], xai("grok-3")).body["top_logprobs"] == 8)
    }

    @Test func additionalDropParamsAreAlwaysRemoved() throws {
        let result = try normalized(["user": "u1"], xai("grok-3", dropParams: false, additional: ["user"]))
        #expect(result.body["user"] == nil)
        #expect(result.dropped == ["user"])
    }

    @Test func nullUnsupportedParameterIsDroppedEvenWithoutDropParams() throws {
        let result = try normalized(["stop": .null], xai("grok-code-fast-1", dropParams: false))
        #expect(result.body["stop"] == nil)
    }

    @Test func modelPatternsMatch() {
        #expect(ModelPattern("grok-4*").matches("grok-4-0709"))
        #expect(ModelPattern("grok-4*non-reasoning*").matches("grok-4-fast-non-reasoning"))
        #expect(!ModelPattern("grok-4*non-reasoning*").matches("grok-4-fast-reasoning"))
        #expect(ModelPattern("*").matches("anything"))
        #expect(!ModelPattern("grok-3").matches("grok-3-mini"))
    }
}
