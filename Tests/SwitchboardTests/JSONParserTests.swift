import Switchboard
import Testing

@Suite struct JSONParserTests {
    @Test func keepsKeyOrderAndExactIntegers() throws {
        let result = try JSONParser.parse(#"{"b": 1, "a": [2.5, true, null, "x\n\u00e9\ud83d\ude00"]}"#)
        let o = try #require(result.value.objectValue)
        #expect(o.keys == ["b", "a"])
        #expect(o["b"] == .int(1))
        #expect(o["a"] == [2.5, true, nil, "x\né😀"])
        #expect(result.duplicateKeys.isEmpty)
    }

    @Test func reportsLineAndColumnOfSyntaxErrors() {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse("{\n  \"a\": 1,\n  \"b\" 2\n}") }
        do {
            _ = try JSONParser.parse("{\n  \"a\": 1,\n  \"b\" 2\n}")
        } catch {
            #expect(error.line == 3)
            #expect(error.column == 7)
        }
    }

    @Test func findsDuplicateKeysByPath() throws {
        let result = try JSONParser.parse(#"{"components": {"a": {}, "b": {"x": 1, "x": 2}, "a": {}}}"#)
        #expect(result.duplicateKeys.map(\.description).sorted() == ["components.a", "components.b.x"])
    }

    @Test func rejectsTrailingTextAndBadEscapes() {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse("{} x") }
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(#""\q""#) }
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(#""\ud800""#) }
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse("[1,]") }
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(String(repeating: "[", count: 1000)) }
    }

    @Test func writesWhatItReads() throws {
        let text = #"{"name":"a\"b","list":[1,2.5,false,null],"nested":{"z":"\u0001"}}"#
        let value = try JSONParser.parse(text).value
        #expect(value.jsonText == text)
        #expect(try JSONParser.parse(value.prettyJSONText).value == value)
    }

    @Test func stringsAreEscapedExactlyWhereJSONNeedsItAndOtherwiseKeptWhole() throws {
        let cases: [(String, String)] = [
            ("plain text, é 😀", #""plain text, é 😀""#),
            ("a\"b\\c", #""a\"b\\c""#),
            ("line\nfeed\r\ttab\u{01}", #""line\nfeed\r\ttab\u0001""#),
            ("sep\u{2028}par\u{2029}", #""sep\u2028par\u2029""#),
            ("dash — euro € only", #""dash — euro € only""#),  // 0xE2-led, nothing to escape
        ]
        for (string, json) in cases {
            #expect(JSONValue.string(string).jsonText == json)
            #expect(try JSONParser.parse(json).value == .string(string))
        }
    }

    @Test func objectsCompareWithoutOrder() {
        let a: JSONValue = ["x": 1, "y": 2]
        let b: JSONValue = ["y": 2, "x": 1]
        #expect(a == b)
    }
}
