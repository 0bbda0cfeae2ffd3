import Synchronization

extension Mutex {
    /// Takes the value out and leaves nil, atomically: the step every `stop()` begins with
    /// ("take what is running; a second stop finds nothing").
    package func take<Wrapped>() -> Wrapped? where Value == Wrapped? {
        withLock { value in
            defer { value = nil }
            return value
        }
    }
}
