import Foundation

/// One RoPE scaling, written the LongRoPE way: a rescale factor per rotary pair, a start-token
/// count and an attention factor.
///
/// For a model whose rotary dimension is `d`, pair `i` (0 ≤ i < d/2) rotates by the angle
/// `n · θ_i / λ_i` at position `n`, where `θ_i = base^(−2i/d)`.
/// - `lambda[i]` is λ_i (1 = the original RoPE, s = linear interpolation by s).
/// - `nHat` is n̂: positions `< n̂` keep λ = 1 and m = 1 (LongRoPE's "MixedLongRoPE").
/// - `attentionFactor` is m: it multiplies cos and sin, so attention logits are scaled by m².
///
/// Every baseline (PI, NTK, dynamic NTK, YaRN, Llama-3.1, LongRoPE/Phi-3) is a constructor in
/// `RoPEScaling+Methods.swift`; all arithmetic is in `Double`.
public struct RoPEScaling: Sendable, Equatable, Codable {
    /// The method that produced these factors (`none`, `pi`, `ntk`, `yarn`, `search`, …).
    public var method: String
    /// λ_i, one per rotary pair (d/2 values).
    public var lambda: [Double]
    /// n̂: the number of first positions of a window that keep the original RoPE.
    public var nHat: Int
    /// m: multiplies cos and sin for positions ≥ n̂.
    public var attentionFactor: Double

    public init(method: String, lambda: [Double], nHat: Int = 0, attentionFactor: Double = 1) {
        self.method = method
        self.lambda = lambda
        self.nHat = nHat
        self.attentionFactor = attentionFactor
    }

    /// Number of rotary pairs (d/2).
    public var pairs: Int { lambda.count }

    enum CodingKeys: String, CodingKey {
        case method, lambda
        case nHat = "n_hat"
        case attentionFactor = "attention_factor"
    }

    /// The scaled rotation frequency of every pair, `θ_i / λ_i`, with `θ_i = base^(−2i/d)`.
    public func frequencies(base: Double) -> [Double] {
        let d = Double(2 * pairs)
        return lambda.indices.map { i in pow(base, -2 * Double(i) / d) / lambda[i] }
    }
}

/// The RoPE geometry of a model: how many pairs rotate and with which base.
public struct RoPEGeometry: Sendable, Equatable {
    /// Rotary dimension d (head_dim for Llama); there are d/2 pairs.
    public var rotaryDimension: Int
    /// RoPE base b (`rope_theta`, GGUF `{arch}.rope.freq_base`).
    public var base: Double

    public init(rotaryDimension: Int, base: Double) {
        self.rotaryDimension = rotaryDimension
        self.base = base
    }

    public var pairs: Int { rotaryDimension / 2 }

    /// θ_i = base^(−2i/d).
    public func theta(_ i: Int) -> Double {
        pow(base, -2 * Double(i) / Double(rotaryDimension))
    }
}
