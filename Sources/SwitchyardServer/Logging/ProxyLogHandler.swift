import Foundation
import Logging
import SwitchyardCore
import Synchronization

/// How log lines are written.
public enum LogFormat: String, Sendable, CaseIterable {
    /// `2026-11-25T10:00:00Z info switchyard: message key=value`.
    case text
    /// One JSON object per line.
    case json
}

/// Where log lines go: standard error, or a capture for tests.
public final class LogSink: Sendable {
    private let capturing: Bool
    private let captured = Mutex<[String]>([])

    /// Lines go to standard error.
    public static let standardError = LogSink(capturing: false)

    /// Creates a sink; a capturing sink keeps lines in memory instead of writing them.
    public init(capturing: Bool) {
        self.capturing = capturing
    }

    /// Writes one line.
    public func write(_ line: String) {
        if capturing {
            captured.withLock { $0.append(line) }
        } else {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    /// The lines captured so far.
    public var lines: [String] { captured.withLock { $0 } }
}

/// A swift-log handler that writes one redacted line per event, as text or JSON.
public struct ProxyLogHandler: LogHandler {
    /// Handler metadata.
    public var metadata: Logger.Metadata = [:]
    /// Minimum level.
    public var logLevel: Logger.Level
    private let label: String
    private let format: LogFormat
    private let redactors: RedactorStore
    private let sink: LogSink

    /// Creates a handler.
    public init(label: String, level: Logger.Level, format: LogFormat, redactors: RedactorStore, sink: LogSink) {
        self.label = label
        self.logLevel = level
        self.format = format
        self.redactors = redactors
        self.sink = sink
    }

    /// Handler metadata by key.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one event.
    public func log(event: LogEvent) {
        let redactor = redactors.redactor
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let timestamp = Self.timestamp()
        let message = redactor.redact(event.message.description)
        switch format {
        case .text:
            var line = "\(timestamp) \(event.level) \(label): \(message)"
            for key in merged.keys.sorted() {
                guard let value = merged[key] else { continue }
                let text = redactor.redact(Self.flatten(value))
                line += text.contains(" ") ? " \(key)=\"\(text)\"" : " \(key)=\(text)"
            }
            sink.write(line)
        case .json:
            var object: JSONObject = [
                "ts": .string(timestamp), "level": .string(event.level.rawValue), "logger": .string(label),
                "msg": .string(message),
            ]
            for key in merged.keys.sorted() {
                guard let value = merged[key] else { continue }
                object[key] = Self.json(value, redactor: redactor)
            }
            sink.write(JSONValue.object(object).encodedString())
        }
    }

    /// `2026-11-25T19:24:24.553Z` from the C library: Foundation's formatter cost more than the rest of the line.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var parts = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &parts)
        let milliseconds = Int(now.tv_nsec / 1_000_000)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let fraction = milliseconds < 10 ? "00\(milliseconds)" : (milliseconds < 100 ? "0\(milliseconds)" : "\(milliseconds)")
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):"
            + "\(two(parts.tm_min)):\(two(parts.tm_sec)).\(fraction)Z"
    }

    static func flatten(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): "[" + values.map(flatten).joined(separator: ",") + "]"
        case .dictionary(let values):
            "{" + values.keys.sorted().compactMap { key in values[key].map { "\(key)=\(flatten($0))" } }.joined(separator: ",")
                + "}"
        }
    }

    static func json(_ value: Logger.MetadataValue, redactor: Redactor) -> JSONValue {
        switch value {
        case .string(let text): return .string(redactor.redact(text))
        case .stringConvertible(let convertible):
            let text = convertible.description
            if convertible is any BinaryInteger || convertible is Double, Double(text) != nil { return .number(text) }
            return .string(redactor.redact(text))
        case .array(let values): return .array(values.map { json($0, redactor: redactor) })
        case .dictionary(let values):
            return .object(
                JSONObject(values.keys.sorted().compactMap { key in values[key].map { (key, json($0, redactor: redactor)) } }))
        }
    }
}
