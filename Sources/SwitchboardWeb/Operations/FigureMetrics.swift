import Switchboard

/// The components' figures (what `inspect` shows) as Prometheus metric families, read at
/// scrape time: the console and `/metrics` read the same counters, so they never disagree, and
/// nothing is added to the path of a message.
enum FigureMetrics {
    /// One metric family: `switchboard_<subsystem>_<name>_<unit>`.
    struct Family: Hashable, Sendable {
        let subsystem: String
        let name: String
        let unit: String
        let help: String
        let isCounter: Bool
        /// Label names after `component`.
        let labels: [String]
    }

    struct Sample {
        let family: Family
        let labels: [(String, String)]
        let value: Double
    }

    private static func counter(_ subsystem: String, _ name: String, _ help: String, labels: [String] = []) -> Family {
        Family(subsystem: subsystem, name: name, unit: "total", help: help, isCounter: true, labels: labels)
    }

    private static func gauge(_ subsystem: String, _ name: String, _ unit: String = "", _ help: String, labels: [String] = []) -> Family {
        Family(subsystem: subsystem, name: name, unit: unit, help: help, isCounter: false, labels: labels)
    }

    static let state = gauge("component", "state", "", "1 for the state each component is in, 0 for the others", labels: ["type", "state"])
    static let states = ["stopped", "starting", "running", "stopping", "failed"]

    /// Per type: the figure (a path into `inspect`'s figures) and the family it feeds.
    static let table: [String: [([String], Family)]] = [
        "channel": [
            (["puts"], counter("channel", "puts", "messages put on the channel")),
            (["takes"], counter("channel", "takes", "messages taken from the channel")),
            (["dropped"], counter("channel", "dropped", "messages its buffer policy dropped")),
            (["count"], gauge("channel", "buffered", "messages", "messages in the buffer now")),
            (["capacity"], gauge("channel", "capacity", "messages", "the buffer's size")),
        ],
        "mult": [
            (["tapCount"], gauge("mult", "taps", "", "taps on the mult")),
            (["listeners"], gauge("mult", "listeners", "", "listeners running in the mult's loop (SSE endpoints)")),
            (["delivered"], counter("mult", "delivered", "deliveries to taps and listeners, one per consumer per message")),
            (["tapDelivered"], counter("mult", "tap_delivered", "messages delivered into taps (every tap there has been)")),
            (["dropped"], counter("mult", "tap_dropped", "messages taps lost to their policy")),
            (["buffered"], gauge("mult", "tap_buffered", "messages", "messages waiting in taps now")),
        ],
        "pub": [
            (["unrouted"], counter("pub", "unrouted", "messages no subscriber's topic took")),
            (["delivered"], counter("pub", "tap_delivered", "messages delivered into subscriptions")),
            (["dropped"], counter("pub", "tap_dropped", "messages subscriptions lost to their policy")),
            (["buffered"], gauge("pub", "tap_buffered", "messages", "messages waiting in subscriptions now")),
        ],
        "http-server": [
            (["connections"], gauge("http", "connections", "", "open connections")),
            (["connectionsAccepted"], counter("http", "connections_accepted", "connections accepted")),
            (["connectionsShed"], counter("http", "connections_shed", "connections refused over maxConnections")),
        ],
        "sse": [
            (["subscribers"], gauge("sse", "subscribers", "", "connected SSE subscribers")),
            (["served"], counter("sse", "connections", "SSE streams opened")),
            (["delivered"], counter("sse", "delivered", "events written to subscribers")),
            (["dropped"], counter("sse", "dropped", "events subscribers lost to their policy")),
        ],
        "websocket": [
            (["sessions"], gauge("websocket", "sessions", "", "open WebSocket sessions")),
            (["delivered"], counter("websocket", "delivered", "messages written to sessions")),
            (["dropped"], counter("websocket", "dropped", "messages sessions lost to their policy")),
        ],
        "webhook-out": [
            (["delivered"], counter("webhook_out", "delivered", "webhooks delivered")),
            (["failed"], counter("webhook_out", "failed", "webhooks that exhausted their retries")),
            (["retrying"], gauge("webhook_out", "retrying", "", "deliveries waiting for a retry")),
            (["inFlight"], gauge("webhook_out", "in_flight", "", "requests to targets under way")),
            (["queued"], gauge("webhook_out", "queued", "", "deliveries waiting for a target")),
            (["attempts"], counter("webhook_out", "attempts", "requests made to targets, retries included")),
            (["deadLetters"], gauge("webhook_out", "dead_letters", "", "dead letters kept")),
        ],
        "store": [
            (["written"], counter("store", "written", "messages committed")),
            (["rows"], gauge("store", "rows", "", "messages stored")),
            (["bytesOnDisk"], gauge("store", "size", "bytes", "the database's size on disk")),
            (["lag"], gauge("store", "lag", "messages", "messages taken but not yet committed")),
            (["averageBatch"], gauge("store", "batch_average", "messages", "messages per commit")),
            (["commitSeconds"], gauge("store", "commit_average", "seconds", "time per commit")),
            (["waitingAcks"], gauge("store", "acks_waiting", "", "stored acks waiting for a commit")),
        ],
        "postgres": [
            (["up"], gauge("postgres", "up", "", "1 while queries go through, 0 while degraded or stopped")),
            (["queries"], counter("postgres", "queries", "queries run through the pool")),
            (["failures"], counter("postgres", "failures", "queries and connections that failed")),
            (["reconnects"], counter("postgres", "reconnects", "times the database came back after being away")),
            (["inUse"], gauge("postgres", "pool_in_use", "", "pooled connections in use now")),
            (["poolSize"], gauge("postgres", "pool_size", "", "the most pooled connections")),
        ],
        "bus": [
            (["written"], counter("bus", "written", "messages this instance appended to the shared log")),
            (["notStored"], counter("bus", "not_stored", "messages that could not be appended (the database was away)")),
            (["read"], counter("bus", "read", "messages read from the shared log and emitted")),
            (["restamped"], counter("bus", "ids_moved", "messages given a later id to follow the log's order")),
            (["listenLost"], counter("bus", "listen_lost", "LISTEN connections lost")),
            (["catchUps"], counter("bus", "catch_ups", "reads of the log")),
            (["announced"], counter("bus", "announced", "rows taken from NOTIFY payloads, without a read of the log")),
            (["notifications"], counter("bus", "notifications", "NOTIFYs received (rows, presence, wake-ups)")),
            (["batches"], counter("bus", "batches", "appends to the shared log (one statement each)")),
            (["lag"], gauge("bus", "lag", "rows", "rows of the shared log not yet emitted by this instance, at the last heartbeat")),
            (["lastSeq"], gauge("bus", "last_seq", "", "the last log position read")),
            (["waitingAcks"], gauge("bus", "acks_waiting", "", "stored acks waiting for a commit")),
        ],
    ]

