import SwitchboardCLI

// The stock binary: every built-in component type, nothing else.
await SwitchboardCLI.main(registry: .standard)
