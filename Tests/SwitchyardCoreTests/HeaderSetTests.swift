import Testing

@testable import SwitchyardCore

@Suite struct HeaderSetTests {
    func deployment(headers: [(name: String, value: String)] = [], key: String? = "xai-deploy-key") -> Deployment {
        Deployment(
            id: "d", alias: "a", providerName: "xai", provider: .xai, upstreamModel: "grok-4",
            baseURL: Resolved("http://x", from: .providerDefault),
            apiKey: key.map { Resolved(Secret($0), from: .environment("GROK_API_KEY")) }, status: .enabled,
            dropParams: true, extraHeaders: headers)
    }

    @Test func clientAuthorizationNeverGoesUpstream() {
        let set = UpstreamHeaderSet(
            deployment: deployment(),
            clientHeaders: [("Authorization", "Bearer sk-client"), ("x-api-key", "sk-client"), ("Cookie", "c=1")],
            streaming: false)
        #expect(set["authorization"] == "Bearer xai-deploy-key")
        #expect(set["x-api-key"] == nil)
        #expect(set["cookie"] == nil)
    }

    @Test func allowListedClientHeadersPassAndOthersDoNot() {
        let set = UpstreamHeaderSet(
            deployment: deployment(),
            clientHeaders: [("X-Grok-Conv-Id", "conv-1"), ("x-request-id", "r1"), ("x-internal", "no"), ("Host", "evil")],
            streaming: true)
        #expect(set["x-grok-conv-id"] == "conv-1")
        #expect(set["x-request-id"] == "r1")
        #expect(set["x-internal"] == nil)
        #expect(set["host"] == nil)
        #expect(set["accept"] == "text/event-stream")
        #expect(set["content-type"] == "application/json")
    }

    @Test func extraHeadersLayerUnderAuthAndOverClientDefaults() {
        let set = UpstreamHeaderSet(
            deployment: deployment(headers: [("x-team", "a"), ("authorization", "Bearer from-config")]),
            clientHeaders: [], streaming: false)
        #expect(set["x-team"] == "a")
        #expect(set["authorization"] == "Bearer xai-deploy-key", "the deployment's own auth is the last layer")
        let keyless = UpstreamHeaderSet(
            deployment: deployment(headers: [("authorization", "Bearer from-config")], key: nil), clientHeaders: [],
            streaming: false)
        #expect(keyless["authorization"] == "Bearer from-config")
    }

    @Test func headerValuesWithLineBreaksAreRefused() {
        #expect(HeaderPolicy.problem(name: "x-a", value: "1\r\nInjected: yes") != nil)
        #expect(HeaderPolicy.problem(name: "bad name", value: "1") != nil)
        #expect(HeaderPolicy.problem(name: "connection", value: "close") != nil)
        #expect(HeaderPolicy.problem(name: "x-team", value: "a") == nil)
    }
}
