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
    /// Set while the rules are scored before the first step (a fitness other than ppl): which
    /// pass (`.ppl`: their perplexity; else the search's fitness) and its units done of all.
    public var rules: (pass: Fitness, unitsDone: Int, units: Int)?
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
            // The first step's seeds are the rules: their units are taken from the rules' (`ReusedUnits`).
            let reuse = ReusedUnits(evaluator)
            let history: [Evaluated]
            if config.fitnessKind == .ppl {
                try rememberStoredRules(record, fitness: .ppl, keyTokens: [:], into: reuse)
                // The steps do not need the rules' scores: score both at once, so workers never
                // wait for the baselines' last windows (a seed equal to a rule waits for its unit).
                let rules = try unscoredRules(record)
                let ruleUnits = rules.flatMap { scaling in
                    (0..<config.windowCount).map { Self.unit(record, candidateRowID: -1, window: $0, scaling: scaling, fitness: .ppl) }
                }
                reuse.promise(ruleUnits)
                async let scoredRules: Void = runBaselines(record, rules, evaluator: reuse, releasing: ruleUnits)
                history = try await runSteps(record, seeds: seeds, keyTokens: [:], evaluator: reuse, progress: progress)
                try await scoredRules
            } else {
                // Before the first step, and long at long windows: said as it goes. A rule with the
                // factors of one stored (a stop came between the two) takes its units.
                try rememberStoredRules(record, fitness: .ppl, keyTokens: [:], into: reuse)
                try await runBaselines(record, try unscoredRules(record), evaluator: reuse, progress: progress)
                let keyTokens = config.fitnessKind == .keyTokens ? try await probeKeyTokens(record, evaluator: reuse) : [:]
                try rememberStoredRules(record, fitness: config.fitnessKind, keyTokens: keyTokens, into: reuse)
                try await runBaselineFitness(record, keyTokens: keyTokens, evaluator: reuse, progress: progress)
                history = try await runSteps(record, seeds: seeds, keyTokens: keyTokens, evaluator: reuse,
                                             progress: progress)
            }
            guard SearchEngine.best(history) != nil else { throw SearchRunnerError.nothingScored(try failureSummary()) }
            try store.setStatus(searchID, .done)
            return try summary()
        } catch is CancellationError {
            throw CancellationError()   // paused or cancelled: the caller sets the status
        } catch let failure as UnitFailed {
            // In these failure paths the status write is best effort (`try?`): the run's own error
            // is what is thrown, and a search left `running` is resumed like one that was stopped.
            // A missing score would change the result: stop, keep everything scored, and let a
            // rerun (once the workers are mended) take the unit again.
            let error = SearchRunnerError.unitFailedForGood(failure.reason)
            try? store.setStatus(searchID, .failed, error: "\(error)")
            throw error
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

    /// The unit a search stored as `record` sends for window `window` of a candidate (or a rule,
    /// `candidateRowID` −1) under `scaling` and `fitness`: what a worker scores (also for tools
    /// that re-score a search).
    public static func unit(_ record: SearchRecord, candidateRowID: Int64, window: Int, scaling: RoPEScaling,
                            fitness: Fitness, keyTokens: [Int: [Int]] = [:]) -> WorkUnit {
        var unit = WorkUnit(searchID: record.id, candidateRowID: candidateRowID, window: window, lambda: scaling.lambda,
                            nHat: scaling.nHat, attentionFactor: scaling.attentionFactor,
                            targetContext: record.config.targetContext, windowCount: record.config.windowCount,
                            modelSHA256: record.modelSHA256, textSHA256: record.textSHA256, textOffset: record.textOffset)
        unit.attentionPrecision = record.config.attentionPrecision
        switch fitness {
        case .ppl: break
        case .keyTokens:
            unit.fitness = .keyTokens
            unit.positions = keyTokens[window]
        case .needle, .mixed:
            unit.fitness = fitness
            unit.needleSeed = record.config.seed
            unit.needles = record.config.needles
        }
        return unit
    }

    /// A rule's score under one fitness: the NLL sums and scored tokens of its windows up to
    /// the first that came back NaN/infinite, and whether none did.
    typealias RuleScore = (nll: [Double], tokens: [Int], feasible: Bool)

    /// Scores rules on every window under `fitness`, every unit at once, and hands each rule's
    /// score to `scored` as soon as it and every rule before it are complete (in rule order, so
    /// the stored rows are the same whatever the workers). Each unit is stored as it comes back
    /// (`rule_unit`) and taken from there on a resume: a stop loses only the units still out.
    /// Errors (cancellation, a unit failed for good, the store) are thrown, so a crash never
    /// records a rule as infeasible.
    private func scoreRules(_ scalings: [RoPEScaling], record: SearchRecord, fitness: Fitness, keyTokens: [Int: [Int]],
                            evaluator: UnitEvaluator, progress: (@Sendable (SearchProgress) -> Void)? = nil,
                            scored: (Int, RuleScore) throws -> Void) async throws {
        let windowCount = record.config.windowCount
        // Rules that give the same factors (YaRN and its variants often do at small s) are
        // scored once: each unit is a whole window of the target length.
        var firstWithFactors: [[Double]: Int] = [:]
        let scoredAs = scalings.enumerated().map { rule, scaling -> Int in
            let factors = scaling.lambda + [scaling.attentionFactor]
            if let first = firstWithFactors[factors] { return first }
            firstWithFactors[factors] = rule
            return rule
        }
        var results: [Int: UnitResult] = [:]   // by rule × windowCount + window
        let pass = fitness.rawValue
        let ruleIndex = Dictionary(scalings.enumerated().map { ($1.method, $0) }, uniquingKeysWith: { first, _ in first })
        for stored in try store.ruleUnits(searchID, pass: pass) {
            guard let rule = ruleIndex[stored.method], scoredAs[rule] == rule, stored.window < windowCount else { continue }
            results[rule * windowCount + stored.window] = UnitResult(nllSum: stored.nllSum, tokens: stored.tokens,
                                                                     seconds: stored.seconds, worker: stored.worker)
        }
        func score(_ rule: Int) -> RuleScore? {
            var nll: [Double] = []
            var tokens: [Int] = []
            for window in 0..<windowCount {
                guard let result = results[scoredAs[rule] * windowCount + window] else { return nil }
                guard let value = result.nllSum, value.isFinite, result.tokens > 0 else { return (nll, tokens, false) }
                nll.append(value)
                tokens.append(result.tokens)
            }
            return (nll, tokens, true)
        }
        struct Scored: Sendable { var index: Int; var result: UnitResult }
        try await withThrowingTaskGroup(of: Scored.self) { group in
            for (rule, scaling) in scalings.enumerated() where scoredAs[rule] == rule {
                for window in 0..<windowCount where results[rule * windowCount + window] == nil {
                    let unit = Self.unit(record, candidateRowID: -1, window: window, scaling: scaling, fitness: fitness,
                                         keyTokens: keyTokens)
                    group.addTask {
                        Scored(index: rule * windowCount + window, result: try await evaluator.evaluate(unit))
                    }
                }
            }
            var next = 0
            let units = scalings.indices.count { scoredAs[$0] == $0 } * windowCount
            func report() {
                progress?(SearchProgress(step: 0, stepCount: record.config.stepCount, candidatesDone: 0, unitsDone: 0,
                                         rules: (fitness, results.count, units)))
            }
            /// Hands over every rule complete now, in rule order.
            func handOverComplete() throws {
                while next < scalings.count, let ruleScore = score(next) {
                    try scored(next, ruleScore)
                    next += 1
                }
            }
            try handOverComplete()   // rules complete from stored units alone go first
            if units > 0 { report() }
            while let done = try await group.next() {
                let rule = done.index / windowCount, result = done.result
                try store.recordRuleUnit(searchID, pass: pass, RuleUnitRecord(
                    method: scalings[rule].method, window: done.index % windowCount, nllSum: result.nllSum,
                    tokens: result.tokens, seconds: result.seconds, worker: result.worker))
                results[done.index] = result
                report()
                try handOverComplete()
            }
        }
    }

    /// Units the rules still need before the first step of a search whose fitness is not `ppl`
    /// (for `ppl` the rules run beside the first step, their units shared with its seeds: 0):
    /// the windows of each rule not stored yet, once per set of equal factors and none for the
    /// factors of a rule stored (its units are taken), in the perplexity pass and again under
    /// the fitness (for every rule until the perplexities say which are infeasible), less the
    /// units stored of rules still out. For `seconds_left`.
    /// `record` and `baselines`: the search's, when the caller has read them already.
    public func unitsLeftInRules(record: SearchRecord? = nil, baselines: [BaselineRecord]? = nil) throws -> Int {
        guard let record = try record ?? store.search(searchID), record.config.fitnessKind != .ppl else { return 0 }
        let windows = record.config.windowCount
        let baselines = try baselines ?? store.baselines(searchID)
        typealias Rule = (method: String, factors: [Double])
        func unitsLeft(_ rules: [Rule], stored recorded: [Rule], pass: Fitness) throws -> Int {
            let out = Set(rules.map(\.method))
            let kept = try store.ruleUnits(searchID, pass: pass.rawValue).count { out.contains($0.method) }
            return max(0, Set(rules.map(\.factors)).subtracting(recorded.map(\.factors)).count * windows - kept)
        }
        let perplexities: [Rule] = baselines.map { ($0.method, $0.lambda + [$0.attentionFactor]) }
        let fitnesses: [Rule] = baselines.filter { $0.fitnessNLL != nil }.map { ($0.method, $0.lambda + [$0.attentionFactor]) }
        let recorded = Set(baselines.map(\.method))
        let unscored: [Rule] = Baselines.scalings(geometry: geometry, config: record.config)
            .filter { !recorded.contains($0.method) }.map { ($0.method, $0.lambda + [$0.attentionFactor]) }
        // Until every perplexity is in, every rule is taken to be feasible.
        let fitnessRules: [Rule] = unscored + baselines.filter { $0.perplexity != nil && $0.fitnessNLL == nil }
            .map { ($0.method, $0.lambda + [$0.attentionFactor]) }
        return try unitsLeft(unscored, stored: perplexities, pass: .ppl)
            + unitsLeft(fitnessRules, stored: fitnesses, pass: record.config.fitnessKind)
    }

    /// Seconds this search has left by what its store holds (`TimeLeft.estimate`: the units
    /// still to score times the median gap between the last units' arrivals), or nil while
    /// there is too little to go on: `seconds_left` of GET /v1/searches/{id}, the LEFT column of
    /// `longrope status`, and the time left on `longrope search`'s progress bar — one estimate.
    /// `record` and `baselines`: as read already by the caller, else read here.
    public func secondsLeft(record: SearchRecord? = nil, baselines: [BaselineRecord]? = nil) throws -> Double? {
        guard let record = try record ?? store.search(searchID) else { throw StoreError.notFound("search \(searchID)") }
        let finished = try store.progress(searchID).evaluated
        return TimeLeft.estimate(
            candidatesLeft: max(0, record.config.plannedCandidates - finished), candidatesFinished: finished,
            unitsDone: try store.evaluationCount(searchID),
            arrivals: try store.recentUnitArrivals(searchID, count: TimeLeft.arrivalsUsed),
            rulesUnitsLeft: try unitsLeftInRules(record: record, baselines: baselines), windows: record.config.windowCount)
    }

    /// The rules whose perplexity is not stored yet.
    private func unscoredRules(_ record: SearchRecord) throws -> [RoPEScaling] {
        let done = Set(try store.baselines(searchID).map(\.method))
        return Baselines.scalings(geometry: geometry, config: record.config).filter { !done.contains($0.method) }
    }

    /// Scores the perplexity of each rule in `scalings` (those not stored yet, `unscoredRules`)
    /// on every window; then releases `releasing` (the units promised to `ReusedUnits`), whatever
    /// happened.
    private func runBaselines(_ record: SearchRecord, _ scalings: [RoPEScaling], evaluator: ReusedUnits,
                              releasing: [WorkUnit] = [], progress: (@Sendable (SearchProgress) -> Void)? = nil) async throws {
        defer { evaluator.release(releasing) }
        try await scoreRules(scalings, record: record, fitness: .ppl, keyTokens: [:], evaluator: evaluator,
                             progress: progress) { rule, score in
            let scaling = scalings[rule]
            try store.recordBaseline(searchID, BaselineRecord(
                method: scaling.method, lambda: scaling.lambda, nHat: 0, attentionFactor: scaling.attentionFactor,
                perplexity: score.feasible ? exp(score.nll.reduce(0, +) / Double(score.tokens.reduce(0, +))) : nil,
                windowNLL: score.nll, windowTokens: score.tokens))
        }
    }

    /// Tells `reuse` the units of the stored rules under `fitness` (those stored with their
    /// windows' token counts), so that seed candidates equal to a rule take them.
    private func rememberStoredRules(_ record: SearchRecord, fitness: Fitness, keyTokens: [Int: [Int]],
                                     into reuse: ReusedUnits) throws {
        for baseline in try store.baselines(searchID) {
            let (nll, tokens) = fitness == .ppl ? (baseline.windowNLL, baseline.windowTokens)
                                                : (baseline.fitnessNLL, baseline.fitnessTokens)
            guard let nll, let tokens, tokens.count == nll.count else { continue }
            let scaling = RoPEScaling(method: baseline.method, lambda: baseline.lambda, nHat: baseline.nHat,
                                      attentionFactor: baseline.attentionFactor)
            for window in nll.indices {
                reuse.remember(Self.unit(record, candidateRowID: -1, window: window, scaling: scaling, fitness: fitness,
                                         keyTokens: keyTokens),
                               UnitResult(nllSum: nll[window], tokens: tokens[window], seconds: 0, worker: UnitResult.reusedWorker))
            }
        }
    }

    /// Scores each feasible baseline under the search's (non-ppl) fitness, unless already stored.
    private func runBaselineFitness(_ record: SearchRecord, keyTokens: [Int: [Int]], evaluator: UnitEvaluator,
                                    progress: (@Sendable (SearchProgress) -> Void)? = nil) async throws {
        let baselines = try store.baselines(searchID).filter { $0.perplexity != nil && $0.fitnessNLL == nil }
        let scalings = baselines.map {
            RoPEScaling(method: $0.method, lambda: $0.lambda, attentionFactor: $0.attentionFactor)
        }
        try await scoreRules(scalings, record: record, fitness: record.config.fitnessKind,
                             keyTokens: keyTokens, evaluator: evaluator, progress: progress) { rule, score in
            var baseline = baselines[rule]
            baseline.fitness = score.feasible ? exp(score.nll.reduce(0, +) / Double(score.tokens.reduce(0, +))) : nil
            baseline.fitnessNLL = score.nll
            baseline.fitnessTokens = score.tokens
            try store.recordBaseline(searchID, baseline)
        }
    }

    /// Finds (once, stored) the key tokens of every window under the rule with the best
    /// perplexity: LongPPL's long-short difference above the search's threshold. Each window's
    /// positions come from one deterministic unit, so they are the same whatever the workers.
    private func probeKeyTokens(_ record: SearchRecord, evaluator: UnitEvaluator) async throws -> [Int: [Int]] {
        let config = record.config
        var found = try store.keyTokens(searchID)
        guard let baseline = SearchSummary.bestBaseline(try store.baselines(searchID), fitness: .ppl)?.record else {
            throw SearchRunnerError.noFeasibleBaseline
        }
        let threshold = config.keyTokenThreshold ?? SearchConfig.defaultKeyTokenThreshold
        for window in 0..<config.windowCount where found[window] == nil {
            var unit = Self.unit(record, candidateRowID: -1, window: window,
                                 scaling: RoPEScaling(method: baseline.method, lambda: baseline.lambda,
                                                      attentionFactor: baseline.attentionFactor), fitness: .ppl)
            unit.probe = true
            unit.originalContext = config.originalContext
            unit.keyTokenThreshold = threshold
            let result: UnitResult
            do { result = try await evaluator.evaluate(unit) }
            catch let failure as UnitFailed { throw SearchRunnerError.keyTokenProbeFailed(window: window, reason: failure.reason) }
            let positions = result.positions ?? []
            guard !positions.isEmpty else { throw SearchRunnerError.noKeyTokens(window: window, threshold: threshold) }
            try store.recordKeyTokens(searchID, window: window, positions: positions)
            found[window] = positions
        }
        return found
    }

    /// The search's best candidate and the baselines, from the store.
    public func summary() throws -> SearchSummary { try store.summary(searchID) }
}

/// Why a search cannot go on.
public enum SearchRunnerError: Error, CustomStringConvertible {
    case noFeasibleBaseline
    case keyTokenProbeFailed(window: Int, reason: String)
    case noKeyTokens(window: Int, threshold: Double)
    case nothingScored(String)
    case unitFailedForGood(String)

    public var description: String {
        switch self {
        case .noFeasibleBaseline: return "every baseline is infeasible on these windows: no rule to find key tokens with"
        case let .keyTokenProbeFailed(window, reason): return "finding the key tokens of window \(window) failed: \(reason)"
        case let .unitFailedForGood(reason):
            return "a unit failed for good (\(reason)); the search stops rather than go on without its score: mend or remove the worker, then resume it (nothing scored is lost)"
        case let .nothingScored(reasons):
            return "no candidate could be scored" + (reasons.isEmpty ? " (every one was NaN or infinite)" : ": " + reasons)
        case let .noKeyTokens(window, threshold):
            return "window \(window) has no key token (no prediction improves by more than \(threshold) nats with the long context); lower key_token_threshold or use the ppl fitness"
        }
    }
}