    /// Counts by outcome (`counts` objects) become one family with a `result` label.
    static let outcomes: [String: Family] = [
        "publish": counter("publish", "requests", "POST answers by outcome", labels: ["result"]),
        "websocket": counter("websocket", "messages", "inbound WebSocket messages by outcome", labels: ["result"]),
        "webhook-in": counter("webhook_in", "requests", "inbound webhooks by outcome", labels: ["result"]),
    ]

    static let webSocketCounts: [String: Family] = [
        "connected": counter("websocket", "connections", "WebSocket sessions opened"),
        "errors": counter("websocket", "errors", "sessions ended by a protocol error (bad UTF-8, a frame too large, …)"),
    ]

    /// A type the table does not know (a user's): each top-level number of its figures.
    static let figure = gauge("component", "figure", "", "a top-level number of the figures of a component whose type has no metrics of its own", labels: ["figure"])

    static let responses = counter("http", "responses", "responses by status class", labels: ["class"])
    static let reloads = counter("system", "reloads", "reloads of system.json by outcome", labels: ["outcome"])
    static let droppedLogLines = counter("log", "lines_dropped", "log lines dropped because their write failed (a closed pipe, a full disk)")

    /// The samples of one component, from its status row and figures.
    static func samples(name: String, type: String, state: String, figures: JSONValue) -> [Sample] {
        var out = states.map { Sample(family: Self.state, labels: [("component", name), ("type", type), ("state", $0)], value: $0 == state ? 1 : 0) }
        if table[type] == nil, outcomes[type] == nil, case .object(let own) = figures {
            for (key, v) in own {
                let value: Double
                switch v {
                case .int(let n): value = Double(n)
                case .double(let d) where d.isFinite: value = d
                default: continue
                }
                out.append(Sample(family: figure, labels: [("component", name), ("figure", key)], value: value))
            }
        }
        for (path, family) in table[type] ?? [] {
            guard let value = path.reduce(Optional(figures), { $0?[$1] })?.doubleValue else { continue }
            out.append(Sample(family: family, labels: [("component", name)], value: value))
        }
        if let family = outcomes[type], case .object(let counts)? = figures["counts"] {
            for (result, v) in counts {
                guard let v = v.doubleValue else { continue }
                // A WebSocket endpoint also counts its sessions and the wire errors that ended them.
                if type == "websocket", let own = webSocketCounts[result] {
                    out.append(Sample(family: own, labels: [("component", name)], value: v))
                    continue
                }
                out.append(Sample(family: family, labels: [("component", name), ("result", result)], value: v))
            }
        }
        if type == "http-server", case .object(let requests)? = figures["requests"] {
            for (cls, v) in requests where cls != "total" {
                if let v = v.doubleValue { out.append(Sample(family: responses, labels: [("component", name), ("class", cls)], value: v)) }
            }
        }
        return out
    }
}
