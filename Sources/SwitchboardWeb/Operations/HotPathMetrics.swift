import Prometheus

/// The figures that cannot be read at scrape time — latency distributions — recorded as they
/// happen into one registry per process; every metrics endpoint emits them after the
/// components' figures. An endpoint that is replaced in a reload gets the same series back.
enum HotPathMetrics {
    static let registry = PrometheusCollectorRegistry()

    static let buckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .milliseconds(2500), .seconds(5),
    ]

    /// `switchboard_publish_duration_seconds{component}`: from a POST's arrival to its answer
    /// (for `ack: stored`, the commit included).
    static func publishDuration(component: String) -> DurationHistogram {
        registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(namespace: "switchboard", subsystem: "publish", metricName: "duration", unitName: "seconds",
                                             helpText: "time from a POST's arrival to its answer"),
            labels: [("component", component)], buckets: buckets)
    }
}
