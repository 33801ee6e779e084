import RoPE
import Search

/// The hand-designed rules every search is measured against, and seeded from.
public enum Baselines {
    /// PI, NTK (α = s), YaRN (HF's harmonic blend) and YaRN-linear (LongRoPE's blend), YaRN at
    /// two other β ramps, Llama-3.1's rule, and LongRoPE2's NTK-rcd and YaRN-rcd at the
    /// theoretical critical pair; each with its own attention factor. Every name is distinct.
    public static func scalings(geometry: RoPEGeometry, config: SearchConfig) -> [RoPEScaling] {
        let s = config.scale, original = config.originalContext
        let critical = geometry.theoreticalCriticalPair(originalContext: original)
        var narrow = RoPEScaling.yarn(geometry: geometry, scale: s, originalContext: original, betaFast: 16, betaSlow: 2)
        narrow.method = "yarn-b16-2"
        var wide = RoPEScaling.yarn(geometry: geometry, scale: s, originalContext: original, betaFast: 64, betaSlow: 0.5)
        wide.method = "yarn-b64-0.5"
        return [
            .linear(pairs: geometry.pairs, scale: s),
            .ntk(pairs: geometry.pairs, alpha: s),
            .yarn(geometry: geometry, scale: s, originalContext: original),
            .yarn(geometry: geometry, scale: s, originalContext: original, blend: .linear),
            narrow, wide,
            .llama3(geometry: geometry, factor: s, originalContext: original),
            .ntkCritical(pairs: geometry.pairs, scale: s, criticalPair: critical),
            .yarnCritical(geometry: geometry, scale: s, originalContext: original, criticalPair: critical),
        ]
    }

    /// The seeds of the initial population: the config's extra seeds, then the baselines' λ
    /// (n̂ = 0) with their own m; when m is searched, each rule also with LongRoPE's m (the
    /// config's `attentionFactor`), so the search starts from every point a fixed-m search
    /// would (stories260K at 8×: 0.756× the best rule without them, 0.561× with). Names stay
    /// the rules'. When m is fixed every seed gets the search's m.
    public static func seeds(geometry: RoPEGeometry, config: SearchConfig) -> [Candidate] {
        let rules = scalings(geometry: geometry, config: config)
        var seeds = config.extraSeeds.map {
            Candidate(lambda: $0, attentionFactor: config.attentionFactor, operation: .seed, seedName: "extra")
        }
        seeds += rules.map { Candidate(lambda: $0.lambda, attentionFactor: $0.attentionFactor, operation: .seed, seedName: $0.method) }
        if config.attentionSearch != nil {
            seeds += rules.map { Candidate(lambda: $0.lambda, attentionFactor: config.attentionFactor, operation: .seed, seedName: $0.method) }
        }
        return seeds
    }
}
