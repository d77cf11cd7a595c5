import Testing

@testable import SwitchyardCore

/// Each diagnostic the loader and resolver can give, with its effect: stop start-up, or disable one model.
@Suite struct DiagnosticsTests {
    func table(_ yaml: String, env: [String: String] = [:]) throws -> ModelTable {
        let result = ConfigLoader.parse(yaml, path: "d.yaml")
        return ModelTable(config: try #require(result.config, "\(result.diagnostics)"), environment: EnvironmentSnapshot(env))
    }

    @Test(arguments: [
        ("extra_headers: {connection: close}", "hop-by-hop"),
        ("extra_headers: {\"bad name\": x}", "not a valid header name"),
        ("extra_headers: {x-team: os.environ/TEAM_HEADER}", "set TEAM_HEADER"),
        ("api_key: \"\"", "api_key is empty"),
        ("api_base: os.environ/NO_SUCH_BASE", "set NO_SUCH_BASE"),
        ("api_base: \"http://\"", "has no host"),
    ])
    func modelProblemsDisableOnlyThatModel(_ params: String, _ expected: String) throws {
        let yaml = """
            model_list:
              - model_name: ok
                litellm_params: {model: mock/echo}
              - model_name: broken
                litellm_params: {model: xai/grok-4, api_key: xai-k, \(params)}
            """
        let table = try table(yaml)
        #expect(table.enabledAliases == ["ok"])
        let text = table.diagnostics.map(\.description).joined(separator: "\n")
        #expect(text.contains(expected), "\(text)")
        #expect(text.contains("model broken disabled"))
    }

    @Test(arguments: [
        ("model_list:\n  - litellm_params: {model: mock/echo}\n", "has no model_name"),
        ("model_list:\n  - model_name: a\n", "has no litellm_params"),
        ("model_list:\n  - model_name: a\n    litellm_params: {api_base: http://x}\n", "has no litellm_params.model"),
        ("model_list:\n  - model_name: [a, b]\n    litellm_params: {model: mock/echo}\n", "model_name must be a string"),
        (
            "model_list:\n  - model_name: a\n    litellm_params: {model: mock/echo, timeout: soon}\n",
            "must be a non-negative number"
        ),
        (
            "model_list:\n  - model_name: a\n    litellm_params: {model: mock/echo, additional_drop_params: user}\n",
            "must be a list"
        ),
        ("model_list: []\ngeneral_settings: [1]\n", "general_settings must be a mapping"),
        ("model_list: []\nenvironment_variables: {A: [1]}\n", "environment_variables.A must be a string"),
    ])
    func shapeErrorsStopStartUpWithALocation(_ yaml: String, _ expected: String) {
        let result = ConfigLoader.parse(yaml, path: "s.yaml")
        #expect(result.config == nil)
        let error = result.diagnostics.first { $0.severity == .error }
        #expect(error?.message.contains(expected) == true, "\(result.diagnostics)")
        #expect(error?.location != nil)
        #expect(error?.fix != nil)
    }

    @Test func strictLeavesKnownLiteLLMKeysAsWarnings() {
        let yaml = "model_list:\n  - model_name: a\n    litellm_params: {model: mock/echo, order: 10}\ncallback_settings: {}\n"
        let result = ConfigLoader.parse(yaml, path: "k.yaml", strict: true)
        #expect(!result.hasErrors, "\(result.diagnostics)")
        #expect(result.diagnostics.filter { $0.message.contains("ignored") }.count == 2)
    }

    @Test func diagnosticTextHasFileLineColumnSeverityAndFix() {
        let diagnostic = ConfigDiagnostic(
            .warning, "unknown key 'x'", fix: "remove it", at: SourceLocation(file: "p.yaml", line: 3, column: 5))
        #expect(diagnostic.description == "p.yaml:3:5: warning: unknown key 'x'; fix: remove it")
    }
}
