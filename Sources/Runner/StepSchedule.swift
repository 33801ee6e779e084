import Foundation
import Search
import Store
import Wire

/// The schedule of a search's steps, with no I/O: which steps are open, which units go out next,
/// what each result decides, and when the next step may be bred. `SearchRunner.runSteps` wraps
/// it in a short async loop that breeds or reloads steps, sends units and stores their results;
/// everything that decides *what* happens, and so the result, is here and can be tested alone.
///
/// A unit is one (candidate, window). Units go out as soon as there is room:
/// 1. *sure* units first — the next window of every undecided candidate with nothing out —
///    so the first windows of every candidate go before anyone's later ones (early rejection
///    keeps its savings);
/// 2. then *speculative* units — later windows of candidates whose earlier windows are still
///    out, least far ahead first — while fewer units are out than the evaluator's capacity.
///    Early rejection may make one useless; it is then abandoned and its result never stored;
/// 3. with `pipelineDepth` L, step t opens as soon as steps 0…t−L are decided — it is bred
///    from those alone (`StepSources`), so up to L steps are out at once; with `islands`, every
///    step holds one block per island;
/// 4. with `overlapSteps`, the next step is bred when workers would idle even then, from
///    whatever is decided by that moment.
///
/// Each candidate consumes its windows in order (``CandidateWindows``), and a step is bred only
/// from whole decided steps, in candidate order, so except with `overlapSteps` the result and
/// the stored rows are the same whatever the workers, their number and speed.
struct StepSchedule {
    /// One bred step while its candidates are scored.
    struct OpenStep {
        var step: Int
        var candidates: [CandidateWindows]
        var isComplete: Bool { candidates.allSatisfy(\.isDecided) }
    }

    /// One unit: a window of a candidate (by position in its step) of an open step.
    struct UnitKey: Hashable, Sendable {
        var step: Int
        var candidate: Int
        var window: Int
    }

    /// What the next step is bred from.
    enum Sources {
        /// Overlapped: every candidate decided so far, and those still being scored (as seen:
        /// never repeated, never parents).
        case history([Evaluated])
        /// Steps 0…h, all decided, each island's history of them (`islandHistories`, computed
        /// once for breeding and rejection), and the candidates of the steps bred since (as seen).
        case steps([[Evaluated]], histories: [[Evaluated]], pending: [Candidate])
    }

    /// A step that may open now: what it is bred from, and early rejection's reference for
    /// each of its islands (one entry without islands).
    struct StepToOpen {
        var step: Int
        var sources: Sources
        var references: [[Double]?]
    }

    let config: SearchConfig
    var overlapped: Bool { config.overlapSteps ?? false }
    private(set) var open: [OpenStep] = []
    /// Overlapped: every decided candidate, as decided.
    private(set) var history: [Evaluated] = []
    /// Otherwise: each decided step's candidates, by step.
    private(set) var decided: [Int: [Evaluated]] = [:]
    /// The next step to open (`config.stepCount` once none is left).
    private(set) var nextStep = 0
    /// Candidates the budget still allows.
    private(set) var budgetLeft: Int
    /// Over `history` or `decided`, kept as they grow (for progress).
    private(set) var doneCount = 0
    private(set) var doneBest: Double?

    init(config: SearchConfig) {
        self.config = config
        self.budgetLeft = config.budget ?? .max
    }

    /// Every decided candidate, in the order the steps were bred; once `isFinished`, the search's history.
    var result: [Evaluated] { overlapped ? history : decided.keys.sorted().flatMap { decided[$0]! } }

    /// No step open and none left to open.
    var isFinished: Bool { open.isEmpty && nextStep >= config.stepCount }

    /// Closes the steps whose candidates are all decided.
    mutating func closeFinished() {
        for finished in open where finished.isComplete && !overlapped {
            decided[finished.step] = finished.candidates.map(Self.evaluated)
            count(decided[finished.step]!)
        }
        open.removeAll(where: \.isComplete)
    }

