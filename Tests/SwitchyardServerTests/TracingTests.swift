import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Testing

@testable import SwitchyardCore
@testable import SwitchyardServer

/// A span as an OTLP/HTTP request carries it (the fields the tests read).
struct ReceivedSpan: Sendable {
    var traceID = ""
    var spanID = ""
    var parentSpanID = ""
    var name = ""
    var kind = 0
    var statusCode = 0
    var attributes: [String: String] = [:]
    var service = ""
}

/// Reads OTLP's protobuf messages by their field numbers (opentelemetry/proto/trace/v1): enough of the wire format
/// (varints, fixed 32 and 64, length-delimited fields) for what the tests check.
struct ProtobufReader {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: some Collection<UInt8>) { self.bytes = Array(bytes) }

    enum Field {
        case varint(UInt64)
        case fixed(UInt64)
        case bytes([UInt8])
    }

    mutating func varint() -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.count, shift < 64 {
            let byte = bytes[index]
            index += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        return nil
    }

    /// The next field's number and value; nil at the end or on malformed input.
    mutating func next() -> (Int, Field)? {
        guard index < bytes.count, let key = varint() else { return nil }
        switch key & 7 {
        case 0: return varint().map { (Int(key >> 3), .varint($0)) }
        case 1, 5:
            let width = key & 7 == 1 ? 8 : 4
            guard index + width <= bytes.count else { return nil }
            var value: UInt64 = 0
            for offset in 0..<width { value |= UInt64(bytes[index + offset]) << (8 * UInt64(offset)) }
            index += width
            return (Int(key >> 3), .fixed(value))
        case 2:
            guard let length = varint(), index + Int(length) <= bytes.count else { return nil }
            defer { index += Int(length) }
            return (Int(key >> 3), .bytes(Array(bytes[index..<(index + Int(length))])))
        default: return nil
        }
    }

    /// Every field of a message.
    static func fields(_ bytes: [UInt8]) -> [(Int, Field)] {
        var reader = ProtobufReader(bytes)
        var fields: [(Int, Field)] = []
        while let field = reader.next() { fields.append(field) }
        return fields
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// An `AnyValue` as text: a string as it is, an integer or boolean as its digits, an array as `a,b`.
    static func anyValue(_ bytes: [UInt8]) -> String {
        for (number, field) in fields(bytes) {
            switch (number, field) {
            case (1, .bytes(let text)): return String(decoding: text, as: UTF8.self)
            case (2, .varint(let flag)): return flag != 0 ? "true" : "false"
            case (3, .varint(let integer)): return String(Int64(bitPattern: integer))
            case (4, .fixed(let bits)): return String(Double(bitPattern: bits))
            case (5, .bytes(let array)):
                return fields(array).compactMap { number, field in
                    guard number == 1, case .bytes(let value) = field else { return nil }
                    return anyValue(value)
                }.joined(separator: ",")
            default: continue
            }
        }
        return ""
    }

    static func keyValue(_ bytes: [UInt8]) -> (String, String) {
        var key = ""
        var value = ""
        for (number, field) in fields(bytes) {
            if number == 1, case .bytes(let text) = field { key = String(decoding: text, as: UTF8.self) }
            if number == 2, case .bytes(let any) = field { value = anyValue(any) }
        }
        return (key, value)
    }

    /// The spans of an `ExportTraceServiceRequest`.
    static func spans(_ request: [UInt8]) -> [ReceivedSpan] {
        var spans: [ReceivedSpan] = []
        for case (1, .bytes(let resourceSpans)) in fields(request) {
            var service = ""
            for (number, field) in fields(resourceSpans) {
                guard case .bytes(let inner) = field else { continue }
                if number == 1 {
                    for case (1, .bytes(let attribute)) in fields(inner) {
                        let (key, value) = keyValue(attribute)
                        if key == "service.name" { service = value }
                    }
                }
                guard number == 2 else { continue }
                for case (2, .bytes(let spanBytes)) in fields(inner) {
                    var span = ReceivedSpan(service: service)
                    for (number, field) in fields(spanBytes) {
                        switch (number, field) {
                        case (1, .bytes(let id)): span.traceID = hex(id)
                        case (2, .bytes(let id)): span.spanID = hex(id)
                        case (4, .bytes(let id)): span.parentSpanID = hex(id)
                        case (5, .bytes(let text)): span.name = String(decoding: text, as: UTF8.self)
                        case (6, .varint(let kind)): span.kind = Int(kind)
                        case (9, .bytes(let attribute)):
                            let (key, value) = keyValue(attribute)
                            span.attributes[key] = value
                        case (15, .bytes(let status)):
                            for case (3, .varint(let code)) in fields(status) { span.statusCode = Int(code) }
                        default: break
                        }
                    }
                    spans.append(span)
                }
            }
        }
        return spans
    }
}

