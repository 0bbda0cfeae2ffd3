import Switchboard
import SwitchboardChannels
import Testing

@Suite struct ChatTransformTests {
    func run(_ xf: Transform<Message, Message>, _ text: String) -> String? {
        xf.apply(to: [Message(from: "t", text: text)]).first?.text
    }

    @Test func censorMasksWholeWordsCaseInsensitively() {
        let xf = ChatTransforms.censor(words: ["darn"])
        #expect(run(xf, "Darn it, DARN!") == "**** it, ****!")
        #expect(run(xf, "darned darnit") == "darned darnit")
        #expect(run(xf, "`darn` darn") == "`darn` ****")
    }

    @Test func censorCanDropTheMessage() {
        let xf = ChatTransforms.censor(words: ["heck"], mode: .drop)
        #expect(run(xf, "what the heck") == nil)
        #expect(run(xf, "what the hecking") == "what the hecking")
    }

    @Test func autocorrectKeepsTheWritersCapitalisation() {
        let xf = ChatTransforms.autocorrect(["teh": "the", "recieve": "receive"])
        #expect(run(xf, "teh cat") == "the cat")
        #expect(run(xf, "Teh cat") == "The cat")
        #expect(run(xf, "TEH CAT") == "THE CAT")
        #expect(run(xf, "I recieve; tehx") == "I receive; tehx")
        #expect(run(xf, "`teh` stays") == "`teh` stays")
    }

    @Test func emoticonsBecomeEmojiOnlyWhenStandingAlone() {
        let xf = ChatTransforms.emoticons(ChatTransforms.defaultEmoticons.merging([":shrug:": "🤷"]) { $1 })
        #expect(run(xf, "hi :) and <3") == "hi 🙂 and ❤️")
        #expect(run(xf, "see http://x.org/:)") == "see http://x.org/:)")
        #expect(run(xf, ":shrug:") == "🤷")
        #expect(run(xf, "code `:)` here") == "code `:)` here")
    }

    @Test func codeSpansAreMarked() throws {
        let out = try #require(ChatTransforms.code().apply(to: [Message(from: "t", text: "run `ls -la` now")]).first)
        #expect(out.text == "run ls -la now")
        #expect(out.spans == [TextSpan(kind: "code", start: 4, length: 6)])
        let fenced = try #require(ChatTransforms.code().apply(to: [Message(from: "t", text: "```\nlet x = 1```")]).first)
        #expect(fenced.text == "let x = 1")
        #expect(run(ChatTransforms.code(), "an ` unclosed tick") == "an ` unclosed tick")
    }

    @Test func namedTransformsAreReadFromConfig() {
        let config = ConfigReader(JSONObject(["transforms": ["emoticons", ["censor": ["words": ["zap"], "mode": "drop"]], "autocorrect"]]))
        let (transforms, names) = TransformCatalog.standard.read(config)
        config.finish()
        #expect(config.issues.isEmpty)
        #expect(names == ["emoticons", "censor", "autocorrect"])
        let xf = Transform.chain(transforms)
        #expect(xf.apply(to: [Message(from: "a", text: "teh :)"), Message(from: "a", text: "zap")]).map(\.text) == ["the 🙂"])
    }

    @Test func unknownTransformNamesAreConfigErrorsWithSuggestions() throws {
        let config = ConfigReader(JSONObject(["transforms": ["emoticon", ["censor": ["wordz": []]], 3]]))
        _ = TransformCatalog.standard.read(config)
        config.finish()
        let byPath = Dictionary(config.issues.map { ($0.path.description, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byPath["transforms[0]"]?.reason == .unknownType)
        #expect(byPath["transforms[0]"]?.message.contains(#"did you mean "emoticons""#) == true)
        #expect(byPath["transforms[1].censor.wordz"]?.reason == .unknownField)
        #expect(byPath["transforms[2]"]?.reason == .wrongType)
    }
}
