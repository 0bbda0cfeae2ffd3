/// Waits, without sleeping, until `condition` holds: yields to let other tasks run.
func eventually(_ what: String = "condition", _ condition: () async -> Bool) async {
    for _ in 0..<1_000_000 {
        if await condition() { return }
        await Task.yield()
    }
    Issue.record("gave up waiting for \(what)")
}

import Testing
