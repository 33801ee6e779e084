import Foundation
import RoPE
import Wire
import Search
import Store

/// Where a running search stands, for progress lines and the API.
public struct SearchProgress: Sendable {
    public var step: Int
    public var stepCount: Int
    public var candidatesDone: Int
    public var unitsDone: Int
    public var best: Double?
    public var bestBaseline: Double?
    public var bestBaselineMethod: String?
}

/// The outcome of a finished search.
public struct SearchSummary: Sendable, Codable {
    public var searchID: Int64
    public var status: String
    public var lambda: [Double]
    public var startTokens: Int
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

    public init(searchID: Int64, status: String, lambda: [Double], startTokens: Int, attentionFactor: Double,
                perplexity: Double?, bestOrdinal: Int?, baselines: [String: Double?], bestBaseline: String?,
                evaluations: Int, units: Int, tokensEvaluated: Int, originalContext: Int, targetContext: Int, seed: UInt64,
                fitness: String = "ppl", baselineFitness: [String: Double?]? = nil, criticalPair: Int? = nil,
                portable: PortableBest? = nil) {
        self.fitness = fitness; self.baselineFitness = baselineFitness ?? baselines
        self.criticalPair = criticalPair; self.portable = portable
        self.searchID = searchID; self.status = status; self.lambda = lambda; self.startTokens = startTokens
        self.attentionFactor = attentionFactor; self.perplexity = perplexity; self.bestOrdinal = bestOrdinal
        self.baselines = baselines; self.bestBaseline = bestBaseline; self.evaluations = evaluations; self.units = units
        self.tokensEvaluated = tokensEvaluated; self.originalContext = originalContext
        self.targetContext = targetContext; self.seed = seed
    }

    enum CodingKeys: String, CodingKey {
        case searchID = "search_id", status, lambda, startTokens = "n_hat", attentionFactor = "attention_factor"
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

/// Runs one search to its end: baselines first, then every step of the engine, scoring units
/// through an evaluator and recording each in the store as it finishes. Everything it decides
/// is rebuilt from the store, so running it again after a crash continues where it stopped
/// and ends exactly where an uninterrupted run ends.
public final class SearchRunner: Sendable {
    public let store: SearchStore
    public let searchID: Int64
    public let geometry: RoPEGeometry

    public init(store: SearchStore, searchID: Int64, geometry: RoPEGeometry) {
        self.store = store
        self.searchID = searchID
        self.geometry = geometry
    }

    public func run(evaluator: UnitEvaluator, progress: (@Sendable (SearchProgress) -> Void)? = nil) async throws -> SearchSummary {
        guard let record = try store.search(searchID) else { throw StoreError.notFound("search \(searchID)") }
        if record.status == .done { return try summary() }
        let config = record.config
        try store.setStatus(searchID, .running)
        do {
            let seeds = Baselines.seeds(geometry: geometry, config: config)
            let history: [Evaluated]
            if config.fitnessKind == .ppl {
                // The steps do not need the rules' scores: score both at once, so workers never
                // wait for the baselines' last windows.
                async let rules: Void = runBaselines(record, evaluator: evaluator)
                history = try await runSteps(record, seeds: seeds, keyTokens: [:], evaluator: evaluator, progress: progress)
                try await rules
            } else {
                try await runBaselines(record, evaluator: evaluator)
                let keyTokens = config.fitnessKind == .keyTokens ? try await probeKeyTokens(record, evaluator: evaluator) : [:]
                try await runBaselineFitness(record, keyTokens: keyTokens, evaluator: evaluator)
                history = try await runSteps(record, seeds: seeds, keyTokens: keyTokens, evaluator: evaluator,
                                             progress: progress)
            }
            guard SearchEngine.best(history) != nil else { throw SearchRunnerError.nothingScored(try failureSummary()) }
            try store.setStatus(searchID, .done)
            return try summary()
        } catch is CancellationError {
            throw CancellationError()   // paused or cancelled: the caller sets the status
        } catch let error as SearchError {
            // No parents: every candidate was infeasible; say why their units failed, if they did.
            let reasons = (try? failureSummary()) ?? ""
            try? store.setStatus(searchID, .failed, error: "\(error)" + (reasons.isEmpty ? "" : "; \(reasons)"))
            throw error
        } catch {
            try? store.setStatus(searchID, .failed, error: "\(error)")
            throw error
        }
    }

    /// "N units failed: reason (count); …" from the store, or "" when none failed.
    func failureSummary() throws -> String {
        let reasons = try store.failureReasons(searchID)
        guard !reasons.isEmpty else { return "" }
        return "\(try store.failedUnitCount(searchID)) unit(s) failed for good: "
            + reasons.map { "\($0.reason) (×\($0.count))" }.joined(separator: "; ")
    }

