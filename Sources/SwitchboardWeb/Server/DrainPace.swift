import Switchboard

/// How fast a stream endpoint that stops (a shutdown, a restart in a reload) tells its clients
/// to come back: `rate` streams ended per second, in batches every 10 ms, and whatever is left
/// at `within` all at once — Phoenix's socket drainer. Behind a load balancer the clients then
/// land on the other instances spread out, not as a thundering herd.
///
/// ```json
/// "events": { "type": "sse", "drain": { "rate": 2000, "within": "5s" }, … }
/// ```
struct DrainPace: Sendable, Equatable {
    /// Streams ended per second (0: all at once).
    let rate: Int
    /// The most the staggering may take.
    let within: Duration

    /// 2,000 a second for at most 5 s: half of the default `shutdownTimeout`, so that a
    /// shutdown's other stops still have time.
    static let `default` = DrainPace(rate: 2000, within: .seconds(5))

    init(rate: Int, within: Duration) {
        self.rate = rate
        self.within = within
    }

    /// The endpoint's `drain` field.
    init(_ c: ConfigReader) {
        guard let d = c.object("drain") else {
            self = .default
            return
        }
        rate = d.int("rate", default: Self.default.rate, in: 0...10_000_000)
        within = d.duration("within", default: Self.default.within, in: .zero...Duration.seconds(3600))
    }

    /// Streams ended per 10 ms tick (at least one).
    var perTick: Int { max(1, (rate + 99) / 100) }

    var json: JSONValue { ["rate": .int(rate), "within": .string(within.short)] }
}
