import Crypto
import Foundation
import SwitchyardCore

/// A virtual key as stored: never the key itself, only its SHA-256 hash (`token`) and a display name.
public struct VirtualKey: Sendable, Equatable {
    /// SHA-256 of the key, hex: the key's id everywhere (LiteLLM's `token`).
    public var token: String
    /// `sk-...` plus the key's last four characters, for people.
    public var keyName: String
    /// `key_alias`.
    public var keyAlias: String?
    /// Aliases the key may use; empty means every alias.
    public var models: [String]
    /// `max_budget` in USD.
    public var maxBudget: Double?
    /// `budget_duration` as written (`30d`).
    public var budgetDuration: String?
    /// When the spend next resets to zero (seconds since 1970).
    public var budgetResetAt: Double?
    /// Spend in USD since the last reset, as stored.
    public var spend: Double
    /// `rpm_limit`.
    public var rpmLimit: Int?
    /// `tpm_limit`.
    public var tpmLimit: Int?
    /// `max_parallel_requests`.
    public var maxParallelRequests: Int?
    /// Expiry (seconds since 1970).
    public var expires: Double?
    /// `metadata`, as JSON text.
    public var metadata: String
    /// Creation time (seconds since 1970).
    public var createdAt: Double
    /// Last change (seconds since 1970).
    public var updatedAt: Double

    /// Creates a key record.
    public init(
        token: String, keyName: String, keyAlias: String? = nil, models: [String] = [], maxBudget: Double? = nil,
        budgetDuration: String? = nil, budgetResetAt: Double? = nil, spend: Double = 0, rpmLimit: Int? = nil,
        tpmLimit: Int? = nil, maxParallelRequests: Int? = nil, expires: Double? = nil, metadata: String = "{}",
        createdAt: Double, updatedAt: Double
    ) {
        self.token = token
        self.keyName = keyName
        self.keyAlias = keyAlias
        self.models = models
        self.maxBudget = maxBudget
        self.budgetDuration = budgetDuration
        self.budgetResetAt = budgetResetAt
        self.spend = spend
        self.rpmLimit = rpmLimit
        self.tpmLimit = tpmLimit
        self.maxParallelRequests = maxParallelRequests
        self.expires = expires
        self.metadata = metadata
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// Making and hashing keys.
public enum KeyHashing {
    /// SHA-256 of `text`, lowercase hex.
    public static func sha256(_ text: String) -> String {
        var text = text
        return text.withUTF8 { sha256(buffer: UnsafeRawBufferPointer($0)) }
    }

    /// SHA-256 of bytes, lowercase hex. Inlinable so the copy of `bytes` (a request body, hashed on every
    /// request when bodies are logged) is specialized where it is called.
    @inlinable
    public static func sha256<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        sha256(array: Array(bytes))
    }

    /// SHA-256 of the bytes of an array, lowercase hex.
    public static func sha256(array bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { sha256(buffer: $0) }
    }

    /// SHA-256 of bytes in memory, lowercase hex (no copies: a key is hashed on every request).
    public static func sha256(buffer bytes: UnsafeRawBufferPointer) -> String {
        var hasher = SHA256()
        hasher.update(bufferPointer: bytes)
        return hasher.finalize().withUnsafeBytes { Hex.lowercase(buffer: $0) }
    }

    /// A new key: `sk-` and 32 random bytes in URL-safe base64 (no padding).
    public static func newKey() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let base64 = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return "sk-" + base64
    }

    /// What people see of a key: `sk-...` and its last four characters.
    public static func displayName(_ key: String) -> String { "sk-...\(key.suffix(4))" }

    /// Whether `text` looks like a key hash rather than a key.
    public static func isHash(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}

/// One request-log row.
/// A Responses API answer the proxy made by translation, kept for `previous_response_id` and
/// `GET`/`DELETE /v1/responses/{id}` (a native upstream keeps its own).
public struct StoredResponse: Sendable, Equatable {
    /// `resp_...`.
    public var id: String
    /// When it was made, seconds since 1970 (pruned with the request log's retention).
    public var createdAt: Double
    /// Who made it: a virtual key's hash, `master`, or nil on an open proxy; only they (or the master key) read it back.
    public var keyHash: String?
    /// The alias that answered.
    public var alias: String
    /// The conversation's input items as JSON (earlier turns included).
    public var input: String
    /// The response object as JSON (its `output` items are the answer's); empty for a native upstream's.
    public var response: String
    /// The deployment that made it: a follow-up to a native upstream's response goes back to it (and its key).
    public var deployment: String?
    /// Whether the upstream made and keeps it (the proxy keeps only where it went).
    public var native: Bool

    /// A stored response.
    public init(
        id: String, createdAt: Double, keyHash: String?, alias: String, input: String, response: String,
        deployment: String? = nil, native: Bool = false
    ) {
        self.id = id
        self.createdAt = createdAt
        self.keyHash = keyHash
        self.alias = alias
        self.input = input
        self.response = response
        self.deployment = deployment
        self.native = native
    }
}

public struct LogRow: Sendable, Equatable {
    public var requestID: String
    /// Seconds since 1970, when the request arrived.
    public var time: Double
    public var keyHash: String?
    public var keyAlias: String?
    public var alias: String?
    public var deployment: String?
    public var provider: String?
    public var status: Int
    public var errorCode: String?
    public var latencyMs: Double
    public var ttfbMs: Double?
    public var promptTokens: Int
    public var completionTokens: Int
    public var reasoningTokens: Int
    public var cachedTokens: Int
    /// Our cost in USD from `model_info` prices.
    public var cost: Double?
    /// The upstream's own cost in USD, when it reports one.
    public var upstreamCost: Double?
    /// Where `cost` came from: `upstream` (the provider's billed figure), `catalog` or `model_info` prices.
    public var costSource: String?
    /// SHA-256 of the request body, hex.
    public var requestSHA256: String?
    public var stream: Bool
    /// Whether the tokens (and so the cost) are the proxy's estimate: a stream that ended without the upstream's
    /// usage (cut short, or the client left).
    public var usageEstimated: Bool
    /// Prompt text, only with `store_prompts`.
    public var prompt: String?
    /// Completion text, only with `store_prompts`.
    public var completion: String?
    /// The feature endpoint the request named (run-time configuration).
    public var feature: String?
    /// The version of the feature's prompt it used.
    public var promptVersion: Int?

