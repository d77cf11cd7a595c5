import Foundation
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

/// xAI as it is today, through the real proxy and the real mock: efforts forwarded, mapped or dropped per the
/// catalog, penalties kept from reasoning models, retired names, cost as xAI bills it or as the catalog prices it,
/// an operator's catalog, and the first-byte timeout of a thinking stream.
@Suite struct CatalogLiveTests {
    /// A model_list entry per (alias, upstream model), all pointed at `mock`.
    func entries(_ models: [(alias: String, model: String)], mock: MockHandle, extra: String = "") -> String {
        models.map { alias, model in
            """
              - model_name: \(alias)
                litellm_params: {model: xai/\(model), api_base: "\(mock.baseURL)", api_key: \(testKey)\(extra)}
            """
        }.joined(separator: "\n")
    }

    /// The body the mock received for the request whose prompt is `prompt`.
    func received(_ mock: MockHandle, prompt: String) throws -> JSONObject {
        let match = mock.recorder.requests.last { request in
            let messages = request.body?.objectValue?["messages"]?.arrayValue ?? []
            return messages.last?.objectValue?["content"]?.stringValue == prompt
        }
        return try #require(match?.body?.objectValue, "the mock saw no request saying '\(prompt)'")
    }

    @Test func reasoningEffortIsForwardedMappedOrDroppedAsEachModelTakesIt() async throws {
        try await withMockUpstream { mock in
            let yaml = """
                model_list:
                \(entries([("g47", "grok-4.7"), ("g45", "grok-4.5"), ("g43", "grok-4.3"), ("r420", "grok-4.20-0309-reasoning"), ("n420", "grok-4.20-0309-non-reasoning")], mock: mock))
                \(entries([("strict420", "grok-4.20-0309-reasoning")], mock: mock, extra: ", drop_params: false"))
                litellm_settings:
                  drop_params: true
                """
            try await withProxy(yaml: yaml) { proxy in
                let url = proxy.url + "/v1/chat/completions"
                // (alias, effort sent, effort the mock must see; nil: none sent)
                let cases: [(String, String, String?)] = [
                    ("g47", "xhigh", "xhigh"), ("g47", "low", "low"), ("g45", "xhigh", "high"), ("g45", "none", "low"),
                    ("g45", "medium", "medium"), ("g43", "none", "none"), ("g43", "minimal", "low"), ("r420", "high", nil),
                    ("n420", "low", nil),
                ]
                for (index, (alias, sent, expected)) in cases.enumerated() {
                    let prompt = "effort case \(index)"
                    let answer = try await send(.POST, url, json: chat(alias, prompt, extra: ["reasoning_effort": .string(sent)]))
                    #expect(answer.status == 200, "\(alias) \(sent): \(answer.text)")
                    let body = try received(mock, prompt: prompt)
                    #expect(body["reasoning_effort"]?.stringValue == expected, "\(alias) with \(sent): \(body)")
                }
                // At effort none grok-4.3 does not think: no reasoning in the answer.
                let quiet = try await send(.POST, url, json: chat("g43", "think not", extra: ["reasoning_effort": "none"]))
                let message = quiet.json?["choices"]?.arrayValue?.first?.objectValue?["message"]?.objectValue
                #expect(message?["reasoning_content"] == nil)
                let thinking = try await send(.POST, url, json: chat("g43", "think"))
                let thought = thinking.json?["choices"]?.arrayValue?.first?.objectValue?["message"]?.objectValue
                #expect(thought?["reasoning_content"]?.stringValue?.isEmpty == false, "reasoning models return it")

                // Without drop_params the proxy says which setting drops it; a value off the scale is refused.
                let strict = try await send(.POST, url, json: chat("strict420", "x", extra: ["reasoning_effort": "high"]))
                #expect(strict.status == 400)
                #expect(strict.error?["param"]?.stringValue == "reasoning_effort")
                #expect(strict.errorMessage.contains("drop_params"))
                let silly = try await send(.POST, url, json: chat("g47", "x", extra: ["reasoning_effort": "turbo"]))
                #expect(silly.status == 400)
                #expect(silly.errorMessage.contains("takes low, medium, high, xhigh"), "\(silly.text)")

                // Each drop is counted.
                let metrics = try await send(.GET, proxy.url + "/metrics").text
                #expect(
                    metrics.contains(#"switchyard_dropped_params_total{deployment="r420#1",param="reasoning_effort"} 1"#),
                    "\(metrics.split(separator: "\n").filter { $0.contains("dropped_params") })")
                #expect(metrics.contains(#"switchyard_dropped_params_total{deployment="n420#1",param="reasoning_effort"} 1"#))
            }
        }
    }

