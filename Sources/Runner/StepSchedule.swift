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
/// 3. a step is bred as blocks, one per island (step 0 is one block, shared): with
///    `pipelineDepth` L, island k's block of step t opens as soon as its blocks of steps 0…t−L
///    are decided — it is bred from those alone (`StepSources`) — so up to L steps of an island
///    are out at once, and each island moves on without waiting for the others except where
///    `BlockLedger` says (the migrants, and every island's blocks ≤ t−L bred);
/// 4. with `overlapSteps`, the next step is bred when workers would idle even then, from
///    whatever is decided by that moment.
///
/// Each candidate consumes its windows in order (``CandidateWindows``), and a block is bred only
/// from decided blocks, in candidate order, so except with `overlapSteps` the result and the
/// stored rows are the same whatever the workers, their number and speed.
struct StepSchedule {
    /// One bred block (an island's candidates of one step) while its candidates are scored.
    struct OpenBlock {
        var block: Block
        var candidates: [CandidateWindows]
        /// Candidates not yet decided (kept as results come in).
        var undecided: Int
        /// Whether a candidate may have a sure window: set when the block opens and when one of
        /// its units comes back (the only moments one appears), cleared once its sure units went
        /// out, so `unitsToSend` looks only at blocks where something changed.
        var mayHaveSure = true
        var step: Int { block.step }
        var isComplete: Bool { undecided == 0 }

        init(block: Block, candidates: [CandidateWindows]) {
            self.block = block
            self.candidates = candidates
            self.undecided = candidates.count(where: { !$0.isDecided })
        }
    }

    /// One unit: a window of a candidate (by position in its block) of an open block.
    struct UnitKey: Hashable, Sendable {
        var step: Int
        var island: Int
        var candidate: Int
        var window: Int
        var block: Block { Block(step: step, island: island) }
    }

    /// What the next block is bred from.
    enum Sources {
        /// Overlapped: every candidate decided so far, and those still being scored (as seen:
        /// never repeated, never parents).
        case history([Evaluated])
        /// Reproducible: the island's history after step h (all decided); what counts as seen
        /// besides, `seenKeys(of:)` (`BlockLedger.sources` names both).
        case block(history: [Evaluated])
    }

    /// A block that may open now: what it is bred from, early rejection's reference (from the
    /// island's history) and how many candidates the budget leaves it.
    struct BlockToOpen {
        var block: Block
        var sources: Sources
        var reference: [Double]?
        var size: Int
        var step: Int { block.step }
    }

    let config: SearchConfig
    var overlapped: Bool { config.overlapSteps ?? false }
    private(set) var open: [OpenBlock] = []
    /// Overlapped: every decided candidate, as decided.
    private(set) var history: [Evaluated] = []
    /// Otherwise: the bred and decided blocks, and which may be bred next.
    private(set) var ledger: BlockLedger
    /// Overlapped: the next step to open (`config.stepCount` once none is left).
    private var nextOverlappedStep = 0
    /// Over `history` or the decided blocks, kept as they grow (for progress).
    private(set) var doneCount = 0
    /// Candidates decided in the open blocks (reproducible modes; overlapped, they are in `history`).
    private var decidedInOpen = 0
    /// The lowest perplexity of every candidate decided so far, open blocks' included.
    private(set) var bestSoFar: Double?

    init(config: SearchConfig) {
        self.config = config
        self.ledger = BlockLedger(config: config)
    }

    /// Every decided candidate, in ordinal order; once `isFinished`, the search's history.
    var result: [Evaluated] { overlapped ? history : ledger.result }

    /// No block open and none left to open.
    var isFinished: Bool { open.isEmpty && (overlapped ? nextOverlappedStep >= config.stepCount : ledger.isExhausted) }

    /// Closes the blocks whose candidates are all decided.
    mutating func closeFinished() {
        guard open.contains(where: \.isComplete) else { return }
        for finished in open where finished.isComplete && !overlapped {
            let items = finished.candidates.map(Self.evaluated)
            ledger.recordDecided(finished.block, items)
            decidedInOpen -= items.count
            count(items)
        }
        open.removeAll(where: \.isComplete)
    }

