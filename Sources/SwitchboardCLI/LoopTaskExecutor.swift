import NIOCore
import Synchronization

/// NIO's event loops as a task executor (`TaskPlacement`): a job goes to the loop it is enqueued
/// from when that is one of the group's (else to any), as NIO's global-executor hook places jobs,
/// but runs as a *task* executor's job, so that the calls it makes into `nonisolated` async
/// functions do not each hop through a job of their own. NIO 2.x has no such executor of its own
/// (its loops are serial executors only).
final class LoopTaskExecutor: TaskExecutor {
    let group: any EventLoopGroup
    private let enqueued = Atomic<Int>(0)

    init(group: any EventLoopGroup) { self.group = group }

    /// Jobs run so far (what a test counts hops by).
    var jobs: Int { enqueued.load(ordering: .relaxed) }

    func enqueue(_ job: consuming ExecutorJob) {
        enqueued.add(1, ordering: .relaxed)
        let job = UnownedJob(job)
        group.any().execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
