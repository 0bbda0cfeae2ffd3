import Foundation
import Switchboard
import Testing

/// `LifecycleEvent.timestamp` writes what Foundation's ISO 8601 style writes, without it.
@Suite struct TimestampTests {
    let foundation = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    @Test func edgesOfDaysMonthsAndLeapYears() {
        let dates = ["1970-01-01T00:00:00.000Z", "1999-12-31T23:59:59.999Z", "2000-02-29T12:00:00.500Z", "2000-03-01T00:00:00.000Z",
                     "2024-02-29T23:59:59.001Z", "2100-02-28T23:59:59.999Z", "2100-03-01T00:00:00.000Z", "2026-12-05T18:03:07.042Z",
                     "2199-12-31T23:59:59.999Z"]
        for text in dates {
            let date = try! foundation.parse(text)
            // Foundation's own answer (a parsed .999 may come back .998: its double is short).
            #expect(LifecycleEvent.timestamp(date) == date.formatted(foundation))
        }
        #expect(LifecycleEvent.timestamp(try! foundation.parse("2000-02-29T12:00:00.500Z")) == "2000-02-29T12:00:00.500Z")
        #expect(LifecycleEvent.timestamp(Date(timeIntervalSince1970: 1_796_493_787.042_5)) == "2026-12-05T18:03:07.042Z")
        // The last day of the fast range: as Foundation has it (its double is a little short).
        let last = try! foundation.parse("9999-12-31T23:59:59.999Z")
        #expect(LifecycleEvent.timestamp(last) == last.formatted(foundation))
    }

    @Test func agreesWithFoundationOverRandomDates() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            // Times as `Date()` makes them (sub-millisecond), 1970 to 2200.
            let seconds = Double.random(in: 0..<7_258_118_400, using: &rng)
            let date = Date(timeIntervalSince1970: seconds)
            #expect(LifecycleEvent.timestamp(date) == date.formatted(foundation), "\(seconds)")
        }
        for _ in 0..<5_000 {
            let date = Date(timeIntervalSince1970: Double.random(in: 0..<253_402_300_800, using: &rng))
            #expect(LifecycleEvent.timestamp(date) == date.formatted(foundation), "\(date.timeIntervalSince1970)")
        }
        // Outside the fast range, Foundation's answer.
        let early = Date(timeIntervalSince1970: -86_400.5)
        #expect(LifecycleEvent.timestamp(early) == early.formatted(foundation))
    }
}
