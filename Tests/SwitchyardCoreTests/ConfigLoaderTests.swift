import Testing

@testable import SwitchyardCore

@Suite struct ConfigLoaderTests {
    @Test func liteLLMConfigLoadsUnchanged() throws {
        let yaml = """
            model_list:
              - model_name: gpt-4o
                litellm_params:
                  model: openai/gpt-4o
                  api_key: os.environ/OPENAI_API_KEY
                  rpm: 60
                  tpm: 100000
                model_info:
                  id: gpt4o-primary
                  mode: chat
                  supports_vision: true
                  input_cost_per_token: 0.0000025
                  output_cost_per_token: 0.00001
              - model_name: grok
                litellm_params:
                  model: xai/grok-3
                  api_base: https://api.x.ai/v1
              - model_name: local
                litellm_params:
                  model: openai/llama3
                  api_base: http://localhost:8000/v1
            litellm_settings:
              drop_params: True
              set_verbose: False
              num_retries: 3
              request_timeout: 30
              success_callback: ["langfuse"]
            router_settings:
              routing_strategy: simple-shuffle
            general_settings:
              master_key: sk-1234
              database_url: os.environ/DATABASE_URL
            environment_variables:
              OPENAI_API_KEY: sk-from-config-file-123456
            """
        let result = ConfigLoader.parse(yaml, path: "litellm.yaml")
        #expect(!result.hasErrors, "\(result.diagnostics)")
        let config = try #require(result.config)
        #expect(config.deployments.map(\.alias) == ["gpt-4o", "grok", "local"])
        #expect(config.settings.dropParams)
        #expect(config.settings.timeouts.total == 30)
        #expect(config.settings.masterKey == .literal("sk-1234"))
        #expect(config.deployments[0].id == "gpt4o-primary")
        #expect(config.deployments[0].prices.inputPerToken == 0.0000025)
        #expect(!result.diagnostics.contains { $0.isUnknownKey }, "LiteLLM keys are known, not unknown")
        #expect(result.diagnostics.contains { $0.message.contains("litellm_settings.set_verbose") })
        #expect(config.settings.numRetries == 3)
        #expect(config.deployments[0].rpm == 60)
        let table = ModelTable(config: config, environment: EnvironmentSnapshot(["XAI_API_KEY": "xai-test-key"]))
        #expect(table.deployments.allSatisfy { $0.status.isEnabled }, "\(table.diagnostics)")
        #expect(table.deployments[0].apiKey?.value.revealed == "sk-from-config-file-123456")
    }

    @Test func paramsAndSettingsSynonymsAreAccepted() throws {
        let yaml = """
            model_list:
              - model_name: a
                params: { model: mock/echo, drop_params: false }
            settings:
              drop_params: true
            """
        let config = try #require(ConfigLoader.parse(yaml, path: "x.yaml").config)
        #expect(config.deployments.first?.dropParams == false)
        #expect(config.settings.dropParams)
    }

    @Test func yamlSyntaxErrorStopsWithLineColumnAndFix() {
        let yaml = "model_list:\n  - model_name: a\n    litellm_params: {model: mock/echo\n"
        let result = ConfigLoader.parse(yaml, path: "broken.yaml")
        #expect(result.config == nil)
        let error = result.diagnostics.first { $0.severity == .error }
        #expect(error?.location?.file == "broken.yaml")
        #expect((error?.location?.line ?? 0) >= 3)
        #expect(error?.fix != nil)
        #expect(error?.description.hasPrefix("broken.yaml:") == true)
    }

    @Test func wrongTypeStopsWithItsLocation() {
        let yaml = """
            model_list:
              - model_name: a
                litellm_params:
                  model: mock/echo
                  drop_params: sometimes
            """
        let result = ConfigLoader.parse(yaml, path: "t.yaml")
        #expect(result.config == nil)
        let error = result.diagnostics.first { $0.severity == .error }
        #expect(error?.message.contains("drop_params must be true or false") == true)
        #expect(error?.location?.line == 5)
        #expect(error?.location?.column == 20)
    }

    @Test func modelListThatIsNotAListIsAnError() {
        let result = ConfigLoader.parse("model_list: {a: 1}\n", path: "t.yaml")
        #expect(result.hasErrors)
        #expect(result.diagnostics.first?.location?.line == 1)
    }

    @Test func unknownKeyWarnsWithDidYouMean() throws {
        let yaml = """
            model_list:
              - model_name: a
                litellm_params:
                  model: mock/echo
                  api_bsae: http://x
            """
        let result = ConfigLoader.parse(yaml, path: "t.yaml")
        #expect(!result.hasErrors)
        let warning = try #require(result.diagnostics.first { $0.isUnknownKey })
        #expect(warning.severity == .warning)
        #expect(warning.fix == "did you mean 'api_base'?")
        #expect(warning.location?.line == 5)
    }

