import Switchboard
import SwitchboardChannels
import SwitchboardConsole
import SwitchboardStore
import SwitchboardWeb

extension ComponentRegistry {
    /// Every built-in component type.
    public static var standard: ComponentRegistry {
        var registry = ComponentRegistry()
        registry.register(ChannelComponents.types())
        registry.register(WebComponents.types)
        registry.register(StoreComponents.types)
        AdminConfig.register(in: &registry)
        registry.register(module: ChatModule.type)
        registry.register(capability: Capability("message-store", summary: "keeps messages: stored acks, history, resume", is: (any MessageStore).self))
        registry.register(capability: Capability("degradable", summary: "may run without what it needs (a database away) and says so", is: (any Degradable).self))
        // The run's log, unless --log-level or --log-format say otherwise (a profile's business:
        // debug in dev, JSON in prod).
        registry.registerSection("log") { c in
            _ = c.oneOf("level", RunCommand.logLevels, default: "info")
            _ = c.oneOf("format", ["text", "json"], default: "text")
        }
        return registry
    }
}
