import Switchboard
import SwitchboardChannels
import SwitchboardWeb

extension ComponentRegistry {
    /// Every built-in component type.
    public static var standard: ComponentRegistry {
        var registry = ComponentRegistry()
        registry.register(ChannelComponents.types())
        registry.register(WebComponents.types)
        return registry
    }
}
