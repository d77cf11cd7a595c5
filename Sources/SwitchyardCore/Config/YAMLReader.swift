import CYaml

/// A position in YAML text, 1-based.
public struct YAMLMark: Sendable, Equatable {
    /// Line.
    public let line: Int
    /// Column.
    public let column: Int
}

/// A YAML node as the config walker needs it: text, structure and position, no implicit typing.
public indirect enum YAMLNode: Sendable {
    /// A scalar; `plain` is false for quoted and block scalars, which are always strings.
    case scalar(text: String, plain: Bool, mark: YAMLMark)
    /// A mapping in document order.
    case mapping([YAMLPair], mark: YAMLMark)
    /// A sequence.
    case sequence([YAMLNode], mark: YAMLMark)

    /// Where the node starts.
    public var mark: YAMLMark {
        switch self {
        case .scalar(_, _, let mark), .mapping(_, let mark), .sequence(_, let mark): mark
        }
    }

    /// The scalar text, for a scalar.
    public var scalarText: String? {
        if case .scalar(let text, _, _) = self { return text }
        return nil
    }
}

/// One key and value of a mapping.
public struct YAMLPair: Sendable {
    /// The key node.
    public let key: YAMLNode
    /// The value node.
    public let value: YAMLNode
}

/// Why YAML text could not be read.
public struct YAMLSyntaxError: Error, Sendable, Equatable {
    /// libyaml's description of the problem.
    public let problem: String
    /// Where, when known.
    public let mark: YAMLMark?
}

/// Reads one YAML document with libyaml's event parser into ``YAMLNode``s.
///
/// Yams' `compose` resolves every scalar's type with regular expressions and builds reference-counted nodes;
/// for a config of 1,000 models that cost most of the load time, so the walker types scalars itself.
public enum YAMLReader {
    /// Parses `text`; nil for an empty document.
    public static func read(_ text: String) throws(YAMLSyntaxError) -> YAMLNode? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw YAMLSyntaxError(problem: "out of memory", mark: nil) }
        defer { yaml_parser_delete(&parser) }
        yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
        let bytes = Array(text.utf8)
        let result: Result<YAMLNode?, YAMLSyntaxError> = bytes.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var builder = TreeBuilder()
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return .failure(syntaxError(parser)) }
                defer { yaml_event_delete(&event) }
                do throws(YAMLSyntaxError) {
                    if try builder.handle(&event) { return .success(builder.root) }
                } catch {
                    return .failure(error)
                }
            }
        }
        return try result.get()
    }

    static func syntaxError(_ parser: yaml_parser_t) -> YAMLSyntaxError {
        let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
        let context = parser.context.map { String(cString: $0) }
        let text = context.map { "\(problem) (\($0))" } ?? problem
        let mark = parser.problem_mark
        return YAMLSyntaxError(problem: text, mark: YAMLMark(line: Int(mark.line) + 1, column: Int(mark.column) + 1))
    }
}

/// Turns the event stream into a tree, resolving anchors, aliases and `<<` merge keys.
private struct TreeBuilder {
    enum Frame {
        case mapping(pairs: [YAMLPair], pendingKey: YAMLNode?, mark: YAMLMark, anchor: String?)
        case sequence(items: [YAMLNode], mark: YAMLMark, anchor: String?)
    }

    var stack: [Frame] = []
    var anchors: [String: YAMLNode] = [:]
    var root: YAMLNode?
    var documents = 0

    static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }

    static func mark(_ mark: yaml_mark_t) -> YAMLMark {
        YAMLMark(line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }

    /// Handles one event; true when the document is complete.
    mutating func handle(_ event: inout yaml_event_t) throws(YAMLSyntaxError) -> Bool {
        let mark = Self.mark(event.start_mark)
        switch event.type {
        case YAML_STREAM_END_EVENT:
            return true
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                throw YAMLSyntaxError(problem: "expected one YAML document, found another ('---')", mark: mark)
            }
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let text = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
            let node = YAMLNode.scalar(text: text, plain: scalar.style == YAML_PLAIN_SCALAR_STYLE, mark: mark)
            if let anchor = Self.string(scalar.anchor) { anchors[anchor] = node }
            try add(node)
        case YAML_ALIAS_EVENT:
            let name = Self.string(event.data.alias.anchor) ?? ""
            guard let node = anchors[name] else {
                throw YAMLSyntaxError(problem: "unknown alias '*\(name)'", mark: mark)
            }
            try add(node)
        case YAML_MAPPING_START_EVENT:
            stack.append(.mapping(pairs: [], pendingKey: nil, mark: mark, anchor: Self.string(event.data.mapping_start.anchor)))
        case YAML_SEQUENCE_START_EVENT:
            stack.append(.sequence(items: [], mark: mark, anchor: Self.string(event.data.sequence_start.anchor)))
        case YAML_MAPPING_END_EVENT:
            guard case .mapping(let pairs, _, let start, let anchor)? = stack.popLast() else { break }
            let node = YAMLNode.mapping(Self.merged(pairs), mark: start)
            if let anchor { anchors[anchor] = node }
            try add(node)
        case YAML_SEQUENCE_END_EVENT:
            guard case .sequence(let items, let start, let anchor)? = stack.popLast() else { break }
            let node = YAMLNode.sequence(items, mark: start)
            if let anchor { anchors[anchor] = node }
            try add(node)
        default:
            break
        }
        return false
    }

    mutating func add(_ node: YAMLNode) throws(YAMLSyntaxError) {
        guard let top = stack.popLast() else {
            root = node
            return
        }
        switch top {
        case .sequence(var items, let mark, let anchor):
            items.append(node)
            stack.append(.sequence(items: items, mark: mark, anchor: anchor))
        case .mapping(var pairs, let pendingKey, let mark, let anchor):
            if let key = pendingKey {
                pairs.append(YAMLPair(key: key, value: node))
                stack.append(.mapping(pairs: pairs, pendingKey: nil, mark: mark, anchor: anchor))
            } else {
                stack.append(.mapping(pairs: pairs, pendingKey: node, mark: mark, anchor: anchor))
            }
        }
    }

    /// Applies `<<: *anchor` (or a list of them): merged keys come first, the mapping's own keys win.
    static func merged(_ pairs: [YAMLPair]) -> [YAMLPair] {
        guard pairs.contains(where: { isMergeKey($0.key) }) else { return pairs }
        var inherited: [YAMLPair] = []
        var own: [YAMLPair] = []
        for pair in pairs {
            guard isMergeKey(pair.key) else {
                own.append(pair)
                continue
            }
            switch pair.value {
            case .mapping(let source, _): inherited += source
            case .sequence(let items, _):
                for case .mapping(let source, _) in items { inherited += source }
            case .scalar: own.append(pair)
            }
        }
        let ownKeys = Set(own.compactMap(\.key.scalarText))
        return inherited.filter { !ownKeys.contains($0.key.scalarText ?? "") } + own
    }

    static func isMergeKey(_ node: YAMLNode) -> Bool {
        if case .scalar("<<", true, _) = node { return true }
        return false
    }
}
