import Foundation
import RoPE

/// A factors file found at a shorter target (`results/…/16k/factors.json`, what `longrope export
/// --format json` writes), rescaled to seed a longer search: LongRoPE's progressive extension
/// (the 16k best seeds the 32k search) for searches that do not share a database — one run
/// through a coordinator, or on another machine. `seed_factors` in a config file, `--seed-factors`
/// on `longrope search`; `seed_from` does the same from a search in the same database.
enum SeedFactors {
    /// The file's λ taken from its scale to `scale` (λ' = 1 + (λ − 1)·(s' − 1)/(s − 1)) and held
    /// to [1, `lambdaMax`]. Throws naming the file when it cannot be read, is not a factors file,
    /// says no scale above 1, or its factors are not finite and monotone.
    static func load(_ path: String, toScale scale: Double, lambdaMax: Double) throws -> [Double] {
        let document: ScalingDocument
        do {
            guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("seed_factors \(path): cannot read the file") }
            document = try JSONDecoder().decode(ScalingDocument.self, from: data)
        } catch let error as DecodingError {
            throw CLIError("seed_factors \(path): not a factors file (\(ScalingSpec.describe(error)))")
        }
        let from = document.scale ?? document.targetContext.flatMap { target in
            document.originalContext.map { Double(target) / Double($0) }
        }
        guard let from, from.isFinite, from > 1 else {
            throw CLIError("seed_factors \(path): the file gives no scale above 1 (scale, or original_context and target_context), so its factors cannot be rescaled")
        }
        guard !document.lambda.isEmpty else { throw CLIError("seed_factors \(path): the file has no factors (lambda is empty)") }
        do { try RoPEScaling(method: "seed", lambda: document.lambda).validate(pairs: document.lambda.count) }
        catch { throw CLIError("seed_factors \(path): \(error.description)") }
        return rescale(document.lambda, fromScale: from, toScale: scale, lambdaMax: lambdaMax)
    }

    /// λ found at `fromScale` as a seed at `toScale`: rescaled, then held to [1, `lambdaMax`].
    /// Shared by `seed_factors` and `seed_from`.
    static func rescale(_ lambda: [Double], fromScale: Double, toScale: Double, lambdaMax: Double) -> [Double] {
        RoPEScaling(method: "seed", lambda: lambda).rescaled(fromScale: fromScale, toScale: toScale)
            .lambda.map { min(max($0, 1), lambdaMax) }
    }
}
