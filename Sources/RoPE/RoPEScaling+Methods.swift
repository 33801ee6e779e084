import Foundation

// Every context-extension baseline as per-pair factors λ_i plus an attention factor m.
// Formulas and worked values: ../shared/docs/rope-methods.md (sections named below).

extension RoPEScaling {
    /// The original RoPE: λ_i = 1, m = 1.
    public static func none(pairs: Int) -> RoPEScaling {
        RoPEScaling(method: "none", lambda: Array(repeating: 1, count: pairs))
    }

    /// Linear position interpolation (PI, §1): λ_i = s for every pair, m = 1.
    public static func linear(pairs: Int, scale s: Double) -> RoPEScaling {
        RoPEScaling(method: "pi", lambda: Array(repeating: s, count: pairs))
    }

    /// NTK-aware scaling with a fixed α (§2): the base becomes b·α^(d/(d−2)), so
    /// λ_i = α^(2i/(d−2)); λ_0 = 1 and λ_{d/2−1} = α. m = 1.
    public static func ntk(pairs: Int, alpha: Double) -> RoPEScaling {
        let d = Double(2 * pairs)
        let lambda = (0..<pairs).map { i in
            pairs <= 1 ? alpha : pow(alpha, 2 * Double(i) / (d - 2))
        }
        return RoPEScaling(method: "ntk", lambda: lambda)
    }

    /// Dynamic NTK (§3) for one window of `windowLength` tokens, as HF computes it for a single
    /// forward pass: α = factor·L/L_train − (factor − 1) when L > L_train, else 1; then NTK(α).
    /// With the default factor 1, α = L/L_train, the window's own scale.
    public static func dynamicNTK(pairs: Int, windowLength: Int, trainedContext: Int,
                                  factor: Double = 1) -> RoPEScaling {
        let length = Double(windowLength), trained = Double(trainedContext)
        let alpha = length > trained ? factor * length / trained - (factor - 1) : 1
        var scaling = ntk(pairs: pairs, alpha: alpha)
        scaling.method = "dynamic-ntk"
        return scaling
    }

    /// How YaRN blends the interpolated and the original frequency of a pair.
    public enum YaRNBlend: String, Sendable, CaseIterable {
        /// HF, llama.cpp and the YaRN paper: a blend in inverse frequency,
        /// λ_i = 1 / ((1 − γ_i)/s + γ_i).
        case harmonic
        /// microsoft/LongRoPE's search initialisation: a blend in λ, λ_i = s·(1 − γ_i) + γ_i.
        case linear
    }

    /// The pair-index bounds of YaRN's ramp (§4):
    /// `low = max(floor(corr_dim(β_fast)), 0)`, `high = min(ceil(corr_dim(β_slow)), d − 1)`,
    /// with `corr_dim(r) = d·ln(L_orig/(2πr)) / (2·ln b)`.
    public static func yarnRampBounds(geometry: RoPEGeometry, originalContext: Int,
                                      betaFast: Double = 32, betaSlow: Double = 1) -> (low: Double, high: Double) {
        let d = Double(geometry.rotaryDimension)
        func correctionDimension(_ rotations: Double) -> Double {
            d * log(Double(originalContext) / (2 * Double.pi * rotations)) / (2 * log(geometry.base))
        }
        let low = max(floor(correctionDimension(betaFast)), 0)
        let high = min(ceil(correctionDimension(betaSlow)), d - 1)
        return (low, high)
    }

    /// YaRN, "NTK-by-parts" with an attention temperature (§4): s = target/original context,
    /// β_fast = 32 and β_slow = 1 by default, m = 0.1·ln s + 1 (1 when s ≤ 1).
    /// `blend` picks HF's harmonic blend (the default, named `yarn`) or LongRoPE's linear one
    /// (named `yarn-linear`).
    public static func yarn(geometry: RoPEGeometry, scale s: Double, originalContext: Int,
                            betaFast: Double = 32, betaSlow: Double = 1,
                            blend: YaRNBlend = .harmonic) -> RoPEScaling {
        var (low, high) = yarnRampBounds(geometry: geometry, originalContext: originalContext,
                                         betaFast: betaFast, betaSlow: betaSlow)
        if low == high { high += 0.001 }
        let lambda = (0..<geometry.pairs).map { i -> Double in
            let ramp = min(max((Double(i) - low) / (high - low), 0), 1)
            let gamma = 1 - ramp    // 1 keeps θ_i, 0 interpolates fully
            switch blend {
            case .harmonic: return 1 / ((1 - gamma) / s + gamma)
            case .linear: return s * (1 - gamma) + gamma
            }
        }
        let m = s > 1 ? 0.1 * log(s) + 1 : 1
        return RoPEScaling(method: blend == .harmonic ? "yarn" : "yarn-linear",
                           lambda: lambda, attentionFactor: m)
    }

    /// Llama-3.1's `llama3` scaling (§5): λ = 1 for wavelengths below L_o/high_freq_factor,
    /// λ = s above L_o/low_freq_factor, a harmonic blend in between. m = 1.
    public static func llama3(geometry: RoPEGeometry, factor s: Double, originalContext: Int,
                              lowFrequencyFactor: Double = 1, highFrequencyFactor: Double = 4) -> RoPEScaling {
        let original = Double(originalContext)
        let lowWavelength = original / lowFrequencyFactor
        let highWavelength = original / highFrequencyFactor
        let lambda = (0..<geometry.pairs).map { i -> Double in
            let wavelength = 2 * Double.pi / geometry.theta(i)
            if wavelength < highWavelength { return 1 }
            if wavelength > lowWavelength { return s }
            let smooth = (original / wavelength - lowFrequencyFactor)
                / (highFrequencyFactor - lowFrequencyFactor)
            return 1 / ((1 - smooth) / s + smooth)
        }
        return RoPEScaling(method: "llama3", lambda: lambda)
    }

