import Foundation
import Hummingbird
import SwitchyardCore
import SwitchyardStorage

/// The spend page (a bar chart drawn on the server as SVG) and the request log page.
extension ConsoleRoutes {
    static func addSpendAndLogs(to router: RouterGroup<BasicRequestContext>, store: EngineStore, sessions: ConsoleSessions) {
        router.get("/ui/spend") { request, _ in
            guard let (_, session) = current(request, sessions) else { return redirect("/ui/login") }
            return html(await spend(store.current, session: session, query: query(request)))
        }
        router.get("/ui/logs") { request, _ in
            guard let (_, session) = current(request, sessions) else { return redirect("/ui/login") }
            return html(await logs(store.current, session: session, query: query(request)))
        }
        router.get("/ui/logs/detail") { request, _ in
            guard let (_, session) = current(request, sessions) else { return redirect("/ui/login") }
            let (page, found) = await logDetail(store.current, session: session, requestID: query(request)["request_id"] ?? "")
            return html(page, status: found ? .ok : .notFound)
        }
    }

    /// The from and to fields of a page's filter form, filled with what was asked.
    static func dateRange(_ query: [String: String]) -> String {
        ["start_date": "From", "end_date": "To"].sorted { $0.key > $1.key }.map { name, label in
            "<label>\(label) <input name=\"\(name)\" placeholder=\"YYYY-MM-DD\" value=\"\(HTML.escape(query[name] ?? ""))\" size=\"10\"></label>"
        }.joined(separator: "\n")
    }

    static func query(_ request: Request) -> [String: String] {
        var values: [String: String] = [:]
        for (name, value) in request.uri.queryParameters where !value.isEmpty { values[String(name)] = String(value) }
        return values
    }

    /// `GET /ui/spend?group_by=model|api_key|day&start_date=&end_date=`.
    static func spend(_ engine: ProxyEngine, session: ConsoleSessions.Session, query: [String: String]) async -> String {
        let grouping = query["group_by"].flatMap { ["model", "api_key", "day"].contains($0) ? $0 : nil } ?? "model"
        var asked = query
        asked["group_by"] = grouping
        let form = """
            <form method="get" action="/ui/spend" class="row">
            <label>By <select name="group_by">\(["model", "api_key", "day"].map { option in
                "<option value=\"\(option)\"\(option == grouping ? " selected" : "")>\(option == "api_key" ? "key" : option)</option>"
            }.joined())</select></label>
            \(dateRange(query))
            <button type="submit">Show</button></form>
            """
        let report: JSONValue
        do {
            report = try await AdminAPI(accounting: engine.accounting).spendReport(asked)
        } catch {
            return HTML.page(
                title: "Spend", body: form + "<p class=\"error\">\(HTML.escape(error.message))</p>", session: session)
        }
        let lines: [(label: String, spend: Double, requests: Int)] = (report.objectValue?["data"]?.arrayValue ?? []).map { line in
            let object = line.objectValue ?? [:]
            let label =
                grouping == "api_key"
                ? (object["key_alias"]?.stringValue ?? object["api_key"]?.stringValue.map { "key " + $0.prefix(12) }
                    ?? "(master key)")
                : (object[grouping]?.stringValue ?? "-")
            return (label, object["spend"]?.doubleValue ?? 0, object["requests"]?.intValue ?? 0)
        }
        let total = report.objectValue?["total_spend"]?.doubleValue ?? 0
        let rows: [[HTML.Cell]] = lines.map {
            [.text($0.label), .text(String(format: "$%.6f", $0.spend)), .text("\($0.requests)")]
        }
        return HTML.page(
            title: "Spend",
            body: form + "<p>Total: \(String(format: "$%.6f", total))</p>" + chart(lines.map { ($0.label, $0.spend) })
                + HTML.table([grouping == "api_key" ? "Key" : grouping.capitalized, "Spend", "Requests"], rows, id: "spend"),
            session: session)
    }

