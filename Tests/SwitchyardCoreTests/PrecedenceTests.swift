import Testing

@testable import SwitchyardCore

/// Where a deployment's key and base URL come from: model entry, then provider environment, then default.
@Suite struct PrecedenceTests {
    func deployment(_ params: String, env: [String: String] = [:], file: String = "p.yaml") throws -> Deployment {
        let yaml = "model_list:\n  - model_name: m\n    litellm_params:\n" + params
        let config = try #require(ConfigLoader.parse(yaml, path: file).config)
        return try #require(ModelTable(config: config, environment: EnvironmentSnapshot(env)).deployments.first)
    }

    @Test func literalKeyInTheModelEntryWinsOverEnvironment() throws {
        let d = try deployment("      model: xai/grok-4\n      api_key: xai-entry-key-000\n", env: ["GROK_API_KEY": "xai-env"])
        #expect(d.apiKey == Resolved(Secret("xai-entry-key-000"), from: .modelEntry))
    }

    @Test func environmentReferenceInTheModelEntryWins() throws {
        let d = try deployment(
            "      model: xai/grok-4\n      api_key: os.environ/TEAM_KEY\n",
            env: ["TEAM_KEY": "xai-team", "GROK_API_KEY": "xai-env"])
        #expect(d.apiKey == Resolved(Secret("xai-team"), from: .modelEntryEnvironment("TEAM_KEY")))
        #expect(d.apiKey?.source.description == "model entry (os.environ/TEAM_KEY)")
    }

    @Test func grokAPIKeyIsUsedWhenTheEntryHasNone() throws {
        let d = try deployment("      model: xai/grok-4\n", env: ["GROK_API_KEY": "xai-g", "XAI_API_KEY": "xai-x"])
        #expect(d.apiKey == Resolved(Secret("xai-g"), from: .environment("GROK_API_KEY")))
        #expect(d.apiKey?.source.description == "env GROK_API_KEY")
    }

    @Test func xaiAPIKeyIsTheSecondChoice() throws {
        let d = try deployment("      model: xai/grok-4\n", env: ["XAI_API_KEY": "xai-x"])
        #expect(d.apiKey == Resolved(Secret("xai-x"), from: .environment("XAI_API_KEY")))
    }

    @Test func emptyEnvironmentValueCountsAsUnset() throws {
        let d = try deployment("      model: xai/grok-4\n", env: ["GROK_API_KEY": "", "XAI_API_KEY": "xai-x"])
        #expect(d.apiKey?.source == .environment("XAI_API_KEY"))
    }

    @Test func baseURLFromTheEntryWins() throws {
        let d = try deployment(
            "      model: xai/grok-4\n      api_base: https://eu.api.x.ai/v1/\n",
            env: ["GROK_API_KEY": "k", "GROK_BASE_URL": "http://env"])
        #expect(d.baseURL == Resolved("https://eu.api.x.ai/v1", from: .modelEntry))
    }

    @Test func grokBaseURLThenXAIAPIBaseThenDefault() throws {
        let both = try deployment(
            "      model: xai/grok-4\n",
            env: ["GROK_API_KEY": "k", "GROK_BASE_URL": "http://g/v1", "XAI_API_BASE": "http://x/v1"])
        #expect(both.baseURL == Resolved("http://g/v1", from: .environment("GROK_BASE_URL")))
        let second = try deployment("      model: xai/grok-4\n", env: ["GROK_API_KEY": "k", "XAI_API_BASE": "http://x/v1"])
        #expect(second.baseURL == Resolved("http://x/v1", from: .environment("XAI_API_BASE")))
        let none = try deployment("      model: xai/grok-4\n", env: ["GROK_API_KEY": "k"])
        #expect(none.baseURL == Resolved("https://api.x.ai/v1", from: .providerDefault))
        #expect(none.baseURL?.source.description == "default")
    }

    @Test func openAIUsesItsOwnVariables() throws {
        let d = try deployment(
            "      model: openai/gpt-4o\n",
            env: ["OPENAI_API_KEY": "sk-o", "OPENAI_BASE_URL": "http://o/v1", "GROK_API_KEY": "xai-g"])
        #expect(d.apiKey?.source == .environment("OPENAI_API_KEY"))
        #expect(d.baseURL?.source == .environment("OPENAI_BASE_URL"))
    }

    @Test func selfHostedOpenAICompatibleNeedsNoKey() throws {
        let d = try deployment("      model: openai/llama3\n      api_base: http://127.0.0.1:8000/v1\n")
        #expect(d.status == .enabled)
        #expect(d.apiKey == nil)
    }

