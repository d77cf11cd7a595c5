import Foundation
import Logging
import ServiceLifecycle
import SwitchyardCore
import UnixSignals

/// Where a reload gets its table: the config file read again, with everything `serve` checks at start-up.
public struct ConfigSource: Sendable {
    /// The file, for logs and `--watch`.
    public let path: String
    /// Reads and resolves the file: the table, or the diagnostics that make it unusable.
    public let load: @Sendable () -> Result<ModelTable, ConfigReloadError>

    /// A source.
    public init(path: String, load: @escaping @Sendable () -> Result<ModelTable, ConfigReloadError>) {
        self.path = path
        self.load = load
    }
}

/// Why a config was not taken.
public struct ConfigReloadError: Error, Sendable, CustomStringConvertible {
    /// One line per problem.
    public let problems: [String]

    /// An error with its problems.
    public init(problems: [String]) {
        self.problems = problems
    }

    /// The problems on one line.
    public var description: String { problems.joined(separator: "; ") }
}

/// What a reload did.
public enum ReloadOutcome: Sendable, Equatable {
    /// The new config serves; `kept` deployments kept their live state.
    case applied(deployments: Int, kept: Int)
    /// The new config was invalid; the old one keeps serving.
    case rejected(String)
}

/// Re-reads the config on SIGHUP and, with `--watch`, when the file's contents change (or those of the model
/// catalog file it names).
struct ConfigReloader: Service {
    let server: ProxyServer
    let source: ConfigSource
    /// How often `--watch` looks at the file; nil: no watching.
    let watchInterval: Duration?
    let signals: [UnixSignal]

    func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            if !signals.isEmpty {
                group.addTask {
                    for await _ in await UnixSignalsSequence(trapping: signals).cancelOnGracefulShutdown() {
                        server.reload(from: source, reason: "SIGHUP")
                    }
                }
            }
            if let watchInterval {
                group.addTask { try await watch(every: watchInterval) }
            }
            group.addTask { try? await gracefulShutdown() }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Polls the files' contents: editors replace files by renaming, which defeats inode watches.
    private func watch(every interval: Duration) async throws {
        func fingerprint() -> [Data?] {
            [Self.fingerprint(source.path), server.store.current.table.catalogFile.flatMap(Self.fingerprint)]
        }
        var last = fingerprint()
        while !Task.isCancelled {
            try await Task.sleep(for: interval)
            let now = fingerprint()
            if now != last, now.first != nil {
                last = now
                server.reload(from: source, reason: "file changed")
            }
        }
    }

    static func fingerprint(_ path: String) -> Data? {
        FileManager.default.contents(atPath: path)
    }
}