    @Test func strictTurnsUnknownKeysIntoErrors() {
        let yaml = "model_list:\n  - model_name: a\n    litellm_params: {model: mock/echo}\nlitelm_settings: {}\n"
        let result = ConfigLoader.parse(yaml, path: "t.yaml", strict: true)
        #expect(result.hasErrors)
        #expect(result.diagnostics.first { $0.isUnknownKey }?.fix == "did you mean 'litellm_settings'?")
    }

    @Test func emptyFileIsAnError() {
        #expect(ConfigLoader.parse("", path: "e.yaml").hasErrors)
    }

    @Test func missingFileIsAnErrorWithAFix() {
        let result = ConfigLoader.load(path: "/nonexistent/proxy.yaml")
        #expect(result.hasErrors)
        #expect(result.diagnostics.first?.fix?.contains("SWITCHYARD_CONFIG") == true)
    }

    @Test func perMillionPricesBecomePerToken() throws {
        let yaml = """
            model_list:
              - model_name: a
                litellm_params: {model: mock/echo}
                model_info: {input_cost_per_million: 3, output_cost_per_million: 15, cache_read_input_cost_per_million: 0.75}
            """
        let prices = try #require(ConfigLoader.parse(yaml, path: "t.yaml").config?.deployments.first?.prices)
        #expect(prices.inputPerToken == 3e-6)
        #expect(prices.outputPerToken == 15e-6)
        #expect(prices.cachedInputPerToken == 0.75e-6)
    }

