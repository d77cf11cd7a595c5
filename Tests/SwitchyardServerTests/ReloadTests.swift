import Foundation
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

/// Hot reload: a valid config serves new requests at once, an invalid one is rejected and the old one keeps
/// serving, requests in flight finish on their config, and unchanged deployments keep their state.
@Suite struct ReloadTests {
    func models(_ proxy: ProxyHandle) async throws -> [String] {
        let list = try await send(.GET, proxy.url + "/v1/models").json
        return (list?["data"]?.arrayValue ?? []).compactMap { $0.objectValue?["id"]?.stringValue }.sorted()
    }

    func breaker(_ proxy: ProxyHandle, alias: String) async throws -> String? {
        try await healthDeployments(proxy.url, alias: alias)["\(alias)-1"]?["breaker"]?.stringValue
    }

    @Test func validConfigServesNewRequestsAndUnchangedDeploymentsKeepTheirBreakers() async throws {
        try await withMockUpstream { mock in
            func yaml(extra: String, otherKey: String) -> String {
                """
                model_list:
                  - model_name: kept
                    litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: \(testKey)}
                    model_info: {id: kept-1}
                  - model_name: changed
                    litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: \(otherKey)}
                    model_info: {id: changed-1}
                \(extra)
                router_settings: {allowed_fails: 1, cooldown_time: 60}
                """
            }
            let path = try temporaryFile(yaml(extra: "", otherKey: testKey))
            try await withReloadableProxy(path: path) { proxy, server in
                #expect(try await models(proxy) == ["changed", "kept"])
                for alias in ["kept", "changed"] {
                    let failed = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat(alias, "FAULT:500"))
                    #expect(failed.status == 502)
                    #expect(try await breaker(proxy, alias: alias) == "cooldown")
                }
                let added = """
                      - model_name: added
                        litellm_params: {model: mock/echo}
                    """
                try yaml(extra: added, otherKey: testKey + "-rotated").write(toFile: path, atomically: true, encoding: .utf8)
                let outcome = server.reload(from: try #require(server.source), reason: "test")
                #expect(outcome == .applied(deployments: 3, kept: 1))
                #expect(try await models(proxy) == ["added", "changed", "kept"])
                #expect(try await breaker(proxy, alias: "kept") == "cooldown", "an unchanged deployment keeps its breaker")
                #expect(try await breaker(proxy, alias: "changed") == "closed", "a rotated key starts afresh")
                // A lone deployment is tried even while it cools down; its success closes the kept breaker.
                let cooling = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("kept", "hi"))
                #expect(cooling.status == 200, "\(cooling.text)")
                #expect(try await breaker(proxy, alias: "kept") == "closed")
                let fresh = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("changed", "hi"))
                #expect(fresh.status == 200, "\(fresh.text)")
                let reloaded = proxy.logs.lines.first { $0.contains("config reloaded") } ?? ""
                #expect(reloaded.contains("\"kept_state\":1"), "\(reloaded)")
            }
        }
    }

    @Test func invalidConfigIsRejectedAndTheOldOneKeepsServing() async throws {
        let path = try temporaryFile("model_list:\n  - model_name: a\n    litellm_params: {model: mock/echo}\n")
        try await withReloadableProxy(path: path) { proxy, server in
            let source = try #require(server.source)
            for broken in ["model_list: [unclosed\n", "model_list:\n  - model_name: b\n", "general_settings: 12\n"] {
                try broken.write(toFile: path, atomically: true, encoding: .utf8)
                guard case .rejected(let why) = server.reload(from: source, reason: "test") else {
                    Issue.record("accepted an invalid config: \(broken)")
                    continue
                }
                #expect(!why.isEmpty)
                let result = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("a", "hi"))
                #expect(result.status == 200)
            }
            #expect(proxy.logs.lines.filter { $0.contains("config reload rejected") }.count == 3)
            #expect(proxy.logs.lines.contains { $0.contains("\"level\":\"error\"") && $0.contains("config reload rejected") })
        }
    }

    @Test func requestsInFlightFinishOnTheConfigTheyStartedWith() async throws {
        var options = MockUpstreamOptions()
        options.chunks = 10
        options.chunkInterval = .milliseconds(60)
        try await withMockUpstream(options) { mock in
            let before = """
                model_list:
                  - model_name: old
                    litellm_params: {model: xai/grok-4, api_base: "\(mock.baseURL)", api_key: \(testKey)}
                """
            let path = try temporaryFile(before)
            try await withReloadableProxy(path: path) { proxy, server in
                async let streamed = send(.POST, proxy.url + "/v1/chat/completions", json: chat("old", "hi", stream: true))
                async let plain = send(.POST, proxy.url + "/v1/chat/completions", json: chat("old", "FAULT:slow"))
                while mock.recorder.requests.count < 2 { try await Task.sleep(for: .milliseconds(10)) }
                try "model_list:\n  - model_name: new\n    litellm_params: {model: mock/echo}\n".write(
                    toFile: path, atomically: true, encoding: .utf8)
                #expect(server.reload(from: try #require(server.source), reason: "test") == .applied(deployments: 1, kept: 0))
                let gone = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("old", "hi"))
                #expect(gone.status == 404, "new requests use the new config")
                let stream = try await streamed
                #expect(stream.status == 200)
                #expect(stream.events.last?.isDone == true, "the stream that started before the reload completes")
                #expect(stream.chunks.count >= 10)
                #expect(try await plain.status == 200)
                let new = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("new", "hi"))
                #expect(new.status == 200)
            }
        }
    }
}

