import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// RFC 6455 §4.2: what a server checks of a client's opening handshake, and its answer.
enum WebSocketHandshake {
    /// The headers of the 101 answer to a handshake with `headers`, or the refusal to send:
    /// 426 with `Sec-WebSocket-Version: 13` for another version, 400 for anything else amiss.
    static func answer(_ headers: HTTPFields) -> Result<HTTPFields, Refusal> {
        let connection = (headers[values: .connection]).flatMap { $0.split(separator: ",") }
        guard connection.contains(where: { $0.trimmingCharacters(in: .whitespaces).lowercased() == "upgrade" }) else {
            return .failure(Refusal(.badRequest, "a WebSocket handshake says Connection: Upgrade"))
        }
        guard headers[.secWebSocketVersion] == "13" else {
            var h = HTTPFields()
            h[.secWebSocketVersion] = "13"
            return .failure(Refusal(.upgradeRequired, "this server speaks WebSocket version 13", headers: h))
        }
        guard let key = headers[.secWebSocketKey]?.trimmingCharacters(in: .whitespaces),
              Data(base64Encoded: key)?.count == 16
        else {
            return .failure(Refusal(.badRequest, "a WebSocket handshake has a Sec-WebSocket-Key of 16 bytes in base64"))
        }
        var answer = HTTPFields()
        answer[.upgrade] = "websocket"
        answer[.connection] = "Upgrade"
        answer[.secWebSocketAccept] = accept(key)
        // RFC 6455 §4.2.2: the server selects one of the subprotocols the client offers, or
        // none. Ours is `switchboard.v1` (a client offering it may pass its token beside it as
        // `bearer.<JWT>`, which is never selected).
        let offered = (headers[values: .secWebSocketProtocol]).flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        if offered.contains(subprotocol) { answer[.secWebSocketProtocol] = subprotocol }
        return .success(answer)
    }

    /// The subprotocol this server speaks: JSON text frames as the WebSocket endpoint defines them.
    static let subprotocol = "switchboard.v1"

    /// `Sec-WebSocket-Accept`: the key and the protocol's GUID, hashed with SHA-1, in base64.
    static func accept(_ key: String) -> String {
        Data(Insecure.SHA1.hash(data: Data((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8))).base64EncodedString()
    }

    /// Why a handshake is not answered with 101.
    struct Refusal: Error {
        let status: HTTPResponse.Status
        let reason: String
        var headers = HTTPFields()

        init(_ status: HTTPResponse.Status, _ reason: String, headers: HTTPFields = [:]) {
            self.status = status
            self.reason = reason
            self.headers = headers
        }

        var response: Response { .error(status, reason, headers: headers) }
    }
}
