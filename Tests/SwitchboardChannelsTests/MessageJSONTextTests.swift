import Foundation
import Switchboard
import SwitchboardChannels
import Testing

/// `Message.jsonText` writes the same bytes as `Message.json.jsonText`, without the object.
@Suite struct MessageJSONTextTests {
    static let texts = ["hi", "", "quote \" and \\ backslash", "line\nbreak\r\ttab", "\u{2028}\u{2029} separators", "control \u{01}\u{1F}",
                        "émoji 👋🏽 and 日本語", String(repeating: "long ", count: 200)]

    @Test func sameBytesAsTheJSONValue() {
        var rng = SystemRandomNumberGenerator()
        var checked = 0
        for text in Self.texts {
            for room in [nil, "lobby", "r\"oom"] as [String?] {
                for to in [nil, "bob", "b\nob"] as [String?] {
                    for data in [nil, .object(["a": 1, "b": [true, .null, "x\"y"]]), .string("s"), .double(1.5)] as [JSONValue?] {
                        let spans = Bool.random(using: &rng) ? [] : [TextSpan(kind: "code", start: 0, length: min(2, text.utf16.count))]
                        let m = Message(from: "a\u{7F}lice \"A\"", text: text, room: room, to: to, data: data,
                                        time: Date(timeIntervalSince1970: Double.random(in: 0..<4_102_444_800, using: &rng)), spans: spans)
                        #expect(m.jsonText() == m.json.jsonText)
                        guard case .object(var o) = m.json else { Issue.record("not an object"); continue }
                        o["type"] = "message"
                        #expect(m.jsonText(type: "message") == JSONValue.object(o).jsonText)
                        checked += 1
                    }
                }
            }
        }
        #expect(checked == Self.texts.count * 36)
    }
}
