import Foundation
import SwitchyardCore
import Synchronization

/// The console's sessions, in memory: a random token per log-in (the cookie's value) with who logged in, the
/// session's CSRF token (every form carries it; a write without it is refused) and when it was last used. A session
/// unused for `idleExpiry` is gone; a restart logs everyone out.
public final class ConsoleSessions: Sendable {
    /// One logged-in operator.
    public struct Session: Sendable, Equatable {
        /// `master_key`, or `key:ALIAS` for an admin key.
        public let actor: String
        /// The token every form of the session carries.
        public let csrf: String
        /// When it was last used (seconds since 1970).
        var lastSeen: Double
    }

    /// How long a session lasts unused.
    public let idleExpiry: Double
    private let sessions = Mutex<[String: Session]>([:])
    /// Sessions kept at most: the oldest go first (a log-in flood cannot grow memory without bound).
    static let capacity = 1_000

    /// Sessions that expire after `idleExpiry` seconds unused (30 minutes by default).
    public init(idleExpiry: Double = 1_800) {
        self.idleExpiry = idleExpiry
    }

    /// A new session for `actor`; answers its token.
    public func open(actor: String, now: Double = Date().timeIntervalSince1970) -> String {
        let token = Self.randomToken()
        sessions.withLock { sessions in
            sessions = sessions.filter { now - $0.value.lastSeen < idleExpiry }
            if sessions.count >= Self.capacity, let oldest = sessions.min(by: { $0.value.lastSeen < $1.value.lastSeen }) {
                sessions[oldest.key] = nil
            }
            sessions[token] = Session(actor: actor, csrf: Self.randomToken(), lastSeen: now)
        }
        return token
    }

    /// The session of a token, when it exists and has not expired; using it keeps it alive.
    public func session(_ token: String, now: Double = Date().timeIntervalSince1970) -> Session? {
        sessions.withLock { sessions in
            guard var session = sessions[token] else { return nil }
            guard now - session.lastSeen < idleExpiry else {
                sessions[token] = nil
                return nil
            }
            session.lastSeen = now
            sessions[token] = session
            return session
        }
    }

    /// Ends a session.
    public func close(_ token: String) {
        _ = sessions.withLock { $0.removeValue(forKey: token) }
    }

    /// 32 random bytes as hex.
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in
            let value = generator.next() as UInt64
            let text = String(value, radix: 16)
            return String(repeating: "0", count: 16 - text.count) + text
        }.joined()
    }
}

/// Text made safe for HTML.
enum HTML {
    static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }

    /// A URL as the console shows it: without user, password, query or fragment, where a credential may hide.
    static func shownURL(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.host != nil else { return "(not a URL)" }
        components.user = nil
        components.password = nil
        components.query = nil
        components.fragment = nil
        return components.string ?? "(not a URL)"
    }

    /// A page in the console's frame: its title, its navigation (when logged in) and its body.
    static func page(title: String, body: String, session: ConsoleSessions.Session?) -> String {
        let navigation =
            session.map { session in
                """
                <nav><a href="/ui">Overview</a> <a href="/ui/models">Models</a> <a href="/ui/keys">Keys</a>
                <a href="/ui/spend">Spend</a> <a href="/ui/logs">Request log</a> <a href="/ui/config">Configuration</a>
                <form method="post" action="/ui/logout" class="inline"><input type="hidden" name="csrf" value="\(escape(session.csrf))">
                <button type="submit">Log out (\(escape(session.actor)))</button></form></nav>
                """
            } ?? ""
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(title)) · Switchyard</title>
            <style>\(style)</style></head>
            <body><header><strong>Switchyard</strong> \(navigation)</header><main><h1>\(escape(title))</h1>
            \(body)
            </main></body></html>
            """
    }

    /// The console's only style sheet, inline: nothing is fetched from anywhere.
    static let style = """
        body{font-family:system-ui,sans-serif;margin:0;color:#1d2327}header{background:#1d2327;color:#fff;padding:.6em 1em}
        header a,header button{color:#fff;margin-right:1em;background:none;border:0;font:inherit;cursor:pointer}
        main{padding:1em 2em}table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.3em .8em;text-align:left}
        .inline{display:inline}.error{color:#b32d2e}.secret{font-family:monospace;background:#fcf9e8;padding:.5em;border:1px solid #dba617}
        form.row{margin:.8em 0}form.row input,form.row select{margin-right:.5em}h2{margin-top:1.6em}
        #deployments td:nth-child(-n+5),#per-alias td,#log td{white-space:nowrap}.note{color:#50575e;font-size:.9em;max-width:60em}
        pre.text{white-space:pre-wrap;background:#f6f7f7;padding:.5em;max-width:80em}
        """

    /// A table of rows of cells, every cell escaped (`raw` cells are HTML the console made itself).
    static func table(_ header: [String], _ rows: [[Cell]], id: String? = nil) -> String {
        let head = header.map { "<th>\(escape($0))</th>" }.joined()
        let body = rows.map { row in
            "<tr>"
                + row.map { cell in
                    switch cell {
                    case .text(let text): "<td>\(escape(text))</td>"
                    case .raw(let html): "<td>\(html)</td>"
                    }
                }.joined() + "</tr>"
        }.joined(separator: "\n")
        let rows = rows.isEmpty ? "<tr><td colspan=\"\(header.count)\" class=\"note\">None.</td></tr>" : body
        return "<table\(id.map { " id=\"\($0)\"" } ?? "")><thead><tr>\(head)</tr></thead><tbody>\n\(rows)\n</tbody></table>"
    }

    enum Cell {
        case text(String)
        case raw(String)
    }
}