    /// The unit that scores window `sample` of this search under `scaling` and `fitness`
    /// (`candidateRowID` −1 for a baseline).
    func unit(_ record: SearchRecord, candidateRowID: Int64, sample: Int, scaling: RoPEScaling,
                      fitness: Fitness, keyTokens: [Int: [Int]] = [:]) -> WorkUnit {
        var unit = WorkUnit(searchID: searchID, candidateRowID: candidateRowID, sample: sample, lambda: scaling.lambda,
                            startTokens: scaling.startTokens, attentionFactor: scaling.attentionFactor,
                            targetContext: record.config.targetContext, samples: record.config.samples,
                            modelSHA256: record.modelSHA256, textSHA256: record.textSHA256, textOffset: record.textOffset)
        switch fitness {
        case .ppl: break
        case .keyTokens:
            unit.fitness = Fitness.keyTokens.rawValue
            unit.positions = keyTokens[sample]
        case .needle:
            unit.fitness = Fitness.needle.rawValue
            unit.needleSeed = record.config.seed
        }
        return unit
    }

    /// Scores rules on every window under `fitness`, every unit at once: per rule the NLL sums
    /// and scored tokens of its windows up to the first that came back NaN/infinite or failed
    /// for good, and whether none did. Other errors (cancellation, the store) are thrown, so a
    /// crash never records a rule as infeasible.
    private func scoreRules(_ scalings: [RoPEScaling], record: SearchRecord, fitness: Fitness, keyTokens: [Int: [Int]],
                            evaluator: UnitEvaluator) async throws -> [(nll: [Double], tokens: Int, feasible: Bool)] {
        let samples = record.config.samples
        struct Scored: Sendable { var index: Int; var result: UnitResult? }   // index = rule × samples + sample
        let results = try await withThrowingTaskGroup(of: Scored.self) { group in
            for (rule, scaling) in scalings.enumerated() {
                for sample in 0..<samples {
                    let unit = self.unit(record, candidateRowID: -1, sample: sample, scaling: scaling, fitness: fitness,
                                         keyTokens: keyTokens)
                    group.addTask {
                        do { return Scored(index: rule * samples + sample, result: try await evaluator.evaluate(unit)) }
                        catch is UnitFailed { return Scored(index: rule * samples + sample, result: nil) }
                    }
                }
            }
            var results: [Int: UnitResult] = [:]
            while let scored = try await group.next() { results[scored.index] = scored.result }
            return results
        }
        return scalings.indices.map { rule in
            var nll: [Double] = []
            var tokens = 0
            for result in (0..<samples).map({ results[rule * samples + $0] }) {
                guard let result, let value = result.nllSum, value.isFinite, result.tokens > 0 else { return (nll, tokens, false) }
                nll.append(value)
                tokens += result.tokens
            }
            return (nll, tokens, true)
        }
    }

    /// Scores each baseline's perplexity on every window, unless already stored.
    private func runBaselines(_ record: SearchRecord, evaluator: UnitEvaluator) async throws {
        let done = Set(try store.baselines(searchID).map(\.method))
        let scalings = Baselines.scalings(geometry: geometry, config: record.config).filter { !done.contains($0.method) }
        let scores = try await scoreRules(scalings, record: record, fitness: .ppl, keyTokens: [:], evaluator: evaluator)
        for (scaling, (nll, tokens, feasible)) in zip(scalings, scores) {
            try store.recordBaseline(searchID, BaselineRecord(
                method: scaling.method, lambda: scaling.lambda, startTokens: 0, attentionFactor: scaling.attentionFactor,
                perplexity: feasible ? exp(nll.reduce(0, +) / Double(tokens)) : nil, sampleNLL: nll))
        }
    }

    /// Scores each feasible baseline under the search's (non-ppl) fitness, unless already stored.
    private func runBaselineFitness(_ record: SearchRecord, keyTokens: [Int: [Int]], evaluator: UnitEvaluator) async throws {
        let baselines = try store.baselines(searchID).filter { $0.perplexity != nil && $0.fitnessNLL == nil }
        let scalings = baselines.map {
            RoPEScaling(method: $0.method, lambda: $0.lambda, attentionFactor: $0.attentionFactor)
        }
        let scores = try await scoreRules(scalings, record: record, fitness: record.config.fitnessKind,
                                          keyTokens: keyTokens, evaluator: evaluator)
        for (var baseline, (nll, tokens, feasible)) in zip(baselines, scores) {
            baseline.fitness = feasible ? exp(nll.reduce(0, +) / Double(tokens)) : nil
            baseline.fitnessNLL = nll
            try store.recordBaseline(searchID, baseline)
        }
    }

