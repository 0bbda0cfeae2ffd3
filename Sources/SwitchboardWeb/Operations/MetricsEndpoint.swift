import HTTPTypes
import Hummingbird
import NIOCore
import Prometheus
import Switchboard

/// The `metrics` endpoint: `GET /metrics` in the Prometheus text format (swift-prometheus
/// renders it), with every component's figures labelled by component name — or only those of
/// the components a `sources` slot names (a list, or a refset such as
/// `{"$all": "message-store"}`).
///
/// Commonly on a second, internal `http-server`:
///
/// ```json
/// "ops": { "type": "http-server", "host": "127.0.0.1", "port": 9090 },
/// "metrics": { "type": "metrics", "using": { "server": "ops" } }
/// ```
public final class MetricsEndpoint: HTTPEndpoint {
    public let mount: EndpointMount
    private let path: String
    private let scraper: Scraper
    /// The components whose figures are exported (nil: every one).
    private let sources: Set<String>?

    init(_ context: ComponentContext) {
        mount = EndpointMount(context)
        path = context.routePath(default: "/metrics")
        sources = context.dependencies("sources", as: (any Component).self, "the components whose figures are exported (default: every one)")
            .map { Set($0.map(\.target)) }
        scraper = Scraper(system: context.system, sources: sources)
        context.claimRoute("GET", path)
    }

    /// The component type.
    public static let type = ComponentType(
        "metrics", summary: "GET /metrics: every component's figures in the Prometheus text format."
    ) { MetricsEndpoint($0) }

    public func start() async throws {
        try mount.mount([HTTPRoute(.get, path) { [scraper] _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: await scraper.scrape())))
        }])
    }

    public func inspect() async -> JSONValue {
        ["path": .string(path), "scrapes": .int(await scraper.scrapes), "series": .int(await scraper.series),
         "sources": sources.map { .array($0.sorted().map(JSONValue.string)) } ?? "every component"]
    }

    /// Reads the figures into one registry, scrape after scrape: a counter moves by what its
    /// figure grew since the last scrape (and starts again when a restarted component's did);
    /// series of components that are gone are removed.
    actor Scraper {
        private enum Series {
            case counter(Counter, last: Double)
            case gauge(Gauge)
        }

        private let system: SystemHandle
        private let sources: Set<String>?
        private let registry = PrometheusCollectorRegistry()
        private var known: [String: Series] = [:]
        private(set) var scrapes = 0
        var series: Int { known.count }

        init(system: SystemHandle, sources: Set<String>?) {
            self.system = system
            self.sources = sources
            registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "switchboard", metricName: "build", unitName: "info",
                                                                 helpText: "1, labelled with the version"), labels: [("version", Switchboard.version)]).set(to: 1.0)
        }

        func scrape() async -> [UInt8] {
            scrapes += 1
            var seen = Set<String>()
            seen.insert(record(FigureMetrics.Sample(family: FigureMetrics.droppedLogLines, labels: [], value: Double(LogOutput.droppedLines))))
            if let map = system.map {
                let reloads = await map.reloadCounts
                for result in SystemMap.ReloadResult.allCases {
                    seen.insert(record(FigureMetrics.Sample(family: FigureMetrics.reloads, labels: [("outcome", result.rawValue)], value: Double(reloads[result] ?? 0))))
                }
                for row in await map.status().arrayValue ?? [] {
                    guard let name = row["name"]?.stringValue, let type = row["type"]?.stringValue, let state = row["state"]?.stringValue,
                          sources?.contains(name) ?? true else { continue }
                    let figures = (try? await map.inspect(name))?["figures"] ?? .null
                    for sample in FigureMetrics.samples(name: name, type: type, state: state, figures: figures) {
                        seen.insert(record(sample))
                    }
                }
            }
            for (key, series) in known where !seen.contains(key) {
                switch series {
                case .counter(let c, _): registry.unregisterCounter(c)
                case .gauge(let g): registry.unregisterGauge(g)
                }
                known[key] = nil
            }
            return registry.emitToBuffer() + HotPathMetrics.registry.emitToBuffer()
        }

        /// Sets the series of `sample`; returns its key.
        private func record(_ sample: FigureMetrics.Sample) -> String {
            let f = sample.family
            let descriptor = MetricNameDescriptor(namespace: "switchboard", subsystem: f.subsystem, metricName: f.name, unitName: f.unit, helpText: f.help)
            let key = descriptor.name + sample.labels.map { "|\($0.0)=\($0.1)" }.joined()
            if f.isCounter {
                let counter: Counter
                var last = 0.0
                if case .counter(let c, let l)? = known[key] { (counter, last) = (c, l) } else {
                    counter = registry.makeCounter(descriptor: descriptor, labels: sample.labels)
                }
                if sample.value < last {
                    counter.reset()
                    last = 0
                }
                let grew = sample.value - last
                if grew > 0 {
                    if grew == grew.rounded() { counter.increment(by: Int64(grew)) } else { counter.increment(by: grew) }
                }
                known[key] = .counter(counter, last: sample.value)
            } else {
                let gauge: Gauge
                if case .gauge(let g)? = known[key] { gauge = g } else {
                    gauge = registry.makeGauge(descriptor: descriptor, labels: sample.labels)
                    known[key] = .gauge(gauge)
                }
                gauge.set(to: sample.value)
            }
            return key
        }
    }
}
