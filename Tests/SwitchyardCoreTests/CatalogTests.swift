import Foundation
import Testing

@testable import SwitchyardCore

/// The model catalog: the shipped file reads cleanly, rows resolve to rules, prices and timeouts, an operator's
/// file merges over it, and a bad file is refused with located errors.
@Suite struct CatalogTests {
    func xai(_ model: String, catalog: ModelCatalog = .shipped) -> ModelFacts {
        catalog.facts(provider: "xai", model: model)
    }

    func action(_ parameter: String, _ facts: ModelFacts) -> ParamAction? {
        facts.paramRules.first { $0.parameter == parameter }?.action
    }

    @Test func theShippedCatalogReadsWithoutAProblemAndEveryXAIRowHasASource() throws {
        #expect(ModelCatalog.shippedDiagnostics.isEmpty, "\(ModelCatalog.shippedDiagnostics)")
        let rows = try #require(ModelCatalog.shipped.providers["xai"]?.models)
        #expect(rows.count > 15)
        for row in rows { #expect(row.source?.isEmpty == false, "\(row.name) has no source") }
        for name in ["grok-4.3", "grok-4.5", "grok-4.6", "grok-4.7", "grok-4.20-0309-reasoning", "grok-4.20-0309-non-reasoning"] {
            #expect(rows.contains { $0.name == name }, "\(name) is missing")
        }
    }

    @Test func everyReasoningModelRejectsPenaltiesAndStop() {
        let section = ModelCatalog.shipped.providers["xai"]
        let reasoning = (section?.models ?? []).filter { $0.reasoning == true }.map(\.name)
        #expect(reasoning.contains("grok-build*"))
        #expect(reasoning.contains("grok-4.20-0309-reasoning"))
        for name in reasoning {
            let facts = xai(name.replacingOccurrences(of: "*", with: "-0.1"))
            for parameter in ["presence_penalty", "frequency_penalty", "stop"] {
                #expect(action(parameter, facts) == .unsupported, "\(name) must reject \(parameter)")
            }
        }
        // A non-reasoning model keeps stop and frequency_penalty; grok-4.20's non-reasoning variant still rejects
        // presence_penalty.
        let plain = xai("grok-4.20-0309-non-reasoning")
        #expect(action("stop", plain) == nil)
        #expect(action("frequency_penalty", plain) == nil)
        #expect(action("presence_penalty", plain) == .unsupported)
    }

    @Test func reasoningEffortIsKeptMappedOrRejectedPerModel() {
        #expect(action("reasoning_effort", xai("grok-4.7")) == .reasoningEffort(accepted: ["low", "medium", "high", "xhigh"]))
        #expect(action("reasoning_effort", xai("grok-4.5")) == .reasoningEffort(accepted: ["low", "medium", "high"]))
        #expect(action("reasoning_effort", xai("grok-4.3")) == .reasoningEffort(accepted: ["none", "low", "medium", "high"]))
        #expect(action("reasoning_effort", xai("grok-4.20-0309-reasoning")) == .unsupported)
        #expect(action("reasoning_effort", xai("grok-4.20-0309-non-reasoning")) == .unsupported)
        #expect(action("reasoning_effort", xai("grok-code-fast-1")) == .unsupported)
        // A model the catalog does not know keeps what it is sent: it may well be newer than the catalog.
        #expect(action("reasoning_effort", xai("grok-9")) == nil)
    }

    @Test(arguments: [
        ("none", ["low", "medium", "high"], "low"), ("xhigh", ["low", "medium", "high"], "high"),
        ("minimal", ["none", "low", "medium", "high"], "low"), ("medium", ["low", "high"], "high"),
        ("xhigh", ["low", "medium", "high", "xhigh"], "xhigh"), ("none", ["none", "low"], "none"),
    ])
    func anUnknownEffortGoesToTheNearestAccepted(_ effort: String, _ accepted: [String], _ expected: String) {
        #expect(ReasoningEffortScale.nearest(to: effort, among: accepted) == expected)
    }

    @Test func anEffortOffTheScaleHasNoNeighbour() {
        #expect(ReasoningEffortScale.nearest(to: "max", among: ["low", "high"]) == nil)
        #expect(ReasoningEffortScale.nearest(to: "low", among: []) == nil)
    }

    @Test func aRetiredNameIsPricedAndBoundedAsItsSuccessor() throws {
        let facts = xai("grok-code-fast-1")
        let retirement = try #require(facts.retirement)
        #expect(retirement == Retirement(date: "2026-05-15", servedBy: "grok-4.3", servedEffort: "low"))
        #expect(facts.catalogPrices == CatalogPrices(input: 1.25, cachedInput: 0.20, output: 2.50))
        #expect(facts.contextWindow == 1_000_000)
        #expect(facts.reasoning)
        #expect(xai("grok-3").retirement?.servedEffort == "none")
        #expect(xai("grok-4.3").retirement == nil)
    }

    @Test func anExactNameWinsOverAPatternAndTheLongestPatternOverAShorterOne() {
        let section = ProviderCatalog(models: [
            CatalogModel(name: "grok-*", contextWindow: 1), CatalogModel(name: "grok-4*", contextWindow: 2),
            CatalogModel(name: "grok-4.3", contextWindow: 3),
        ])
        #expect(section.row(for: "grok-4.3")?.contextWindow == 3)
        #expect(section.row(for: "GROK-4.5")?.contextWindow == 2)
        #expect(section.row(for: "grok-3")?.contextWindow == 1)
        #expect(section.row(for: "gpt-4") == nil)
    }

    @Test func theLongPromptTierPricesEveryTokenOnceThePromptReachesItsThreshold() throws {
        let pricing = xai("grok-4.7").pricing
        let short = Usage(promptTokens: 199_999, completionTokens: 100, reasoningTokens: 50, cachedTokens: 1_000)
        let long = Usage(promptTokens: 200_000, completionTokens: 100, reasoningTokens: 50, cachedTokens: 1_000)
        let shortCost = try #require(pricing.cost(of: short))
        let longCost = try #require(pricing.cost(of: long))
        #expect(shortCost.source == .catalog)
        #expect(abs(shortCost.usd - (198_999 * 2.00 + 1_000 * 0.50 + 150 * 6.00) / 1e6) < 1e-12)
        #expect(abs(longCost.usd - (199_000 * 4.00 + 1_000 * 1.00 + 150 * 12.00) / 1e6) < 1e-12)
    }

    @Test func theUpstreamsBilledFigureWinsOverAnyPrice() throws {
        var usage = Usage(promptTokens: 10, completionTokens: 10)
        usage.upstreamCostUSD = 0.5
        let cost = try #require(xai("grok-4.7").pricing.cost(of: usage))
        #expect(cost.usd == 0.5)
        #expect(cost.source == .upstream)
        #expect(ModelPricing.none.cost(of: Usage(promptTokens: 1)) == nil)
    }

    @Test func reasoningModelsInheritAtLeastTheCatalogsTimeoutsAndAnEntrysOwnWin() throws {
        let yaml = """
            model_list:
              - model_name: fast
                litellm_params: {model: xai/grok-4.20-0309-non-reasoning, api_key: k}
              - model_name: think
                litellm_params: {model: xai/grok-4.7, api_key: k}
              - model_name: think-short
                litellm_params: {model: xai/grok-4.7, api_key: k, timeout: 60, first_byte_timeout: 30}
            general_settings:
              request_timeout: 300
              first_byte_timeout: 1200
            """
        let config = try #require(ConfigLoader.parse(yaml, path: "t.yaml").config)
        let table = ModelTable(config: config, environment: EnvironmentSnapshot())
        let fast = try #require(table.deployments(for: "fast")?.first?.timeouts)
        let think = try #require(table.deployments(for: "think")?.first?.timeouts)
        let short = try #require(table.deployments(for: "think-short")?.first?.timeouts)
        #expect(fast.total == 300 && fast.firstByte == 1200)
        #expect(think.total == 900, "raised to xAI's 900 s for reasoning")
        #expect(think.firstByte == 1200, "a higher setting is kept")
        #expect(short.total == 60 && short.firstByte == 30, "the entry's own values win")
    }

    @Test func anOperatorCatalogMergesOverTheShippedOneFieldByField() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
        version: 1
        providers:
          xai:
            models:
              grok-9:
                reasoning: true
                reasoning_effort: [low, high]
                price: {input: 3, output: 9}
                source: our own test
              grok-4.7:
                price: {output: 7}
                params:
                  top_p: reject
        """.write(toFile: directory + "/extra.yaml", atomically: true, encoding: .utf8)
        let yaml = """
            model_catalog: extra.yaml
            model_list:
              - model_name: nine
                litellm_params: {model: xai/grok-9, api_key: k}
            """
        let result = ConfigLoader.parse(yaml, path: directory + "/proxy.yaml")
        let config = try #require(result.config, "\(result.diagnostics)")
        #expect(config.modelCatalogPath == "extra.yaml")
        let nine = xai("grok-9", catalog: config.catalog)
        #expect(nine.reasoning)
        #expect(action("reasoning_effort", nine) == .reasoningEffort(accepted: ["low", "high"]))
        #expect(action("stop", nine) == .unsupported)
        let seven = xai("grok-4.7", catalog: config.catalog)
        #expect(seven.catalogPrices == CatalogPrices(input: 2.00, cachedInput: 0.50, output: 7))
        #expect(action("top_p", seven) == .unsupported)
        #expect(action("reasoning_effort", seven) == .reasoningEffort(accepted: ["low", "medium", "high", "xhigh"]))
        let table = ModelTable(config: config, environment: EnvironmentSnapshot())
        #expect(table.deployments(for: "nine")?.first?.pricing.base.inputPerToken == 3e-6)
    }

    @Test func aBrokenCatalogIsRefusedWithLocatedErrors() throws {
        let text = """
            version: 1
            providers:
              xai:
                models:
                  grok-9:
                    reasoning_effort: [low, turbo]
                    default_effort: high
                    served_by: grok-4.3
                    price: {input: cheap}
                    params:
                      top_p: {action: explode}
                      stop: {action: rename}
                    colour: blue
            """
        let result = CatalogLoader.parse(text, path: "bad.yaml")
        #expect(result.catalog == nil)
        let messages = result.diagnostics.map(\.description).joined(separator: "\n")
        #expect(messages.contains("bad.yaml:6:"), "\(messages)")
        #expect(messages.contains("'turbo', which is not a reasoning effort"), "\(messages)")
        #expect(messages.contains("served_by without retired"), "\(messages)")
        #expect(messages.contains("price.input must be a non-negative number"), "\(messages)")
        #expect(messages.contains("the action 'explode'"), "\(messages)")
        #expect(messages.contains("renames to nothing"), "\(messages)")
        #expect(messages.contains("unknown key 'colour'"), "\(messages)")
    }

    @Test func aConfigNamingAMissingCatalogStopsWithTheFileName() {
        let result = ConfigLoader.parse("model_catalog: /nonexistent/catalog.yaml\nmodel_list: []\n", path: "p.yaml")
        #expect(result.config == nil)
        #expect(result.diagnostics.contains { $0.message.contains("/nonexistent/catalog.yaml does not exist") })
    }

    @Test func theJSONFormIsACatalogFileThatReadsBackTheSame() throws {
        let text = ModelCatalog.shipped.json().encodedString()
        let result = CatalogLoader.parse(text, path: "round-trip.json")
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let read = try #require(result.catalog)
        for (name, section) in ModelCatalog.shipped.providers {
            #expect(read.providers[name] == section, "\(name) differs after a round trip")
        }
    }

    @Test func aRetiredDeploymentIsWarnedAboutWithItsSuccessorAndPrice() throws {
        let yaml = """
            model_list:
              - model_name: old
                litellm_params: {model: xai/grok-code-fast-1, api_key: k}
            """
        let config = try #require(ConfigLoader.parse(yaml, path: "t.yaml").config)
        let table = ModelTable(config: config, environment: EnvironmentSnapshot())
        let warning = try #require(table.diagnostics.first { $0.message.contains("retired") })
        #expect(warning.severity == .warning)
        #expect(warning.message.contains("grok-4.3 (low effort) at 1.25 / 0.20 / 2.50 per 1M since 2026-05-15"))
        #expect(warning.location?.line == 2)
        #expect(table.deployments(for: "old")?.first?.pricing.source == .catalog)
    }

    /// docs/providers.md shows the catalog's xAI tables as `switchyard models catalog --provider xai --markdown`
    /// prints them: a catalog change without the doc's fails here.
    @Test func theProvidersDocShowsTheCatalogAsItIs() throws {
        var components = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(3)
        let path = components.joined(separator: "/") + "/docs/providers.md"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let begin = try #require(text.range(of: "<!-- catalog:xai:begin -->\n"))
        let end = try #require(text.range(of: "\n<!-- catalog:xai:end -->"))
        let shown = String(text[begin.upperBound..<end.lowerBound])
        let generated = ModelCatalog.shipped.markdown(provider: "xai")
        #expect(
            shown == generated,
            "regenerate docs/providers.md's section with: switchyard models catalog --provider xai --markdown")
    }

    /// The shipped catalog with bytes replaced, dropped or duplicated: a catalog or located errors, never a trap,
    /// and whatever loads resolves every row.
    @Test func mangledCatalogsNeverTrapAndEveryErrorIsLocated() {
        let shipped = Array(String(decoding: PackageResources.model_catalog_yaml, as: UTF8.self).utf8)
        let alphabet = Array(" \n\t:-[]{}&*!|>'\"#,0123456789.aeknotsy/\u{0}".utf8) + [0xFF]
        var generator = SplitMix(seed: 0xCA7A_1065)
        var loaded = 0
        var refused = 0
        for round in 0..<600 {
            var bytes = shipped
            generator.mangle(&bytes, alphabet: alphabet)
            let result = CatalogLoader.parse(String(decoding: bytes, as: UTF8.self), path: "mangled.yaml")
            for diagnostic in result.diagnostics where diagnostic.severity == .error {
                #expect(diagnostic.location != nil || diagnostic.fix != nil, "round \(round): \(diagnostic)")
            }
            if let catalog = result.catalog {
                loaded += 1
                for (provider, section) in catalog.providers {
                    for row in section.models { _ = catalog.facts(provider: provider, model: row.name) }
                }
            } else {
                refused += 1
            }
        }
        #expect(loaded >= 60 && refused >= 60, "loaded \(loaded), refused \(refused)")
    }

    /// The Responses API goes natively to xAI, and to OpenAI itself (its default base URL); an OpenAI-compatible
    /// server elsewhere, and the built-in mock, get it translated.
    @Test func whoServesTheResponsesAPINatively() throws {
        let yaml = """
            model_list:
              - model_name: x
                litellm_params: {model: xai/grok-4.3, api_key: k}
              - model_name: o
                litellm_params: {model: openai/gpt-5, api_key: k}
              - model_name: local
                litellm_params: {model: openai/llama, api_base: "http://127.0.0.1:8000/v1"}
              - model_name: m
                litellm_params: {model: mock/echo}
            """
        let table = ModelTable(config: try #require(ConfigLoader.parse(yaml, path: "t.yaml").config), environment: .init())
        func serves(_ alias: String) -> Bool { table.deployments(for: alias)?.first?.serves(.responses) ?? false }
        #expect(serves("x") && serves("o"))
        #expect(!serves("local") && !serves("m"))
        #expect(table.deployments(for: "local")?.first?.serves(.chatCompletions) == true)
    }
}
