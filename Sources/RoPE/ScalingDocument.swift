import Foundation

/// The JSON form of a scaling that `longrope factors --format json` prints and
/// `longrope eval --scaling FILE` reads:
/// `{"method", "lambda", "n_hat", "attention_factor", "scale", "original_context", "target_context"}`.
public struct ScalingDocument: Codable, Sendable, Equatable {
    public var method: String
    public var lambda: [Double]
    public var nHat: Int
    public var attentionFactor: Double
    public var scale: Double?
    public var originalContext: Int?
    public var targetContext: Int?

    enum CodingKeys: String, CodingKey {
        case method, lambda, scale
        case nHat = "n_hat"
        case attentionFactor = "attention_factor"
        case originalContext = "original_context"
        case targetContext = "target_context"
    }

    public init(_ scaling: RoPEScaling, originalContext: Int?, targetContext: Int?) {
        method = scaling.method
        lambda = scaling.lambda
        nHat = scaling.nHat
        attentionFactor = scaling.attentionFactor
        self.originalContext = originalContext
        self.targetContext = targetContext
        if let originalContext, let targetContext {
            scale = Double(targetContext) / Double(originalContext)
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        method = try c.decodeIfPresent(String.self, forKey: .method) ?? "custom"
        lambda = try c.decode([Double].self, forKey: .lambda)
        nHat = try c.decodeIfPresent(Int.self, forKey: .nHat) ?? 0
        attentionFactor = try c.decodeIfPresent(Double.self, forKey: .attentionFactor) ?? 1
        scale = try c.decodeIfPresent(Double.self, forKey: .scale)
        originalContext = try c.decodeIfPresent(Int.self, forKey: .originalContext)
        targetContext = try c.decodeIfPresent(Int.self, forKey: .targetContext)
    }

    public var scaling: RoPEScaling {
        RoPEScaling(method: method, lambda: lambda, nHat: nHat, attentionFactor: attentionFactor)
    }

    /// Pretty, key-sorted JSON.
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }
}

/// A Hugging Face `rope_scaling` object of type `longrope`.
public struct HuggingFaceRopeScaling: Codable, Sendable, Equatable {
    public var ropeType = "longrope"
    public var shortFactor: [Double]
    public var longFactor: [Double]
    public var originalMaxPositionEmbeddings: Int
    public var attentionFactor: Double
    public var factor: Double?

    enum CodingKeys: String, CodingKey {
        case ropeType = "rope_type"
        case shortFactor = "short_factor"
        case longFactor = "long_factor"
        case originalMaxPositionEmbeddings = "original_max_position_embeddings"
        case attentionFactor = "attention_factor"
        case factor
    }

    public init(shortFactor: [Double], longFactor: [Double], originalContext: Int,
                attentionFactor: Double, factor: Double?) {
        self.shortFactor = shortFactor
        self.longFactor = longFactor
        self.originalMaxPositionEmbeddings = originalContext
        self.attentionFactor = attentionFactor
        self.factor = factor
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }
}

/// One λ per line, as microsoft/LongRoPE's CSV files hold them.
public func csvLines(_ lambda: [Double]) -> String {
    lambda.map { "\($0)" }.joined(separator: "\n") + "\n"
}
