/// An API a client speaks to the proxy: its routes, declared once (the completion front and the router both read
/// them), and the upstream endpoint the engine sends it to.
public enum ClientSurface: String, Sendable, CaseIterable {
    /// OpenAI Chat Completions: `POST /v1/chat/completions`.
    case chatCompletions
    /// OpenAI's legacy completions: `POST /v1/completions`.
    case completions
    /// OpenAI embeddings: `POST /v1/embeddings`.
    case embeddings
    /// OpenAI's Responses API: `POST /v1/responses` (translated to Chat Completions for a chat-only upstream).
    case responses
    /// Anthropic's Messages API: `POST /v1/messages` (translated to Chat Completions).
    case messages

    /// The path after the optional `/v1` prefix.
    public var path: String {
        switch self {
        case .chatCompletions: "/chat/completions"
        case .completions: "/completions"
        case .embeddings: "/embeddings"
        case .responses: "/responses"
        case .messages: "/messages"
        }
    }

    /// The upstream endpoint its requests go to.
    public var upstream: UpstreamEndpoint {
        switch self {
        case .chatCompletions, .responses, .messages: .chatCompletions
        case .completions: .completions
        case .embeddings: .embeddings
        }
    }

    /// The surface a client's own endpoint is, when the client speaks it as is.
    public init(_ endpoint: UpstreamEndpoint) {
        switch endpoint {
        case .chatCompletions: self = .chatCompletions
        case .completions: self = .completions
        case .embeddings: self = .embeddings
        case .responses: self = .responses
        }
    }

    /// The surface a `POST` to `path` asks for (a query and one trailing slash ignored); with `versioned`, only
    /// `/v1/...` paths count. Compared as bytes: it runs for every request the front reads.
    public static func match(post path: Substring.UTF8View, versioned: Bool = false) -> ClientSurface? {
        var path = path
        if let query = path.firstIndex(of: UInt8(ascii: "?")) { path = path[..<query] }
        if path.count > 1, path.last == UInt8(ascii: "/") { path = path.dropLast() }
        if path.starts(with: "/v1/".utf8) {
            path = path.dropFirst(3)
        } else if versioned {
            return nil
        }
        if path.elementsEqual("/chat/completions".utf8) { return .chatCompletions }
        if path.elementsEqual("/completions".utf8) { return .completions }
        if path.elementsEqual("/embeddings".utf8) { return .embeddings }
        if path.elementsEqual("/responses".utf8) { return .responses }
        if path.elementsEqual("/messages".utf8) { return .messages }
        return nil
    }
}