    @Test func shippedProxyYamlLoadsWithoutErrors() throws {
        let path = packageRoot() + "/proxy.yaml"
        let result = ConfigLoader.load(path: path, strict: true)
        #expect(!result.hasErrors, "\(result.diagnostics)")
        let table = ModelTable(config: try #require(result.config), environment: EnvironmentSnapshot())
        #expect(table.enabledAliases.contains("mock-echo"))
        let grok = try #require(table.deployments(for: "grok-code-fast-1")?.first)
        guard case .disabled(_, let fix) = grok.status else {
            Issue.record("grok-code-fast-1 should be disabled without a key")
            return
        }
        #expect(fix.contains("set GROK_API_KEY"))
        let withKey = ModelTable(
            config: try #require(result.config), environment: EnvironmentSnapshot(["GROK_API_KEY": "xai-test-key"]))
        #expect(withKey.deployments(for: "grok-code-fast-1")?.first?.status == .enabled)
        #expect(withKey.deployments(for: "grok-4.7")?.first?.status == .enabled)
        // The public alias grok-code-fast-1 points at the model xAI serves for it today: no retirement warning.
        #expect(withKey.deployments(for: "grok-code-fast-1")?.first?.upstreamModel == "grok-4.3")
        #expect(!withKey.diagnostics.contains { $0.message.contains("retired") })
    }
}

@Suite struct MangledConfigTests {
    @Test func mangledConfigsNeverTrapAndEveryErrorHasALocationOrAFix() throws {
        // The shipped proxy.yaml and a config with every section, with bytes replaced, dropped or duplicated:
        // the loader and the model table give a config or diagnostics, never a trap, and every error says
        // where or how to fix it.
        let shipped = try String(contentsOfFile: packageRoot() + "/proxy.yaml", encoding: .utf8)
        let rich = """
            model_list:
              - model_name: grok
                litellm_params: {model: xai/grok-3, api_key: os.environ/GROK_API_KEY, rpm: 60, timeout: 30}
                model_info: {id: g1, input_cost_per_token: 0.0000002, max_input_tokens: 1000}
              - model_name: grok
                litellm_params: {model: openai/grok-3, api_base: "http://127.0.0.1:1/v1", extra_headers: {x-a: b}}
            litellm_settings: {drop_params: true, num_retries: 2, request_timeout: 10, fallbacks: [{grok: [other]}]}
            router_settings: {routing_strategy: least-busy, allowed_fails: 3, cooldown_time: 5}
            general_settings: {master_key: sk-1234, database_url: none, max_request_size_mb: 2}
            x: &a [1, 2]
            y: *a
            """
        let sources = [Array(shipped.utf8), Array(rich.utf8)]
        let alphabet = Array(" \n\t:-[]{}&*!|>'\"#,0123456789.aeknotsy/\u{0}".utf8) + [0xFF]
        var generator = SplitMix(seed: 0xC0F1_6)
        var loaded = 0
        var refused = 0
        for round in 0..<1_500 {
            var bytes = sources[round % sources.count]
            generator.mangle(&bytes, alphabet: alphabet)
            let result = ConfigLoader.parse(String(decoding: bytes, as: UTF8.self), path: "mangled.yaml")
            for diagnostic in result.diagnostics where diagnostic.severity == .error {
                #expect(diagnostic.location != nil || diagnostic.fix != nil, "round \(round): \(diagnostic)")
            }
            if let config = result.config, !result.hasErrors {
                loaded += 1
                _ = ModelTable(config: config, environment: EnvironmentSnapshot(["GROK_API_KEY": "xai-test-key"]))
            } else {
                refused += 1
            }
        }
        // Both outcomes must be common for the test to mean anything.
        #expect(loaded >= 150 && refused >= 150, "loaded \(loaded), refused \(refused)")
    }
}

func packageRoot(file: String = #filePath) -> String {
    var components = file.split(separator: "/", omittingEmptySubsequences: false)
    components.removeLast(3)
    return components.joined(separator: "/")
}

@Suite struct RouterSettingsTests {
    @Test func routerSettingsLoad() throws {
        let yaml = """
            model_list:
              - model_name: a
                litellm_params: {model: mock/echo, weight: 2, num_retries: 4}
            router_settings: {routing_strategy: least-busy, num_retries: 2, retry_strategy: constant_retry, retry_after: 0.5}
            """
        let config = try #require(ConfigLoader.parse(yaml, path: "r.yaml").config)
        #expect(config.settings.routingStrategy == .leastBusy)
        #expect(config.settings.numRetries == 2)
        #expect(config.settings.retryStrategy == .fixed)
        #expect(config.settings.retryAfter == 0.5)
        let table = ModelTable(config: config, environment: .init())
        #expect(table.deployments.first?.weight == 2)
        #expect(table.deployments.first?.numRetries == 4)
    }

    @Test func unsupportedStrategyWarnsAndFallsBack() throws {
        let yaml = "model_list: []\nrouter_settings: {routing_strategy: cost-based-routing}\n"
        let result = ConfigLoader.parse(yaml, path: "r.yaml")
        #expect(result.config?.settings.routingStrategy == .simpleShuffle)
        #expect(result.diagnostics.contains { $0.message.contains("is not supported") })
    }

    @Test func everyStrategyByItsLiteLLMName() throws {
        let names: [(String, RoutingStrategy)] = [
            ("simple-shuffle", .simpleShuffle), ("least-busy", .leastBusy), ("latency-based-routing", .latencyBased),
            ("usage-based-routing", .usageBased), ("usage-based-routing-v2", .usageBased),
        ]
        for (name, strategy) in names {
            let result = ConfigLoader.parse("model_list: []\nrouter_settings: {routing_strategy: \(name)}\n", path: "r.yaml")
            #expect(result.config?.settings.routingStrategy == strategy, "\(name)")
            #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        }
    }

    @Test func limitsContextWindowFallbacksAndGracePeriodAreRead() throws {
        let yaml = """
            model_list:
              - model_name: a
                litellm_params: {model: mock/echo, rpm: 10, tpm: 5000, max_parallel_requests: 3}
                model_info: {max_input_tokens: 1000}
              - model_name: b
                litellm_params: {model: mock/echo}
            router_settings:
              context_window_fallbacks: [{a: [b]}]
            general_settings: {shutdown_grace_period: 12.5}
            """
        let result = ConfigLoader.parse(yaml, path: "r.yaml", strict: true)
        #expect(!result.hasErrors && result.diagnostics.isEmpty, "\(result.diagnostics)")
        let config = try #require(result.config)
        #expect(config.settings.contextWindowChain(for: "a") == ["b"])
        #expect(config.settings.fallbackChain(for: "a").isEmpty)
        #expect(config.settings.shutdownGracePeriod == 12.5)
        let limits = ModelTable(config: config, environment: .init()).deployments[0].limits
        #expect(
            limits == DeploymentLimits(requestsPerMinute: 10, tokensPerMinute: 5000, maxParallelRequests: 3, maxInputTokens: 1000)
        )
        let negative = ConfigLoader.parse("model_list: []\ngeneral_settings: {shutdown_grace_period: -1}\n", path: "r.yaml")
        #expect(negative.hasErrors)
    }

    @Test func litellmNumRetriesIsUsed() throws {
        let config = try #require(
            ConfigLoader.parse("model_list: []\nlitellm_settings: {num_retries: 3}\n", path: "r.yaml").config)
        #expect(config.settings.numRetries == 3)
    }
}
