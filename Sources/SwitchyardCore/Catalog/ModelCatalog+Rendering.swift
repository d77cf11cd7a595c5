import Foundation

extension ParamAction {
    /// What the action does, in words, e.g. `dropped (or 400 without drop_params)`.
    public var summary: String {
        switch self {
        case .unsupported: "dropped (or 400 without `drop_params`)"
        case .drop: "always dropped"
        case .rename(let target): "renamed `\(target)` (kept if both are sent)"
        case .clampMaximum(let maximum): "lowered to \(maximum)"
        case .onlyWhenStreaming: "removed unless `stream: true`"
        case .reasoningEffort(let accepted): "kept if one of \(accepted.joined(separator: "/")), else mapped to the nearest"
        }
    }

    /// The catalog file's word for the action.
    public var word: String {
        switch self {
        case .unsupported: "reject"
        case .drop: "drop"
        case .rename: "rename"
        case .clampMaximum: "clamp"
        case .onlyWhenStreaming: "only_when_streaming"
        case .reasoningEffort: "reasoning_effort"
        }
    }
}

extension CatalogParamRule {
    /// The rule as the catalog file writes it.
    var json: JSONValue {
        var object: JSONObject = ["action": .string(action?.word ?? "pass")]
        switch action {
        case .rename(let target)?: object["to"] = .string(target)
        case .clampMaximum(let maximum)?: object["max"] = .int(maximum)
        default: break
        }
        if !note.isEmpty { object["note"] = .string(note) }
        return .object(object)
    }
}

extension CatalogPrices {
    var json: JSONValue {
        var object = JSONObject()
        if let input { object["input"] = .double(input) }
        if let cachedInput { object["cached_input"] = .double(cachedInput) }
        if let output { object["output"] = .double(output) }
        return .object(object)
    }

    /// `input / cached / output`, e.g. `1.25 / 0.20 / 2.50`.
    public var text: String { perToken.perMillionText }
}

extension ModelCatalog {
    /// The catalog in the file's shape (`switchyard models catalog --json`; a valid catalog file itself).
    public func json(provider only: String? = nil) -> JSONValue {
        var sections = JSONObject()
        for name in providers.keys.sorted() where only == nil || only?.lowercased() == name {
            guard let section = providers[name] else { continue }
            var object = JSONObject()
            object["params"] = .object(JSONObject(section.params.map { ($0.parameter, $0.json) }))
            object["reasoning_params"] = .object(JSONObject(section.reasoningParams.map { ($0.parameter, $0.json) }))
            var timeouts = JSONObject()
            if let value = section.reasoningTimeouts.connect { timeouts["connect"] = .double(value) }
            if let value = section.reasoningTimeouts.firstByte { timeouts["first_byte"] = .double(value) }
            if let value = section.reasoningTimeouts.idle { timeouts["idle"] = .double(value) }
            if let value = section.reasoningTimeouts.total { timeouts["total"] = .double(value) }
            object["reasoning_timeouts"] = .object(timeouts)
            object["models"] = .object(JSONObject(section.models.map { ($0.name, $0.json) }))
            sections[name] = .object(object)
        }
        return .object(["version": 1, "providers": .object(sections)])
    }

    /// One table row a model: the facts resolved as a deployment of it would see them.
    public func tableRows(provider only: String? = nil) -> [[String]] {
        var rows: [[String]] = []
        for name in providers.keys.sorted() where only == nil || only?.lowercased() == name {
            guard let section = providers[name] else { continue }
            for row in section.models {
                let facts = self.facts(provider: name, model: row.name)
                let efforts = (row.reasoningEfforts ?? []).map { $0 == row.defaultEffort ? "\($0)*" : $0 }
                let rejected = facts.paramRules.filter { $0.action == .unsupported }.map(\.parameter)
                rows.append([
                    name, row.name, (row.reasoning ?? false) ? "yes" : "no",
                    efforts.isEmpty ? "-" : efforts.joined(separator: " "),
                    facts.contextWindow.map(Self.tokens) ?? "-", facts.maxOutputTokens.map(Self.tokens) ?? "-",
                    facts.catalogPrices?.text ?? "-",
                    facts.longPrompt.map { "from \(Self.tokens($0.threshold)): \($0.prices.text)" } ?? "-",
                    facts.retirement.map { "\($0.date) -> \($0.servedBy)\($0.servedEffort.map { " (\($0))" } ?? "")" } ?? "-",
                    rejected.isEmpty ? "-" : rejected.joined(separator: " "),
                ])
            }
        }
        return rows
    }

