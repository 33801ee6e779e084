import Foundation
import Search
import Store

/// The outcome of a finished search.
public struct SearchSummary: Sendable, Codable {
    public var searchID: Int64
    public var status: String
    public var lambda: [Double]
    public var nHat: Int
    public var attentionFactor: Double
    public var perplexity: Double?
    public var bestOrdinal: Int?
    public var baselines: [String: Double?]
    public var bestBaseline: String?
    public var evaluations: Int
    public var units: Int
    public var tokensEvaluated: Int
    public var originalContext: Int
    public var targetContext: Int
    public var seed: UInt64
    /// What `perplexity` measures: `ppl`, `key-tokens` or `needle`.
    public var fitness: String
    /// The baselines under the search's fitness (equal to `baselines` for `ppl`).
    public var baselineFitness: [String: Double?]
    /// d_rcd of the best candidate, in the critical-dimension space.
    public var criticalPair: Int?
    /// When the best has n̂ > 0 (which HF and llama.cpp cannot apply): the best with n̂ = 0.
    public var portable: PortableBest?

    public init(searchID: Int64, status: String, lambda: [Double], nHat: Int, attentionFactor: Double,
                perplexity: Double?, bestOrdinal: Int?, baselines: [String: Double?], bestBaseline: String?,
                evaluations: Int, units: Int, tokensEvaluated: Int, originalContext: Int, targetContext: Int, seed: UInt64,
                fitness: String = "ppl", baselineFitness: [String: Double?]? = nil, criticalPair: Int? = nil,
                portable: PortableBest? = nil) {
        self.fitness = fitness; self.baselineFitness = baselineFitness ?? baselines
        self.criticalPair = criticalPair; self.portable = portable
        self.searchID = searchID; self.status = status; self.lambda = lambda; self.nHat = nHat
        self.attentionFactor = attentionFactor; self.perplexity = perplexity; self.bestOrdinal = bestOrdinal
        self.baselines = baselines; self.bestBaseline = bestBaseline; self.evaluations = evaluations; self.units = units
        self.tokensEvaluated = tokensEvaluated; self.originalContext = originalContext
        self.targetContext = targetContext; self.seed = seed
    }

    enum CodingKeys: String, CodingKey {
        case searchID = "search_id", status, lambda, nHat = "n_hat", attentionFactor = "attention_factor"
        case perplexity = "ppl", bestOrdinal = "best_candidate", baselines, bestBaseline = "best_baseline"
        case evaluations, units, tokensEvaluated = "tokens_evaluated", originalContext = "original_context"
        case targetContext = "target_context", seed, fitness, baselineFitness = "baseline_fitness"
        case criticalPair = "critical_pair", portable
    }
}

/// The best candidate with n̂ = 0: what runtimes without n̂ (HF, llama.cpp) can use.
public struct PortableBest: Sendable, Codable, Equatable {
    public var candidate: Int
    public var lambda: [Double]
    public var attentionFactor: Double
    public var perplexity: Double

    enum CodingKeys: String, CodingKey {
        case candidate, lambda, attentionFactor = "attention_factor", perplexity = "ppl"
    }

    public init(candidate: Int, lambda: [Double], attentionFactor: Double, perplexity: Double) {
        self.candidate = candidate
        self.lambda = lambda
        self.attentionFactor = attentionFactor
        self.perplexity = perplexity
    }
}

extension SearchSummary {
    /// The best baseline under a fitness (by its stored perplexity for `ppl`, else its fitness value).
    static func bestBaseline(_ baselines: [BaselineRecord], fitness: Fitness) -> (record: BaselineRecord, value: Double)? {
        baselines.compactMap { b -> (BaselineRecord, Double)? in
            (fitness == .ppl ? b.perplexity : b.fitness).map { (b, $0) }
        }.min { $0.1 < $1.1 }
    }
}

extension SearchStore {
    /// A search's summary — its best candidate, the n̂ = 0 best beside it, the baselines — read
    /// from the store alone: the one way every command, the API and the runner get it.
    public func summary(_ searchID: Int64) throws -> SearchSummary {
        guard let record = try search(searchID) else { throw StoreError.notFound("search \(searchID)") }
        let rows = try candidates(searchID)
        let history = rows.compactMap { c in c.outcome.map { Evaluated(ordinal: c.ordinal, candidate: c.candidate, outcome: $0) } }
        let best = SearchEngine.best(history)
        let bestRecord = best.flatMap { b in rows.first { $0.ordinal == b.ordinal } }
        let baselineRows = try baselines(searchID)
        let fitness = record.config.fitnessKind
        let bestBaseline = SearchSummary.bestBaseline(baselineRows, fitness: fitness)
        let units = try evaluationCount(searchID)
        var portable: PortableBest?
        if let best, best.candidate.nHat > 0,
           let zero = SearchEngine.ranked(history).first(where: { $0.candidate.nHat == 0 && $0.outcome.perplexity != nil }) {
            portable = PortableBest(candidate: zero.ordinal, lambda: zero.candidate.lambda,
                                    attentionFactor: zero.candidate.attentionFactor, perplexity: zero.outcome.perplexity!)
        }
        return SearchSummary(
            searchID: searchID, status: record.status.rawValue,
            lambda: bestRecord?.candidate.lambda ?? [], nHat: bestRecord?.candidate.nHat ?? 0,
            attentionFactor: bestRecord?.attentionFactor ?? record.config.attentionFactor,
            perplexity: best?.outcome.perplexity, bestOrdinal: best?.ordinal,
            baselines: Dictionary(uniqueKeysWithValues: baselineRows.map { ($0.method, $0.perplexity) }),
            bestBaseline: bestBaseline?.record.method, evaluations: history.count, units: units,
            tokensEvaluated: (units + baselineRows.reduce(0) { $0 + $1.windowNLL.count }) * record.config.targetContext,
            originalContext: record.config.originalContext, targetContext: record.config.targetContext,
            seed: record.config.seed, fitness: fitness.rawValue,
            baselineFitness: fitness == .ppl ? nil
                : Dictionary(uniqueKeysWithValues: baselineRows.map { ($0.method, $0.fitness) }),
            criticalPair: bestRecord?.candidate.criticalPair, portable: portable)
    }
}
