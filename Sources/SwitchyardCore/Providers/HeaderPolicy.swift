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
        if hopByHop.contains(UpstreamHeaderSet.lowercased(name)) { return "is a hop-by-hop header the proxy manages itself" }
        if !isValidName(name) { return "is not a valid header name" }
        if value.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D || $0 == 0 }) { return "has a line break in its value" }
        return nil
    }

    /// Whether `name` is an HTTP token: visible ASCII but the separators `()<>@,;:\"/[]?={}`.
    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { $0 < 128 && tokenBytes[Int($0)] }
    }

    /// Which ASCII bytes may appear in a header name, by value.
    private static let tokenBytes: [Bool] = (0..<128).map { byte in
        byte > 0x20 && byte < 0x7F && !"()<>@,;:\\\"/[]?={}".utf8.contains(UInt8(byte))
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
    /// then the deployment's own auth. Later layers replace earlier ones (a replaced header keeps its place);
    /// hop-by-hop headers never pass. The layers that come from the config are merged once per deployment
    /// (`Deployment.headerTemplate`); a request adds only its own client headers and the auth.
    public init(
        deployment: Deployment,
        clientHeaders: [(name: String, value: String)],
        streaming: Bool
    ) {
        let template = deployment.headerTemplate
        var fields = streaming ? template.streaming : template.plain
        fields.reserveCapacity(fields.count + clientHeaders.count + 1)
        var replacedAuthorization = false
        for header in clientHeaders {
            let name = Self.lowercased(header.name)
            guard template.forwarded.contains(name), HeaderPolicy.problem(name: name, value: header.value) == nil else {
                continue
            }
            replacedAuthorization = replacedAuthorization || name == "authorization"
            Self.set(&fields, name, header.value)
        }
        if let authorization = template.authorization {
            // The auth layer's place is known from the template, unless a client header took it.
            if let index = template.authorizationIndex, !replacedAuthorization {
                fields[index] = Field(name: "authorization", value: authorization.revealed)
            } else if template.authorizationIndex == nil, !replacedAuthorization {
                fields.append(Field(name: "authorization", value: authorization.revealed))
            } else {
                Self.set(&fields, "authorization", authorization.revealed)
            }
        }
        self.fields = fields
    }

    /// Replaces the value of a header already in `fields` (keeping its place) or appends it; hop-by-hop
    /// headers are left out. `name` is lower case.
    static func set(_ fields: inout [Field], _ name: String, _ value: String) {
        guard !HeaderPolicy.hopByHop.contains(name) else { return }
        if let index = fields.firstIndex(where: { $0.name == name }) {
            fields[index] = Field(name: name, value: value)
        } else {
            fields.append(Field(name: name, value: value))
        }
    }

    /// The layers of a deployment's upstream headers that come from its config, merged once.
    public struct Template: Sendable {
        /// Profile defaults and `extra_headers` over the fixed headers, for a JSON answer.
        let plain: [Field]
        /// The same for a stream (`accept: text/event-stream`).
        let streaming: [Field]
        /// Client headers the provider lets through (lower case).
        public let forwarded: Set<String>
        /// `Bearer KEY` when the deployment has a key: the last layer. Kept as a `Secret`, so a template (or the
        /// deployment holding it) printed or dumped shows it masked.
        let authorization: Secret?
        /// Where an `authorization` header of `extra_headers` sits in `plain` and `streaming` (the auth layer
        /// replaces it there), or nil.
        let authorizationIndex: Int?

        /// Merges the config's layers for `provider`, `extraHeaders` and `apiKey`.
        public init(provider: ProviderProfile?, extraHeaders: [(name: String, value: String)], apiKey: String?) {
            func merged(accept: String) -> [Field] {
                var fields: [Field] = []
                fields.reserveCapacity(4 + extraHeaders.count + 2)
                UpstreamHeaderSet.set(&fields, "content-type", "application/json")
                UpstreamHeaderSet.set(&fields, "accept", accept)
                UpstreamHeaderSet.set(&fields, "user-agent", UpstreamHeaderSet.userAgent)
                for header in provider?.defaultHeaders ?? [] {
                    UpstreamHeaderSet.set(&fields, UpstreamHeaderSet.lowercased(header.name), header.value)
                }
                for header in extraHeaders {
                    UpstreamHeaderSet.set(&fields, UpstreamHeaderSet.lowercased(header.name), header.value)
                }
                return fields
            }
            plain = merged(accept: "application/json")
            streaming = merged(accept: "text/event-stream")
            forwarded = provider?.forwardedClientHeaders ?? []
            authorization = apiKey.map { Secret("Bearer \($0)") }
            authorizationIndex = plain.firstIndex { $0.name == "authorization" }
        }
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
