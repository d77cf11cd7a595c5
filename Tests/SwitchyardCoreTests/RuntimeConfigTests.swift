import Testing

@testable import SwitchyardCore

/// Run-time model entries: read like the file's, written back faithfully, laid over the file by id.
@Suite struct RuntimeConfigReadingTests {
    static let file = """
        model_list:
          - model_name: a
            litellm_params: {model: xai/grok-code-fast-1, api_key: os.environ/K}
          - model_name: a
            litellm_params:
              model: openai/gpt-4o-mini
              api_base: https://example.invalid/v1
              api_key: os.environ/K
              drop_params: true
              additional_drop_params: [seed]
              extra_headers: {X-Team: core, Authorization: os.environ/AUTH}
              timeout: 30
              stream_timeout: 12.5
              connect_timeout: 2
              first_byte_timeout: 9
              weight: 2
              rpm: 60
              tpm: 1000
              max_parallel_requests: 4
              num_retries: 1
              custom_llm_provider: openai
            model_info:
              id: a-second
              input_cost_per_token: 0.000001
              output_cost_per_token: 0.000002
              cache_read_input_token_cost: 0.0000001
              max_input_tokens: 4096
              supported_endpoints: [/v1/chat/completions, /v1/responses]
          - model_name: b
            litellm_params: {model: xai/grok-3-mini, api_key: os.environ/K}
        """

    static func config() throws -> ProxyConfig {
        try #require(ConfigLoader.parse(file, path: "f.yaml").config)
    }

    static func normalized(_ entry: DeploymentEntry) -> DeploymentEntry {
        var entry = entry
        entry.location = nil
        entry.index = 0
        entry.origin = .file
        return entry
    }

    @Test func anEntryWrittenBackReadsTheSame() throws {
        for entry in try Self.config().deployments {
            let text = JSONValue.object(entry.json()).encodedString()
            let read = ConfigLoader.parseModelEntry(text, path: "t")
            #expect(!read.hasErrors, "\(read.diagnostics)")
            #expect(read.entry.map(Self.normalized) == Self.normalized(entry), "\(text)")
        }
    }

    @Test func aRunTimeEntryIsCheckedLikeTheFileAndStricter() {
        let good = ConfigLoader.parseModelEntry(
            #"{"model_name": "x", "litellm_params": {"model": "xai/grok-3-mini", "api_key": "os.environ/K"}}"#, path: "/model/new"
        )
        #expect(!good.hasErrors)
        #expect(good.entry?.apiKey == .environment("K"))
        // A literal key, located; its text in no message.
        let literal = ConfigLoader.parseModelEntry(
            """
            {"model_name": "x",
             "litellm_params": {"model": "xai/grok-3-mini", "api_key": "xai-secret-value-123"}}
            """, path: "/model/new")
        #expect(literal.entry == nil)
        let problem = literal.diagnostics.first { $0.severity == .error }
        #expect(problem?.message.contains("literal key") == true)
        #expect(problem?.location?.line == 2)
        #expect(!literal.diagnostics.description.contains("xai-secret-value-123"))
        // An unknown key is an error here (a warning in a file without --strict).
        let typo = ConfigLoader.parseModelEntry(
            #"{"model_name": "x", "litellm_params": {"model": "xai/grok-3-mini", "api_key": "os.environ/K", "weigth": 2}}"#,
            path: "/model/new")
        #expect(typo.hasErrors)
        #expect(typo.diagnostics.contains { $0.message.contains("unknown key 'weigth'") && $0.fix?.contains("weight") == true })
        // LiteLLM's descriptive model_info keys are accepted (with a warning).
        let described = ConfigLoader.parseModelEntry(
            #"{"model_name": "x", "litellm_params": {"model": "xai/grok-3-mini"}, "model_info": {"description": "d"}}"#,
            path: "/model/new")
        #expect(!described.hasErrors)
        for text in ["", "[1]", "{", #"{"litellm_params": {"model": "xai/x"}}"#, #"{"model_name": "x"}"#] {
            #expect(ConfigLoader.parseModelEntry(text, path: "t").hasErrors, "\(text)")
        }
    }