    /// A horizontal bar chart as inline SVG: one bar per line, scaled to the largest.
    static func chart(_ lines: [(label: String, value: Double)]) -> String {
        guard !lines.isEmpty else { return "<p>No spend in this range.</p>" }
        let largest = max(lines.map(\.value).max() ?? 0, 1e-12)
        let rowHeight = 22
        let width = 640
        let labelWidth = 200
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Spend chart" width="\(width)" \
            height="\(lines.count * rowHeight + 4)" font-family="sans-serif" font-size="12">
            """
        for (index, line) in lines.enumerated() {
            let y = index * rowHeight + 2
            let bar = Int((Double(width - labelWidth - 90) * line.value / largest).rounded())
            svg += """
                <text x="0" y="\(y + 15)">\(HTML.escape(String(line.label.prefix(28))))</text>\
                <rect class="bar" x="\(labelWidth)" y="\(y + 3)" width="\(max(bar, 1))" height="\(rowHeight - 6)" fill="#2271b1"/>\
                <text x="\(labelWidth + bar + 6)" y="\(y + 15)">\(String(format: "$%.6f", line.value))</text>
                """
        }
        return svg + "</svg>"
    }

    static func detailLink(_ requestID: String) -> String {
        var components = URLComponents()
        components.queryItems = [URLQueryItem(name: "request_id", value: requestID)]
        let query = (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        let shown = requestID.count > 12 ? requestID.prefix(12) + "…" : requestID
        return "<a href=\"/ui/logs/detail?\(HTML.escape(query))\" title=\"\(HTML.escape(requestID))\">\(HTML.escape(shown))</a>"
    }

    /// `GET /ui/logs/detail?request_id=`: one row's every field. The prompt and the completion are shown only when
    /// the row has them, which it does only with `general_settings.store_prompts`. Answers whether the row exists.
    static func logDetail(
        _ engine: ProxyEngine, session: ConsoleSessions.Session, requestID: String
    ) async -> (String, Bool) {
        let row: JSONObject
        do throws(ProxyError) {
            guard !requestID.isEmpty,
                let found = try await AdminAPI(accounting: engine.accounting).spendLogs(["request_id": requestID])
                    .arrayValue?.first?.objectValue
            else {
                return (
                    HTML.page(title: "Request", body: "<p class=\"error\">No request has that id.</p>", session: session), false
                )
            }
            row = found
        } catch {
            return (
                HTML.page(title: "Request", body: "<p class=\"error\">\(HTML.escape(error.message))</p>", session: session), false
            )
        }
        let text = ["messages", "response"]
        let fields: [[HTML.Cell]] = row.keys.filter { !text.contains($0) }.sorted().map { name in
            let value = row[name] ?? .null
            return [
                .text(name),
                .text(value.stringValue ?? (value == .null ? "" : String(decoding: value.encodedBytes(), as: UTF8.self))),
            ]
        }
        var body = HTML.table(["Field", "Value"], fields, id: "request")
        if row["messages"] == nil, row["response"] == nil {
            body += "<p class=\"note\">Prompt and completion text are kept only with general_settings.store_prompts.</p>"
        }
        for (name, title) in [("messages", "Prompt"), ("response", "Completion")] {
            guard let value = row[name]?.stringValue else { continue }
            body += "<h2>\(title)</h2><pre class=\"text\" id=\"\(name)\">\(HTML.escape(value))</pre>"
        }
        return (HTML.page(title: "Request \(requestID)", body: body, session: session), true)
    }

    /// `GET /ui/logs?key=&model=&status=&start_date=&end_date=`: the newest 200 rows of the request log that match.
    /// Prompt and completion text are not shown here.
    static func logs(_ engine: ProxyEngine, session: ConsoleSessions.Session, query: [String: String]) async -> String {
        // A raw key typed as the filter is refused below and never shown back.
        let shownKey = query["key"].map { $0.hasPrefix("sk-") ? "" : $0 } ?? ""
        let form = """
            <form method="get" action="/ui/logs" class="row">
            <label>Key (alias or hash) <input name="key" value="\(HTML.escape(shownKey))" size="14"></label>
            <label>Model <input name="model" value="\(HTML.escape(query["model"] ?? ""))" size="14"></label>
            <label>Status <input name="status" value="\(HTML.escape(query["status"] ?? ""))" size="4"></label>
            \(dateRange(query))
            <button type="submit">Show</button></form>
            """
        var asked = query.filter { ["model", "status", "start_date", "end_date"].contains($0.key) }
        asked["limit"] = "200"
        let answer: JSONValue
        do throws(ProxyError) {
            if let key = query["key"] {
                // A key's hash, or its alias; never the key itself, which would land in the browser's history.
                guard !key.hasPrefix("sk-") else {
                    throw .invalidRequest("Filter by the key's alias or hash, never by the key itself.", param: "key")
                }
                asked[KeyHashing.isHash(key) ? "api_key" : "key_alias"] = key
            }
            answer = try await AdminAPI(accounting: engine.accounting).spendLogs(asked)
        } catch {
            return HTML.page(
                title: "Request log", body: form + "<p class=\"error\">\(HTML.escape(error.message))</p>", session: session)
        }
        let rows: [[HTML.Cell]] = (answer.arrayValue ?? []).compactMap(\.objectValue).map { row in
            let tokens = "\(row["prompt_tokens"]?.intValue ?? 0) / \(row["completion_tokens"]?.intValue ?? 0)"
            return [
                .text(row["startTime"]?.stringValue ?? ""), .text(row["key_alias"]?.stringValue ?? "-"),
                .text(row["model"]?.stringValue ?? "-"), .text(row["model_id"]?.stringValue ?? "-"),
                .text("\(row["status"]?.intValue ?? 0)"), .text(row["error_code"]?.stringValue ?? ""), .text(tokens),
                .text(String(format: "$%.6f", row["spend"]?.doubleValue ?? 0)),
                .text(String(format: "%.0f ms", row["request_duration_ms"]?.doubleValue ?? 0)),
                .text(row["feature"]?.stringValue ?? ""), .raw(detailLink(row["request_id"]?.stringValue ?? "")),
            ]
        }
        return HTML.page(
            title: "Request log",
            body: form
                + HTML.table(
                    [
                        "Time", "Key", "Model", "Deployment", "Status", "Error", "Tokens in / out", "Cost", "Latency", "Feature",
                        "Request id",
                    ],
                    rows, id: "log"), session: session)
    }
}
