import Foundation
import Testing

@testable import SwitchyardCore

@Suite(.serialized) struct CLITests {
    @Test func configCheckOnTheShippedConfigPassesAndNamesWhatToSet() async throws {
        let result = try await runCLI(["config", "check"])
        #expect(result.status == 0, "\(result.output)")
        #expect(
            result.stdout.contains(
                "proxy.yaml:13:5: warning: model grok-code-fast-1 disabled: no API key for provider xai; fix: set GROK_API_KEY"))
        #expect(result.stdout.contains("proxy.yaml: ok:"))
    }

    @Test func configCheckExitCodes() async throws {
        let broken = try temporaryFile("model_list:\n  - model_name: a\n    litellm_params: {model: mock/echo\n")
        let invalid = try await runCLI(["config", "check", broken])
        #expect(invalid.status == 1)
        #expect(invalid.stdout.contains("\(broken):4:1: error: YAML syntax error"), "\(invalid.output)")
        let unknownKey = try temporaryFile("model_list:\n  - model_name: a\n    litellm_params: {model: mock/echo, api_bse: x}\n")
        let lenient = try await runCLI(["config", "check", unknownKey])
        #expect(lenient.status == 0)
        #expect(lenient.stdout.contains("did you mean 'api_base'?"))
        let strict = try await runCLI(["config", "check", unknownKey, "--strict"])
        #expect(strict.status == 1)
        let usage = try await runCLI(["config", "check", "--no-such-flag"])
        #expect(usage.status == 2)
        let missing = try await runCLI(["config", "check", "/nonexistent.yaml"])
        #expect(missing.status == 1)
    }

    @Test func configPathComesFromSwitchyardConfig() async throws {
        let path = try temporaryFile("model_list:\n  - model_name: from-env\n    litellm_params: {model: mock/echo}\n")
        let result = try await runCLI(["models", "list"], environment: ["SWITCHYARD_CONFIG": path])
        #expect(result.status == 0)
        #expect(result.stdout.contains("from-env"))
    }

    @Test func modelsListShowsSourcesAndMasksKeys() async throws {
        let key = "xai-cli-test-key-abcdef123456"
        let result = try await runCLI(["models", "list"], environment: ["GROK_API_KEY": key])
        #expect(result.status == 0)
        #expect(!result.output.contains(key))
        let row = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("grok-code-fast-1") })
        #expect(row.contains("enabled"))
        #expect(row.contains("env GROK_API_KEY"))
        #expect(row.contains("xai-****56"))
        #expect(row.contains("https://api.x.ai/v1"))
        #expect(row.contains("default"))
        let header = try #require(result.stdout.split(separator: "\n").first)
        for column in ["ALIAS", "PROVIDER", "MODEL", "BASE URL", "STATUS", "KEY FROM", "URL FROM", "REASON"] {
            #expect(header.contains(column))
        }
    }

    @Test func modelsListJSONReportsEntryAndEnvironmentSources() async throws {
        let path = try temporaryFile(
            """
            model_list:
              - model_name: own
                litellm_params: {model: xai/grok-4, api_key: os.environ/TEAM_KEY, api_base: "http://127.0.0.1:9/v1"}
              - model_name: global
                litellm_params: {model: xai/grok-4}
            """)
        let result = try await runCLI(
            ["models", "list", "--config", path, "--json"],
            environment: [
                "TEAM_KEY": "xai-team-key-000000", "XAI_API_KEY": "xai-global-000000", "GROK_BASE_URL": "http://127.0.0.1:8/v1",
            ])
        #expect(result.status == 0, "\(result.output)")
        let rows = try #require(JSONParser.parse(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)).arrayValue)
        let own = try #require(rows.first?.objectValue)
        #expect(own["key_source"] == "model entry (os.environ/TEAM_KEY)")
        #expect(own["base_url_source"] == "model entry")
        let global = try #require(rows.last?.objectValue)
        #expect(global["key_source"] == "env XAI_API_KEY")
        #expect(global["base_url_source"] == "env GROK_BASE_URL")
        #expect(!result.stdout.contains("xai-team-key-000000"))
    }

    @Test func everyCommandHasHelp() async throws {
        for command in [[], ["serve"], ["models"], ["models", "list"], ["config"], ["config", "check"], ["mock"], ["chat"]] {
            let result = try await runCLI(command + ["--help"])
            #expect(result.status == 0, "\(command)")
            #expect(result.stdout.contains("USAGE"), "\(command): \(result.output)")
        }
    }

    @Test func serveStartsOnTheShippedConfigWithoutKeysAndStopsCleanly() async throws {
        let server = try RunningCommand(["serve", "--port", "0"])
        let line = try await server.line(startingWith: "listening on http://127.0.0.1:")
        let url = String(line.dropFirst("listening on ".count))
        let models = try await send(.GET, url + "/v1/models")
        let ids = models.json?["data"]?.arrayValue?.compactMap { $0.objectValue?["id"]?.stringValue } ?? []
        #expect(ids == ["mock-echo", "mock-reasoning"])
        let reply = try await send(.POST, url + "/v1/chat/completions", json: chat("mock-echo", "hello from the CLI test"))
        #expect(reply.status == 200)
        let result = await server.stop()
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stderr.contains("model grok-code-fast-1 disabled"))
        #expect(result.stderr.contains("set GROK_API_KEY"))
        #expect(result.stderr.contains("\"request\"") || result.stderr.contains("request "), "request log line: \(result.stderr)")
    }

    @Test func serveEnablesGrokWhenTheKeyIsSet() async throws {
        let server = try RunningCommand(
            ["serve", "--port", "0", "--log-format", "json"], environment: ["GROK_API_KEY": "xai-test-key"])
        let line = try await server.line(startingWith: "listening on ")
        let url = String(line.dropFirst("listening on ".count))
        let ids = try await send(.GET, url + "/v1/models").json?["data"]?.arrayValue?.compactMap {
            $0.objectValue?["id"]?.stringValue
        }
        #expect(ids?.contains("grok-code-fast-1") == true)
        #expect(ids?.contains("grok-4.3") == true)
        #expect(ids?.contains("grok-4.7") == true)
        let result = await server.stop()
        #expect(result.status == 0)
        #expect(!result.output.contains("xai-test-key"))
        let firstLog = try #require(result.stderr.split(separator: "\n").first)
        #expect((try? JSONParser.parse(String(firstLog))) != nil, "json log lines: \(firstLog)")
    }

    @Test func serveModelLaunchesOnlyTheNamedAliases() async throws {
        let server = try RunningCommand(["serve", "--port", "0", "--model", "mock-echo"])
        let line = try await server.line(startingWith: "listening on ")
        let url = String(line.dropFirst("listening on ".count))
        let ids = try await send(.GET, url + "/v1/models").json?["data"]?.arrayValue?.compactMap {
            $0.objectValue?["id"]?.stringValue
        }
        #expect(ids == ["mock-echo"])
        #expect(try await send(.POST, url + "/v1/chat/completions", json: chat("mock-reasoning", "x")).status == 404)
        _ = await server.stop()
        let unknown = try await runCLI(["serve", "--port", "0", "--model", "nope"])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("unknown alias nope"))
    }

    @Test func serveRefusesAnInvalidConfig() async throws {
        let path = try temporaryFile("model_list: [\n")
        let result = try await runCLI(["serve", "--config", path, "--port", "0"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("error: YAML syntax error"))
    }

    @Test func mockCommandServesXAIDialect() async throws {
        let mock = try RunningCommand(["mock", "--port", "0", "--chunks", "2"])
        let line = try await mock.line(startingWith: "mock upstream listening on ")
        let url = String(line.dropFirst("mock upstream listening on ".count))
        let noKey = try await send(.POST, url + "/v1/chat/completions", json: chat("grok-4", "x"))
        #expect(noKey.status == 401)
        #expect(noKey.json?["error"]?.stringValue != nil, "xAI errors are flat")
        let rejected = try await send(
            .POST, url + "/v1/chat/completions", json: chat("grok-code-fast-1", "x", extra: ["presence_penalty": 1]),
            headers: [("authorization", "Bearer xai-test-key")])
        #expect(rejected.status == 400)
        #expect(rejected.json?["error"] == "Model grok-code-fast-1 does not support parameter presencePenalty.")
        _ = await mock.stop()
    }

    /// `FAULT:hold` in a standalone mock: requests wait until `POST /_mock/release` opens the gate, which says how many
    /// it let go; later ones pass at once.
    @Test func aStandaloneMockReleasesHeldRequests() async throws {
        let mock = try RunningCommand(["mock", "--port", "0"])
        let line = try await mock.line(startingWith: "mock upstream listening on ")
        let url = String(line.dropFirst("mock upstream listening on ".count))
        let key = [("authorization", "Bearer xai-test-key")]
        async let first = send(.POST, url + "/v1/chat/completions", json: chat("grok-4", "FAULT:hold one"), headers: key)
        async let second = send(.POST, url + "/v1/chat/completions", json: chat("grok-4", "FAULT:hold two"), headers: key)
        #expect(
            try await eventually {
                let seen = try? await send(.GET, url + "/_mock/requests")
                return seen.flatMap { try? JSONParser.parse($0.body).arrayValue?.count } == 2
            }, "both requests reached the mock")
        let released = try await send(.POST, url + "/_mock/release", json: .object([:]))
        #expect(released.status == 200)
        #expect(released.json?["released"]?.intValue == 2)
        let held = try await [first, second]
        #expect(held.map(\.status) == [200, 200], "\(held.map(\.text))")
        let later = try await send(.POST, url + "/v1/chat/completions", json: chat("grok-4", "FAULT:hold"), headers: key)
        #expect(later.status == 200, "the gate stays open")
        #expect(try await send(.POST, url + "/_mock/release", json: .object([:])).json?["released"]?.intValue == 0)
        _ = await mock.stop()
    }
}