    /// Closes finished steps and names the step that may open now, with what it is bred from;
    /// nil when none may yet (or none is left). `unitsOut` units are with workers that can take
    /// `capacity`.
    mutating func stepToOpen(unitsOut: Int, capacity: Int) -> StepToOpen? {
        closeFinished()
        guard nextStep < config.stepCount else { return nil }
        if overlapped {
            // A new step only when workers would idle even with every window of the open steps
            // out, so steps overlap at their tails and a step is bred from as much history as
            // the workers allow.
            let unsent = open.reduce(0) { $0 + $1.candidates.reduce(0) { $0 + $1.unsent } }
            let idle = max(1, capacity) - unitsOut - unsent
            let enoughParents = history.filter { $0.outcome.perplexity != nil }.count >= min(config.parents, config.population)
            guard open.isEmpty || (idle > 0 && enoughParents) else { return nil }
            let pending = open.flatMap(\.candidates).filter { !$0.isDecided }.map {
                Evaluated(ordinal: $0.record.ordinal, candidate: $0.record.candidate, outcome: .infeasible)
            }
            return StepToOpen(step: nextStep, sources: .history(history + pending),
                              references: [SearchEngine.rejectionReference(history, config: config)])
        }
        // Deterministic: a step opens once every step it is bred from is decided (with L = 1,
        // once the step before it is).
        let horizon = SearchEngine.horizon(of: nextStep, config: config)
        guard !open.contains(where: { $0.step <= horizon ?? -1 }) else { return nil }
        let known = horizon.map { h in (0...h).map { decided[$0] ?? [] } } ?? []
        let between = ((horizon ?? -1) + 1)..<nextStep
        let histories = SearchEngine.islandHistories(known, config: config)
        return StepToOpen(step: nextStep, sources: .steps(known, histories: histories, pending: between.flatMap { candidates(ofStep: $0) }),
                          references: SearchEngine.rejectionReferences(histories: histories, config: config))
    }

    /// Opens the step `stepToOpen` named with its candidates (bred now, or reloaded with what
    /// the store holds of them); they count against the budget.
    mutating func open(_ step: StepToOpen, candidates: [CandidateWindows]) {
        precondition(step.step == nextStep, "steps open in order")
        nextStep += 1
        budgetLeft -= candidates.count
        if overlapped {
            let reloaded = candidates.filter(\.isDecided).map(Self.evaluated)
            history += reloaded
            count(reloaded)
        }
        open.append(OpenStep(step: step.step, candidates: candidates))
    }

    /// The budget is spent: no further step is bred; the search ends with the open ones.
    mutating func stopBreeding() {
        nextStep = config.stepCount
    }

    /// The units to send now, each marked out: every sure unit, then speculative ones while
    /// fewer than `capacity` units would be out (`unitsOut` are out already).
    mutating func unitsToSend(unitsOut: Int, capacity: Int) -> [UnitKey] {
        var keys: [UnitKey] = []
        for s in open.indices {
            for c in open[s].candidates.indices where open[s].candidates[c].hasSureWindow { keys.append(send(s, c)) }
        }
        while unitsOut + keys.count < max(1, capacity) {
            var pick: (s: Int, c: Int, depth: Int)?
            for s in open.indices {
                for c in open[s].candidates.indices {
                    if let depth = open[s].candidates[c].speculativeDepth, depth < (pick?.depth ?? .max) {
                        pick = (s, c, depth)
                    }
                }
            }
            guard let pick else { break }
            keys.append(send(pick.s, pick.c))
        }
        return keys
    }

    private mutating func send(_ s: Int, _ c: Int) -> UnitKey {
        UnitKey(step: open[s].step, candidate: c, window: open[s].candidates[c].send())
    }

