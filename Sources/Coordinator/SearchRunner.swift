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

    public init(searchID: Int64, status: String, lambda: [Double], startTokens: Int, attentionFactor: Double,
                perplexity: Double?, bestOrdinal: Int?, baselines: [String: Double?], bestBaseline: String?,
                evaluations: Int, units: Int, tokensEvaluated: Int, originalContext: Int, targetContext: Int, seed: UInt64) {
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
        case targetContext = "target_context", seed
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
            try await runBaselines(record, evaluator: evaluator)
            let baselines = try store.baselines(searchID)
            let bestBaseline = baselines.filter { $0.perplexity != nil }.min { $0.perplexity! < $1.perplexity! }
            let seeds = Baselines.seeds(geometry: geometry, config: config)
            let stored = try store.candidates(searchID)
            var history: [Evaluated] = []
            var units = try store.evaluationCount(searchID)

            for step in 0..<config.stepCount {
                var batch = stored.filter { $0.step == step }
                if batch.isEmpty {
                    let remaining = (config.budget ?? .max) - history.count
                    if remaining <= 0 { break }
                    let bred = try SearchEngine.breed(step: step, config: config, seeds: seeds, history: history)
                    try store.insertCandidates(searchID, step: step, Array(bred.prefix(remaining)),
                                               attentionFactor: config.attentionFactor)
                    batch = try store.candidates(searchID, step: step)
                }
                let reference = SearchEngine.rejectionReference(history, config: config)
                let pending = batch.filter { $0.outcome == nil }
                var outcomes: [Int64: Outcome] = [:]
                try await withThrowingTaskGroup(of: (Int64, Outcome, Int).self) { group in
                    var next = 0
                    func launch() {
                        guard next < pending.count else { return }
                        let candidate = pending[next]
                        next += 1
                        group.addTask {
                            try await self.score(candidate, record: record, reference: reference, evaluator: evaluator)
                        }
                    }
                    for _ in 0..<max(1, evaluator.capacity) { launch() }
                    while let (rowID, outcome, scoredUnits) = try await group.next() {
                        outcomes[rowID] = outcome
                        units += scoredUnits
                        launch()
                        let done = history.count + batch.count - pending.count + outcomes.count
                        progress?(SearchProgress(step: step, stepCount: config.stepCount, candidatesDone: done,
                                                 unitsDone: units, best: currentBest(history, batch, outcomes),
                                                 bestBaseline: bestBaseline?.perplexity,
                                                 bestBaselineMethod: bestBaseline?.method))
                    }
                }
                for candidate in batch {
                    guard let outcome = candidate.outcome ?? outcomes[candidate.rowID] else {
                        throw StoreError.corrupt("candidate \(candidate.ordinal) has no outcome")
                    }
                    history.append(Evaluated(id: candidate.ordinal, candidate: candidate.candidate, outcome: outcome))
                }
            }
            try store.setStatus(searchID, .done)
            return try summary()
        } catch is CancellationError {
            throw CancellationError()   // paused or cancelled: the caller sets the status
        } catch {
            try? store.setStatus(searchID, .failed, error: "\(error)")
            throw error
        }
    }

    private func currentBest(_ history: [Evaluated], _ batch: [CandidateRecord], _ outcomes: [Int64: Outcome]) -> Double? {
        let finished = batch.compactMap { ($0.outcome ?? outcomes[$0.rowID])?.perplexity }
        return (history.compactMap(\.outcome.perplexity) + finished).min()
    }

    /// Scores the samples of one candidate still missing, one after another, stopping early
    /// when the partial perplexity rules it out. Returns its outcome and the units scored.
    private func score(_ candidate: CandidateRecord, record: SearchRecord, reference: [Double]?,
                       evaluator: UnitEvaluator) async throws -> (Int64, Outcome, Int) {
        let config = record.config
        let tokensPerSample = config.targetContext - 1
        var nll: [Double] = try store.sampleResults(candidate.rowID).map { $0 ?? .nan }
        var scored = 0
        for sample in nll.count..<config.samples {
            let unit = self.unit(record, candidateRowID: candidate.rowID, sample: sample,
                                 scaling: RoPEScaling(method: "candidate", lambda: candidate.candidate.lambda,
                                                      startTokens: candidate.candidate.startTokens,
                                                      attentionFactor: candidate.attentionFactor))
            let result: UnitResult
            do {
                result = try await evaluator.evaluate(unit)
            } catch let failure as UnitFailed {
                try store.recordEvaluation(EvaluationRecord(candidateRowID: candidate.rowID, sample: sample, nllSum: nil,
                                                            tokens: 0, seconds: 0, worker: "-", error: failure.reason),
                                           outcome: .infeasible)
                return (candidate.rowID, .infeasible, scored + 1)
            }
            scored += 1
            let finite = result.nllSum.flatMap { $0.isFinite ? $0 : nil }
            var outcome: Outcome?
            if let value = finite {
                nll.append(value)
                let mean = nll.reduce(0, +) / Double(nll.count * tokensPerSample)
                if nll.count == config.samples {
                    outcome = .scored(perplexity: exp(mean), sampleNLL: nll)
                } else if let reference, SearchEngine.shouldReject(partial: nll, reference: reference,
                                                                   tokensPerSample: tokensPerSample, config: config) {
                    outcome = .rejected(partialPerplexity: exp(mean), sampleNLL: nll)
                }
            } else {
                outcome = .infeasible
            }
            try store.recordEvaluation(EvaluationRecord(candidateRowID: candidate.rowID, sample: sample,
                                                        nllSum: finite,
                                                        tokens: result.tokens, seconds: result.seconds,
                                                        worker: result.worker), outcome: outcome)
            if let outcome { return (candidate.rowID, outcome, scored) }
        }
        throw StoreError.corrupt("candidate \(candidate.ordinal) has all samples but no outcome")
    }

    /// The unit that scores window `sample` of this search under `scaling`
    /// (`candidateRowID` −1 for a baseline).
    private func unit(_ record: SearchRecord, candidateRowID: Int64, sample: Int, scaling: RoPEScaling) -> WorkUnit {
        WorkUnit(searchID: searchID, candidateRowID: candidateRowID, sample: sample, lambda: scaling.lambda,
                 startTokens: scaling.startTokens, attentionFactor: scaling.attentionFactor,
                 targetContext: record.config.targetContext, samples: record.config.samples,
                 modelSHA256: record.modelSHA256, textSHA256: record.textSHA256, textOffset: record.textOffset)
    }

    /// Scores each baseline on every sample, unless already stored.
    private func runBaselines(_ record: SearchRecord, evaluator: UnitEvaluator) async throws {
        let done = Set(try store.baselines(searchID).map(\.method))
        for scaling in Baselines.scalings(geometry: geometry, config: record.config) where !done.contains(scaling.method) {
            var nll: [Double] = []
            var feasible = true
            for sample in 0..<record.config.samples {
                let unit = self.unit(record, candidateRowID: -1, sample: sample, scaling: scaling)
                guard let value = try? await evaluator.evaluate(unit).nllSum, value.isFinite else {
                    try Task.checkCancellation()
                    feasible = false
                    break
                }
                nll.append(value)
            }
            let tokens = Double(nll.count * (record.config.targetContext - 1))
            try store.recordBaseline(searchID, BaselineRecord(
                method: scaling.method, lambda: scaling.lambda, startTokens: 0, attentionFactor: scaling.attentionFactor,
                perplexity: feasible ? exp(nll.reduce(0, +) / tokens) : nil, sampleNLL: nll))
        }
    }

    /// The search's best candidate and the baselines, from the store.
    public func summary() throws -> SearchSummary {
        guard let record = try store.search(searchID) else { throw StoreError.notFound("search \(searchID)") }
        let candidates = try store.candidates(searchID)
        let history = candidates.compactMap { c in c.outcome.map { Evaluated(id: c.ordinal, candidate: c.candidate, outcome: $0) } }
        let best = SearchEngine.best(history)
        let bestRecord = best.flatMap { b in candidates.first { $0.ordinal == b.id } }
        let baselines = try store.baselines(searchID)
        let bestBaseline = baselines.filter { $0.perplexity != nil }.min { $0.perplexity! < $1.perplexity! }
        let units = try store.evaluationCount(searchID)
        return SearchSummary(
            searchID: searchID, status: record.status.rawValue,
            lambda: bestRecord?.candidate.lambda ?? [], startTokens: bestRecord?.candidate.startTokens ?? 0,
            attentionFactor: bestRecord?.attentionFactor ?? record.config.attentionFactor,
            perplexity: best?.outcome.perplexity, bestOrdinal: best?.id,
            baselines: Dictionary(uniqueKeysWithValues: baselines.map { ($0.method, $0.perplexity) }),
            bestBaseline: bestBaseline?.method, evaluations: history.count, units: units,
            tokensEvaluated: (units + baselines.reduce(0) { $0 + $1.sampleNLL.count }) * record.config.targetContext,
            originalContext: record.config.originalContext, targetContext: record.config.targetContext,
            seed: record.config.seed)
    }
}
