import Foundation
import Wire

/// A made-up but deterministic fitness for simulated workers: the NLL a unit "scores" depends
/// only on the unit (its λ, m, n̂ and window), never on which worker or when, so a simulated
/// search is reproducible and a good search finds its minimum.
///
/// Per-token NLL = 1.5 + (40/d) Σ_i w_i (ln λ_i − ln λ*_i)² + 4 (m − m*)² + a window's own offset + a
/// small (candidate × window) wobble, with λ*_i = s^((i/(d−1))^0.6) (a curve no rule
/// reproduces), m* = 1 + 0.1 ln s and w_i rising with i.
public struct SyntheticLandscape: Sendable {
    public init() {}

    /// The result a unit scores (`tokens` = the window's scored positions, as for `ppl`).
    public func score(_ unit: WorkUnit, originalContext: Int) -> UnitResult {
        let pairs = unit.lambda.count
        let s = Double(unit.targetContext) / Double(max(1, originalContext))
        var loss = 1.5
        for (i, lambda) in unit.lambda.enumerated() {
            let x = pairs > 1 ? Double(i) / Double(pairs - 1) : 1
            let best = pow(s, pow(x, 0.6))
            let weight = 0.2 + x
            let d = log(max(lambda, 1e-9)) - log(best)
            loss += 40 * weight * d * d / Double(pairs)
        }
        let m = 1 + 0.1 * log(max(s, 1))
        loss += 4 * (unit.attentionFactor - m) * (unit.attentionFactor - m)
        loss += 0.05 * sin(Double(unit.window) * 1.7)
        loss += 0.002 * Self.wobble(unit.lambda, unit.attentionFactor, unit.window)
        let tokens = unit.targetContext - 1
        return UnitResult(nllSum: max(0, loss) * Double(tokens), tokens: tokens, seconds: 0, worker: "simulated")
    }

    /// A number in [−1, 1) fixed by the candidate and window.
    static func wobble(_ lambda: [Double], _ m: Double, _ window: Int) -> Double {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(window)
        for value in lambda + [m] {
            h ^= UInt64(bitPattern: Int64((value * 1000).rounded()))
            h = h &* 0x1000_0000_01b3
        }
        h ^= h >> 33
        return Double(h % 2_000_000) / 1_000_000 - 1
    }
}
