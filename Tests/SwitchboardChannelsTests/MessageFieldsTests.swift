import Switchboard
import SwitchboardChannels
import Testing

/// The one message decoder: the same rules for POST /messages, WebSocket frames and put!.
@Suite struct MessageFieldsTests {
    func decode(_ json: String, _ rules: MessageFields.Rules = .init()) throws(MessageFields.Problem) -> MessageFields {
        try MessageFields.decode(try! JSONParser.parse(json).value, rules: rules)
    }

    @Test func readsTrimsAndDropsEmptyNames() throws {
        let f = try decode(#"{"text": " hi ", "from": "  ann ", "room": "", "data": {"k": 1}}"#)
        #expect(f == MessageFields(text: " hi ", from: "ann", room: nil, to: nil, data: ["k": 1]))
    }

    @Test(arguments: [
        (#"{"from": "a"}"#, MessageFields.Problem.missingText),
        (#"{"text": "   "}"#, .missingText),
        (#"{"text": 5}"#, .wrongType(field: "text", found: "an integer")),
        (#"{"text": "x", "from": 3}"#, .wrongType(field: "from", found: "an integer")),
        (#"{"text": "x", "romm": "dev"}"#, .unknownField("romm", suggestion: " (did you mean \"room\"?)")),
        (#"["x"]"#, .notAnObject(found: "an array")),
    ])
    func refusesWithTheReason(json: String, problem: MessageFields.Problem) {
        #expect(throws: problem) { try decode(json) }
    }

    @Test func aNameOverTheLimitIsRefused() {
        let long = String(repeating: "n", count: MessageFields.maxNameLength + 1)
        #expect(throws: MessageFields.Problem.tooLong(field: "room")) { try decode(#"{"text": "x", "room": "\#(long)"}"#) }
    }

    @Test func rulesSayWhatAnEntryTakes() throws {
        // Every entry takes private messages; the console also data-only ones.
        #expect(try decode(#"{"text": "x", "to": "bob"}"#).to == "bob")
        let console = MessageFields.Rules(allowsDataOnly: true)
        #expect(try decode(#"{"data": [1]}"#, console).text == "")
        // A WebSocket: the sender is the session; its own keys are not the message's.
        let ws = MessageFields.Rules(allowsFrom: false, controlKeys: ["name"])
        #expect(try decode(#"{"text": "x", "name": "cy"}"#, ws).text == "x")
        #expect(throws: MessageFields.Problem.notTaken(field: "from")) { try decode(#"{"text": "x", "from": "eve"}"#, ws) }
        // A form: extra keys (a submit button) are not refused.
        #expect(try decode(#"{"text": "x", "submit": "Send"}"#, .init(refusesUnknownKeys: false)).text == "x")
    }
}
