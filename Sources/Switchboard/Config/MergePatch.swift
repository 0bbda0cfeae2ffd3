/// JSON Merge Patch (RFC 7386): what a profile does to the document.
///
/// An object patch merges member by member: `null` removes the member, an object merges into
/// the member (or into `{}` when the member is not an object), anything else replaces it. A
/// patch that is not an object replaces the whole target.
public enum MergePatch {
    /// `target` with `patch` applied.
    public static func apply(_ patch: JSONValue, to target: JSONValue) -> JSONValue {
        guard case .object(let members) = patch else { return patch }
        var result = target.objectValue ?? JSONObject()
        for (key, value) in members {
            if value == .null {
                result[key] = nil
            } else {
                result[key] = apply(value, to: result[key] ?? .null)
            }
        }
        return .object(result)
    }
}

/// The document's `profiles`: named merge patches, applied in the order asked for.
enum Profiles {
    /// `document` with the profiles `names` applied in order, and without its `profiles`
    /// member (what runs has them applied). An unknown name, or a profile that is not an
    /// object, is an issue.
    static func apply(_ names: [String], to document: JSONObject, issues: IssueCollector) -> JSONObject {
        var result = document
        result["profiles"] = nil
        let declared = document["profiles"]
        if let declared, declared.objectValue == nil {
            issues.add(.wrongType, at: ConfigPath("profiles"), "expected an object mapping a profile's name to a JSON Merge Patch, found \(declared.kindName)")
            return result
        }
        let available = declared?.objectValue ?? JSONObject()
        for (name, patch) in available where patch.objectValue == nil {
            issues.add(.wrongType, at: ConfigPath("profiles", name), "a profile is a JSON Merge Patch object over the document, found \(patch.kindName)")
        }
        for name in names {
            guard let patch = available[name] else {
                let known = available.keys.isEmpty ? "the file declares none" : "the file declares \(available.keys.joined(separator: ", "))"
                issues.add(.invalidValue, at: ConfigPath("profiles"), "no profile \"\(name)\" (\(known))" + Suggestions.didYouMean(name, in: available.keys))
                continue
            }
            guard patch.objectValue != nil else { continue }
            // A profile does not bring profiles of its own.
            var applied = MergePatch.apply(patch, to: .object(result)).objectValue ?? result
            applied["profiles"] = nil
            result = applied
        }
        return result
    }
}
