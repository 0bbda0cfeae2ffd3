import Switchboard
import Testing

/// `SSEParser` against the WHATWG event-stream rules, fed whole and byte by byte.
@Suite struct SSEParserTests {
    /// Everything `text` completes, fed at once and fed a byte at a time (the two must agree).
    func items(_ text: String, maxLine: Int = 1 << 20, maxEvent: Int = 1 << 24) -> [SSEParser.Item] {
        var whole = SSEParser(maxLineBytes: maxLine, maxEventBytes: maxEvent)
        let all = whole.feed(Array(text.utf8))
        var bytewise = SSEParser(maxLineBytes: maxLine, maxEventBytes: maxEvent)
        var one: [SSEParser.Item] = []
        for b in text.utf8 { one += bytewise.feed([b]) }
        #expect(one == all, "fed byte by byte")
        return all
    }

    @Test func theStandardsExamples() {
        // HTML §9.2.6: two data lines make one event; a line without a colon names a field
        // with an empty value; one space after the colon is dropped, a second is kept.
        #expect(items("data: YHOO\ndata: +2\ndata: 10\n\n") == [.event(.init(data: "YHOO\n+2\n10"))])
        #expect(items(": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n") == [
            .comment(" test stream"),
            .event(.init(data: "first event", id: "1")),
            .event(.init(data: "second event", id: "")),
            .event(.init(data: " third event")),
        ])
        // `data` alone is an empty data line: one event with empty data; two are one LF.
        #expect(items("data\n\ndata\ndata\n\ndata:\n") == [.event(.init(data: "")), .event(.init(data: "\n"))])
    }

    @Test func everyLineEndingEndsALine() {
        let expected: [SSEParser.Item] = [.event(.init(event: "a", data: "x")), .event(.init(data: "y"))]
        #expect(items("event: a\r\ndata: x\r\n\r\ndata: y\r\n\r\n") == expected)
        #expect(items("event: a\rdata: x\r\rdata: y\r\r") == expected)
        #expect(items("event: a\ndata: x\r\n\rdata: y\n\r\n") == expected)
    }

    @Test func aCRLFOrACharacterSplitBetweenChunksIsStillOne() {
        var p = SSEParser()
        let bytes = Array("data: h\u{E9}llo \u{1F642}\r\n\r\n".utf8)
        var got: [SSEParser.Item] = []
        got += p.feed(bytes[..<8])       // ends inside é
        got += p.feed(bytes[8..<15])     // ends inside 🙂
        got += p.feed(bytes[15..<(bytes.count - 3)])  // ends on the first CR
        got += p.feed(bytes[(bytes.count - 3)...])
        #expect(got == [.event(.init(data: "h\u{E9}llo \u{1F642}"))])
    }

    @Test func theLastIDStaysAndAnIDWithNULIsIgnored() {
        var p = SSEParser()
        let got = p.feed(Array("id: 7\ndata: a\n\ndata: b\n\nid: 8\u{0}\ndata: c\n\n".utf8))
        #expect(got == [.event(.init(data: "a", id: "7")), .event(.init(data: "b")), .event(.init(data: "c"))])
        #expect(p.lastEventID == "7")
    }

    @Test func retryTakesDigitsOnlyAndUnknownFieldsAreIgnored() {
        #expect(items("retry: 1500\nretry: 15s\nretry: -1\nretry:\nretry: 9999999999\nfoo: bar\nevent: x\n\n") == [.retry(1500)],
                "no data: an event of no data is not dispatched")
    }

    @Test func aByteOrderMarkAtTheStartIsSkipped() {
        #expect(items("\u{FEFF}data: x\n\n") == [.event(.init(data: "x"))])
        #expect(items("data: x\n\n\u{FEFF}data: y\n\n") == [.event(.init(data: "x"))], "only at the start: later it is part of a field name")
    }

    @Test func anOverlongLineAndAnOversizeEventAreDroppedAndCounted() {
        var p = SSEParser(maxLineBytes: 16, maxEventBytes: 8)
        let got = p.feed(Array("data: 0123456789abcdefghij\n\ndata: 12345\ndata: 6789\n\ndata: ok\n\n".utf8))
        #expect(got == [.event(.init(data: "ok"))])
        #expect(p.dropped == 2)
    }

    @Test func emptyDataLinesCountTowardsTheBound() {
        var p = SSEParser(maxLineBytes: 16, maxEventBytes: 8)
        #expect(p.feed(Array((String(repeating: "data\n", count: 100) + "\ndata: x\n\n").utf8)) == [.event(.init(data: "x"))])
        #expect(p.dropped == 1)
    }

    @Test func theEndDropsAnEventNotYetDispatched() {
        var p = SSEParser()
        #expect(p.feed(Array("data: half".utf8)).isEmpty)
        p.finish()
        #expect(p.feed(Array("\n\n".utf8)).isEmpty, "nothing of it is left")
    }
}
