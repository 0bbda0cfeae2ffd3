import HTTPTypes
import Hummingbird
import NIOCore
import Switchboard

/// A small response whose body is at hand: what a direct route answers on its connection's
/// event loop without a task (see `DirectOutcome`).
struct DirectAnswer: Sendable, JSONAnswer {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: ByteBuffer

    static func json(_ status: HTTPResponse.Status, _ json: JSONValue, headers: HTTPFields = [:]) -> DirectAnswer {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return DirectAnswer(status: status, headers: fields, body: ByteBuffer(string: json.jsonText + "\n"))
    }

    /// The same answer as Hummingbird's response.
    var response: Response {
        Response(status: status, headers: headers, body: ResponseBody(byteBuffer: body))
    }
}

/// What a direct route makes of a request: the answer at once (nothing had to wait), or the
/// work that makes it, run in a task because it waits (a token to check, a full channel, a
/// store's commit).
enum DirectOutcome: Sendable {
    case now(DirectAnswer)
    case later(@Sendable () async -> DirectAnswer)

    /// The answer, waited for when it comes later.
    var answer: DirectAnswer {
        get async {
            switch self {
            case .now(let answer): answer
            case .later(let make): await make()
            }
        }
    }

    /// The outcome with `change` made to its answer once the answer is made (at once for `now`).
    func map(_ change: @escaping @Sendable (DirectAnswer) -> DirectAnswer) -> DirectOutcome {
        switch self {
        case .now(let answer): .now(change(answer))
        case .later(let make): .later { change(await make()) }
        }
    }
}

/// A response type that can carry a JSON body: Hummingbird's `Response` and `DirectAnswer`
/// share the error shapes below, so an endpoint answers the same either way.
protocol JSONAnswer {
    /// An answer whose body is `json`.
    static func json(_ status: HTTPResponse.Status, _ json: JSONValue, headers: HTTPFields) -> Self
    /// A 4xx/5xx answer with `{"error": reason, …details}`.
    static func error(_ status: HTTPResponse.Status, _ reason: String, _ details: JSONObject, headers: HTTPFields) -> Self
}

extension Response: JSONAnswer {}

extension DirectAnswer {
    /// A 4xx/5xx answer with `{"error": reason, …details}` (as `Response.error`).
    static func error(_ status: HTTPResponse.Status, _ reason: String, _ details: JSONObject = JSONObject(), headers: HTTPFields = [:]) -> DirectAnswer {
        json(status, JSONValue.errorBody(status, reason, details), headers: headers)
    }
}

extension JSONValue {
    /// The body of an error answer: `{"error": reason, "status": code, …details}`.
    static func errorBody(_ status: HTTPResponse.Status, _ reason: String, _ details: JSONObject) -> JSONValue {
        var body = JSONObject()
        body["error"] = .string(reason)
        body["status"] = .int(status.code)
        for (k, v) in details { body[k] = v }
        return .object(body)
    }
}
