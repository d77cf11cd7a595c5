import Foundation
import Testing

@Suite(.serialized) struct DemoAndChatTests {
    @Test func demoWithoutAKeyFailsFastNamingWhatToSet() async throws {
        for value in [nil, ""] as [String?] {
            let environment = value.map { ["GROK_API_KEY": $0] } ?? [:]
            let result = try await RunningCommand(
                [repositoryRoot() + "/demo/grok/demo.sh"], environment: environment, executable: "/bin/bash"
            ).finish()
            #expect(result.status == 2)
            #expect(result.stderr.contains("GROK_API_KEY is not set"))
            #expect(result.stderr.contains("https://console.x.ai"))
        }
    }

    @Test func demoMockShowsAnswerUsageCostAndNeverTheKey() async throws {
        let key = "xai-demo-test-key-42424242"
        let result = try await RunningCommand(
            [repositoryRoot() + "/demo/grok/demo.sh", "--mock"], environment: ["GROK_API_KEY": key], executable: "/bin/bash"
        ).finish(seconds: 120)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.contains("You said: In one sentence"))
        #expect(result.stdout.contains("reasoning "))
        #expect(result.stdout.contains("cost $"))
        #expect(result.stdout.contains("first token"))
        #expect(!result.output.contains(key))
    }

    @Test func chatAgainstAProxyThatIsDownSaysSo() async throws {
        let result = try await runCLI(["chat", "mock-echo", "hi", "--url", "http://127.0.0.1:1"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("cannot reach the proxy at http://127.0.0.1:1"))
    }

    @Test func chatStreamsAndReportsUnknownAliases() async throws {
        let server = try RunningCommand(["serve", "--port", "0"])
        let url = String(try await server.line(startingWith: "listening on ").dropFirst("listening on ".count))
        let streamed = try await runCLI(["chat", "mock-reasoning", "stream this please", "--stream", "--url", url])
        #expect(streamed.status == 0, "\(streamed.output)")
        #expect(streamed.stdout.hasPrefix("stream this please\n"))
        #expect(streamed.stdout.contains("reasoning "))
        #expect(streamed.stdout.contains("first token"))
        let unknown = try await runCLI(["chat", "no-such-alias", "hi", "--url", url])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("404"))
        #expect(unknown.stderr.contains("does not exist"))
        let remote = try await runCLI(["models", "list", "--url", url])
        #expect(remote.status == 0)
        #expect(remote.stdout.contains("mock-echo"))
        #expect(remote.stdout.contains("mock/reasoning"))
        _ = await server.stop()
    }
}