    /// Finds (once, stored) the key tokens of every window under the rule with the best
    /// perplexity: LongPPL's long-short difference above the search's threshold. Each window's
    /// positions come from one deterministic unit, so they are the same whatever the workers.
    private func probeKeyTokens(_ record: SearchRecord, evaluator: UnitEvaluator) async throws -> [Int: [Int]] {
        let config = record.config
        var found = try store.keyTokens(searchID)
        guard let baseline = Self.bestBaseline(try store.baselines(searchID), fitness: .ppl)?.record else {
            throw SearchRunnerError.noFeasibleBaseline
        }
        let threshold = config.keyTokenThreshold ?? SearchConfig.defaultKeyTokenThreshold
        for sample in 0..<config.samples where found[sample] == nil {
            var unit = self.unit(record, candidateRowID: -1, sample: sample,
                                 scaling: RoPEScaling(method: baseline.method, lambda: baseline.lambda,
                                                      attentionFactor: baseline.attentionFactor), fitness: .ppl)
            unit.fitness = "probe"
            unit.originalContext = config.originalContext
            unit.keyTokenThreshold = threshold
            let result: UnitResult
            do { result = try await evaluator.evaluate(unit) }
            catch let failure as UnitFailed { throw SearchRunnerError.keyTokenProbeFailed(sample: sample, reason: failure.reason) }
            let positions = result.positions ?? []
            guard !positions.isEmpty else { throw SearchRunnerError.noKeyTokens(sample: sample, threshold: threshold) }
            try store.recordKeyTokens(searchID, sample: sample, positions: positions)
            found[sample] = positions
        }
        return found
    }

    /// The best baseline under a fitness (by its stored perplexity for `ppl`, else its fitness value).
    static func bestBaseline(_ baselines: [BaselineRecord], fitness: Fitness) -> (record: BaselineRecord, value: Double)? {
        baselines.compactMap { b -> (BaselineRecord, Double)? in
            (fitness == .ppl ? b.perplexity : b.fitness).map { (b, $0) }
        }.min { $0.1 < $1.1 }
    }

    /// The search's best candidate and the baselines, from the store.
    public func summary() throws -> SearchSummary {
        guard let record = try store.search(searchID) else { throw StoreError.notFound("search \(searchID)") }
        let candidates = try store.candidates(searchID)
        let history = candidates.compactMap { c in c.outcome.map { Evaluated(id: c.ordinal, candidate: c.candidate, outcome: $0) } }
        let best = SearchEngine.best(history)
        let bestRecord = best.flatMap { b in candidates.first { $0.ordinal == b.id } }
        let baselines = try store.baselines(searchID)
        let fitness = record.config.fitnessKind
        let bestBaseline = Self.bestBaseline(baselines, fitness: fitness)
        let units = try store.evaluationCount(searchID)
        var portable: PortableBest?
        if let best, best.candidate.startTokens > 0,
           let zero = SearchEngine.ranked(history).first(where: { $0.candidate.startTokens == 0 && $0.outcome.perplexity != nil }) {
            portable = PortableBest(candidate: zero.id, lambda: zero.candidate.lambda,
                                    attentionFactor: zero.candidate.attentionFactor, perplexity: zero.outcome.perplexity!)
        }
        return SearchSummary(
            searchID: searchID, status: record.status.rawValue,
            lambda: bestRecord?.candidate.lambda ?? [], startTokens: bestRecord?.candidate.startTokens ?? 0,
            attentionFactor: bestRecord?.attentionFactor ?? record.config.attentionFactor,
            perplexity: best?.outcome.perplexity, bestOrdinal: best?.id,
            baselines: Dictionary(uniqueKeysWithValues: baselines.map { ($0.method, $0.perplexity) }),
            bestBaseline: bestBaseline?.record.method, evaluations: history.count, units: units,
            tokensEvaluated: (units + baselines.reduce(0) { $0 + $1.sampleNLL.count }) * record.config.targetContext,
            originalContext: record.config.originalContext, targetContext: record.config.targetContext,
            seed: record.config.seed, fitness: fitness.rawValue,
            baselineFitness: fitness == .ppl ? nil
                : Dictionary(uniqueKeysWithValues: baselines.map { ($0.method, $0.fitness) }),
            criticalPair: bestRecord?.candidate.criticalPair, portable: portable)
    }
}

/// Why a search cannot go on.
public enum SearchRunnerError: Error, CustomStringConvertible {
    case noFeasibleBaseline
    case keyTokenProbeFailed(sample: Int, reason: String)
    case noKeyTokens(sample: Int, threshold: Double)
    case nothingScored(String)

    public var description: String {
        switch self {
        case .noFeasibleBaseline: return "every baseline is infeasible on these windows: no rule to find key tokens with"
        case let .keyTokenProbeFailed(sample, reason): return "finding the key tokens of window \(sample) failed: \(reason)"
        case let .nothingScored(reasons):
            return "no candidate could be scored" + (reasons.isEmpty ? " (every one was NaN or infinite)" : ": " + reasons)
        case let .noKeyTokens(sample, threshold):
            return "window \(sample) has no key token (no prediction improves by more than \(threshold) nats with the long context); lower key_token_threshold or use the ppl fitness"
        }
    }
}
