import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import SwitchyardCore
import SwitchyardServer

/// Runs services until `body` returns, handing it the port the HTTP service bound.
func withServices<T: Sendable>(
    _ make: (@escaping @Sendable (Int) async -> Void) throws -> [any Service],
    _ body: (Int) async throws -> T
) async throws -> T {
    try await withServiceGroup(make) { port, _ in try await body(port) }
}

/// Runs services until `body` returns, handing it the bound port and the group (to trigger shutdown early).
func withServiceGroup<T: Sendable>(
    _ make: (@escaping @Sendable (Int) async -> Void) throws -> [any Service],
    _ body: (Int, ServiceGroup) async throws -> T
) async throws -> T {
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let services = try make { port in continuation.yield(port) }
    let group = ServiceGroup(
        configuration: .init(
            services: services.map { .init(service: $0) }, gracefulShutdownSignals: [],
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw HarnessError.didNotStart }
        do {
            let result = try await body(port, group)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}

enum HarnessError: Error {
    case didNotStart
}

/// A running mock upstream.
struct MockHandle: Sendable {
    let port: Int
    let recorder: MockRecorder
    /// Requests whose prompt says `FAULT:hold` wait until this opens.
    let held: HoldGate
    var baseURL: String { "http://127.0.0.1:\(port)/v1" }
}

/// Runs the mock upstream on 127.0.0.1, port 0.
func withMockUpstream<T: Sendable>(
    _ options: MockUpstreamOptions = MockUpstreamOptions(), _ body: (MockHandle) async throws -> T
) async throws -> T {
    let mock = MockUpstream(options: options)
    let logger = Logger(label: "mock", factory: { _ in SwiftLogNoOpLogHandler() })
    return try await withServices({ onRunning in [try mock.application(logger: logger, onRunning: onRunning)] }) { port in
        try await body(MockHandle(port: port, recorder: mock.recorder, held: mock.held))
    }
}

/// A running proxy and what it logged.
struct ProxyHandle: Sendable {
    let port: Int
    let logs: LogSink
    let table: ModelTable
    var url: String { "http://127.0.0.1:\(port)" }
}

/// Runs the real proxy on 127.0.0.1, port 0, with `yaml` resolved against `environment` (not the process's).
func withProxy<T: Sendable>(
    yaml: String, environment: [String: String] = [:], logLevel: Logger.Level = .debug,
    _ body: (ProxyHandle) async throws -> T
) async throws -> T {
    let result = ConfigLoader.parse(yaml, path: "test.yaml")
    guard let config = result.config else { throw ConfigError(diagnostics: result.diagnostics) }
    let table = ModelTable(config: config, environment: EnvironmentSnapshot(storageOffUnlessAsked(environment)))
    let sink = LogSink(capturing: true)
    let redactors = RedactorStore()
    let logger = Logger(label: "switchyard") { label in
        ProxyLogHandler(label: label, level: logLevel, format: .json, redactors: redactors, sink: sink)
    }
    let server = ProxyServer(table: table, logger: logger, redactors: redactors)
    // As `serve` does: the database's run-time models serve from the first request.
    await server.runtime.load()
    return try await withServices({ onRunning in server.services(host: "127.0.0.1", port: 0, onRunning: onRunning) }) { port in
        try await body(ProxyHandle(port: port, logs: sink, table: table))
    }
}

/// Runs the real proxy on the config file at `path`, reloadable through the returned server's `reload`.
func withReloadableProxy<T: Sendable>(
    path: String, environment: [String: String] = [:], logLevel: Logger.Level = .info,
    _ body: (ProxyHandle, ProxyServer) async throws -> T
) async throws -> T {
    let load: @Sendable () -> Result<ModelTable, ConfigReloadError> = {
        let result = ConfigLoader.load(path: path)
        guard let config = result.config, !result.hasErrors else {
            return .failure(ConfigReloadError(problems: result.diagnostics.map(\.description)))
        }
        return .success(ModelTable(config: config, environment: EnvironmentSnapshot(storageOffUnlessAsked(environment))))
    }
    let table = try load().get()
    let sink = LogSink(capturing: true)
    let redactors = RedactorStore()
    let logger = Logger(label: "switchyard") { label in
        ProxyLogHandler(label: label, level: logLevel, format: .json, redactors: redactors, sink: sink)
    }
    let server = ProxyServer(
        table: table, logger: logger, redactors: redactors, source: ConfigSource(path: path, load: load))
    await server.runtime.load()
    return try await withServices({ onRunning in server.services(host: "127.0.0.1", port: 0, onRunning: onRunning) }) { port in
        try await body(ProxyHandle(port: port, logs: sink, table: table), server)
    }
}

/// Tests run without storage unless their config or environment names a database.
func storageOffUnlessAsked(_ environment: [String: String]) -> [String: String] {
    var environment = environment
    if environment["SWITCHYARD_DATABASE_URL"] == nil && environment["DATABASE_URL"] == nil {
        environment["SWITCHYARD_DATABASE_URL"] = "none"
    }
    return environment
}

struct ConfigError: Error, CustomStringConvertible {
    let diagnostics: [ConfigDiagnostic]
    var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// A finished HTTP exchange.
struct HTTPResult: Sendable {
    let status: Int
    let headers: HTTPHeaders
    let body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }
    var json: JSONObject? { (try? JSONParser.parse(body))?.objectValue }
    var error: JSONObject? { json?["error"]?.objectValue }
    var errorCode: String? { error?["code"]?.stringValue }
    var errorMessage: String { error?["message"]?.stringValue ?? "" }

    /// The SSE events' data payloads (comments dropped).
    var events: [SSEEvent] {
        var splitter = SSEEventSplitter()
        let whole = (try? splitter.append(body)) ?? []
        return whole.map(SSEEvent.init(bytes:))
    }

    /// The JSON objects of the data events, `[DONE]` excluded.
    var chunks: [JSONObject] {
        events.compactMap { event in
            guard let data = event.data, !event.isDone else { return nil }
            return (try? JSONParser.parse(data))?.objectValue
        }
    }
}

/// Sends a request and reads the whole answer.
func send(
    _ method: HTTPMethod = .POST, _ url: String, json: JSONValue? = nil, raw: String? = nil,
    headers: [(String, String)] = [], timeout: TimeAmount = .seconds(30), client: HTTPClient = .shared
) async throws -> HTTPResult {
    var request = HTTPClientRequest(url: url)
    request.method = method
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let json {
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: json.encodedBytes()))
    } else if let raw {
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: raw))
    }
    let response = try await client.execute(request, timeout: timeout)
    let body = try await response.body.collect(upTo: 64 * 1024 * 1024)
    return HTTPResult(status: Int(response.status.code), headers: response.headers, body: Array(body.readableBytesView))
}

