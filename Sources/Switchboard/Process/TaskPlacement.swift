import Synchronization

/// The executor that the tasks on a message's way prefer — a mult's pump, a stream's pump, a
/// request's task, a WebSocket's inbound queue — set once by `switchboard run` (NIO's event
/// loops, as task executors); nil (Swift's default) in a process that sets nothing, as tests.
///
/// Why: with NIO's loops as Swift's global executor, a job runs as its loop's *serial* executor,
/// so every call from one `nonisolated` async function into another hops back to the global
/// executor through a job of its own — 20 jobs per published message with one subscriber. A task
/// that prefers a *task* executor stays in its job across those calls: 1 job per message
/// (counted with `perf probe swift_job_run*`; the Performance article has the figures).
public enum TaskPlacement {
    private static let preferred = Mutex<(any TaskExecutor)?>(nil)

    /// The preferred executor; nil: Swift's default.
    public static var executor: (any TaskExecutor)? {
        get { preferred.withLock { $0 } }
        set { preferred.withLock { $0 = newValue } }
    }
}
