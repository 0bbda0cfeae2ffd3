import Switchboard
import Testing

/// RFC 7386's examples (Appendix A), and profiles and variables through the loader.
@Suite struct MergePatchTests {
    static let rfcExamples: [(String, String, String)] = [
        (#"{"a":"b"}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"b"}"#, #"{"b":"c"}"#, #"{"a":"b","b":"c"}"#),
        (#"{"a":"b"}"#, #"{"a":null}"#, #"{}"#),
        (#"{"a":"b","b":"c"}"#, #"{"a":null}"#, #"{"b":"c"}"#),
        (#"{"a":["b"]}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"c"}"#, #"{"a":["b"]}"#, #"{"a":["b"]}"#),
        (#"{"a":{"b":"c"}}"#, #"{"a":{"b":"d","c":null}}"#, #"{"a":{"b":"d"}}"#),
        (#"{"a":[{"b":"c"}]}"#, #"{"a":[1]}"#, #"{"a":[1]}"#),
        (#"["a","b"]"#, #"["c","d"]"#, #"["c","d"]"#),
        (#"{"a":"b"}"#, #"["c"]"#, #"["c"]"#),
        (#"{"a":"foo"}"#, #"null"#, #"null"#),
        (#"{"a":"foo"}"#, #""bar""#, #""bar""#),
        (#"{"e":null}"#, #"{"a":1}"#, #"{"e":null,"a":1}"#),
        (#"[1,2]"#, #"{"a":"b","c":null}"#, #"{"a":"b"}"#),
        (#"{}"#, #"{"a":{"bb":{"ccc":null}}}"#, #"{"a":{"bb":{}}}"#),
    ]

    @Test(arguments: rfcExamples)
    func rfc7386AppendixA(_ example: (String, String, String)) throws {
        let (target, patch, result) = example
        let applied = MergePatch.apply(try JSONParser.parse(patch).value, to: try JSONParser.parse(target).value)
        #expect(applied == (try JSONParser.parse(result).value))
    }

    @Test func profilesApplyInOrderAndVariablesResolveSetThenEnvironmentThenDefault() throws {
        let text = #"""
            {"vars": {"size": {"type": "int", "default": 8, "env": "BUF"}},
             "profiles": {"a": {"components": {"inbox": {"buffer": 16}}}, "b": {"components": {"inbox": {"buffer": {"$var": "size"}}}}},
             "components": {"inbox": {"type": "channel", "buffer": 4}}}
            """#
        func buffer(_ profiles: [String], _ settings: [String: String] = [:], env: [String: String] = [:]) throws -> JSONValue? {
            var loader = SystemLoader(registry: ComponentRegistry(), environment: env)
            loader.profiles = profiles
            loader.settings = settings
            // No types registered: the document is checked as far as the expansion goes.
            let issues = (try? loader.variables(text: text))?.issues ?? []
            #expect(issues.isEmpty)
            return loader.document(text: text)?["components"]?["inbox"]?["buffer"]
        }
        #expect(try buffer([]) == 4)
        #expect(try buffer(["a"]) == 16)
        #expect(try buffer(["a", "b"]) == 8)
        #expect(try buffer(["b", "a"]) == 16)
        #expect(try buffer(["b"], env: ["BUF": "32"]) == 32)
        #expect(try buffer(["b"], ["size": "64"], env: ["BUF": "32"]) == 64)
    }
}
