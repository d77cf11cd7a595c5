import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchyardCore

/// Talks to a running proxy over HTTP.
enum ProxyClient {
    /// The key to present: the flag, else $SWITCHYARD_API_KEY, else $SWITCHYARD_MASTER_KEY.
    static func key(_ flag: String?) -> String? {
        let environment = ProcessInfo.processInfo.environment
        return [flag, environment["SWITCHYARD_API_KEY"], environment["SWITCHYARD_MASTER_KEY"]]
            .compactMap { $0 }.first { !$0.isEmpty }
    }

    /// Runs `body` with an HTTP client that reports a refused connection at once, then shuts it down.
    static func withClient<T>(_ body: (HTTPClient) async throws -> T) async throws -> T {
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(5)))
        configuration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let result = try await body(client)
            try? await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// `base` without a trailing slash.
    static func base(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }

    /// A request with auth and JSON headers.
    static func request(_ url: String, key: String?, method: HTTPMethod = .GET, body: JSONValue? = nil) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let key { request.headers.add(name: "authorization", value: "Bearer \(key)") }
        if let body {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body.encodedBytes()))
        }
        return request
    }

    /// A clear message for a transport failure.
    static func describe(_ error: any Error, url: String) -> String {
        if error is HTTPClientError || "\(error)".contains("connect") || "\(error)".contains("refused") {
            return "cannot reach the proxy at \(url): is 'switchyard serve' running there? (\(type(of: error)))"
        }
        return "request to \(url) failed: \(error)"
    }

    /// The `error.message` of an OpenAI envelope, else the body text.
    static func errorMessage(_ bytes: [UInt8]) -> String {
        if case .object(let object)? = try? JSONParser.parse(bytes),
            let message = object["error"]?.objectValue?["message"]?.stringValue
        {
            return message
        }
        return String(decoding: bytes.prefix(2000), as: UTF8.self)
    }
}

/// `switchyard models list --url`: the running proxy's enabled deployments, from `/model/info`.
enum RemoteModels {
    static func list(url: String, key: String?, json: Bool) async throws {
        let target = ProxyClient.base(url) + "/model/info"
        do {
            let response = try await ProxyClient.withClient { client in
                try await client.execute(ProxyClient.request(target, key: ProxyClient.key(key)), timeout: .seconds(10))
            }
            let bytes = Array(try await response.body.collect(upTo: 16 * 1024 * 1024).readableBytesView)
            guard response.status.code == 200 else {
                warn("switchyard: \(target) answered \(response.status.code): \(ProxyClient.errorMessage(bytes))")
                throw ExitCode(1)
            }
            guard case .object(let object)? = try? JSONParser.parse(bytes), case .array(let data)? = object["data"] else {
                warn("switchyard: \(target) did not answer with a model list")
                throw ExitCode(1)
            }
            let rows: [[String]] = data.compactMap { item in
                guard let entry = item.objectValue, let alias = entry["model_name"]?.stringValue else { return nil }
                let info = entry["model_info"]?.objectValue
                let model = entry["litellm_params"]?.objectValue?["model"]?.stringValue ?? "-"
                func perMillion(_ key: String) -> String {
                    info?[key]?.doubleValue.map { String(format: "%.4g", $0 * 1_000_000) } ?? "-"
                }
                return [
                    alias, info?["id"]?.stringValue ?? "-", model, "enabled", perMillion("input_cost_per_token"),
                    perMillion("output_cost_per_token"),
                ]
            }
            if json {
                let objects: [JSONValue] = rows.map { row in
                    .object([
                        "alias": .string(row[0]), "id": .string(row[1]), "model": .string(row[2]), "status": .string(row[3]),
                    ])
                }
                say(JSONValue.array(objects).encodedString())
            } else {
                say(TextTable.render(header: ["ALIAS", "ID", "MODEL", "STATUS", "IN $/1M", "OUT $/1M"], rows: rows))
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            warn("switchyard: \(ProxyClient.describe(error, url: url))")
            throw ExitCode(1)
        }
    }
}
