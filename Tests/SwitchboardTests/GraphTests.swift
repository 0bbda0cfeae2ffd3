import Switchboard
import Testing

@Suite struct GraphTests {
    let graph = DependencyGraph(
        nodes: ["db", "api", "web", "cache"],
        edges: [
            .init(from: "api", slot: "db", to: "db"), .init(from: "api", slot: "cache", to: "cache"),
            .init(from: "web", slot: "api", to: "api"),
        ])

    @Test func levelsGroupWhatCanStartTogether() {
        #expect(graph.levels() == [["db", "cache"], ["api"], ["web"]])
        #expect(graph.startOrder() == ["db", "cache", "api", "web"])
    }

    @Test func followsEdgesBothWays() {
        #expect(graph.transitiveDependents(of: "db") == ["api", "web"])
        #expect(graph.transitiveDependencies(of: "web") == ["api", "db", "cache"])
        #expect(graph.dependents(of: "api") == ["web"])
    }

    @Test func rendersDotAndMermaid() {
        let types = ["db": "fake", "api": "fake", "web": "fake", "cache": "fake"]
        let dot = graph.dot(name: "demo", types: types)
        #expect(dot.hasPrefix("digraph \"demo\""))
        #expect(dot.contains("\"web\" -> \"api\" [label=\"api\"]"))
        let mermaid = graph.mermaid(types: types)
        #expect(mermaid.hasPrefix("graph LR"))
        #expect(mermaid.contains("n2 -->|api| n1"))
    }

    @Test func findsNoCyclesInADag() {
        #expect(graph.cycles().isEmpty)
        let cyclic = DependencyGraph(nodes: ["a", "b"], edges: [.init(from: "a", slot: "x", to: "b"), .init(from: "b", slot: "x", to: "a")])
        #expect(cyclic.cycles() == [["a", "b", "a"]])
        #expect(cyclic.levels() == nil)
    }
}

@Suite struct SuggestionTests {
    @Test func suggestsCloseNames() {
        #expect(Suggestions.closest(to: "stats", in: ["status", "start", "stop"]).first == "status" || Suggestions.closest(to: "stats", in: ["status", "start", "stop"]).first == "start")
        #expect(Suggestions.closest(to: "chanel", in: ["channel", "mult"]) == ["channel"])
        #expect(Suggestions.closest(to: "zzz", in: ["channel", "mult"]).isEmpty)
        #expect(Suggestions.distance("ab", "ba") == 1)
    }

    @Test func parsesDurations() {
        #expect(ConfigReader.parseDuration("250ms") == .milliseconds(250))
        #expect(ConfigReader.parseDuration("15s") == .seconds(15))
        #expect(ConfigReader.parseDuration("2m") == .seconds(120))
        #expect(ConfigReader.parseDuration("1.5") == .milliseconds(1500))
        #expect(ConfigReader.parseDuration("soon") == nil)
        #expect(ConfigReader.parseDuration("-1s") == nil)
    }
}
