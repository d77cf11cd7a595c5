import Foundation
import Testing

/// Every shell command shown in README.md and docs/*.md, run for real so the docs cannot rot.
///
/// `bench/run.sh` is mirrored (its flags are checked against `bench/run.py --help`), not run: a benchmark run
/// takes half an hour; so is `swift build` (flags against `swift build --help`, the product against Package.swift). Rewrites, and only these: `swift run switchyard` runs the built binary; `swift run -c release X` runs the
/// debug build of X; servers get `--port 0` and are stopped with SIGTERM; `http://127.0.0.1:4000` becomes a
/// live proxy on the shipped proxy.yaml; the placeholder key `xai-...` becomes a fake key, with
/// GROK_BASE_URL pointing at a live mock upstream so no call leaves the machine.
@Suite(.serialized) struct DocsCommandTests {
    struct DocCommand: CustomStringConvertible {
        let file: String
        let line: Int
        let text: String
        var description: String { "\(file):\(line): \(text)" }
    }

    static func commands() throws -> [DocCommand] {
        let root = repositoryRoot()
        let docs = try FileManager.default.contentsOfDirectory(atPath: root + "/docs").filter { $0.hasSuffix(".md") }.sorted()
        var commands: [DocCommand] = []
        for file in ["README.md"] + docs.map({ "docs/" + $0 }) {
            let lines = try String(contentsOfFile: root + "/" + file, encoding: .utf8).components(separatedBy: "\n")
            var inShell = false
            var pending: (line: Int, text: String)?
            for (index, line) in lines.enumerated() {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.hasPrefix("```") {
                    inShell = !inShell && (trimmed == "```sh" || trimmed == "```bash")
                    continue
                }
                guard inShell, !trimmed.isEmpty, !trimmed.hasPrefix("#") else { continue }
                let start = pending?.line ?? index + 1
                let text = (pending.map { $0.text + " " } ?? "") + trimmed
                if text.hasSuffix("\\") {
                    pending = (start, String(text.dropLast()).trimmingCharacters(in: .whitespaces))
                } else {
                    pending = nil
                    commands.append(DocCommand(file: file, line: start, text: text))
                }
            }
        }
        return commands
    }

    @Test func everyDocumentedCommandRuns() async throws {
        let commands = try Self.commands()
        #expect(commands.count >= 8, "found \(commands.count) documented commands")
        let mock = try RunningCommand(["mock", "--port", "0"])
        let mockURL = String(
            try await mock.line(startingWith: "mock upstream listening on ").dropFirst("mock upstream listening on ".count))
        let environment = ["GROK_API_KEY": "xai-docs-test-key", "GROK_BASE_URL": mockURL + "/v1"]
        let proxy = try RunningCommand(["serve", "--port", "0"], environment: environment)
        let proxyURL = String(try await proxy.line(startingWith: "listening on ").dropFirst("listening on ".count))
        let binaries = repositoryRoot() + "/.build/debug"
        var shellEnvironment = environment
        shellEnvironment["PATH"] = binaries + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")

        for command in commands {
            if command.text == "./test.sh" {
                #expect(FileManager.default.isExecutableFile(atPath: repositoryRoot() + "/test.sh"), "\(command)")
                continue
            }
            if command.text.hasPrefix("bench/run.sh") {
                // Mirrored, not run: a benchmark run builds release binaries and installs LiteLLM (30 min).
                #expect(FileManager.default.isExecutableFile(atPath: repositoryRoot() + "/bench/run.sh"), "\(command)")
                let help = try await RunningCommand(
                    ["bench/run.py", "--help"], environment: shellEnvironment, executable: "/usr/bin/env"
                ).finish()
                #expect(help.status == 0, "\(help.output)")
                for flag in command.text.split(separator: " ").dropFirst() where flag.hasPrefix("--") {
                    #expect(help.stdout.contains(String(flag)), "bench/run.py does not take \(flag)")
                }
                continue
            }
            if command.text.hasPrefix("swift build") {
                // Mirrored, not run: a release build takes minutes, and this test run holds the package's build
                // lock. Its flags must be `swift build`'s and its product one of the package's executables.
                let words = (command.text.components(separatedBy: " #").first ?? "").split(separator: " ").map(String.init)
                let help = try await RunningCommand(
                    ["swift", "build", "--help"], environment: shellEnvironment, executable: "/usr/bin/env"
                ).finish(seconds: 120)
                #expect(help.status == 0, "\(help.output)")
                for flag in words where flag.hasPrefix("-") {
                    #expect(help.stdout.contains(flag), "swift build does not take \(flag)")
                }
                if let index = words.firstIndex(of: "--product"), index + 1 < words.count {
                    let manifest = try String(contentsOfFile: repositoryRoot() + "/Package.swift", encoding: .utf8)
                    #expect(manifest.contains(".executable(name: \"\(words[index + 1])\""), "\(command)")
                }
                continue
            }
            var text = command.text
                .replacingOccurrences(of: "swift run -c release ", with: binaries + "/")
                .replacingOccurrences(of: "swift run switchyard", with: "switchyard")
                .replacingOccurrences(of: "http://127.0.0.1:4000", with: proxyURL)
                .replacingOccurrences(of: "xai-...", with: "xai-docs-test-key")
            let isServer = text.hasPrefix("switchyard serve") || text.hasPrefix("switchyard mock")
            if isServer {
                text = text.replacingOccurrences(of: #"--port \d+"#, with: "", options: .regularExpression) + " --port 0"
                let server = try RunningCommand(["-c", "exec " + text], environment: shellEnvironment, executable: "/bin/bash")
                let ready = try? await server.line(
                    startingWith: text.hasPrefix("switchyard mock") ? "mock upstream listening on " : "listening on ")
                #expect(ready != nil, "\(command): \(server.stderr)")
                let result = await server.stop()
                #expect(result.status == 0, "\(command) exited \(result.status): \(result.stderr)")
            } else {
                let result = try await RunningCommand(["-c", text], environment: shellEnvironment, executable: "/bin/bash")
                    .finish(seconds: 300)
                #expect(result.status == 0, "\(command) exited \(result.status): \(result.output.suffix(2000))")
                #expect(!result.output.contains("xai-docs-test-key"), "\(command) printed the key")
            }
        }
        _ = await proxy.stop()
        _ = await mock.stop()
    }
}
