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

/// `switchyard models list --url`.
enum RemoteModels {
    static func list(url: String, key: String?, json: Bool) async throws {
        let client = HTTPClient.shared
        let target = ProxyClient.base(url) + "/v1/models"
        do {
            let response = try await client.execute(ProxyClient.request(target, key: ProxyClient.key(key)), timeout: .seconds(10))
            let bytes = Array(try await response.body.collect(upTo: 16 * 1024 * 1024).readableBytesView)
            guard response.status.code == 200 else {
                warn("switchyard: \(target) answered \(response.status.code): \(ProxyClient.errorMessage(bytes))")
                throw ExitCode(1)
            }
            guard case .object(let object)? = try? JSONParser.parse(bytes), case .array(let data)? = object["data"] else {
                warn("switchyard: \(target) did not answer with a model list")
                throw ExitCode(1)
            }
            let ids = data.compactMap { $0.objectValue?["id"]?.stringValue }
            if json {
                let rows: [JSONValue] = ids.map { id in JSONValue.object(["alias": .string(id), "status": "enabled"]) }
                say(JSONValue.array(rows).encodedString())
            } else {
                say(TextTable.render(header: ["ALIAS", "STATUS"], rows: ids.map { [$0, "enabled"] }))
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            warn("switchyard: \(ProxyClient.describe(error, url: url))")
            throw ExitCode(1)
        }
    }
}
