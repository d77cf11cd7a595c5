import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardCore

/// `switchyard chat ALIAS PROMPT`.
struct Chat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send one chat request to a running proxy and print the reply, usage and latency.",
        discussion: "Exit codes: 0 on a reply; 1 when the proxy is unreachable or answers an error; 2 usage error.")

    @Argument(help: "Model alias, e.g. grok-4.3.")
    var alias: String

    @Argument(help: "The prompt.")
    var prompt: String

    @Flag(name: .long, help: "Stream the reply as it is generated.")
    var stream = false

    @Option(name: .long, help: "Proxy URL (default: $SWITCHYARD_URL, else http://127.0.0.1:4000).")
    var url: String?

    @Option(name: .long, help: "Key to present (default: $SWITCHYARD_API_KEY, else $SWITCHYARD_MASTER_KEY).")
    var key: String?

    @Option(name: .long, help: "Give up after this many seconds.")
    var timeout = 120

    func run() async throws {
        let base = ProxyClient.base(
            url ?? ProcessInfo.processInfo.environment["SWITCHYARD_URL"].flatMap { $0.isEmpty ? nil : $0 }
                ?? "http://127.0.0.1:4000")
        var body: JSONObject = [
            "model": .string(alias), "messages": .array([.object(["role": "user", "content": .string(prompt)])]),
        ]
        if stream {
            body["stream"] = true
            body["stream_options"] = .object(["include_usage": true])
        }
        let request = ProxyClient.request(
            base + "/v1/chat/completions", key: ProxyClient.key(key), method: .POST, body: .object(body))
        let started = ContinuousClock.now
        do {
            try await ProxyClient.withClient { client in
                try await exchange(client, request: request, base: base, started: started)
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            warn("switchyard: \(ProxyClient.describe(error, url: base))")
            throw ExitCode(1)
        }
    }

    func exchange(_ client: HTTPClient, request: HTTPClientRequest, base: String, started: ContinuousClock.Instant) async throws {
        do {
            let response = try await client.execute(request, timeout: .seconds(Int64(timeout)))
            guard response.status.code == 200 else {
                let bytes = Array(try await response.body.collect(upTo: 1024 * 1024).readableBytesView)
                warn("switchyard: the proxy answered \(response.status.code): \(ProxyClient.errorMessage(bytes))")
                throw ExitCode(1)
            }
            if stream {
                try await printStream(response, started: started, base: base, client: client)
            } else {
                let bytes = Array(try await response.body.collect(upTo: 64 * 1024 * 1024).readableBytesView)
                let total = ContinuousClock.now - started
                guard case .object(let object)? = try? JSONParser.parse(bytes) else {
                    warn("switchyard: the proxy's answer is not JSON")
                    throw ExitCode(1)
                }
                let message = object["choices"]?.arrayValue?.first?.objectValue?["message"]?.objectValue
                if let reasoning = message?["reasoning_content"]?.stringValue { say("[reasoning] \(reasoning)") }
                say(message?["content"]?.stringValue ?? "")
                let pricing = await Self.pricing(client, base: base, alias: alias, key: ProxyClient.key(key))
                summarize(
                    usage: object["usage"], model: object["model"]?.stringValue, firstToken: nil, total: total, pricing: pricing)
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            warn("switchyard: \(ProxyClient.describe(error, url: base))")
            throw ExitCode(1)
        }
    }

    func printStream(_ response: HTTPClientResponse, started: ContinuousClock.Instant, base: String, client: HTTPClient)
        async throws
    {
        var splitter = SSEEventSplitter()
        var firstToken: Duration?
        var usage: JSONValue?
        var model: String?
        var sawDone = false
        let output = FileHandle.standardOutput
        for try await chunk in response.body {
            for event in try splitter.append(chunk.readableBytesView) {
                let parsed = SSEEvent(bytes: event)
                guard let data = parsed.data else { continue }
                if parsed.isDone {
                    sawDone = true
                    continue
                }
                guard case .object(let object)? = try? JSONParser.parse(data) else { continue }
                if let error = object["error"]?.objectValue {
                    output.write(Data("\n".utf8))
                    warn("switchyard: stream error: \(error["message"]?.stringValue ?? "unknown")")
                    throw ExitCode(1)
                }
                if case .object = object["usage"] { usage = object["usage"] }
                model = model ?? object["model"]?.stringValue
                let delta = object["choices"]?.arrayValue?.first?.objectValue?["delta"]?.objectValue
                if let text = delta?["content"]?.stringValue, !text.isEmpty {
                    if firstToken == nil { firstToken = ContinuousClock.now - started }
                    output.write(Data(text.utf8))
                }
            }
        }
        output.write(Data("\n".utf8))
        if !sawDone { warn("switchyard: the stream ended without [DONE]") }
        let total = ContinuousClock.now - started
        let pricing = await Self.pricing(client, base: base, alias: alias, key: ProxyClient.key(key))
        summarize(usage: usage, model: model, firstToken: firstToken, total: total, pricing: pricing)
    }

    /// Prices of the alias's first deployment from the proxy's `/model/info`, if it has any.
    static func pricing(_ client: HTTPClient, base: String, alias: String, key: String?) async -> (
        prices: ModelPrices, includesReasoning: Bool
    )? {
        let encoded = alias.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? alias
        guard
            let response = try? await client.execute(
                ProxyClient.request(base + "/model/info?model=" + encoded, key: key), timeout: .seconds(10)),
            response.status.code == 200,
            let body = try? await response.body.collect(upTo: 4 * 1024 * 1024),
            case .object(let object)? = try? JSONParser.parse(body.readableBytesView),
            let info = object["data"]?.arrayValue?.first?.objectValue?["model_info"]?.objectValue
        else { return nil }
        let prices = ModelPrices(
            inputPerToken: info["input_cost_per_token"]?.doubleValue,
            cachedInputPerToken: info["cache_read_input_token_cost"]?.doubleValue,
            outputPerToken: info["output_cost_per_token"]?.doubleValue)
        return (prices, info["completion_tokens_include_reasoning"]?.boolValue ?? false)
    }

    func summarize(
        usage: JSONValue?, model: String?, firstToken: Duration?, total: Duration,
        pricing: (prices: ModelPrices, includesReasoning: Bool)?
    ) {
        func ms(_ duration: Duration) -> String {
            String(format: "%.1f ms", duration.inMilliseconds)
        }
        var parts: [String] = []
        if let model { parts.append("model \(model)") }
        if let usage = Usage(json: usage, completionIncludesReasoning: pricing?.includesReasoning ?? false) {
            parts.append(
                "tokens: prompt \(usage.promptTokens), completion \(usage.completionTokens), "
                    + "reasoning \(usage.reasoningTokens), cached \(usage.cachedTokens)")
            if let billed = usage.upstreamCostUSD {
                parts.append(String(format: "cost $%.8f (billed by the upstream)", billed))
            } else if let pricing, let cost = usage.cost(with: pricing.prices) {
                parts.append(String(format: "cost $%.8f (from prices)", cost))
            } else {
                parts.append("cost unknown (no prices in the catalog or model_info)")
            }
        }
        if let firstToken { parts.append("first token \(ms(firstToken))") }
        parts.append("total \(ms(total))")
        say("-- " + parts.joined(separator: "; "))
    }
}