    /// The columns of `tableRows`.
    public static let tableHeader = [
        "PROVIDER", "MODEL", "REASONS", "EFFORTS (*default)", "CONTEXT", "MAX OUT", "PRICE IN/CACHED/OUT",
        "LONG PROMPT", "RETIRED -> SERVED BY", "REJECTS",
    ]

    /// `1M`, `500k`, `131072`.
    static func tokens(_ count: Int) -> String {
        if count >= 1_000_000, count % 1_000_000 == 0 { return "\(count / 1_000_000)M" }
        if count >= 1000, count % 1000 == 0 { return "\(count / 1000)k" }
        return String(count)
    }

    /// The provider's tables as Markdown, for docs/providers.md (a test keeps the doc equal to this).
    public func markdown(provider name: String) -> String {
        guard let section = providers[name] else { return "" }
        var lines = ["| parameter | models | what the proxy does | why |", "|---|---|---|---|"]
        for rule in section.params {
            lines.append("| `\(rule.parameter)` | all | \(rule.action?.summary ?? "forwarded") | \(rule.note) |")
        }
        for rule in section.reasoningParams {
            lines.append("| `\(rule.parameter)` | reasoning models | \(rule.action?.summary ?? "forwarded") | \(rule.note) |")
        }
        for row in section.models {
            for rule in row.params {
                lines.append("| `\(rule.parameter)` | `\(row.name)` | \(rule.action?.summary ?? "forwarded") | \(rule.note) |")
            }
        }
        lines.append(
            "| `reasoning_effort` | models without an effort list below | dropped (or 400 without `drop_params`) "
                + "| the model takes no effort |")
        lines.append("")
        lines.append(
            "| model | reasons | efforts (*default) | context | price in / cached / out per 1M | long prompt | retired |")
        lines.append("|---|---|---|---|---|---|---|")
        for row in tableRows(provider: name) {
            lines.append("| `\(row[1])` | \(row[2]) | \(row[3]) | \(row[4]) | \(row[6]) | \(row[7]) | \(row[8]) |")
        }
        return lines.joined(separator: "\n")
    }
}

extension CatalogModel {
    var json: JSONValue {
        var object = JSONObject()
        if let reasoning { object["reasoning"] = .bool(reasoning) }
        if let reasoningEfforts { object["reasoning_effort"] = .array(reasoningEfforts.map { .string($0) }) }
        if let defaultEffort { object["default_effort"] = .string(defaultEffort) }
        if let contextWindow { object["context_window"] = .int(contextWindow) }
        if let maxOutputTokens { object["max_output_tokens"] = .int(maxOutputTokens) }
        if let price { object["price"] = price.json }
        if let longPrompt {
            var tier = longPrompt.prices.json.objectValue ?? JSONObject()
            tier["threshold"] = .int(longPrompt.threshold)
            object["long_prompt"] = .object(tier)
        }
        if let retired { object["retired"] = .string(retired) }
        if let servedBy { object["served_by"] = .string(servedBy) }
        if let servedEffort { object["served_effort"] = .string(servedEffort) }
        if !params.isEmpty { object["params"] = .object(JSONObject(params.map { ($0.parameter, $0.json) })) }
        if let source { object["source"] = .string(source) }
        return .object(object)
    }
}
