import Logging

/// The logger the HTTP library gets: the component's, except that "Error handling upgrade
/// result" — logged at `error` for every connection the guard refused or a client dropped
/// before its upgrade completed — goes to `debug`: any client can cause it, at will, so at
/// `error` it would be a way to flood the log, and the refusal itself is already answered.
struct QuietUpgradeErrors: LogHandler {
    var inner: any LogHandler

    static func logger(_ base: Logger) -> Logger {
        Logger(label: base.label) { _ in QuietUpgradeErrors(inner: base.handler) }
    }

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        if event.level > .debug, event.message.description == "Error handling upgrade result" {
            guard inner.logLevel <= .debug else { return }
            event.level = .debug
        }
        inner.log(event: event)
    }
}
