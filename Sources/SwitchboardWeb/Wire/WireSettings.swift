import NIOCore

/// How a server's connections behave, fixed when the server starts.
struct WireSettings: Sendable {
    /// The longest request body read.
    var bodyLimit: Int
    /// How long a client may take to send a whole request (head and body), or a WebSocket
    /// handshake until it is answered: past it, 408 and the close.
    var requestTimeout: TimeAmount
    /// How long a kept-alive connection may sit idle between requests.
    var keepAliveTimeout: TimeAmount
    /// The largest WebSocket frame a client may send.
    var maxWebSocketFrame: Int
}
