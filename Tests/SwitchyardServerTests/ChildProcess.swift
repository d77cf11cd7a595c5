import Foundation

/// A child process started with `posix_spawn`, for the tests.
///
/// Not Foundation's `Process`: on this toolchain its `run()` crashes now and then while it scans
/// `/proc/self/fd` (an over-read fixed upstream in swift-corelibs-foundation #5472), more often the more
/// descriptors the test process has open, and its exit detection waits for every process that inherited its
/// descriptors (a server started by the child holds them forever). Here the child gets standard input from
/// /dev/null, output to files, and none of the test process's other descriptors.
final class ChildProcess: @unchecked Sendable {
    let processIdentifier: pid_t
    private let lock = NSLock()
    private var status: Int32?

    /// Starts `executable`; unless `reaped` is false, it is killed if the test process ends without it having
    /// ended (`OrphanReaper`).
    init(
        executable: String, arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
        stdout: String? = nil, stderr: String? = nil, reaped: Bool = true
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        if let stderr, stderr != stdout {
            posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        } else if stdout != nil {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        // glibc's closefrom and chdir file actions, which Swift's Glibc module does not export.
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
            _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
        }
        if let directory {
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np") else {
                throw ChildProcessError.cannotStart(executable, "no posix_spawn_file_actions_addchdir_np")
            }
            typealias ChangeDirectory =
                @convention(c) (
                    UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>
                ) -> Int32
            _ = directory.withCString { unsafeBitCast(symbol, to: ChangeDirectory.self)(&actions, $0) }
        }
        // A clean signal state: the test process (Dispatch, service lifecycle) may block or ignore signals, and a
        // child inherits both across exec.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = [executable] + arguments
        let cArguments = argv.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        let pairs = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let cEnvironment = pairs.map { strdup($0) } + [nil]
        defer { for pointer in cEnvironment { free(pointer) } }
        var pid = pid_t()
        let result = posix_spawn(&pid, executable, &actions, &attributes, cArguments, cEnvironment)
        guard result == 0 else { throw ChildProcessError.cannotStart(executable, String(cString: strerror(result))) }
        processIdentifier = pid
        if reaped { OrphanReaper.register(reaperID, command: "kill -KILL \(pid) 2>/dev/null") }
    }

    private var reaperID: String { "child-\(processIdentifier)" }

    /// Notes the child's end (once it has been reaped, its process id may be handed out again).
    private func ended(_ raw: Int32) {
        status = raw
        OrphanReaper.unregister(reaperID)
    }

    /// Whether the child is still running (reaps it once it has ended).
    var isRunning: Bool {
        lock.withLock {
            if status != nil { return false }
            var raw: Int32 = 0
            let reaped = waitpid(processIdentifier, &raw, WNOHANG)
            if reaped == processIdentifier { ended(raw) }
            return status == nil
        }
    }

    /// Blocks until the child ends.
    func waitUntilExit() {
        lock.withLock {
            guard status == nil else { return }
            var raw: Int32 = 0
            while waitpid(processIdentifier, &raw, 0) == -1 && errno == EINTR {}
            ended(raw)
        }
    }

    /// The exit code, or the number of the signal that ended it.
    var terminationStatus: Int32 {
        let raw = lock.withLock { status } ?? 0
        return (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : raw & 0x7f
    }

    /// SIGTERM.
    func terminate() { kill(processIdentifier, SIGTERM) }
}

enum ChildProcessError: Error, CustomStringConvertible {
    case cannotStart(String, String)

    var description: String {
        switch self {
        case .cannotStart(let executable, let reason): "cannot start \(executable): \(reason)"
        }
    }
}