/// A real OTLP/HTTP receiver on 127.0.0.1: `POST /v1/traces` with a protobuf body, its spans kept.
final class OTLPReceiver: Sendable {
    let spans = Mutex<[ReceivedSpan]>([])
    let contentTypes = Mutex<[String]>([])

    var received: [ReceivedSpan] { spans.withLock { $0 } }

    func application(onRunning: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        let router = Router()
        router.post("/v1/traces") { [self] request, _ -> Response in
            let body = try await request.body.collect(upTo: 16 * 1024 * 1024)
            contentTypes.withLock { $0.append(request.headers[.contentType] ?? "") }
            let decoded = ProtobufReader.spans(Array(body.readableBytesView))
            spans.withLock { $0 += decoded }
            return Response(status: .ok, headers: [.contentType: "application/x-protobuf"], body: .init(byteBuffer: ByteBuffer()))
        }
        return Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: Logger(label: "otlp", factory: { _ in SwiftLogNoOpLogHandler() }))
    }
}

func withOTLPReceiver<T: Sendable>(_ body: (OTLPReceiver, Int) async throws -> T) async throws -> T {
    let receiver = OTLPReceiver()
    return try await withServices({ onRunning in [receiver.application(onRunning: onRunning)] }) { port in
        try await body(receiver, port)
    }
}

/// OpenTelemetry traces: a span per request continuing the client's trace, a child per upstream attempt, the GenAI
/// attributes, exported over OTLP/HTTP to a receiver the test runs.
@Suite struct TracingTests {
    static let clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let clientParent = "00f067aa0ba902b7"

    static func config(mock: MockHandle, collector: Int, extra: String = "") -> String {
        """
        model_list:
          - model_name: m
            litellm_params: {model: xai/grok-code-fast-1, api_base: "\(mock.baseURL)", api_key: \(testKey)}
        \(extra)
        general_settings:
          database_url: none
          otel_exporter_endpoint: http://127.0.0.1:\(collector)
          otel_service_name: switchyard-test
        """
    }