/// Sends a streaming request and returns once the first bytes of the answer arrived (the stream is relaying);
/// the task collects the rest.
func streamStarted(_ url: String, json: JSONValue) async throws -> Task<HTTPResult, any Error> {
    let (started, signal) = AsyncStream.makeStream(of: Void.self)
    let task = Task {
        defer { signal.finish() }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: json.encodedBytes()))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        var bytes: [UInt8] = []
        for try await chunk in response.body {
            bytes.append(contentsOf: chunk.readableBytesView)
            signal.yield()
        }
        return HTTPResult(status: Int(response.status.code), headers: response.headers, body: bytes)
    }
    var iterator = started.makeAsyncIterator()
    _ = await iterator.next()
    return task
}

/// Each deployment of `alias` in `GET /health`, by id.
func healthDeployments(_ proxyURL: String, alias: String) async throws -> [String: JSONObject] {
    let health = try await send(.GET, proxyURL + "/health").json
    let list = health?["models"]?.objectValue?[alias]?.objectValue?["deployments"]?.arrayValue ?? []
    var byID: [String: JSONObject] = [:]
    for item in list {
        if let object = item.objectValue, let id = object["id"]?.stringValue { byID[id] = object }
    }
    return byID
}

/// A chat request body.
func chat(_ model: String, _ prompt: String, stream: Bool = false, extra: JSONObject = [:]) -> JSONValue {
    var body: JSONObject = [
        "model": .string(model), "messages": .array([.object(["role": "user", "content": .string(prompt)])]),
    ]
    if stream { body["stream"] = true }
    for (key, value) in extra { body[key] = value }
    return .object(body)
}

/// A config with xai models pointed at `mock`.
func xaiConfig(mock: MockHandle, extraModels: String = "", settings: String = "litellm_settings:\n  drop_params: true\n")
    -> String
{
    """
    model_list:
      - model_name: grok-code-fast-1
        litellm_params:
          model: xai/grok-code-fast-1
          api_base: \(mock.baseURL)
        model_info:
          input_cost_per_token: 0.0000002
          output_cost_per_token: 0.0000015
      - model_name: grok-4
        litellm_params:
          model: xai/grok-4
          api_base: \(mock.baseURL)
      - model_name: grok-3-mini
        litellm_params:
          model: xai/grok-3-mini
          api_base: \(mock.baseURL)
      - model_name: mock-echo
        litellm_params:
          model: mock/echo
    \(extraModels)
    \(settings)
    """
}

/// The fake key tests use; never a real one.
let testKey = "xai-test-key-0123456789abcdef"
