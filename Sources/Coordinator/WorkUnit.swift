import Foundation
import RoPE

/// One unit of work: score sample `sample` (a window of the target length) under `scaling`.
public struct WorkUnit: Sendable, Codable, Equatable {
    public var searchID: Int64
    public var candidateRowID: Int64
    public var sample: Int
    public var lambda: [Double]
    public var startTokens: Int
    public var attentionFactor: Double
    public var targetContext: Int
    public var samples: Int
    public var modelSHA256: String
    public var textSHA256: String
    public var textOffset: Int

    enum CodingKeys: String, CodingKey {
        case searchID = "search_id", candidateRowID = "candidate_id", sample, lambda
        case startTokens = "n_hat", attentionFactor = "attention_factor", targetContext = "target_context"
        case samples, modelSHA256 = "model_sha256", textSHA256 = "text_sha256", textOffset = "text_offset"
    }

    public var scaling: RoPEScaling {
        RoPEScaling(method: "candidate", lambda: lambda, startTokens: startTokens, attentionFactor: attentionFactor)
    }
}

/// What scoring a unit gave.
public struct UnitResult: Sendable, Codable, Equatable {
    /// Sum of −log p over the window's scored tokens; nil when it was NaN or infinite.
    public var nllSum: Double?
    public var tokens: Int
    public var seconds: Double
    public var worker: String

    enum CodingKeys: String, CodingKey {
        case nllSum = "nll_sum", tokens, seconds, worker
    }

    public init(nllSum: Double?, tokens: Int, seconds: Double, worker: String) {
        self.nllSum = nllSum
        self.tokens = tokens
        self.seconds = seconds
        self.worker = worker
    }
}

/// Something that scores units: the in-process evaluator, or (later) workers over HTTP.
public protocol UnitEvaluator: Sendable {
    /// How many units may run at once.
    var capacity: Int { get }
    func evaluate(_ unit: WorkUnit) async throws -> UnitResult
}