    @Test func aRequestIsASpanContinuingTheClientsTraceWithAnAttemptChild() async throws {
        try await withOTLPReceiver { receiver, collector in
            try await withMockUpstream { mock in
                try await withProxy(yaml: Self.config(mock: mock, collector: collector)) { proxy in
                    let traceparent = "00-\(Self.clientTrace)-\(Self.clientParent)-01"
                    let answer = try await send(
                        .POST, proxy.url + "/v1/chat/completions", json: chat("m", "hello"),
                        headers: [("traceparent", traceparent)])
                    #expect(answer.status == 200)
                    #expect(
                        try await eventually {
                            receiver.received.filter { $0.traceID == Self.clientTrace }.count >= 2
                        })
                    let spans = receiver.received.filter { $0.traceID == Self.clientTrace }
                    let server = try #require(spans.first { $0.kind == 2 })  // SPAN_KIND_SERVER
                    let client = try #require(spans.first { $0.kind == 3 })  // SPAN_KIND_CLIENT
                    #expect(server.name == "chat m")
                    #expect(server.parentSpanID == Self.clientParent)
                    #expect(server.service == "switchyard-test")
                    #expect(server.attributes["gen_ai.operation.name"] == "chat")
                    #expect(server.attributes["gen_ai.request.model"] == "m")
                    #expect(Int(server.attributes["gen_ai.usage.input_tokens"] ?? "") ?? 0 > 0)
                    #expect(Int(server.attributes["gen_ai.usage.output_tokens"] ?? "") ?? 0 > 0)
                    // xAI (and the mock) answer a retired name with the model that serves it now.
                    #expect(server.attributes["gen_ai.response.model"] == "grok-4.3")
                    #expect(server.attributes["gen_ai.response.finish_reasons"] == "stop")
                    #expect(server.attributes["http.response.status_code"] == "200")
                    #expect(client.name == "chat grok-code-fast-1")
                    #expect(client.parentSpanID == server.spanID)
                    #expect(client.attributes["gen_ai.system"] == "xai")
                    #expect(client.attributes["gen_ai.request.model"] == "grok-code-fast-1")
                    #expect(client.attributes["server.address"] == "127.0.0.1")
                    // The upstream was sent the attempt's span as its parent.
                    let sent = try #require(mock.recorder.requests.last?.headers["traceparent"])
                    #expect(sent == "00-\(Self.clientTrace)-\(client.spanID)-01")
                    #expect(receiver.contentTypes.withLock { $0 }.allSatisfy { $0 == "application/x-protobuf" })
                    // No secret in any attribute.
                    #expect(!spans.contains { $0.attributes.values.contains { $0.contains(testKey) } })
                }
            }
        }
    }

    @Test func aStreamAndAFailedAttemptAreTracedToo() async throws {
        try await withOTLPReceiver { receiver, collector in
            try await withMockUpstream { mock in
                try await withProxy(yaml: Self.config(mock: mock, collector: collector)) { proxy in
                    // A stream: its span ends when the stream has been relayed whole, with its usage.
                    let streamed = try await send(
                        .POST, proxy.url + "/v1/chat/completions", json: chat("m", "hello", stream: true))
                    #expect(streamed.status == 200)
                    // An upstream 500: the attempt and the request end in error.
                    let failed = try await send(.POST, proxy.url + "/v1/chat/completions", json: chat("m", "FAULT:500"))
                    #expect(failed.status == 500 || failed.status == 502)
                    #expect(try await eventually { receiver.received.filter { $0.kind == 2 }.count >= 2 })
                    let servers = receiver.received.filter { $0.kind == 2 }
                    let stream = try #require(servers.first { $0.statusCode != 2 })
                    #expect(Int(stream.attributes["gen_ai.usage.output_tokens"] ?? "") ?? 0 > 0)
                    #expect(stream.attributes["gen_ai.response.finish_reasons"] == "stop")
                    #expect(stream.attributes["gen_ai.response.model"] == "grok-4.3")
                    let error = try #require(servers.first { $0.statusCode == 2 })  // STATUS_CODE_ERROR
                    #expect(error.attributes["error.type"] != nil)
                    #expect(
                        try await eventually {
                            receiver.received.contains { $0.kind == 3 && $0.traceID == error.traceID && $0.statusCode == 2 }
                        })
                    // Without a client traceparent, each request starts a trace of its own.
                    #expect(Set(servers.map(\.traceID)).count == servers.count)
                }
            }
        }
    }

    @Test func tracesAreOffUnlessAnEndpointIsSet() async throws {
        try await withMockUpstream { mock in
            let yaml = """
                model_list:
                  - model_name: m
                    litellm_params: {model: xai/grok-code-fast-1, api_base: "\(mock.baseURL)", api_key: \(testKey)}
                """
            try await withProxy(yaml: yaml) { proxy in
                // The client's traceparent is continued as before, with no span of the proxy's.
                let answer = try await send(
                    .POST, proxy.url + "/v1/chat/completions", json: chat("m", "hello"),
                    headers: [("traceparent", "00-\(Self.clientTrace)-\(Self.clientParent)-01")])
                #expect(answer.status == 200)
                let sent = try #require(mock.recorder.requests.last?.headers["traceparent"])
                #expect(sent.hasPrefix("00-\(Self.clientTrace)-"))
                #expect(!sent.contains(Self.clientParent))
            }
        }
        let bad = ConfigLoader.parse(
            "model_list: []\ngeneral_settings:\n  otel_exporter_endpoint: ftp://x\n", path: "t.yaml")
        #expect(bad.diagnostics.contains { $0.severity == .error && $0.message.contains("otel_exporter_endpoint") })
    }
}