    /// Every reasoning row of the catalog, patterns given a concrete name: the mock would answer 400 to any of the
    /// three, so a 200 and a body without them show the proxy dropped them.
    @Test func penaltiesAndStopNeverReachAReasoningModel() async throws {
        let rows = (ModelCatalog.shipped.providers["xai"]?.models ?? []).filter { $0.reasoning == true }
        let models = rows.map { $0.name.replacingOccurrences(of: "*", with: "-1") }
        #expect(models.contains("grok-build-1") && models.contains("grok-4.7") && models.contains("grok-code-fast-1"))
        try await withMockUpstream { mock in
            let aliases = models.enumerated().map { ("r\($0.offset)", $0.element) }
            let yaml = "model_list:\n\(entries(aliases, mock: mock))\nlitellm_settings:\n  drop_params: true\n"
            try await withProxy(yaml: yaml) { proxy in
                for (alias, model) in aliases {
                    let prompt = "penalties for \(model)"
                    let extra: JSONObject = ["presence_penalty": 0.5, "frequency_penalty": 0.5, "stop": ["END"]]
                    let answer = try await send(
                        .POST, proxy.url + "/v1/chat/completions", json: chat(alias, prompt, extra: extra))
                    #expect(answer.status == 200, "\(model): \(answer.text)")
                    let body = try received(mock, prompt: prompt)
                    for parameter in ["presence_penalty", "frequency_penalty", "stop"] {
                        #expect(body[parameter] == nil, "\(parameter) reached \(model)")
                    }
                }
            }
        }
    }

