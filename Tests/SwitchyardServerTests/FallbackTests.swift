import Foundation
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

@Suite struct FallbackTests {
    func config(_ mock: MockHandle, settings: String) -> String {
        """
        model_list:
          - model_name: primary
            litellm_params: {model: xai/grok-4, api_base: "http://127.0.0.1:1/v1", api_key: \(testKey)}
          - model_name: backup
            litellm_params: {model: xai/grok-3-mini, api_base: "\(mock.baseURL)", api_key: \(testKey)}
            model_info: {id: backup-1}
          - model_name: off
            litellm_params: {model: xai/grok-4, api_key: os.environ/NOT_SET_ANYWHERE}
          - model_name: strict
            litellm_params: {model: openai/grok-code-fast-1, api_base: "\(mock.baseURL)", api_key: \(testKey)}
        \(settings)
        """
    }

    @Test func failedAliasFallsBackInOrder() async throws {
        try await withMockUpstream { mock in
            let yaml = config(mock, settings: "router_settings: {fallbacks: [{primary: [off, backup]}], retry_after: 0.01}")
            try await withProxy(yaml: yaml) { proxy in
                for stream in [false, true] {
                    let result = try await send(
                        .POST, proxy.url + "/v1/chat/completions", json: chat("primary", "hi", stream: stream))
                    #expect(result.status == 200, "\(result.text)")
                    #expect(result.headers.first(name: "x-switchyard-deployment") == "backup-1")
                    #expect(result.headers.first(name: "x-switchyard-attempted-fallbacks") == "2")
                }
                #expect(mock.recorder.requests.allSatisfy { $0.body?.objectValue?["model"] == "grok-3-mini" })
            }
        }
    }

    @Test func disabledAliasUsesDefaultFallbacks() async throws {
        try await withMockUpstream { mock in
            let yaml = config(mock, settings: "litellm_settings: {default_fallbacks: [backup]}")
            try await withProxy(yaml: yaml) { proxy in
                let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("off", "hi"))
                #expect(result.status == 200, "\(result.text)")
                #expect(result.headers.first(name: "x-switchyard-attempted-fallbacks") == "1")
                let unknown = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("nope", "hi"))
                #expect(unknown.status == 404, "an unknown alias is the client's mistake, not a failure to fall back from")
            }
        }
    }

    @Test func clientErrorsDoNotFallBack() async throws {
        try await withMockUpstream { mock in
            let yaml = config(mock, settings: "router_settings: {fallbacks: [{strict: [backup]}]}")
            try await withProxy(yaml: yaml) { proxy in
                let result = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("strict", "hi", extra: ["presence_penalty": 1]))
                #expect(result.status == 400)
                #expect(mock.recorder.requests.count == 1)
            }
        }
    }

    @Test func maxFallbacksBoundsTheChain() async throws {
        try await withMockUpstream { mock in
            let yaml = config(mock, settings: "router_settings: {fallbacks: [{primary: [off, backup]}], max_fallbacks: 1}")
            try await withProxy(yaml: yaml) { proxy in
                let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("primary", "hi"))
                #expect(result.status == 502, "\(result.text)")
                #expect(mock.recorder.requests.isEmpty)
            }
        }
    }
}

@Suite struct FallbackConfigTests {
    @Test func fallbacksNamingUnknownAliasesWarn() throws {
        let yaml = """
            model_list:
              - model_name: a
                litellm_params: {model: mock/echo}
            litellm_settings: {fallbacks: [{a: [b]}], max_fallbacks: 2}
            """
        let config = try #require(ConfigLoader.parse(yaml, path: "f.yaml").config)
        #expect(config.settings.fallbacks == ["a": ["b"]])
        #expect(config.settings.maxFallbacks == 2)
        let table = ModelTable(config: config, environment: .init())
        #expect(table.diagnostics.contains { $0.message == "fallbacks name 'b', which is not a model alias" })
    }

    @Test func fallbacksMustBeAListOfMappings() {
        let result = ConfigLoader.parse("model_list: []\nrouter_settings: {fallbacks: {a: b}}\n", path: "f.yaml")
        #expect(result.hasErrors)
    }
}
