import RoPE
import Search

/// The hand-designed rules every search is measured against, and seeded from.
public enum Baselines {
    /// PI (λ = s), NTK (α = s), YaRN (HF's harmonic blend) and YaRN-linear (LongRoPE's blend),
    /// each with its own attention factor.
    public static func scalings(geometry: RoPEGeometry, config: SearchConfig) -> [RoPEScaling] {
        let s = config.scale
        return [
            .linear(pairs: geometry.pairs, scale: s),
            .ntk(pairs: geometry.pairs, alpha: s),
            .yarn(geometry: geometry, scale: s, originalContext: config.originalContext),
            .yarn(geometry: geometry, scale: s, originalContext: config.originalContext, blend: .linear),
        ]
    }

    /// The seeds of the initial population: the config's extra seeds, then the baselines' λ
    /// (with the search's own m, n̂ = 0).
    public static func seeds(geometry: RoPEGeometry, config: SearchConfig) -> [Candidate] {
        config.extraSeeds.map { Candidate(lambda: $0, operation: .seed, seedName: "extra") }
            + scalings(geometry: geometry, config: config).map {
                Candidate(lambda: $0.lambda, operation: .seed, seedName: $0.method)
            }
    }
}