    @Test func aRetiredModelIsWarnedAboutAnsweredByItsSuccessorAndPricedAsIt() async throws {
        var options = MockUpstreamOptions()
        options.sendsCostTicks = false
        try await withMockUpstream(options) { mock in
            let yaml = "model_list:\n\(entries([("old", "grok-code-fast-1")], mock: mock))\n"
            try await withProxy(yaml: yaml) { proxy in
                let warning = proxy.table.diagnostics.first { $0.message.contains("retired") }
                #expect(
                    warning?.message
                        == "model old: xai/grok-code-fast-1 is retired; the upstream serves it as grok-4.3 (low effort) at "
                        + "1.25 / 0.20 / 2.50 per 1M since 2026-05-15")
                let answer = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("old", "still there?"))
                #expect(answer.status == 200)
                #expect(answer.json?["model"] == "grok-4.3", "xAI answers a retired name as the model serving it")
                let info = try await send(.GET, proxy.url + "/model/info?model=old").json
                let modelInfo = info?["data"]?.arrayValue?.first?.objectValue?["model_info"]?.objectValue
                #expect(modelInfo?["served_by"] == "grok-4.3")
                #expect(modelInfo?["input_cost_per_token"]?.doubleValue == 1.25e-6)
                #expect(modelInfo?["pricing_source"] == "catalog")
                let logged = try await eventually {
                    proxy.logs.lines.contains { $0.contains("\"alias\":\"old\"") && $0.contains("\"cost_source\":\"catalog\"") }
                }
                #expect(logged, "\(proxy.logs.lines.filter { $0.contains("\"alias\":\"old\"") })")
            }
        }
        // The CLI says it too, with where the entry is.
        let path = try temporaryFile(
            "model_list:\n  - model_name: old\n    litellm_params: {model: xai/grok-4-0709, api_key: k}\n")
        let check = try await runCLI(["config", "check", path])
        #expect(check.status == 0)
        #expect(check.stdout.contains("\(path):2:5: warning: model old: xai/grok-4-0709 is retired"), "\(check.output)")
        let list = try await runCLI(["models", "list", "--config", path, "--json"])
        #expect(list.stdout.contains("retired: served by grok-4.3 (low effort) at 1.25 / 0.20 / 2.50 per 1M"), "\(list.output)")
    }

    /// xAI's `cost_in_usd_ticks` is the cost in spend, the request log and metrics; without it the catalog's
    /// prices apply, the long-prompt tier once a prompt reaches 200k tokens; streamed and not alike.
    @Test func costIsWhatXAIBillsElseTheCatalogsPriceWithItsLongPromptTier() async throws {
        let database = try await Backend.sqlite.newURL()
        var quiet = MockUpstreamOptions()
        quiet.sendsCostTicks = false
        try await withMockUpstream { billing in
            try await withMockUpstream(quiet) { silent in
                let yaml = """
                    model_list:
                    \(entries([("billed", "grok-4.7")], mock: billing))
                    \(entries([("priced", "grok-4.7")], mock: silent))
                    general_settings:
                      master_key: \(masterKey)
                      database_url: "\(database)"
                    """
                try await withProxy(yaml: yaml) { proxy in
                    let url = proxy.url + "/v1/chat/completions"
                    let long = String(repeating: "abcd", count: 200_000)  // 200,000 tokens by xAI's (and the mock's) count
                    let requests: [(id: String, alias: String, prompt: String, stream: Bool)] = [
                        ("billed-json", "billed", "short", false), ("billed-stream", "billed", "short", true),
                        ("priced-json", "priced", "short", false), ("priced-stream", "priced", "short", true),
                        ("priced-long", "priced", long, false), ("priced-long-stream", "priced", long, true),
                    ]
                    for request in requests {
                        let answer = try await send(
                            .POST, url, json: chat(request.alias, request.prompt, stream: request.stream),
                            headers: master + [("x-request-id", request.id)])
                        #expect(answer.status == 200, "\(request.id): \(answer.status)")
                    }
                    let logs = try await send(.GET, proxy.url + "/spend/logs?limit=100", headers: master)
                    let rows = try JSONParser.parse(logs.body).arrayValue ?? []
                    let byID = Dictionary(
                        uniqueKeysWithValues: rows.compactMap(\.objectValue).map { ($0["request_id"]?.stringValue ?? "", $0) })
                    func tokens(_ row: JSONObject, _ name: String) -> Double { Double(row[name]?.intValue ?? -1) }
                    var total = 0.0
                    for id in ["billed-json", "billed-stream"] {
                        let row = try #require(byID[id], "\(id) not logged: \(rows)")
                        #expect(row["cost_source"] == "upstream")
                        let billed = try #require(row["upstream_cost"]?.doubleValue)
                        #expect(row["spend"]?.doubleValue == billed, "the billed figure is the cost")
                        total += billed
                    }
                    for (id, input, output, threshold) in [
                        ("priced-json", 2.0, 6.0, false), ("priced-stream", 2.0, 6.0, false),
                        ("priced-long", 4.0, 12.0, true), ("priced-long-stream", 4.0, 12.0, true),
                    ] {
                        let row = try #require(byID[id], "\(id) not logged")
                        #expect(row["cost_source"] == "catalog", "\(id)")
                        #expect(row["upstream_cost"] == .null)
                        let prompt = tokens(row, "prompt_tokens")
                        #expect((prompt >= 200_000) == threshold, "\(id): \(prompt) prompt tokens")
                        #expect(tokens(row, "reasoning_tokens") > 0, "grok-4.7 reasons")
                        let expected =
                            (prompt * input + (tokens(row, "completion_tokens") + tokens(row, "reasoning_tokens")) * output)
                            / 1e6
                        #expect(abs((row["spend"]?.doubleValue ?? 0) - expected) < 1e-12, "\(id): \(row)")
                        total += row["spend"]?.doubleValue ?? 0
                    }
                    let metrics = try await send(.GET, proxy.url + "/metrics").text
                    let spent = metrics.split(separator: "\n").filter { $0.hasPrefix("switchyard_spend_usd_total") }
                        .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
                    #expect(abs(spent - total) < 1e-9, "metrics: \(spent), logs: \(total)")
                }
            }
        }
    }

    /// A model xAI ships after this build: an operator's catalog file adds it (the mock learns it the same way),
    /// and a reload picks up a changed price; nothing is rebuilt.
    @Test func anOperatorCatalogAddsAModelWithoutARebuildAndAReloadChangesItsPrice() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func catalog(input: Double) -> String {
            """
            version: 1
            providers:
              xai:
                models:
                  grok-5:
                    reasoning: true
                    reasoning_effort: [low, high]
                    default_effort: low
                    context_window: 2000000
                    price: {input: \(input), cached_input: 0.1, output: 8}
                    source: the operator's own
            """
        }
        let catalogPath = directory + "/xai-extra.yaml"
        try catalog(input: 3).write(toFile: catalogPath, atomically: true, encoding: .utf8)
        var options = MockUpstreamOptions()
        options.sendsCostTicks = false
        options.catalog = ModelCatalog.shipped.overlaid(with: try #require(CatalogLoader.load(path: catalogPath).catalog))
        try await withMockUpstream(options) { mock in
            let configPath = directory + "/proxy.yaml"
            try
                "model_catalog: xai-extra.yaml\nmodel_list:\n\(entries([("five", "grok-5")], mock: mock))\nlitellm_settings:\n  drop_params: true\n"
                .write(toFile: configPath, atomically: true, encoding: .utf8)
            try await withReloadableProxy(path: configPath) { proxy, server in
                let url = proxy.url + "/v1/chat/completions"
                let extra: JSONObject = ["reasoning_effort": "medium", "presence_penalty": 1]
                let first = try await send(.POST, url, json: chat("five", "new model", extra: extra))
                #expect(first.status == 200, "\(first.text)")
                let body = try received(mock, prompt: "new model")
                #expect(body["reasoning_effort"] == "high", "medium maps to the nearest effort grok-5 takes")
                #expect(body["presence_penalty"] == nil, "a reasoning model's rules come with the row")
                func costLines() -> [String] {
                    proxy.logs.lines.filter { $0.contains("\"cost_usd\"") && $0.contains("\"alias\":\"five\"") }
                }
                #expect(try await eventually { costLines().count == 1 })
                #expect(costLines().first?.contains("\"cost_source\":\"catalog\"") == true, "\(costLines())")

                try catalog(input: 30).write(toFile: catalogPath, atomically: true, encoding: .utf8)
                #expect(server.reload(from: try #require(server.source), reason: "test") == .applied(deployments: 1, kept: 1))
                let second = try await send(.POST, url, json: chat("five", "new model"))
                #expect(second.status == 200)
                let info = try await send(.GET, proxy.url + "/model/info?model=five").json
                let price = info?["data"]?.arrayValue?.first?.objectValue?["model_info"]?.objectValue?["input_cost_per_token"]
                #expect(price?.doubleValue == 30e-6, "the reloaded catalog's price is in force")
                #expect(try await eventually { costLines().count == 2 })
                // Each request's cost at the prices in force when it ran: input 3, then 30 (cached 0.1, output 8).
                for (line, input) in zip(costLines(), [3.0, 30.0]) {
                    guard case .object(let fields)? = try? JSONParser.parse(line) else {
                        Issue.record("not a JSON line: \(line)")
                        continue
                    }
                    func number(_ name: String) -> Double {
                        fields[name]?.doubleValue ?? fields[name]?.stringValue.flatMap(Double.init) ?? -1
                    }
                    let uncached = number("prompt_tokens") - number("cached_tokens")
                    let expected =
                        (uncached * input + number("cached_tokens") * 0.1
                            + (number("completion_tokens") + number("reasoning_tokens")) * 8) / 1e6
                    #expect(abs(number("cost_usd") - expected) < 1e-12, "\(line)")
                }
            }
        }
    }

    /// The mock reads the same catalog as the proxy; fed a row the proxy lacks, it answers xAI's 400, which the
    /// client sees: a proxy behind on its catalog cannot pass for a correct one.
    @Test func aMockRowTheProxyLacksShowsAsTheUpstreams400() async throws {
        var options = MockUpstreamOptions()
        options.catalog = ModelCatalog.shipped.overlaid(
            with: ModelCatalog(providers: [
                "xai": ProviderCatalog(models: [
                    CatalogModel(name: "grok-4.3", params: [CatalogParamRule("top_p", .unsupported)])
                ])
            ]))
        try await withMockUpstream(options) { mock in
            try await withProxy(yaml: "model_list:\n\(entries([("g", "grok-4.3")], mock: mock))\n") { proxy in
                let answer = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("g", "x", extra: ["top_p": 0.9]))
                #expect(answer.status == 400)
                #expect(answer.errorMessage.contains("Model grok-4.3 does not support parameter topP."), "\(answer.text)")
                #expect(try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("g", "x")).status == 200)
            }
        }
    }

    /// A stream's first-byte timeout runs from the request to its first event (a reasoning model may think long
    /// after the head); only then does the idle timeout take over.
    @Test func aThinkingStreamIsTimedToItsFirstEventNotCutByTheIdleTimeout() async throws {
        var options = MockUpstreamOptions()
        options.keepaliveComment = false
        try await withMockUpstream(options) { mock in
            let yaml = """
                model_list:
                \(entries([("patient", "grok-4.3")], mock: mock, extra: ", first_byte_timeout: 20, idle_timeout: 1"))
                \(entries([("hasty", "grok-4.3")], mock: mock, extra: ", first_byte_timeout: 1, idle_timeout: 20"))
                """
            try await withProxy(yaml: yaml) { proxy in
                let url = proxy.url + "/v1/chat/completions"
                let patient = try await send(.POST, url, json: chat("patient", "FAULT:think", stream: true))
                #expect(patient.status == 200)
                #expect(patient.events.last?.isDone == true, "\(patient.text)")
                let hasty = try await send(.POST, url, json: chat("hasty", "FAULT:think", stream: true))
                #expect(hasty.status == 504, "\(hasty.text)")
                #expect(hasty.errorCode == "upstream_timeout")
                #expect(hasty.errorMessage.contains("first-byte timeout"))
            }
        }
    }
}
