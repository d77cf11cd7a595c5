import Foundation
import Synchronization

/// Stops what the tests started when the test process ends without stopping it: a run killed by a timeout,
/// ^C or SIGKILL runs no `atexit` cleanup, and the proxies and PostgreSQL servers it started would run on,
/// holding ports and temporary folders. A shell started with the first child waits for the test process to
/// go, then runs the commands registered for what is still running. A child that ends normally takes its
/// command back (so a process id the system hands out again later is never signalled), and a test process that
/// exits normally removes the list before its watcher reads it.
enum OrphanReaper {
    /// The commands, as a shell script the watcher runs.
    private static let list = NSTemporaryDirectory() + "switchyard-test-reaper-\(getpid()).sh"
    private static let state = Mutex<(watching: Bool, commands: [String: String])>((false, [:]))

    /// Runs `command` (a shell command) if the test process ends while `id` is registered.
    static func register(_ id: String, command: String) {
        let startWatcher = state.withLock { state -> Bool in
            state.commands[id] = command
            write(state.commands)
            defer { state.watching = true }
            return !state.watching
        }
        if startWatcher { watch() }
    }

    /// Takes back what `register` put under `id`.
    static func unregister(_ id: String) {
        state.withLock { state in
            guard state.commands.removeValue(forKey: id) != nil else { return }
            write(state.commands)
        }
    }

    /// The list, written whole and renamed into place: the watcher never reads half of it.
    private static func write(_ commands: [String: String]) {
        let script = commands.keys.sorted().compactMap { commands[$0] }.joined(separator: "\n") + "\n"
        let partial = list + ".partial"
        guard FileManager.default.createFile(atPath: partial, contents: Data(script.utf8)) else { return }
        _ = rename(partial, list)
    }

    private static func watch() {
        let script = #"while kill -0 "$1" 2>/dev/null; do sleep 1; done; [ -f "$2" ] && sh "$2"; rm -f "$2""#
        _ = try? ChildProcess(
            executable: "/bin/sh", arguments: ["-c", script, "reaper", String(getpid()), list], reaped: false)
        atexit { _ = unlink(OrphanReaper.list) }
    }
}
