import Dispatch
import NIOCore
import NIOPosix
import Testing

@testable import SwitchboardCLI

/// Tasks that prefer the event loops as a task executor stay in one job across calls between
/// `nonisolated` async functions, and always run on a loop.
@Suite struct LoopTaskExecutorTests {
    /// Five calls deep, each on a loop: one job in all — on a serial executor each call would
    /// hop through a job of its own.
    @Test func nestedCallsRunInTheTasksOneJob() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let executor = LoopTaskExecutor(group: group)
        let depth = await Task(executorPreference: executor) { await Self.descend(5) }.value
        #expect(depth == 5)
        #expect(executor.jobs == 1)
        try await group.shutdownGracefully()
    }

    /// A task resumed from a thread that is not a loop (a continuation, a timer) comes back on
    /// a loop, as one more job.
    @Test func aResumptionFromElsewhereComesBackToALoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let executor = LoopTaskExecutor(group: group)
        let onLoop = await Task(executorPreference: executor) {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().async { c.resume() }
            }
            return MultiThreadedEventLoopGroup.currentEventLoop != nil
        }.value
        #expect(onLoop)
        #expect(executor.jobs == 2)
        try await group.shutdownGracefully()
    }

    /// How deep the calls went, counting only levels that ran on an event loop.
    nonisolated static func descend(_ n: Int) async -> Int {
        let here = MultiThreadedEventLoopGroup.currentEventLoop != nil ? 1 : 0
        guard n > 1 else { return here }
        return here + (await descend(n - 1))
    }
}
