/// How a candidate was made.
public enum Operation: String, Codable, Sendable {
    case seed, mutation, crossover
    /// A neighbour of the best candidate so far (one λ, m or d_rcd moved a little).
    case refinement
}

/// One point of the search space: λ per rotary pair, n̂ and m; in the critical-dimension
/// space also d_rcd (λ below it is then derived from it).
public struct Candidate: Sendable, Equatable, Codable {
    public var lambda: [Double]
    public var nHat: Int
    /// m, the attention factor (the search's fixed m unless m is searched).
    public var attentionFactor: Double
    /// d_rcd as a pair index, in the critical-dimension space.
    public var criticalPair: Int?
    public var operation: Operation
    /// For seeds, the method they come from (`pi`, `ntk`, `yarn`, …).
    public var seedName: String?
    /// Ids of the parents (a mutation has one, a crossover two).
    public var parents: [Int]

    public init(lambda: [Double], nHat: Int = 0, attentionFactor: Double = 1, criticalPair: Int? = nil,
                operation: Operation, seedName: String? = nil, parents: [Int] = []) {
        self.lambda = lambda
        self.nHat = nHat
        self.attentionFactor = attentionFactor
        self.criticalPair = criticalPair
        self.operation = operation
        self.seedName = seedName
        self.parents = parents
    }

    /// Equal candidates (every λ and m within 1e-6, same n̂) share a key.
    public var noveltyKey: NoveltyKey {
        NoveltyKey(lambda: lambda.map { Int64(($0 * 1e6).rounded()) }, nHat: nHat,
                   attentionFactor: Int64((attentionFactor * 1e6).rounded()))
    }

    public var isMonotone: Bool { zip(lambda, lambda.dropFirst()).allSatisfy { $0 <= $1 } }
}

/// Identifies a candidate up to 1e-6 in every λ.
public struct NoveltyKey: Hashable, Sendable {
    var lambda: [Int64]
    var nHat: Int
    var attentionFactor: Int64
}

/// What evaluating a candidate gave.
public enum Outcome: Sendable, Equatable {
    /// Every window scored: the perplexity and each window's NLL sum.
    case scored(perplexity: Double, windowNLL: [Double])
    /// Scoring stopped early: the perplexity of the windows scored so far.
    case rejected(partialPerplexity: Double, windowNLL: [Double])
    /// NaN or infinite perplexity.
    case infeasible

    public var perplexity: Double? {
        if case let .scored(p, _) = self { return p }
        return nil
    }

    /// The partial perplexity of a rejected candidate.
    public var partialPerplexity: Double? {
        if case let .rejected(p, _) = self { return p }
        return nil
    }
}

/// A candidate with its id (its position in the search, from 0) and outcome.
public struct Evaluated: Sendable, Equatable {
    /// The candidate's number in its search (`candidate` in the API, `ordinal` in the store).
    public var ordinal: Int
    public var candidate: Candidate
    public var outcome: Outcome

    public init(ordinal: Int, candidate: Candidate, outcome: Outcome) {
        self.ordinal = ordinal
        self.candidate = candidate
        self.outcome = outcome
    }
}

/// Why the search cannot go on.
public enum SearchError: Error, Equatable, CustomStringConvertible {
    case invalidConfig([String])
    case noveltyExhausted(step: Int, attempts: Int)
    case noParents(step: Int)

    public var description: String {
        switch self {
        case let .invalidConfig(problems): return "invalid search config: " + problems.joined(separator: "; ")
        case let .noveltyExhausted(step, attempts):
            return "step \(step): no new candidate after \(attempts) draws (the search space near the parents is exhausted; widen lambda_max or lower the step)"
        case let .noParents(step): return "step \(step): every candidate so far is infeasible, nothing to breed from"
        }
    }
}
