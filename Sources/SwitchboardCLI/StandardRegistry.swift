import Switchboard
import SwitchboardChannels

extension ComponentRegistry {
    /// Every built-in component type.
    public static var standard: ComponentRegistry {
        var registry = ComponentRegistry()
        registry.register(ChannelComponents.types())
        return registry
    }
}