/// `serve --watch` and SIGHUP, on the real binary.
@Suite(.serialized) struct ReloadCLITests {
    func waitForModels(_ url: String, including alias: String, seconds: Double = 15) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let list = try await send(.GET, url + "/v1/models").json
            let ids = (list?["data"]?.arrayValue ?? []).compactMap { $0.objectValue?["id"]?.stringValue }
            if ids.contains(alias) { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    @Test func watchReloadsWhenTheFileChanges() async throws {
        let path = try temporaryFile("model_list:\n  - model_name: a\n    litellm_params: {model: mock/echo}\n")
        let proxy = try RunningCommand(["serve", "--config", path, "--port", "0", "--watch"])
        let url = try await proxy.line(startingWith: "listening on ").replacingOccurrences(of: "listening on ", with: "")
        try "model_list:\n  - model_name: b\n    litellm_params: {model: mock/echo}\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        #expect(try await waitForModels(url, including: "b"))
        try "model_list: [broken\n".write(toFile: path, atomically: true, encoding: .utf8)
        for _ in 0..<300 where !proxy.stderr.contains("config reload rejected") {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(try await waitForModels(url, including: "b", seconds: 1), "a broken file leaves the last good config serving")
        let result = await proxy.stop()
        #expect(result.status == 0)
        #expect(result.stderr.contains("config reloaded"))
        #expect(result.stderr.contains("config reload rejected"))
    }

    /// `--watch` also watches the model catalog file the config names: a price changed there is in force without a
    /// restart or a signal.
    @Test func watchReloadsWhenTheCatalogFileChanges() async throws {
        let catalog = try temporaryFile(
            "version: 1\nproviders: {xai: {models: {grok-4.7: {price: {input: 7}}}}}\n", name: "catalog.yaml")
        let path = (catalog as NSString).deletingLastPathComponent + "/proxy.yaml"
        try """
        model_catalog: catalog.yaml
        model_list:
          - model_name: g
            litellm_params: {model: xai/grok-4.7, api_key: xai-test-key, api_base: "http://127.0.0.1:1/v1"}
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let proxy = try RunningCommand(["serve", "--config", path, "--port", "0", "--watch"])
        let url = try await proxy.line(startingWith: "listening on ").replacingOccurrences(of: "listening on ", with: "")
        func inputPrice() async throws -> Double? {
            let info = try await send(.GET, url + "/model/info").json
            return info?["data"]?.arrayValue?.first?.objectValue?["model_info"]?.objectValue?["input_cost_per_token"]?
                .doubleValue
        }
        #expect(try await inputPrice() == 7e-6)
        try "version: 1\nproviders: {xai: {models: {grok-4.7: {price: {input: 9}}}}}\n".write(
            toFile: catalog, atomically: true, encoding: .utf8)
        var price = try await inputPrice()
        for _ in 0..<300 where price != 9e-6 {
            try await Task.sleep(for: .milliseconds(50))
            price = try await inputPrice()
        }
        #expect(price == 9e-6, "the watched catalog's new price")
        let result = await proxy.stop()
        #expect(result.stderr.contains("config reloaded"))
    }

    @Test func sighupReloads() async throws {
        let path = try temporaryFile("model_list:\n  - model_name: a\n    litellm_params: {model: mock/echo}\n")
        let proxy = try RunningCommand(["serve", "--config", path, "--port", "0"])
        let url = try await proxy.line(startingWith: "listening on ").replacingOccurrences(of: "listening on ", with: "")
        try "model_list:\n  - model_name: c\n    litellm_params: {model: mock/echo}\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        kill(proxy.process.processIdentifier, SIGHUP)
        #expect(try await waitForModels(url, including: "c"))
        let result = await proxy.stop()
        #expect(result.status == 0)
        #expect(result.stderr.contains("reason=SIGHUP") || result.stderr.contains("SIGHUP"), "\(result.stderr)")
    }
}
