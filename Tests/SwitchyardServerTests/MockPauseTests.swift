import NIOCore
import NIOPosix
import Testing

@testable import SwitchyardServer

/// `MockUpstream.pause`, the mock's frame and first-byte timer: on an event loop it waits on a timer of that loop,
/// elsewhere on `Task.sleep`; cancelled either way, it ends at once with `CancellationError`.
@Suite struct MockPauseTests {
    /// What a paused task saw: whether it ran on an event loop, and how the pause ended.
    enum Outcome: Equatable {
        case finished(onLoop: Bool)
        case cancelled(onLoop: Bool)
        case failed(String)
    }

    /// Runs a pause of `duration` in a task (on `loop` when given), cancelling it once it has started when
    /// `cancel` is set. The returned outcome says where the task ran and how the pause ended.
    static func pause(for duration: Duration, on loop: (any EventLoop)?, cancel: Bool) async -> Outcome {
        let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
        let body: @Sendable () async -> Outcome = {
            let onLoop = MultiThreadedEventLoopGroup.currentEventLoop != nil
            startedContinuation.yield()
            do {
                try await MockUpstream.pause(for: duration)
                return .finished(onLoop: onLoop)
            } catch is CancellationError {
                return .cancelled(onLoop: onLoop)
            } catch {
                return .failed(String(describing: error))
            }
        }
        let task: Task<Outcome, Never>
        if let loop {
            task = Task(executorPreference: EventLoopTaskExecutor(loop: loop), operation: body)
        } else {
            task = Task(operation: body)
        }
        var iterator = started.makeAsyncIterator()
        _ = await iterator.next()
        // The task yields its signal on the loop and goes on to its pause in the same job: a job queued on the
        // loop now runs once the task is suspended in the pause, so the cancellation below lands mid-pause.
        if let loop { try? await loop.submit {}.get() }
        if cancel { task.cancel() }
        return await Self.outcome(of: task)
    }

    /// The task's outcome, or a failure if it has not ended within a minute: a pause its cancellation missed
    /// would otherwise hang the test run (an awaited timer future does not see the task's cancellation).
    static func outcome(of task: Task<Outcome, Never>) async -> Outcome {
        let (outcomes, continuation) = AsyncStream.makeStream(of: Outcome.self)
        let waiter = Task { continuation.yield(await task.value) }
        let watchdog = Task {
            try? await Task.sleep(for: .seconds(60))
            continuation.yield(.failed("the task was still paused a minute after it was cancelled"))
        }
        var iterator = outcomes.makeAsyncIterator()
        let first = await iterator.next() ?? .failed("no outcome")
        watchdog.cancel()
        _ = waiter
        return first
    }

    /// An hour-long pause cancelled mid-way ends the task at once; were the loop's timer left to run, the watchdog
    /// would fail the test after a minute.
    @Test func aPauseOnAnEventLoopEndsWhenItsTaskIsCancelled() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let outcome = await Self.pause(for: .seconds(3600), on: group.next(), cancel: true)
        try await group.shutdownGracefully()
        #expect(outcome == .cancelled(onLoop: true))
    }

    @Test func aPauseOffTheLoopsEndsWhenItsTaskIsCancelled() async {
        let outcome = await Self.pause(for: .seconds(3600), on: nil, cancel: true)
        #expect(outcome == .cancelled(onLoop: false))
    }

    @Test func anUncancelledPauseWaitsItsTimeOnTheLoopAndReturns() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let before = NIODeadline.now()
        let outcome = await Self.pause(for: .milliseconds(30), on: loop, cancel: false)
        let waited = NIODeadline.now() - before
        try await group.shutdownGracefully()
        #expect(outcome == .finished(onLoop: true))
        // A timer never fires early: this bounds the wait from below only, whatever the machine's load.
        #expect(waited >= .milliseconds(30))
    }

    /// A task cancelled before its pause starts does not schedule a timer at all.
    @Test func aTaskAlreadyCancelledDoesNotPause() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let task = Task(executorPreference: EventLoopTaskExecutor(loop: loop)) { () async -> Outcome in
            withUnsafeCurrentTask { $0?.cancel() }
            do {
                try await MockUpstream.pause(for: .seconds(3600))
                return .finished(onLoop: true)
            } catch is CancellationError {
                return .cancelled(onLoop: MultiThreadedEventLoopGroup.currentEventLoop != nil)
            } catch {
                return .failed(String(describing: error))
            }
        }
        let outcome = await Self.outcome(of: task)
        try await group.shutdownGracefully()
        #expect(outcome == .cancelled(onLoop: true))
    }
}