    /// LongRoPE's attention factor (§6): m = sqrt(1 + ln s / ln L_orig), or 1 when s ≤ 1.
    public static func longRoPEAttentionFactor(scale s: Double, originalContext: Int) -> Double {
        s <= 1 ? 1 : (1 + log(s) / log(Double(originalContext))).squareRoot()
    }

    /// Rescales factors found for one length to another (progressive extension, LongRoPE's
    /// `rescale` and `DynamicLongRoPE`): λ' = 1 + (λ − 1)·(s_to − 1)/(s_from − 1).
    public func rescaled(fromScale: Double, toScale: Double) -> RoPEScaling {
        precondition(fromScale > 1, "rescaling needs factors found for a scale above 1")
        var copy = self
        copy.lambda = lambda.map { 1 + ($0 - 1) * (toScale - 1) / (fromScale - 1) }
        return copy
    }
}

/// LongRoPE / Phi-3 `longrope` scaling (§6): two factor sets and one attention factor.
///
/// Which set applies: the **long** factors when the window is longer than the original
/// context (`windowLength > originalContext`), the **short** ones otherwise. This is the rule
/// of llama.cpp (`n_ctx > n_ctx_orig`, fixed per context) and of HF's per-forward update for a
/// single forward over the whole window; either way one set covers every position of a window.
/// m is the same for both sets: `attentionFactor` if given, else sqrt(1 + ln s / ln L_orig)
/// with s = maxContext / originalContext.
public struct LongRoPEFactors: Sendable, Equatable {
    public var shortFactors: [Double]
    public var longFactors: [Double]
    public var originalContext: Int
    public var maxContext: Int
    public var attentionFactor: Double
    public var nHat: Int

    public init(shortFactors: [Double], longFactors: [Double], originalContext: Int,
                maxContext: Int, attentionFactor: Double? = nil, nHat: Int = 0) {
        self.shortFactors = shortFactors
        self.longFactors = longFactors
        self.originalContext = originalContext
        self.maxContext = maxContext
        self.attentionFactor = attentionFactor ?? RoPEScaling.longRoPEAttentionFactor(
            scale: Double(maxContext) / Double(originalContext), originalContext: originalContext)
        self.nHat = nHat
    }

    /// The scaling that applies to a window of `windowLength` tokens.
    public func scaling(forWindowLength windowLength: Int) -> RoPEScaling {
        let long = windowLength > originalContext
        return RoPEScaling(method: long ? "longrope-long" : "longrope-short",
                           lambda: long ? longFactors : shortFactors,
                           nHat: nHat, attentionFactor: attentionFactor)
    }
}

// MARK: LongRoPE2's critical dimension

extension RoPEGeometry {
    /// LongRoPE2's theoretical critical dimension as a pair index: the first pair whose period
    /// 2π/θ_i does not fit inside the trained context, d_tcd/2 = ⌈(d/2)·log_b(L_train/2π)⌉
    /// (at most the last pair). Pairs from here on never saw a full rotation in training.
    public func theoreticalCriticalPair(originalContext: Int) -> Int {
        let value = (Double(pairs) * log(Double(originalContext) / (2 * Double.pi)) / log(base)).rounded(.up)
        return min(max(Int(value), 0), pairs - 1)
    }

    /// The last pair that completes at least `periods` full rotations inside the trained context.
    public func lastPair(completing periods: Double, within originalContext: Int) -> Int {
        let value = (Double(pairs) * log(Double(originalContext) / (2 * Double.pi * periods)) / log(base)).rounded(.down)
        return min(max(Int(value), 0), pairs - 1)
    }

    /// Where LongRoPE2 searches the real critical pair d_rcd: from the last pair with 10 full
    /// periods inside L_train up to the theoretical one.
    public func criticalPairRange(originalContext: Int) -> ClosedRange<Int> {
        let high = theoreticalCriticalPair(originalContext: originalContext)
        return min(lastPair(completing: 10, within: originalContext), high)...high
    }
}

extension RoPEScaling {
    /// NTK recomputed from the critical pair d (LongRoPE2's NTK-rcd): the base grows until pair d
    /// is interpolated by exactly s, λ_i = s^(i/d) (so λ_d = s, and pairs above d more). m = 1.
    public static func ntkCritical(pairs: Int, scale s: Double, criticalPair d: Int) -> RoPEScaling {
        let lambda = (0..<pairs).map { i in d > 0 ? pow(s, Double(i) / Double(d)) : s }
        return RoPEScaling(method: "ntk-rcd", lambda: lambda)
    }

    /// YaRN whose ramp ends at the critical pair d (LongRoPE2's YaRN-rcd): pairs from d on are
    /// interpolated by s, the ramp starts where YaRN's does (β_fast = 32); harmonic blend,
    /// YaRN's m.
    public static func yarnCritical(geometry: RoPEGeometry, scale s: Double, originalContext: Int,
                                    criticalPair d: Int) -> RoPEScaling {
        var (low, _) = yarnRampBounds(geometry: geometry, originalContext: originalContext)
        low = min(low, Double(max(d - 1, 0)))
        let high = max(Double(d), low + 0.001)
        let lambda = (0..<geometry.pairs).map { i -> Double in
            let ramp = min(max((Double(i) - low) / (high - low), 0), 1)
            return 1 / ((1 - ramp) + ramp / s)
        }
        return RoPEScaling(method: "yarn-rcd", lambda: lambda, attentionFactor: s > 1 ? 0.1 * log(s) + 1 : 1)
    }
}
