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

    @Test func aReplacedHeaderKeepsItsPlaceAndTheTemplateIsTheConfigs() {
        let set = UpstreamHeaderSet(
            deployment: deployment(headers: [("Accept", "application/x-ndjson"), ("X-Team", "a")]),
            clientHeaders: [("X-Request-Id", "r1"), ("x-grok-conv-id", "c1")], streaming: false)
        #expect(
            set.fields.map(\.name) == [
                "content-type", "accept", "user-agent", "x-team", "x-request-id", "x-grok-conv-id", "authorization",
            ])
        #expect(set["accept"] == "application/x-ndjson", "extra_headers replace the default in its place")
        let streaming = UpstreamHeaderSet(deployment: deployment(), clientHeaders: [], streaming: true)
        #expect(streaming["accept"] == "text/event-stream")
        #expect(UpstreamHeaderSet(deployment: deployment(), clientHeaders: [], streaming: false)["accept"] == "application/json")
        #expect(!String(describing: deployment().headerTemplate).contains("xai-deploy-key"), "the key is masked in a dump")
    }

    @Test func headerValuesWithLineBreaksAreRefused() {
        #expect(HeaderPolicy.problem(name: "x-a", value: "1\r\nInjected: yes") != nil)
        #expect(HeaderPolicy.problem(name: "bad name", value: "1") != nil)
        #expect(HeaderPolicy.problem(name: "connection", value: "close") != nil)
        #expect(HeaderPolicy.problem(name: "x-team", value: "a") == nil)
        #expect(HeaderPolicy.problem(name: "X-Team_2.b~", value: "a") == nil, "any token character, any case")
        for bad in ["x(a", "x:a", "x/a", "x{a", "x\"a", "\u{7F}", "ü", ""] {
            #expect(HeaderPolicy.problem(name: bad, value: "1") != nil, "\(bad)")
        }
        #expect(HeaderPolicy.problem(name: "Connection", value: "close") != nil, "hop-by-hop in any case")
    }

    @Test func theDeploymentsAuthReplacesAConfiguredOneInItsPlace() {
        let set = UpstreamHeaderSet(
            deployment: deployment(headers: [("authorization", "Bearer from-config"), ("x-team", "a")]),
            clientHeaders: [("x-request-id", "r1")], streaming: false)
        #expect(
            set.fields.map(\.name) == ["content-type", "accept", "user-agent", "authorization", "x-team", "x-request-id"])
        #expect(set["authorization"] == "Bearer xai-deploy-key")
        #expect(set.fields.filter { $0.name == "authorization" }.count == 1)
    }
}

@Suite struct HexTests {
    @Test func pooledRandomWordsDifferAcrossRefillsAndThreads() async {
        // 64 words per refill: 4,000 words cross many refills, from several threads at once.
        let words = await withTaskGroup(of: [UInt64].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var generator = PooledRandomGenerator()
                    return (0..<1000).map { _ in generator.next() }
                }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(Set(words).count == words.count)
        // Each bit is set in about half the words (4,000 fair coin flips: far outside 1,700...2,300 is broken).
        for bit in 0..<64 {
            let set = words.filter { $0 & (1 << UInt64(bit)) != 0 }.count
            #expect((1700...2300).contains(set), "bit \(bit) set in \(set) of \(words.count) words")
        }
    }

    @Test func uuidsAreVersion4InLowerCaseAndDiffer() {
        let ids = (0..<200).map { _ in Hex.uuid() }
        #expect(Set(ids).count == ids.count)
        for id in ids {
            let bytes = Array(id.utf8)
            #expect(bytes.count == 36)
            #expect([8, 13, 18, 23].allSatisfy { bytes[$0] == UInt8(ascii: "-") })
            #expect(
                bytes.enumerated().allSatisfy {
                    [8, 13, 18, 23].contains($0.offset) || "0123456789abcdef".utf8.contains($0.element)
                })
            #expect(bytes[14] == UInt8(ascii: "4"), "version 4")
            #expect("89ab".utf8.contains(bytes[19]), "RFC 4122 variant")
        }
    }

    @Test func hexIsLowerCaseTwoDigitsPerByte() {
        #expect(Hex.lowercase([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
        #expect(Hex.lowercase([UInt8]()) == "")
        let every = (0...255).map { UInt8($0) }
        #expect(Hex.lowercase(every) == every.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined())
    }
}
