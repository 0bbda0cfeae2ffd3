// Sources/word-count-server/main.swift
import Switchboard
import SwitchboardCLI
import WordCount

// `word-count-server run system.json`, `… check --show`, `… console`: Switchboard's command
// line with the built-in types and this package's.
var registry = ComponentRegistry.standard
registry.register(WordCounter.type)
registry.register(module: CountedChat.type)
await SwitchboardCLI.main(registry: registry)
