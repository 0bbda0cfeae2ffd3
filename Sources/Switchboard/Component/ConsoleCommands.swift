/// A component with console commands of its own, reached as `<topic> <words…>` (the outbound
/// webhook component answers `webhooks dead` and `webhooks redeliver`).
public protocol ConsoleCommands: Component {
    /// The first word of its commands (`webhooks`).
    var consoleTopic: String { get }
    /// Runs `words` (after the topic); returns human text and JSON.
    func console(_ words: [String]) async throws -> (text: String, data: JSONValue)
}
