import Foundation
import NIOCore
import NIOPosix

/// How many event loops `switchboard run` starts: one per core the process may run on.
///
/// NIO sizes its shared group by the machine's cores or a cgroup's quota, but not by the
/// affinity mask that `taskset`, `numactl` or a container runtime's `--cpuset-cpus` set on the
/// process. A server pinned to one core would then run two loops on it, and a message published
/// on one connection and delivered on another would cost two context switches and an eventfd
/// wake-up on that core (measured: 2 context switches and 1 extra read and write per message).
/// Go's runtime sizes `GOMAXPROCS` by the same mask.
enum EventLoopCount {
    /// Sets NIO's suggestion for its shared group before anything starts it: the smaller of
    /// NIO's own count and the cores this process may run on (when `/proc` says).
    static func apply() {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let allowed = allowedCores(status: status) else { return }
        NIOSingletons.groupLoopCountSuggestion = max(1, min(System.coreCount, allowed))
    }

    /// The number of cores in `Cpus_allowed_list` of a `/proc/PID/status` text (`0-3,8,10-11`),
    /// or nil when the line is missing or not understood.
    static func allowedCores(status: String) -> Int? {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else { return nil }
        let list = line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces)
        var count = 0
        for part in list.split(separator: ",") {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard let first = bounds.first.flatMap({ Int($0) }), first >= 0 else { return nil }
            switch bounds.count {
            case 1: count += 1
            case 2:
                guard let last = Int(bounds[1]), last >= first, last - first < 1 << 20 else { return nil }
                count += last - first + 1
            default: return nil
            }
            guard count < 1 << 20 else { return nil }
        }
        return count > 0 ? count : nil
    }
}