    @Test func theDatabaseWinsByIDInPlaceAndIDsStayPut() throws {
        let file = try Self.config()
        #expect(file.deploymentIDs == ["a#1", "a-second", "b#1"])
        func model(_ id: String, _ alias: String?) -> RuntimeModel {
            let entry = alias.map { alias -> DeploymentEntry in
                var entry = DeploymentEntry(alias: alias, model: "xai/grok-3-mini", index: 0)
                entry.id = id
                return entry
            }
            return RuntimeModel(
                id: id, entry: entry, body: alias == nil ? RuntimeConfig.hiddenBody : "{}", changedAt: 5, changedBy: "t")
        }
        // a#1 hidden, a-second replaced, a new one added: b keeps its id, the replacement its place.
        let runtime = RuntimeConfig(
            revision: 3, models: [model("a#1", nil), model("a-second", "a2"), model("new", "c")])
        let table = ModelTable(
            config: file, environment: EnvironmentSnapshot(["K": "xai-test-key-0123456789", "AUTH": "Bearer t"]),
            runtime: runtime)
        #expect(table.deployments.map(\.id) == ["a-second", "b#1", "new"])
        #expect(table.deployments.map(\.alias) == ["a2", "b", "c"])
        #expect(table.deployments[0].origin == .database(changedAt: 5, changedBy: "t", overridesFile: true))
        #expect(table.deployments[1].origin == .file)
        #expect(table.deployments[2].origin == .database(changedAt: 5, changedBy: "t", overridesFile: false))
        // The same file with no run-time entries again: back to the file's.
        #expect(table.with(runtime: .empty).deployments.map(\.id) == ["a#1", "a-second", "b#1"])
        // A restriction survives a new run-time configuration.
        let restricted = table.restricted(to: ["b"]).table
        #expect(restricted.with(runtime: .empty).deployments.map(\.id) == ["b#1"])
    }

    @Test func aRecordThatNoLongerReadsIsLeftOutAlone() {
        let records = [
            ConfigRecord(
                kind: "model", name: "good",
                body: #"{"model_name": "g", "litellm_params": {"model": "xai/grok-3-mini"}}"#, changedAt: 1, changedBy: "t"),
            ConfigRecord(kind: "model", name: "bad", body: #"{"model_name": "g"}"#, changedAt: 1, changedBy: "t"),
            ConfigRecord(kind: "model", name: "gone", body: RuntimeConfig.hiddenBody, changedAt: 1, changedBy: "t"),
            ConfigRecord(kind: "future", name: "f", body: "{}", changedAt: 1, changedBy: "t"),
        ]
        let runtime = RuntimeConfig.read(revision: 9, records: records)
        #expect(runtime.revision == 9)
        #expect(runtime.models.map(\.id) == ["gone", "good"])
        #expect(runtime.model(id: "gone")?.entry == nil)
        #expect(runtime.model(id: "good")?.entry?.id == "good")
        #expect(runtime.diagnostics.count == 2)
        #expect(runtime.diagnostics.allSatisfy { $0.severity == .warning })
        #expect(runtime.diagnostics.contains { $0.message.contains("run-time model bad left out") })
    }

    @Test func anUpdateMergesKeyByKey() {
        let old: JSONObject = [
            "model_name": "a", "litellm_params": .object(["model": "xai/x", "rpm": 5, "api_key": "os.environ/K"]),
        ]
        let merged = old.merging([
            "litellm_params": .object(["rpm": .null, "tpm": 10]), "model_info": .object(["id": "i"]),
        ])
        #expect(
            merged
                == [
                    "model_name": "a", "litellm_params": .object(["model": "xai/x", "api_key": "os.environ/K", "tpm": 10]),
                    "model_info": .object(["id": "i"]),
                ])
    }

    @Test func yamlWrittenReadsBackToTheSameValues() throws {
        let strings = [
            "plain", "yes", "no", "null", "~", "12", "1e3", "0x10", "a: b", "- x", "#hash", "quote \" in", "line\nbreak",
            "tab\there", "é ü ✓", "", " lead", "trail ", "{{var}}", "[1]", "{a: 1}", "back\\slash", "\u{1}",
        ]
        var object = JSONObject()
        for (index, text) in strings.enumerated() {
            object["k\(index)"] = .string(text)
            object[text.isEmpty ? "empty" : text] = .int(index)
        }
        object["numbers"] = .array([.int(0), .double(1.5), .number("-2e-3"), .bool(true), .bool(false), .null])
        object["nested"] = .array([
            .object(["a": .array([]), "b": .object([:]), "c": .array([.array([.int(1)])])]), .string("s"),
        ])
        let text = YAMLWriter.document(object)
        let read = try #require(try YAMLReader.read(text)).jsonValue
        #expect(read == .object(object), "\(text)")
    }

    @Test func promptTextsFillTheirPlacesAndNothingElse() throws {
        let text = PromptText("Hi {{ name }}, {{name}}! {{ missing}} {not} {{a b}} {{}} }} {{x.y-z_1}}")
        #expect(text.variables == ["name", "missing", "x.y-z_1"])
        let filled = try text.render(["name": "Ann", "missing": .int(3), "x.y-z_1": .object(["k": "{{name}}"])])
        #expect(filled == #"Hi Ann, Ann! 3 {not} {{a b}} {{}} }} {"k":"{{name}}"}"#)
        #expect(throws: PromptText.MissingVariable(name: "missing")) { try text.render(["name": "Ann", "x.y-z_1": 1]) }
        #expect(throws: PromptText.MissingVariable(name: "name")) { try text.render(nil) }
        // Linear on hostile input: many opening braces, a long name.
        let hostile = String(repeating: "{{", count: 50_000) + String(repeating: "a", count: 100_000)
        #expect(PromptText(hostile).variables.isEmpty)
        #expect(PromptText(hostile).pieces.count == 1)
    }
}
