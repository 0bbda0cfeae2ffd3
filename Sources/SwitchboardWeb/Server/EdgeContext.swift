import Hummingbird
import NIOCore

/// The request context of Switchboard's HTTP edge: Hummingbird's core context plus the
/// connection's channel, so a streaming endpoint can notice when the client goes away.
public struct EdgeContext: RequestContext {
    /// What Hummingbird builds the context from.
    public typealias Source = ApplicationRequestContextSource

    public var coreContext: CoreRequestContextStorage
    /// The connection the request came on.
    public let channel: any Channel

    public init(source: Source) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
