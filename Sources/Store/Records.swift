import Foundation
import Search

/// A search as stored.
public struct SearchRecord: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var config: SearchConfig
    public var modelPath: String
    public var modelSHA256: String
    public var textPath: String
    public var textOffset: Int
    public var textSHA256: String
    public var status: SearchStatus
    public var createdAt: Date
    /// RoPE base of the model (with `config.pairs`, the geometry the baselines need).
    public var ropeBase: Double
}

public enum SearchStatus: String, Sendable, Codable, CaseIterable {
    case queued, running, paused, done, failed, cancelled
}

/// A candidate as stored: the engine's `Candidate` plus where it stands.
public struct CandidateRecord: Sendable, Equatable {
    /// Row id in the database.
    public var rowID: Int64
    /// Position in the search (0, 1, …): the engine's `Evaluated.id`.
    public var ordinal: Int
    public var step: Int
    public var candidate: Candidate
    public var attentionFactor: Double
    /// nil while windows are still to be scored.
    public var outcome: Outcome?
}

/// One scored (candidate, window) unit.
public struct EvaluationRecord: Sendable, Equatable {
    public var candidateRowID: Int64
    public var window: Int
    /// nil when the loss was NaN or infinite.
    public var nllSum: Double?
    public var tokens: Int
    public var seconds: Double
    public var worker: String
    /// Why the unit failed (after its retries), if it did.
    public var error: String?

    public init(candidateRowID: Int64, window: Int, nllSum: Double?, tokens: Int, seconds: Double, worker: String,
                error: String? = nil) {
        self.error = error
        self.candidateRowID = candidateRowID
        self.window = window
        self.nllSum = nllSum
        self.tokens = tokens
        self.seconds = seconds
        self.worker = worker
    }
}

/// One window of a rule scored under a pass (`ppl`, or the search's fitness), kept as it comes
/// back: the rule's `BaselineRecord` is written once all its windows are in.
public struct RuleUnitRecord: Sendable, Equatable {
    public var method: String
    public var window: Int
    /// nil when the loss was NaN or infinite.
    public var nllSum: Double?
    public var tokens: Int
    public var seconds: Double
    public var worker: String

    public init(method: String, window: Int, nllSum: Double?, tokens: Int, seconds: Double, worker: String) {
        self.method = method
        self.window = window
        self.nllSum = nllSum
        self.tokens = tokens
        self.seconds = seconds
        self.worker = worker
    }
}

/// A baseline method's perplexity on the search's windows.
public struct BaselineRecord: Sendable, Equatable {
    public var method: String
    public var lambda: [Double]
    public var nHat: Int
    public var attentionFactor: Double
    /// nil when infeasible (NaN or infinite).
    public var perplexity: Double?
    public var windowNLL: [Double]
    /// The rule's value under the search's fitness when that is not `ppl` (nil until scored,
    /// or infeasible when `fitnessNLL` is set); for `ppl` searches the perplexity is the fitness.
    public var fitness: Double?
    public var fitnessNLL: [Double]?
    /// The tokens each window of `windowNLL` and `fitnessNLL` scored (nil in databases written
    /// before they were kept): with them a candidate equal to the rule takes its stored units.
    public var windowTokens: [Int]?
    public var fitnessTokens: [Int]?

    public init(method: String, lambda: [Double], nHat: Int, attentionFactor: Double,
                perplexity: Double?, windowNLL: [Double], fitness: Double? = nil, fitnessNLL: [Double]? = nil,
                windowTokens: [Int]? = nil, fitnessTokens: [Int]? = nil) {
        self.windowTokens = windowTokens
        self.fitnessTokens = fitnessTokens
        self.fitness = fitness
        self.fitnessNLL = fitnessNLL
        self.method = method
        self.lambda = lambda
        self.nHat = nHat
        self.attentionFactor = attentionFactor
        self.perplexity = perplexity
        self.windowNLL = windowNLL
    }
}

/// Why the store refused something.
public enum StoreError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case corrupt(String)
    /// A read-only open found a file without this version's search tables.
    case notASearchDatabase(String)

    public var description: String {
        switch self {
        case let .notFound(what): return "\(what) not found"
        case let .corrupt(what): return "corrupt database row: \(what)"
        case let .notASearchDatabase(path): return "\(path) is not a longrope search database (or needs a newer schema: open it once read-write)"
        }
    }
}
