import SwitchyardCore
import Synchronization

/// The redactor in force, shared by log handlers and request handlers; replaced when the config changes.
public final class RedactorStore: Sendable {
    private let current: Mutex<Redactor>

    /// Creates a store holding `redactor`.
    public init(_ redactor: Redactor = Redactor()) {
        self.current = Mutex(redactor)
    }

    /// The redactor now in force.
    public var redactor: Redactor { current.withLock { $0 } }

    /// Replaces the redactor.
    public func update(_ redactor: Redactor) {
        current.withLock { $0 = redactor }
    }
}