    @Test func missingKeyDisablesWithTheVariableToSet() throws {
        let d = try deployment("      model: xai/grok-code-fast-1\n")
        #expect(
            d.status
                == .disabled(
                    reason: "no API key for provider xai", fix: "set GROK_API_KEY (or XAI_API_KEY), or api_key in the model entry"
                ))
    }

    @Test func aKeyWithALineBreakDisablesTheModelWithoutShowingTheKey() throws {
        let d = try deployment("      model: xai/grok-4\n", env: ["GROK_API_KEY": "xai-test-key\r\n"])
        #expect(
            d.status
                == .disabled(
                    reason: "the API key from env GROK_API_KEY holds a line break or NUL",
                    fix: "remove the line break (or stray character) from the key"))
        let clean = try deployment("      model: xai/grok-4\n", env: ["GROK_API_KEY": "xai-test-key"])
        #expect(clean.status == .enabled)
    }

    @Test func unsetEnvironmentReferenceDisablesNamingIt() throws {
        let d = try deployment(
            "      model: xai/grok-4\n      api_key: os.environ/GROK_CODE_KEY\n", env: ["GROK_API_KEY": "xai-g"])
        #expect(
            d.status == .disabled(reason: "api_key names os.environ/GROK_CODE_KEY, which is not set", fix: "set GROK_CODE_KEY"))
    }

    @Test func unknownProviderDisablesWithASuggestion() throws {
        let d = try deployment("      model: xia/grok-4\n")
        guard case .disabled(let reason, let fix) = d.status else {
            Issue.record("should be disabled")
            return
        }
        #expect(reason.contains("unknown provider 'xia'"))
        #expect(fix == "did you mean xai/grok-4?")
    }

    @Test func malformedURLDisables() throws {
        let d = try deployment("      model: xai/grok-4\n      api_key: k\n      api_base: ftp://x\n")
        guard case .disabled(let reason, _) = d.status else {
            Issue.record("should be disabled")
            return
        }
        #expect(reason.contains("scheme 'ftp'"))
    }

    @Test func bareGrokModelNameInfersXAI() throws {
        let d = try deployment("      model: grok-3\n", env: ["GROK_API_KEY": "k"])
        #expect(d.providerName == "xai")
        #expect(d.status == .enabled)
    }

    @Test func duplicateDeploymentIDDisablesTheSecondOnly() throws {
        let yaml = """
            model_list:
              - model_name: a
                litellm_params: {model: mock/echo}
                model_info: {id: same}
              - model_name: b
                litellm_params: {model: mock/echo}
                model_info: {id: same}
              - model_name: c
                litellm_params: {model: mock/echo}
            """
        let table = ModelTable(config: try #require(ConfigLoader.parse(yaml, path: "d.yaml").config), environment: .init())
        #expect(table.deployments.map(\.status.isEnabled) == [true, false, true])
        #expect(table.enabledAliases == ["a", "c"])
        #expect(table.diagnostics.contains { $0.message.contains("duplicate deployment id 'same'") })
    }

    @Test func oneBadModelLeavesTheOthersEnabled() throws {
        let yaml = """
            model_list:
              - model_name: good
                litellm_params: {model: mock/echo}
              - model_name: bad
                litellm_params: {model: nope/x}
              - model_name: keyless
                litellm_params: {model: xai/grok-4}
            """
        let table = ModelTable(config: try #require(ConfigLoader.parse(yaml, path: "d.yaml").config), environment: .init())
        #expect(table.enabledAliases == ["good"])
        #expect(table.disabledAliases == ["bad", "keyless"])
        #expect(table.diagnostics.filter { $0.message.contains("disabled") }.count == 2)
        #expect(table.diagnostics.first { $0.message.contains("bad") }?.location?.line == 4)
    }

    @Test func environmentVariablesSectionFeedsResolution() throws {
        let yaml = """
            model_list:
              - model_name: g
                litellm_params: {model: xai/grok-4}
            environment_variables:
              GROK_API_KEY: xai-from-file
            """
        let table = ModelTable(config: try #require(ConfigLoader.parse(yaml, path: "e.yaml").config), environment: .init())
        #expect(table.deployments.first?.apiKey?.value.revealed == "xai-from-file")
    }

    @Test func diagnosticsNeverContainTheKey() throws {
        let secret = "xai-super-secret-value-42"
        let yaml = """
            model_list:
              - model_name: g
                litellm_params: {model: xai/grok-4, api_key: \(secret), api_base: "not a url"}
              - model_name: h
                litellm_params: {model: xia/grok-4, api_key: \(secret)}
            """
        let result = ConfigLoader.parse(yaml, path: "s.yaml")
        let table = ModelTable(config: try #require(result.config), environment: .init())
        let text = (result.diagnostics + table.diagnostics).map(\.description).joined(separator: "\n")
        #expect(!text.isEmpty)
        #expect(!text.contains(secret))
        #expect(table.deployments.first?.apiKey.map { "\($0.value)" } == "xai-****42")
    }

    @Test func masterKeyFromUnsetVariableWarnsAndIsOff() throws {
        let yaml = "model_list: []\ngeneral_settings: {master_key: os.environ/SWITCHYARD_MASTER_KEY}\n"
        let table = ModelTable(config: try #require(ConfigLoader.parse(yaml, path: "m.yaml").config), environment: .init())
        #expect(table.masterKey == nil)
        #expect(table.diagnostics.contains { $0.fix == "set SWITCHYARD_MASTER_KEY to require a key from clients" })
        let on = ModelTable(
            config: try #require(ConfigLoader.parse(yaml, path: "m.yaml").config),
            environment: .init(["SWITCHYARD_MASTER_KEY": "sk-master"]))
        #expect(on.masterKey?.value.revealed == "sk-master")
    }
}