    /// Closes finished blocks and names the blocks that may open now, with what each is bred
    /// from; empty when none may yet (or none is left). `unitsOut` units are with workers that
    /// can take `capacity`.
    mutating func blocksToOpen(unitsOut: Int, capacity: Int) -> [BlockToOpen] {
        closeFinished()
        if overlapped {
            let step = nextOverlappedStep
            let block = Block(step: step, island: 0)
            guard step < config.stepCount, SearchEngine.budgetedSize(block, config: config) > 0 else {
                nextOverlappedStep = config.stepCount
                return []
            }
            // A new step only when workers would idle even with every window of the open steps
            // out, so steps overlap at their tails and a step is bred from as much history as
            // the workers allow.
            let unsent = open.reduce(0) { $0 + $1.candidates.reduce(0) { $0 + $1.unsent } }
            let idle = max(1, capacity) - unitsOut - unsent
            let enoughParents = history.filter { $0.outcome.perplexity != nil }.count >= min(config.parents, config.population)
            guard open.isEmpty || (idle > 0 && enoughParents) else { return [] }
            let pending = open.flatMap(\.candidates).filter { !$0.isDecided }.map {
                Evaluated(ordinal: $0.record.ordinal, candidate: $0.record.candidate, outcome: .infeasible)
            }
            return [BlockToOpen(block: block, sources: .history(history + pending),
                                reference: SearchEngine.rejectionReference(history, config: config),
                                size: SearchEngine.budgetedSize(block, config: config))]
        }
        // Reproducible: a block opens once every block it is bred from is decided.
        return ledger.blocksToBreed().map { block in
            let history = ledger.history(of: block)
            return BlockToOpen(block: block, sources: .block(history: history),
                               reference: SearchEngine.rejectionReference(history, config: config),
                               size: SearchEngine.budgetedSize(block, config: config))
        }
    }

    /// What a block `blocksToOpen` named counts as seen when it is bred (before it opens).
    func seenKeys(of block: Block) -> SeenKeys { ledger.seenKeys(of: block) }

    /// Opens a block `blocksToOpen` named with its candidates (bred now, or reloaded with what
    /// the store holds of them).
    mutating func open(_ next: BlockToOpen, candidates: [CandidateWindows]) {
        if overlapped {
            precondition(next.step == nextOverlappedStep, "steps open in order")
            nextOverlappedStep += 1
            let reloaded = candidates.filter(\.isDecided).map(Self.evaluated)
            history += reloaded
            count(reloaded)
        } else {
            ledger.recordBred(next.block, candidates.map(\.record.candidate))
            let decided = candidates.filter(\.isDecided)
            decidedInOpen += decided.count
            decided.forEach { keepBest($0.outcome?.perplexity) }
        }
        open.append(OpenBlock(block: next.block, candidates: candidates))
    }

    /// The units to send now, each marked out: every sure unit, then speculative ones while
    /// fewer than `capacity` units would be out (`unitsOut` are out already).
    mutating func unitsToSend(unitsOut: Int, capacity: Int) -> [UnitKey] {
        var keys: [UnitKey] = []
        for s in open.indices where open[s].mayHaveSure {
            for c in open[s].candidates.indices where open[s].candidates[c].hasSureWindow { keys.append(send(s, c)) }
            open[s].mayHaveSure = false
        }
        guard unitsOut + keys.count < max(1, capacity) else { return keys }
        // Speculative units, least far ahead first, ties in block and candidate order: the
        // candidates that have one, by depth (each list in that order), and after each pick
        // the candidate goes back one depth further on.
        var byDepth: [[(s: Int, c: Int)]] = Array(repeating: [], count: config.windowCount + 1)
        for s in open.indices {
            for c in open[s].candidates.indices {
                if let depth = open[s].candidates[c].speculativeDepth { byDepth[depth].append((s, c)) }
            }
        }
        var depth = 0, next = 0   // the next pick: byDepth[depth][next]
        while unitsOut + keys.count < max(1, capacity) {
            while depth < byDepth.count && next == byDepth[depth].count { depth += 1; next = 0 }
            guard depth < byDepth.count else { break }
            let pick = byDepth[depth][next]
            next += 1
            keys.append(send(pick.s, pick.c))
            if let further = open[pick.s].candidates[pick.c].speculativeDepth {
                // further > depth: its list is not being read yet, so insert in order.
                let at = byDepth[further].firstIndex { ($0.s, $0.c) > (pick.s, pick.c) } ?? byDepth[further].count
                byDepth[further].insert(pick, at: at)
            }
        }
        return keys
    }

