/// A transducer: a step that turns each input into zero or more outputs and may end the
/// stream early, composable and independent of where items come from.
///
/// A channel applies its transform as items enter it; the same transform runs over a plain
/// sequence with `apply(to:)`, which is how transforms are tested.
///
/// ```swift
/// let xf = Transform<Int, Int>.filter { $0.isMultiple(of: 2) }.then(.map { $0 * 10 }).then(.take(2))
/// let tens = xf.apply(to: 1...10)   // [20, 40]
/// ```
public struct Transform<Input, Output>: Sendable {
    /// Makes a fresh stepper: the transform's state (e.g. how many `take` has passed) lives in it.
    public let makeStepper: @Sendable () -> Stepper<Input, Output>

    /// A transform whose state is created by `makeStepper` for each use.
    public init(_ makeStepper: @escaping @Sendable () -> Stepper<Input, Output>) {
        self.makeStepper = makeStepper
    }

    /// This transform followed by `next`.
    public func then<Next>(_ next: Transform<Output, Next>) -> Transform<Input, Next> {
        Transform<Input, Next> {
            let first = makeStepper()
            let second = next.makeStepper()
            var middle: [Output] = []
            return Stepper { input, out in
                middle.removeAll(keepingCapacity: true)
                let firstGoesOn = first.step(input, &middle)
                for item in middle where !second.step(item, &out) { return false }
                return firstGoesOn
            }
        }
    }

    /// The outputs for a whole sequence, stopping where the transform ends (core.async's
    /// `(sequence xform coll)`).
    public func apply(to inputs: some Sequence<Input>) -> [Output] {
        let stepper = makeStepper()
        var out: [Output] = []
        for input in inputs where !stepper.step(input, &out) { break }
        return out
    }
}

/// One use of a transform: `step` appends the outputs for one input and answers whether
/// the stream goes on (`false` is core.async's `reduced`: this input was the last).
///
/// - Important: A stepper is not thread-safe; a channel calls it under its lock.
public final class Stepper<Input, Output> {
    /// Appends the outputs for `input` to `out`; returns `false` when the stream has ended.
    public let step: (Input, inout [Output]) -> Bool

    /// A stepper running `step`.
    public init(_ step: @escaping (Input, inout [Output]) -> Bool) {
        self.step = step
    }
}

extension Transform where Input == Output {
    /// The transform that passes every item through unchanged.
    public static var identity: Transform {
        Transform { Stepper { input, out in out.append(input); return true } }
    }

    /// All `transforms` in order; the identity when empty.
    public static func chain(_ transforms: [Transform]) -> Transform {
        guard var result = transforms.first else { return .identity }
        for t in transforms.dropFirst() { result = result.then(t) }
        return result
    }
}