    /// The candidate a unit scores.
    func candidate(of key: UnitKey) -> CandidateRecord? {
        open.first { $0.step == key.step }?.candidates[key.candidate].record
    }

    /// Whether a unit's result is still wanted (its candidate is undecided); a failure of an
    /// unwanted unit does not matter.
    func wants(_ key: UnitKey) -> Bool {
        open.first { $0.step == key.step }.map { !$0.candidates[key.candidate].isDecided } ?? false
    }

    /// Takes a unit's result: the rows to store now (in window order, each with the outcome
    /// it decided) and the units its candidate no longer needs (to cancel). nil when the unit's
    /// candidate was decided without it (an abandoned unit: its result is dropped).
    mutating func receive(_ key: UnitKey, _ result: UnitResult) -> (rows: [(EvaluationRecord, Outcome?)], abandoned: [UnitKey])? {
        guard let s = open.firstIndex(where: { $0.step == key.step }), !open[s].candidates[key.candidate].isDecided else {
            return nil
        }
        let rows = open[s].candidates[key.candidate].receive(window: key.window, .success(result), config: config)
        guard open[s].candidates[key.candidate].isDecided else { return (rows, []) }
        let abandoned = open[s].candidates[key.candidate].takeAbandoned().sorted().map {
            UnitKey(step: key.step, candidate: key.candidate, window: $0)
        }
        if overlapped {
            history.append(Self.evaluated(open[s].candidates[key.candidate]))
            count([history.last!])
        }
        return (rows, abandoned)
    }

    /// Whether taking `result` for `key` would decide its candidate as scored below every
    /// perplexity decided so far (the search's new best); if so, every window's answer, in
    /// window order, to have checked first (`UnitEvaluator.confirm`).
    func newBestAnswers(_ key: UnitKey, _ result: UnitResult) -> [UnitResult]? {
        guard let s = open.firstIndex(where: { $0.step == key.step }),
              let trial = open[s].candidates[key.candidate].trial(window: key.window, result, config: config),
              trial.perplexity < progress.best ?? .infinity else { return nil }
        return trial.answers
    }

    /// Replaces the answer of a window of `key`'s (undecided) candidate with a second opinion;
    /// the row to store in place of the stored one, if the window was consumed already.
    mutating func correct(_ key: UnitKey, window: Int, _ result: UnitResult) -> EvaluationRecord? {
        guard let s = open.firstIndex(where: { $0.step == key.step }) else { return nil }
        return open[s].candidates[key.candidate].correct(window: window, result)
    }

    /// Where the search stands: the first open step, the candidates decided (those of open
    /// steps too) and the best perplexity among them.
    var progress: (step: Int, candidatesDone: Int, best: Double?) {
        // Overlapped, decided candidates of open steps are in `history` already. Read in place:
        // this runs on every answer, over every candidate of the open steps.
        var inOpen = 0
        var best = doneBest
        if !overlapped {
            for s in open.indices {
                for c in open[s].candidates.indices {
                    guard let outcome = open[s].candidates[c].outcome else { continue }
                    inOpen += 1
                    if let p = outcome.perplexity { best = min(best ?? p, p) }
                }
            }
        }
        return (open.first?.step ?? max(0, nextStep - 1), doneCount + inOpen, best)
    }

    /// The candidates of a step already bred (open or decided), for novelty only.
    private func candidates(ofStep step: Int) -> [Candidate] {
        open.first { $0.step == step }.map { $0.candidates.map(\.record.candidate) }
            ?? decided[step]?.map(\.candidate) ?? []
    }

    private mutating func count(_ items: [Evaluated]) {
        doneCount += items.count
        for p in items.compactMap(\.outcome.perplexity) { doneBest = min(doneBest ?? p, p) }
    }

    private static func evaluated(_ windows: CandidateWindows) -> Evaluated {
        Evaluated(ordinal: windows.record.ordinal, candidate: windows.record.candidate, outcome: windows.outcome!)
    }
}