    private mutating func send(_ s: Int, _ c: Int) -> UnitKey {
        UnitKey(step: open[s].step, island: open[s].block.island, candidate: c, window: open[s].candidates[c].send())
    }

    /// The candidate a unit scores.
    func candidate(of key: UnitKey) -> CandidateRecord? {
        open.first { $0.block == key.block }?.candidates[key.candidate].record
    }

    /// Whether a unit's result is still wanted (its candidate is undecided); a failure of an
    /// unwanted unit does not matter.
    func wants(_ key: UnitKey) -> Bool {
        open.first { $0.block == key.block }.map { !$0.candidates[key.candidate].isDecided } ?? false
    }

    /// Takes a unit's result: the rows to store now (in window order, each with the outcome
    /// it decided) and the units its candidate no longer needs (to cancel). nil when the unit's
    /// candidate was decided without it (an abandoned unit: its result is dropped).
    mutating func receive(_ key: UnitKey, _ result: UnitResult) -> (rows: [(EvaluationRecord, Outcome?)], abandoned: [UnitKey])? {
        guard let s = open.firstIndex(where: { $0.block == key.block }), !open[s].candidates[key.candidate].isDecided else {
            return nil
        }
        let rows = open[s].candidates[key.candidate].receive(window: key.window, .success(result), config: config)
        open[s].mayHaveSure = true
        guard open[s].candidates[key.candidate].isDecided else { return (rows, []) }
        open[s].undecided -= 1
        keepBest(open[s].candidates[key.candidate].outcome?.perplexity)
        if !overlapped { decidedInOpen += 1 }
        let abandoned = open[s].candidates[key.candidate].takeAbandoned().sorted().map {
            UnitKey(step: key.step, island: key.island, candidate: key.candidate, window: $0)
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
        guard let s = open.firstIndex(where: { $0.block == key.block }),
              let trial = open[s].candidates[key.candidate].trial(window: key.window, result, config: config),
              trial.perplexity < progress.best ?? .infinity else { return nil }
        return trial.answers
    }

    /// Replaces the answer of a window of `key`'s (undecided) candidate with a second opinion;
    /// the row to store in place of the stored one, if the window was consumed already.
    mutating func correct(_ key: UnitKey, window: Int, _ result: UnitResult) -> EvaluationRecord? {
        guard let s = open.firstIndex(where: { $0.block == key.block }) else { return nil }
        return open[s].candidates[key.candidate].correct(window: window, result)
    }

    /// Where the search stands: the first open step, the candidates decided (those of open
    /// steps too) and the best perplexity among them.
    var progress: (step: Int, candidatesDone: Int, best: Double?) {
        // Overlapped, decided candidates of open steps are in `history` already.
        let lastBred = overlapped ? nextOverlappedStep - 1 : ledger.nextStep.max()! - 1
        return (open.map(\.step).min() ?? min(max(0, lastBred), config.stepCount - 1), doneCount + decidedInOpen, bestSoFar)
    }

    private mutating func count(_ items: [Evaluated]) {
        doneCount += items.count
        items.forEach { keepBest($0.outcome.perplexity) }
    }

    private mutating func keepBest(_ perplexity: Double?) {
        if let p = perplexity { bestSoFar = min(bestSoFar ?? p, p) }
    }

    private static func evaluated(_ windows: CandidateWindows) -> Evaluated {
        Evaluated(ordinal: windows.record.ordinal, candidate: windows.record.candidate, outcome: windows.outcome!)
    }
}
