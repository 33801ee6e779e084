import Foundation
import RoPE
import Search

/// One unit of work: score window `window` (a window of the target length) under `scaling`.
public struct WorkUnit: Sendable, Codable, Hashable, StrictDecodable {
    public var searchID: Int64
    /// The candidate's row in the coordinator's store, `candidate_row` on the wire (not the
    /// API's `candidate`, its ordinal in the search); −1 for a rule's unit.
    public var candidateRowID: Int64
    public var window: Int
    public var lambda: [Double]
    public var nHat: Int
    public var attentionFactor: Double
    public var targetContext: Int
    public var windowCount: Int
    public var modelSHA256: String
    public var textSHA256: String
    public var textOffset: Int
    /// What to score (nil = `ppl`, every token of the plain window): `key-tokens` (the
    /// `positions` of the plain window), `needle` (the answers of the needle window made from
    /// `needleSeed`) or `mixed` (every token of that needle window, the answers weighted to count
    /// as much as the rest). The search's fitness, by the same name.
    public var fitness: Fitness?
    /// true: find the window's key tokens instead of scoring it (the result lists them; `fitness`
    /// is not used).
    public var probe: Bool?
    /// For `key-tokens`: the positions to score.
    public var positions: [Int]?
    /// For `needle` and `mixed`: the seed of the needles, and how many each window holds (nil: 1).
    public var needleSeed: UInt64?
    public var needles: Int?
    /// For `probe`: the short context and the NLL drop that makes a key token.
    public var originalContext: Int?
    public var keyTokenThreshold: Double?
    /// Attention's inputs: nil or "f32", or "bf16" (the search's `attention_precision`).
    public var attentionPrecision: String?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case searchID = "search_id", candidateRowID = "candidate_row", window, lambda
        case nHat = "n_hat", attentionFactor = "attention_factor", targetContext = "target_context"
        case windowCount = "windows", modelSHA256 = "model_sha256", textSHA256 = "text_sha256", textOffset = "text_offset"
        case fitness, probe, positions, needleSeed = "needle_seed", needles, originalContext = "original_context"
        case keyTokenThreshold = "key_token_threshold", attentionPrecision = "attention_precision"
    }

    public init(searchID: Int64, candidateRowID: Int64, window: Int, lambda: [Double], nHat: Int,
                attentionFactor: Double, targetContext: Int, windowCount: Int, modelSHA256: String, textSHA256: String,
                textOffset: Int) {
        self.searchID = searchID; self.candidateRowID = candidateRowID; self.window = window; self.lambda = lambda
        self.nHat = nHat; self.attentionFactor = attentionFactor; self.targetContext = targetContext
        self.windowCount = windowCount; self.modelSHA256 = modelSHA256; self.textSHA256 = textSHA256; self.textOffset = textOffset
    }

    public var scaling: RoPEScaling {
        RoPEScaling(method: "candidate", lambda: lambda, nHat: nHat, attentionFactor: attentionFactor)
    }
}

/// What scoring a unit gave.
public struct UnitResult: Sendable, Codable, Equatable {
    /// Sum of −log p over the window's scored tokens; nil when it was NaN or infinite.
    public var nllSum: Double?
    public var tokens: Int
    public var seconds: Double
    public var worker: String
    /// For a `probe` unit: the key-token positions found.
    public var positions: [Int]?

    enum CodingKeys: String, CodingKey {
        case nllSum = "nll_sum", tokens, seconds, worker, positions
    }

    /// The `worker` of a result answered from an identical unit already scored (a rule's, for a
    /// seed equal to that rule): no worker time was spent on it (`seconds` 0).
    public static let reusedWorker = "reused"

    public init(nllSum: Double?, tokens: Int, seconds: Double, worker: String, positions: [Int]? = nil) {
        self.positions = positions
        self.nllSum = nllSum
        self.tokens = tokens
        self.seconds = seconds
        self.worker = worker
    }
}

extension UnitResult {
    /// Why this result cannot be the answer to `unit`, or nil when it can: the scored-token count
    /// must be the unit's (every position but the last for `ppl`, its positions for
    /// `key-tokens`, at least one per needle for `needle`), the NLL finite and ≥ 0 (or absent: NaN), a
    /// probe's positions inside the window. A worker that sends one is lying or broken.
    public func problem(for unit: WorkUnit) -> String? {
        if let nll = nllSum, !(nll.isFinite && nll >= 0) { return "nll_sum \(nll) is not a finite number ≥ 0" }
        if unit.probe == true {
            let found = positions ?? []
            if tokens != found.count { return "tokens \(tokens) but \(found.count) positions" }
            if found.contains(where: { $0 < 0 || $0 >= unit.targetContext - 1 }) { return "a key-token position lies outside the window" }
            return nil
        }
        switch unit.fitness ?? .ppl {
        case .ppl, .mixed:
            if tokens != unit.targetContext - 1 { return "tokens \(tokens), but the unit scores \(unit.targetContext - 1)" }
        case .keyTokens:
            let expected = unit.positions?.count ?? 0
            if tokens != expected { return "tokens \(tokens), but the unit scores \(expected) key tokens" }
        case .needle:
            if tokens < unit.needles ?? 1 || tokens >= unit.targetContext { return "tokens \(tokens) is not the length of \(unit.needles ?? 1) needle answer(s)" }
        }
        return nil
    }
}

/// Something that scores units — the one evaluating protocol: a model in this process
/// (`LocalEvaluator`), one worker over HTTP (`HTTPWorkerConnection`), a simulated worker, or the
/// dispatcher in front of many of them. A runner scores through one; the dispatcher leases
/// units to many.
public protocol UnitEvaluator: Sendable {
    /// How many units may run at once (1 for a single worker).
    var capacity: Int { get }
    func evaluate(_ unit: WorkUnit) async throws -> UnitResult
    /// Whether `confirm` can give a second opinion (false: it returns the answer as it is, and
    /// the runner does not ask).
    var confirms: Bool { get }
    /// A second opinion on `result`, an answer this evaluator gave to `unit`: the answer that
    /// another worker agrees with (`result` itself when they agree; when they disagree, a third
    /// decides). The runner asks it for every unit of a candidate that would become the new best.
    /// By default `result`: one evaluator cannot check itself.
    func confirm(_ unit: WorkUnit, _ result: UnitResult) async throws -> UnitResult
}

extension UnitEvaluator {
    public var capacity: Int { 1 }
    public var confirms: Bool { false }
    public func confirm(_ unit: WorkUnit, _ result: UnitResult) async throws -> UnitResult { result }
}

/// A unit that kept failing: recorded as failed with this reason.
public struct UnitFailed: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { "evaluation failed: \(reason)" }
}

/// The worker says the unit itself cannot be scored (its `/v1/evaluate` answered 400; in
/// process, the evaluator's error naming the request): the unit's fault, not the worker's. The
/// unit spends an attempt and goes to another worker if one can take it; the worker is not
/// removed for it (a bad search must not empty the cluster of its workers).
public struct UnitRefused: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { "the unit was refused: \(reason)" }
}
