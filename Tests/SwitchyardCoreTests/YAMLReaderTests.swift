import Testing

@testable import SwitchyardCore

@Suite struct YAMLReaderTests {
    @Test func anchorsAliasesAndMergeKeysResolve() throws {
        let yaml = """
            defaults: &grok
              model: xai/grok-4
              timeout: 30
            model_list:
              - model_name: a
                litellm_params:
                  <<: *grok
                  timeout: 60
              - model_name: b
                litellm_params: *grok
            """
        let config = try #require(ConfigLoader.parse(yaml, path: "a.yaml").config)
        #expect(config.deployments.map(\.model) == ["xai/grok-4", "xai/grok-4"])
        #expect(config.deployments.map(\.timeouts.total) == [60, 30])
    }

    @Test func yaml11BooleansReadAsPyYAMLReadsThem() throws {
        let yaml =
            "model_list:\n  - model_name: a\n    litellm_params: {model: mock/echo, drop_params: yes}\nlitellm_settings: {drop_params: Off}\n"
        let config = try #require(ConfigLoader.parse(yaml, path: "b.yaml").config)
        #expect(config.deployments.first?.dropParams == true)
        #expect(config.settings.dropParams == false)
    }

    @Test func quotedTrueIsAStringNotABoolean() {
        let yaml = "model_list:\n  - model_name: a\n    litellm_params: {model: mock/echo, drop_params: \"true\"}\n"
        #expect(ConfigLoader.parse(yaml, path: "c.yaml").hasErrors)
    }

    @Test func secondDocumentIsAnError() {
        let result = ConfigLoader.parse("model_list: []\n---\nmodel_list: []\n", path: "d.yaml")
        #expect(result.hasErrors)
        #expect(result.diagnostics.first?.location?.line == 2)
    }

    @Test func unknownAliasIsAnError() {
        #expect(throws: YAMLSyntaxError.self) { try YAMLReader.read("a: *nowhere\n") }
    }

    @Test(arguments: ["\t- a", "a: [1, 2", "a: 'unterminated", "{a: 1", "a:\n  b: 1\n c: 2", "\u{0}"])
    func malformedYAMLIsADiagnosticNotACrash(_ text: String) {
        let result = ConfigLoader.parse(text, path: "e.yaml")
        #expect(result.hasErrors)
        #expect(result.diagnostics.first?.location != nil || result.diagnostics.first?.message.isEmpty == false)
    }
}