    /// Creates a row.
    public init(
        requestID: String, time: Double, keyHash: String? = nil, keyAlias: String? = nil, alias: String? = nil,
        deployment: String? = nil, provider: String? = nil, status: Int, errorCode: String? = nil, latencyMs: Double,
        ttfbMs: Double? = nil, promptTokens: Int = 0, completionTokens: Int = 0, reasoningTokens: Int = 0,
        cachedTokens: Int = 0, cost: Double? = nil, upstreamCost: Double? = nil, costSource: String? = nil,
        requestSHA256: String? = nil,
        stream: Bool = false, usageEstimated: Bool = false, prompt: String? = nil, completion: String? = nil,
        feature: String? = nil, promptVersion: Int? = nil
    ) {
        self.feature = feature
        self.promptVersion = promptVersion
        self.requestID = requestID
        self.time = time
        self.keyHash = keyHash
        self.keyAlias = keyAlias
        self.alias = alias
        self.deployment = deployment
        self.provider = provider
        self.status = status
        self.errorCode = errorCode
        self.latencyMs = latencyMs
        self.ttfbMs = ttfbMs
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.reasoningTokens = reasoningTokens
        self.cachedTokens = cachedTokens
        self.cost = cost
        self.upstreamCost = upstreamCost
        self.costSource = costSource
        self.requestSHA256 = requestSHA256
        self.stream = stream
        self.usageEstimated = usageEstimated
        self.prompt = prompt
        self.completion = completion
    }

    /// The UTC day of `time`, `YYYY-MM-DD`.
    public var day: String { Self.day(of: time) }

    /// The UTC day of a time, `YYYY-MM-DD`.
    public static func day(of time: Double) -> String {
        let days = Int((time / 86400).rounded(.down))
        // Civil-from-days (Howard Hinnant), exact for the proleptic Gregorian calendar.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func padded(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return padded(y, 4) + "-" + padded(m, 2) + "-" + padded(d, 2)
    }
}

/// Filters for `GET /spend/logs`.
public struct LogFilter: Sendable, Equatable {
    public var keyHash: String?
    public var alias: String?
    public var requestID: String?
    /// The key's alias as the row recorded it.
    public var keyAlias: String?
    /// The HTTP status answered.
    public var status: Int?
    /// Seconds since 1970, inclusive.
    public var start: Double?
    /// Seconds since 1970, exclusive.
    public var end: Double?
    public var limit: Int

    public init(
        keyHash: String? = nil, alias: String? = nil, requestID: String? = nil, start: Double? = nil, end: Double? = nil,
        limit: Int = 1000
    ) {
        self.keyHash = keyHash
        self.alias = alias
        self.requestID = requestID
        self.start = start
        self.end = end
        self.limit = limit
    }
}

/// How `GET /global/spend/report` groups.
public enum SpendGrouping: String, Sendable, CaseIterable {
    case apiKey = "api_key"
    case model
    case day
}

/// One line of a spend report.
public struct SpendLine: Sendable, Equatable {
    /// The key hash, alias or day.
    public var group: String
    public var spend: Double
    public var requests: Int
    public var promptTokens: Int
    public var completionTokens: Int

    public init(group: String, spend: Double, requests: Int, promptTokens: Int, completionTokens: Int) {
        self.group = group
        self.spend = spend
        self.requests = requests
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }
}

/// A key's spend reset, to be applied only if no other instance applied it first.
public struct BudgetReset: Sendable, Equatable {
    public var token: String
    public var previousResetAt: Double
    public var nextResetAt: Double

    public init(token: String, previousResetAt: Double, nextResetAt: Double) {
        self.token = token
        self.previousResetAt = previousResetAt
        self.nextResetAt = nextResetAt
    }
}

/// A thing with a fleet-wide limit: a key (`key`, by hash) or a deployment (`deployment`, by id).
public struct FleetKey: Sendable, Hashable {
    public var scope: String
    public var name: String

    public init(scope: String, name: String) {
        self.scope = scope
        self.name = name
    }

    /// A virtual key, by hash.
    public static func key(_ token: String) -> FleetKey { FleetKey(scope: "key", name: token) }
    /// A deployment, by id.
    public static func deployment(_ id: String) -> FleetKey { FleetKey(scope: "deployment", name: id) }
}

/// What the other instances published: how many are alive (this one included) and their summed counts.
public struct FleetView: Sendable, Equatable {
    public var instances = 1
    public var others: [FleetKey: FleetCounts] = [:]
    /// When the other instance that published longest ago did (nil: no other instance).
    public var oldestPublication: Double?

    public init(instances: Int = 1, others: [FleetKey: FleetCounts] = [:], oldestPublication: Double? = nil) {
        self.instances = instances
        self.others = others
        self.oldestPublication = oldestPublication
    }
}
