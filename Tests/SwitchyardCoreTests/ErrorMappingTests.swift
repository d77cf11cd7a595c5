import Testing

@testable import SwitchyardCore

@Suite struct ErrorMappingTests {
    let redactor = Redactor(secrets: ["xai-test-key-0123456789"])

    func map(_ status: Int, _ body: String, contentType: String = "application/json") -> ProxyError {
        UpstreamErrorMapper.map(
            status: status, contentType: contentType, body: Array(body.utf8), deployment: "grok#1", redactor: redactor)
    }

    @Test func flatXAIErrorBecomesAnOpenAIEnvelope() throws {
        let error = map(
            400,
            #"{"code":"Client specified an invalid argument","error":"Argument not supported on this model: presencePenalty"}"#)
        #expect(error.status == 400)
        #expect(error.type == "invalid_request_error")
        #expect(error.code == "invalid_request")
        #expect(error.message.contains("presencePenalty"))
        let envelope = try #require(JSONParser.parse(error.body(redactor: redactor)).objectValue?["error"]?.objectValue)
        #expect(Set(envelope.keys) == ["message", "type", "param", "code"])
        #expect(envelope["code"]?.stringValue != nil)
    }

    @Test func incorrectKeyIsAnAuthenticationErrorWithTheKeyMasked() {
        let error = map(400, #"{"code":"x","error":"Incorrect API key provided: xai-test-key-0123456789."}"#)
        #expect(error.status == 401)
        #expect(error.type == "authentication_error")
        #expect(!error.message.contains("xai-test-key-0123456789"))
    }

    @Test func openAIEnvelopeKeepsItsCodeAndType() {
        let error = map(429, #"{"error":{"message":"slow down","type":"rate_limit_error","code":"rate_limit_exceeded"}}"#)
        #expect(error.status == 429)
        #expect(error.code == "rate_limit_exceeded")
        #expect(error.type == "rate_limit_error")
    }

    @Test func htmlPageIsSummarizedByItsTitle() {
        let error = map(502, "<html><head><title>502 Bad Gateway</title></head><body>...</body></html>", contentType: "text/html")
        #expect(error.status == 502)
        #expect(error.message.contains("HTML error page: 502 Bad Gateway"))
        #expect(!error.message.contains("<body>"))
    }

    @Test func plainTextIsBoundedAndRedacted() {
        let long = String(repeating: "a", count: 5000) + " xai-test-key-0123456789"
        let error = map(422, "key=xai-test-key-0123456789 " + long, contentType: "text/plain")
        #expect(error.status == 422)
        #expect(error.message.count < UpstreamErrorMapper.maxMessageLength + 100)
        #expect(!error.message.contains("xai-test-key"))
    }

    @Test(arguments: [(500, 502), (503, 503), (504, 504), (404, 404), (403, 403), (401, 401), (410, 400), (418, 400)])
    func statusesMapToWhatSDKsExpect(_ upstream: Int, _ expected: Int) {
        #expect(map(upstream, #"{"error":"x"}"#).status == expected)
    }

    @Test func usageCostUsesXAISemantics() throws {
        let json = try JSONParser.parse(
            #"{"prompt_tokens":1000,"completion_tokens":100,"total_tokens":1300,"prompt_tokens_details":{"cached_tokens":400},"completion_tokens_details":{"reasoning_tokens":200},"cost_in_usd_ticks":12345000000}"#
        )
        let usage = try #require(Usage(json: json, completionIncludesReasoning: false))
        #expect(usage.completionTokens == 100)
        #expect(usage.reasoningTokens == 200)
        #expect(usage.upstreamCostUSD == 1.2345)
        let prices = ModelPrices(inputPerToken: 0.2e-6, cachedInputPerToken: 0.02e-6, outputPerToken: 1.5e-6)
        let cost = try #require(usage.cost(with: prices))
        #expect(abs(cost - (600 * 0.2e-6 + 400 * 0.02e-6 + 300 * 1.5e-6)) < 1e-12)
        let openAI = try #require(Usage(json: json, completionIncludesReasoning: true))
        #expect(openAI.completionTokens == 0, "OpenAI counts reasoning inside completion_tokens")
        #expect(usage.cost(with: ModelPrices()) == nil)
    }
}
