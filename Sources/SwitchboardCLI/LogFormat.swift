import Foundation
import Logging
import Switchboard
import Synchronization

/// How `switchboard run` writes its log: swift-log's text lines, or one JSON object per line
/// for a log pipeline.
enum LogFormat: String, CaseIterable, Sendable {
    case text, json

    /// This process's instance name (the system's `instance`), on every line once the system
    /// is loaded.
    static let instance = Mutex<String?>(nil)

    /// One line (with its newline) for `event`.
    func line(label: String, event: LogEvent, metadata: Logger.Metadata) -> String {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        let instance = Self.instance.withLock { $0 }
        switch self {
        case .text:
            let meta = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            return "\(Date().formatted(.iso8601)) \(event.level) \(label)\(instance.map { "@\($0)" } ?? ""):\(meta) [\(event.source)] \(event.message)\n"
        case .json:
            // Keys: time, level, message, component (when the line is a component's), logger,
            // instance, source, metadata (the rest).
            var o = JSONObject()
            o["time"] = .string(LifecycleEvent.timestamp(Date()))
            o["level"] = .string(event.level.rawValue)
            o["message"] = .string(event.message.description)
            if let component = all.removeValue(forKey: "component") { o["component"] = .string(component.description) }
            o["logger"] = .string(label)
            if let instance { o["instance"] = .string(instance) }
            o["source"] = .string(event.source)
            if !all.isEmpty { o["metadata"] = .object(JSONObject(all.sorted { $0.key < $1.key }.map { ($0.key, Self.json($0.value)) })) }
            return JSONValue.object(o).jsonText + "\n"
        }
    }

    private static func json(_ v: Logger.Metadata.Value) -> JSONValue {
        switch v {
        case .string(let s): .string(s)
        case .stringConvertible(let c): .string(c.description)
        case .array(let a): .array(a.map(json))
        case .dictionary(let d): .object(JSONObject(d.sorted { $0.key < $1.key }.map { ($0.key, json($0.value)) }))
        }
    }
}

/// Writes each event as one line of `format`, whole, through `write` (standard output unless
/// told otherwise; `RunLog` passes its own, which also writes to a file).
struct LineLogHandler: LogHandler {
    static let output = Mutex(())
    let label: String
    let format: LogFormat
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var write: @Sendable (Logger.Level, String) -> Void = { _, line in
        LineLogHandler.output.withLock { _ in _ = LogOutput.write(line, to: STDOUT_FILENO) }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        write(event.level, format.line(label: label, event: event, metadata: metadata))
    }
}
