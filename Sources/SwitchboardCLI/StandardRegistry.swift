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
        return registry
    }
}
