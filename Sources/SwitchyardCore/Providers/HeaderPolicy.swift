/// Rules for which headers may reach an upstream, and which hold secrets.
public enum HeaderPolicy {
    /// Headers that describe one connection and never travel to the next hop (RFC 9110 section 7.6.1), plus
    /// those the upstream client sets itself.
    public static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "host", "content-length",
    ]

    /// Whether a header's value must never be logged.
    public static func isSensitive(_ name: String) -> Bool {
        let lowered = name.lowercased()
        if ["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key"].contains(lowered) {
            return true
        }
        return lowered.contains("key") || lowered.contains("token") || lowered.contains("secret")
    }

    /// Why a configured header cannot be sent, or nil.
    public static func problem(name: String, value: String) -> String? {
        if hopByHop.contains(name.lowercased()) { return "is a hop-by-hop header the proxy manages itself" }
        let validName =
            !name.isEmpty
            && name.utf8.allSatisfy { byte in
                byte > 0x20 && byte < 0x7F && !"()<>@,;:\\\"/[]?={}".utf8.contains(byte)
            }
        if !validName { return "is not a valid header name" }
        if value.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D || $0 == 0 }) { return "has a line break in its value" }
        return nil
    }
}

/// The headers of one upstream request: built once, never mutated, never shared.
public struct UpstreamHeaderSet: Sendable, Equatable {
    /// Header fields in sending order, names lower-case.
    public let fields: [Field]

    /// One header field.
    public struct Field: Sendable, Equatable {
        /// Lower-case name.
        public let name: String
        /// Value.
        public let value: String
    }

    /// The value of a header, if present.
    public subscript(name: String) -> String? {
        let lowered = name.lowercased()
        return fields.last { $0.name == lowered }?.value
    }

    /// Builds the set: profile defaults, then the model's `extra_headers`, then allow-listed client headers,
    /// then the deployment's own auth. Later layers replace earlier ones; hop-by-hop headers never pass.
    public init(
        deployment: Deployment,
        clientHeaders: [(name: String, value: String)],
        streaming: Bool
    ) {
        var ordered: [String] = []
        var values: [String: String] = [:]
        values.reserveCapacity(8)
        func set(_ name: String, _ value: String) {
            let lowered = Self.lowercased(name)
            guard !HeaderPolicy.hopByHop.contains(lowered) else { return }
            if values[lowered] == nil { ordered.append(lowered) }
            values[lowered] = value
        }
        set("content-type", "application/json")
        set("accept", streaming ? "text/event-stream" : "application/json")
        set("user-agent", Self.userAgent)
        for header in deployment.provider?.defaultHeaders ?? [] { set(header.name, header.value) }
        for header in deployment.extraHeaders { set(header.name, header.value) }
        let allowed = deployment.provider?.forwardedClientHeaders ?? []
        for header in clientHeaders where allowed.contains(Self.lowercased(header.name)) {
            if HeaderPolicy.problem(name: header.name, value: header.value) == nil { set(header.name, header.value) }
        }
        if let key = deployment.apiKey?.value.revealed { set("authorization", "Bearer \(key)") }
        self.fields = ordered.compactMap { name in values[name].map { Field(name: name, value: $0) } }
    }

    static let userAgent = "switchyard/\(SwitchyardVersion.current)"

    /// A header name in lower case; the name itself when it already is (most are: HTTP/2 and the config's).
    static func lowercased(_ name: String) -> String {
        name.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) ? name.lowercased() : name
    }
}

/// The running version.
public enum SwitchyardVersion {
    /// Semantic version of this build.
    public static let current = "0.1.0"
}
