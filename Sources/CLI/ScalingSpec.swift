import Foundation
import RoPE

/// Parses `--scaling SPEC`: `none`, `pi:S`, `ntk:ALPHA`, `dynamic-ntk`, `yarn:S`,
/// `yarn-linear:S`, `llama3:S`, or the path of a JSON file as `longrope factors --format json`
/// prints it.
enum ScalingSpec {
    struct Invalid: Error, CustomStringConvertible { let description: String }

    static func parse(_ spec: String, geometry: RoPEGeometry, originalContext: Int,
                      context: Int) throws -> RoPEScaling {
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        let name = parts.first ?? ""
        func number() throws -> Double {
            guard parts.count == 2, let value = Double(parts[1]), value.isFinite, value > 0 else {
                throw Invalid(description: "--scaling \(spec): \(name) needs a positive number, as in \(name):8")
            }
            return value
        }
        switch name {
        case "none": return .none(pairs: geometry.pairs)
        case "pi", "linear": return .linear(pairs: geometry.pairs, scale: try number())
        case "ntk": return .ntk(pairs: geometry.pairs, alpha: try number())
        case "dynamic-ntk":
            return .dynamicNTK(pairs: geometry.pairs, windowLength: context, trainedContext: originalContext,
                               factor: parts.count == 2 ? try number() : 1)
        case "yarn": return .yarn(geometry: geometry, scale: try number(), originalContext: originalContext)
        case "yarn-linear":
            return .yarn(geometry: geometry, scale: try number(), originalContext: originalContext, blend: .linear)
        case "llama3": return .llama3(geometry: geometry, factor: try number(), originalContext: originalContext)
        default:
            return try load(path: spec)
        }
    }

    /// A scaling JSON file (`{"lambda": [...], "n_hat": 0, "attention_factor": 1, ...}`).
    static func load(path: String) throws -> RoPEScaling {
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

    static func describe(_ error: DecodingError) -> String {
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
