import Foundation
import Synchronization
import Testing

/// A real PostgreSQL server for the tests: `initdb` into a temporary folder, `pg_ctl start` on a free loopback
/// port, stopped when the test process exits. As root (CI), the server runs as the `postgres` user through
/// `runuser`, since `initdb` refuses root. Missing binaries fail the tests: `.ci/run` and `./test.sh` install them.
final class PostgresServer: @unchecked Sendable {
    let folder: String
    let port: Int
    let binaries: String
    private let lock = NSLock()
    private var databases = 0

    private init(binaries: String, folder: String, port: Int) {
        self.binaries = binaries
        self.folder = folder
        self.port = port
    }

    /// Starts a new server. The free port is found by binding port 0 and letting it go, so another test can take it
    /// before the server binds it: a start that fails on a port in use is tried again on another.
    static func make() async throws -> PostgresServer {
        let binaries = try findBinaries()
        let folder = NSTemporaryDirectory() + "switchyard-pg-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        if getuid() == 0 { try await run("/bin/chown", ["-R", "postgres:postgres", folder], asPostgres: false) }
        try await run(
            binaries + "/initdb",
            ["-D", folder + "/data", "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"])
        var attempt = 0
        while true {
            attempt += 1
            let server = PostgresServer(binaries: binaries, folder: folder, port: try freePort())
            started.withLock { $0.append(server) }
            registerCleanup()
            do {
                try await server.start()
                return server
            } catch let error as PostgresHarnessError where attempt < 5 && error.description.contains("Address already in use") {
                continue
            }
        }
    }

    /// Starts (or restarts) the server; a failure says what the server's log ends with.
    func start() async throws {
        do {
            try await Self.run(
                binaries + "/pg_ctl",
                [
                    "-D", folder + "/data", "-l", folder + "/log", "-w", "-t", "60", "-o",
                    "-p \(port) -k \(folder) -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                        + "-c full_page_writes=off -c max_connections=200",
                    "start",
                ])
            // The server outlives `pg_ctl`: if the test process is killed, it is stopped at once and its folder
            // removed (`OrphanReaper`); `stop()` takes the stop back.
            let pid =
                (try? String(contentsOfFile: folder + "/data/postmaster.pid", encoding: .utf8))?
                .split(separator: "\n").first.map(String.init) ?? ""
            if Int(pid) != nil { OrphanReaper.register("pg-1-server-\(folder)", command: "kill -QUIT \(pid) 2>/dev/null") }
            OrphanReaper.register(
                "pg-2-folder-\(folder)",
                // Removed once the server has gone (it deletes its pid file as it exits), 5 s at most.
                command: "for i in $(seq 50); do [ -f '\(folder)/data/postmaster.pid' ] || break; sleep 0.1; done; "
                    + "rm -rf '\(folder)'")
        } catch let error as PostgresHarnessError {
            let log = (try? String(contentsOfFile: folder + "/log", encoding: .utf8)) ?? ""
            let tail = log.split(separator: "\n").suffix(8).joined(separator: "\n")
            throw PostgresHarnessError.failed("\(error.description)\nserver log (last lines):\n\(tail)")
        }
    }

    /// Stops the server at once (as a crash or an outage would).
    func stop() async throws {
        try await Self.run(binaries + "/pg_ctl", ["-D", folder + "/data", "-m", "fast", "-w", "stop"])
        OrphanReaper.unregister("pg-1-server-\(folder)")
    }

    /// A new, empty database's URL.
    func newDatabase() async throws -> String {
        let name = lock.withLock {
            databases += 1
            return "switchyard_test_\(databases)"
        }
        try await Self.run(binaries + "/createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", name])
        return "postgres://postgres@127.0.0.1:\(port)/\(name)?sslmode=disable"
    }

    // MARK: Helpers

    private static let started = Mutex<[PostgresServer]>([])
    private static let cleanupRegistered = Mutex(false)

    private static func registerCleanup() {
        let first = cleanupRegistered.withLock { registered -> Bool in
            defer { registered = true }
            return !registered
        }
        guard first else { return }
        atexit {
            for server in PostgresServer.started.withLock({ $0 }) {
                try? PostgresServer.runBlocking(
                    server.binaries + "/pg_ctl", ["-D", server.folder + "/data", "-m", "immediate", "-w", "stop"])
                try? FileManager.default.removeItem(atPath: server.folder)
            }
        }
    }

    static func findBinaries() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init).sorted(by: >)
        for version in versions where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return "\(root)/\(version)/bin"
        }
        throw PostgresHarnessError.failed(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run ./test.sh or "
                + "'apt-get install postgresql' (the Postgres tests never skip)")
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PostgresHarnessError.failed("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw PostgresHarnessError.failed("bind() failed") }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw PostgresHarnessError.failed("getsockname() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Runs a tool on a thread of its own (never blocking the tests' cooperative threads).
    static func run(_ executable: String, _ arguments: [String], asPostgres: Bool = true) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                do {
                    try runBlocking(executable, arguments, asPostgres: asPostgres)
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.start()
        }
    }

    /// Runs a PostgreSQL tool, as the `postgres` user when we are root; throws with its output on failure.
    /// Spawned directly rather than with Foundation's `Process`, whose exit detection waits for every inheritor of
    /// its descriptors, and the server `pg_ctl start` leaves running is one.
    static func runBlocking(_ executable: String, _ arguments: [String], asPostgres: Bool = true) throws {
        let argv =
            asPostgres && getuid() == 0
            ? ["/usr/sbin/runuser", "-u", "postgres", "--", executable] + arguments : [executable] + arguments
        let outputPath = NSTemporaryDirectory() + "switchyard-pg-output-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let child = try ChildProcess(
            executable: argv[0], arguments: Array(argv.dropFirst()), directory: "/tmp", stdout: outputPath)
        child.waitUntilExit()
        let status = child.terminationStatus
        guard status == 0 else {
            let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            throw PostgresHarnessError.failed("\(argv.joined(separator: " ")) failed (status \(status)): \(output)")
        }
    }
}

enum PostgresHarnessError: Error, CustomStringConvertible {
    case failed(String)

    var description: String {
        switch self {
        case .failed(let message): message
        }
    }
}

/// The server shared by every test of the process, started on first use.
actor SharedPostgres {
    static let instance = SharedPostgres()
    private var server: Task<PostgresServer, any Error>?

    func get() async throws -> PostgresServer {
        if let server { return try await server.value }
        let task = Task { try await PostgresServer.make() }
        server = task
        return try await task.value
    }
}

/// A fresh database on the shared server.
func newPostgresDatabase() async throws -> String {
    try await SharedPostgres.instance.get().newDatabase()
}
