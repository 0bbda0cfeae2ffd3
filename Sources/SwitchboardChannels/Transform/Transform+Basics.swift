/// The core transforms: map, filter, mapcat, take and friends.
extension Transform {
    /// Each input becomes `f(input)`.
    public static func map(_ f: @escaping @Sendable (Input) -> Output) -> Transform {
        Transform { Stepper { input, out in out.append(f(input)); return true } }
    }

    /// Each input becomes `f(input)`, or nothing when it is `nil`.
    public static func compactMap(_ f: @escaping @Sendable (Input) -> Output?) -> Transform {
        Transform {
            Stepper { input, out in
                if let o = f(input) { out.append(o) }
                return true
            }
        }
    }

    /// Each input becomes every element of `f(input)`, in order.
    public static func mapcat<S: Sequence>(_ f: @escaping @Sendable (Input) -> S) -> Transform where S.Element == Output {
        Transform { Stepper { input, out in out.append(contentsOf: f(input)); return true } }
    }
}

extension Transform where Input == Output {
    /// Keeps the inputs for which `isIncluded` holds.
    public static func filter(_ isIncluded: @escaping @Sendable (Input) -> Bool) -> Transform {
        Transform {
            Stepper { input, out in
                if isIncluded(input) { out.append(input) }
                return true
            }
        }
    }

    /// Drops the inputs for which `isExcluded` holds.
    public static func remove(_ isExcluded: @escaping @Sendable (Input) -> Bool) -> Transform {
        filter { !isExcluded($0) }
    }

    /// Passes the first `n` inputs, then ends the stream (a channel closes after the n-th).
    public static func take(_ n: Int) -> Transform {
        Transform {
            var left = n
            return Stepper { input, out in
                guard left > 0 else { return false }
                out.append(input)
                left -= 1
                return left > 0
            }
        }
    }

    /// Passes inputs while `predicate` holds, then ends the stream.
    public static func takeWhile(_ predicate: @escaping @Sendable (Input) -> Bool) -> Transform {
        Transform {
            Stepper { input, out in
                guard predicate(input) else { return false }
                out.append(input)
                return true
            }
        }
    }

    /// Skips the first `n` inputs.
    public static func drop(_ n: Int) -> Transform {
        Transform {
            var left = n
            return Stepper { input, out in
                if left > 0 { left -= 1 } else { out.append(input) }
                return true
            }
        }
    }

    /// Calls `observe` on each input and passes it on unchanged.
    public static func peek(_ observe: @escaping @Sendable (Input) -> Void) -> Transform {
        Transform { Stepper { input, out in observe(input); out.append(input); return true } }
    }
}
