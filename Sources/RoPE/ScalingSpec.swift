import Foundation

/// A rule named on a command line, the one place names become scalings: `none`, `pi:S`,
/// `ntk:ALPHA`, `dynamic-ntk[:FACTOR]`, `yarn:S`, `yarn-linear:S`, `llama3:S`, or the path of a
/// JSON file as `longrope factors --format json` prints it.
public enum ScalingSpec {
    public struct Invalid: Error, CustomStringConvertible { public let description: String }

    /// The rules by name (`factors --method` lists these).
    public static let ruleNames = ["none", "pi", "ntk", "dynamic-ntk", "yarn", "yarn-linear", "llama3"]

    /// The rule `name` for a model of `geometry` trained at `originalContext`, run on windows of
    /// `context` tokens; `value` is its number (scale for pi/yarn/llama3, α for NTK, HF's factor
    /// for dynamic NTK). Nil when no rule has that name.
    public static func rule(_ name: String, value: Double, geometry: RoPEGeometry, originalContext: Int,
                            context: Int) -> RoPEScaling? {
        switch name {
        case "none": return .none(pairs: geometry.pairs)
        case "pi", "linear": return .linear(pairs: geometry.pairs, scale: value)
        case "ntk": return .ntk(pairs: geometry.pairs, alpha: value)
        case "dynamic-ntk":
            return .dynamicNTK(pairs: geometry.pairs, windowLength: context, trainedContext: originalContext, factor: value)
        case "yarn": return .yarn(geometry: geometry, scale: value, originalContext: originalContext)
        case "yarn-linear": return .yarn(geometry: geometry, scale: value, originalContext: originalContext, blend: .linear)
        case "llama3": return .llama3(geometry: geometry, factor: value, originalContext: originalContext)
        default: return nil
        }
    }

    /// Parses a spec (see the type's comment); a name without its number is an error, but for
    /// `none` and `dynamic-ntk` (factor 1).
    public static func parse(_ spec: String, geometry: RoPEGeometry, originalContext: Int,
                             context: Int) throws -> RoPEScaling {
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        let name = parts.first ?? ""
        func number() throws -> Double {
            guard parts.count == 2, let value = Double(parts[1]), value.isFinite, value > 0 else {
                throw Invalid(description: "--scaling \(spec): \(name) needs a positive number, as in \(name):8")
            }
            return value
        }
        guard ruleNames.contains(name) || name == "linear" else { return try load(path: spec) }
        let value = name == "none" || (name == "dynamic-ntk" && parts.count == 1) ? 1 : try number()
        return rule(name, value: value, geometry: geometry, originalContext: originalContext, context: context)!
    }

    /// A scaling JSON file (`{"lambda": [...], "n_hat": 0, "attention_factor": 1, ...}`).
    public static func load(path: String) throws -> RoPEScaling {
        guard FileManager.default.fileExists(atPath: path) else {
            throw Invalid(description: "--scaling \(path): not a method (none, pi:S, ntk:A, dynamic-ntk, yarn:S, yarn-linear:S, llama3:S) nor an existing JSON file")
        }
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            return try JSONDecoder().decode(ScalingDocument.self, from: data).scaling
        } catch let error as DecodingError {
            throw Invalid(description: "--scaling \(path): not a scaling JSON file (\(describe(error)))")
        }
    }

    /// A decoding error in a few words (the field it is about).
    public static func describe(_ error: DecodingError) -> String {
        switch error {
        case let .keyNotFound(key, _): return "missing field \"\(key.stringValue)\""
        case let .typeMismatch(_, context), let .valueNotFound(_, context):
            return "wrong type at \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\""
        case let .dataCorrupted(context):
            return context.codingPath.isEmpty ? "invalid JSON" : "invalid value at \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\""
        @unknown default: return "\(error)"
        }
    }
}
