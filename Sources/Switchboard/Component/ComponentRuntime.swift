import Logging
import Synchronization

/// The handle a running component keeps to talk to its system: a logger and a way to say
/// it has failed.
public final class ComponentRuntime: Sendable {
    /// The component's name.
    public let name: String
    /// The component's logger.
    public let logger: Logger
    private let reporter = Mutex<(@Sendable (any Error) -> Void)?>(nil)

    init(name: String, logger: Logger) {
        self.name = name
        var logger = logger
        logger[metadataKey: "component"] = "\(name)"
        self.logger = logger
    }

    /// Reports that the component failed while running: the map marks it `failed`, records
    /// the error and logs it. The process keeps running.
    public func fail(_ error: any Error) {
        if let report = reporter.withLock({ $0 }) {
            report(error)
        } else {
            logger.error("failed outside a system map: \(error)")
        }
    }

    func onFailure(_ report: @escaping @Sendable (any Error) -> Void) {
        reporter.withLock { $0 = report }
    }
}
