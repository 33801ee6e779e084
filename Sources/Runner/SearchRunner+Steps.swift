import Foundation
import RoPE
import Wire
import Search
import Store

/// The search's steps, scored unit by unit so that every worker has work.
///
/// A unit is one (candidate, window). Units go out as soon as there is room:
/// 1. *sure* units first — the next window of every undecided candidate with nothing out —
///    so the first windows of every candidate go before anyone's later ones (early rejection
///    keeps its savings);
/// 2. then *speculative* units — later windows of candidates whose earlier windows are still
///    out, least far ahead first — while fewer units are out than the evaluator's capacity.
///    Early rejection may make one useless; it is then cancelled and its result never stored;
/// 3. with `pipelineDepth` L, step t opens as soon as steps 0…t−L are decided — it is bred
///    from those alone (`StepSources`), so up to L steps are out at once; with `islands`, every
///    step holds one block per island;
/// 4. with `overlapSteps`, the next step is bred when workers would idle even then, from
///    whatever is decided by that moment.
///
/// Each candidate consumes its windows in order (``CandidateWindows``), and a step is bred only
/// from whole decided steps, in candidate order, so except with `overlapSteps` the result and
/// the stored rows are the same whatever the workers, their number and speed.
extension SearchRunner {
    /// One bred step while its candidates are scored.
    struct OpenStep {
        var step: Int
        var candidates: [CandidateWindows]
        var isComplete: Bool { candidates.allSatisfy(\.isDecided) }
    }

    struct UnitKey: Hashable, Sendable {
        var step: Int
        var candidate: Int
        var window: Int
    }

    struct UnitEvent: Sendable {
        var key: UnitKey
        var result: Result<UnitResult, Error>
    }

    /// Runs every step not yet done and returns the history (every decided candidate).
    func runSteps(_ record: SearchRecord, seeds: [Candidate], keyTokens: [Int: [Int]], evaluator: UnitEvaluator,
                  progress: (@Sendable (SearchProgress) -> Void)?) async throws -> [Evaluated] {
        let config = record.config
        let overlapped = config.overlapSteps ?? false
        let stored = try store.candidates(searchID)
        var history: [Evaluated] = []          // overlapped: every decided candidate, as decided
        var decided: [Int: [Evaluated]] = [:]  // otherwise: each decided step's candidates, by step
        var doneCount = 0, doneBest: Double?   // over `history` or `decided`, kept as they grow (for progress)
        func count(_ items: [Evaluated]) {
            doneCount += items.count
            for p in items.compactMap(\.outcome.perplexity) { doneBest = min(doneBest ?? p, p) }
        }
        var open: [OpenStep] = []
        var nextStep = 0
        var budgetLeft = config.budget ?? .max
        var unitsDone = try store.evaluationCount(searchID)
        var tasks: [UnitKey: Task<Void, Never>] = [:]
        let (events, sink) = AsyncStream.makeStream(of: UnitEvent.self)
        defer {
            for task in tasks.values { task.cancel() }
            sink.finish()
        }

        func evaluated(_ windows: CandidateWindows) -> Evaluated {
            Evaluated(ordinal: windows.record.ordinal, candidate: windows.record.candidate, outcome: windows.outcome!)
        }

        /// The candidates of a step already bred (open or decided), for novelty only.
        func candidates(ofStep step: Int) -> [Candidate] {
            open.first { $0.step == step }.map { $0.candidates.map(\.record.candidate) }
                ?? decided[step]?.map(\.candidate) ?? []
        }

        /// Breeds (or reloads) the next step. Overlapped: from the history so far, with the
        /// candidates still being scored counted as seen (so a step never repeats one; as
        /// infeasible they are never parents). Otherwise from steps 0…h only (`StepSources`).
        func openNextStep() throws {
            let step = nextStep
            nextStep += 1
            var batch = stored.filter { $0.step == step }
            let horizon = SearchEngine.horizon(of: step, config: config)
            let known = horizon.map { h in (0...h).map { decided[$0] ?? [] } } ?? []
            if batch.isEmpty {
                guard budgetLeft > 0 else { nextStep = config.stepCount; return }
                let bred: [Candidate]
                if overlapped {
                    let pending = open.flatMap(\.candidates).filter { !$0.isDecided }.map {
                        Evaluated(ordinal: $0.record.ordinal, candidate: $0.record.candidate, outcome: .infeasible)
                    }
                    bred = try SearchEngine.breed(step: step, config: config, seeds: seeds, history: history + pending)
                } else {
                    let between = ((horizon ?? -1) + 1)..<step
                    bred = try SearchEngine.breed(step: step, config: config, seeds: seeds, steps: known,
                                                  pending: between.flatMap { candidates(ofStep: $0) })
                }
                try store.insertCandidates(searchID, step: step, Array(bred.prefix(budgetLeft)))
                batch = try store.candidates(searchID, step: step)
            }
            budgetLeft -= batch.count
            let references = overlapped ? [SearchEngine.rejectionReference(history, config: config)]
                                        : SearchEngine.rejectionReferences(known, config: config)
            let windows = try batch.enumerated().map { position, candidate in
                let nll = try store.windowResults(candidate.rowID).map { $0 ?? .nan }
                let tokens = try store.windowTokens(candidate.rowID).prefix(nll.count).reduce(0, +)
                let island = overlapped ? 0 : SearchEngine.island(step: step, position: position, config: config)
                return CandidateWindows(record: candidate, reference: references[island], windowCount: config.windowCount,
                                        storedNLL: nll, storedTokens: tokens)
            }
            if overlapped {
                let reloaded = windows.filter(\.isDecided).map(evaluated)
                history += reloaded
                count(reloaded)
            }
            open.append(OpenStep(step: step, candidates: windows))
        }

        /// Closes finished steps and opens new ones while allowed.
        func advance() throws {
            while true {
                for finished in open.filter(\.isComplete) where !overlapped {
                    decided[finished.step] = finished.candidates.map(evaluated)
                    count(decided[finished.step]!)
                }
                open.removeAll(where: \.isComplete)
                guard nextStep < config.stepCount else { return }
                if overlapped {
                    // A new step only when workers would idle even with every window of the open
                    // steps out, so steps overlap at their tails and a step is bred from as much
                    // history as the workers allow.
                    let unsent = open.reduce(0) { $0 + $1.candidates.reduce(0) { $0 + $1.unsent } }
                    let idle = max(1, evaluator.capacity) - tasks.count - unsent
                    let enoughParents = history.filter { $0.outcome.perplexity != nil }.count
                        >= min(config.parents, config.population)
                    guard open.isEmpty || (idle > 0 && enoughParents) else { return }
                } else {
                    // Deterministic: a step opens once every step it is bred from is decided
                    // (with L = 1, once the step before it is).
                    let horizon = SearchEngine.horizon(of: nextStep, config: config) ?? -1
                    guard !open.contains(where: { $0.step <= horizon }) else { return }
                }
                try openNextStep()
            }
        }

        func send(_ stepIndex: Int, _ index: Int) {
            let windows = open[stepIndex].candidates[index]
            let window = open[stepIndex].candidates[index].send()
            let key = UnitKey(step: open[stepIndex].step, candidate: index, window: window)
            let unit = self.unit(record, candidateRowID: windows.record.rowID, window: window,
                                 scaling: RoPEScaling(method: "candidate", lambda: windows.record.candidate.lambda,
                                                      nHat: windows.record.candidate.nHat,
                                                      attentionFactor: windows.record.attentionFactor),
                                 fitness: config.fitnessKind, keyTokens: keyTokens)
            tasks[key] = Task {
                let result: Result<UnitResult, Error>
                do { result = .success(try await evaluator.evaluate(unit)) } catch { result = .failure(error) }
                sink.yield(UnitEvent(key: key, result: result))
            }
        }

        func dispatch() {
            for s in open.indices {
                for c in open[s].candidates.indices where open[s].candidates[c].hasSureWindow { send(s, c) }
            }
            while tasks.count < max(1, evaluator.capacity) {
                var pick: (s: Int, c: Int, depth: Int)?
                for s in open.indices {
                    for c in open[s].candidates.indices {
                        if let depth = open[s].candidates[c].speculativeDepth, depth < (pick?.depth ?? .max) {
                            pick = (s, c, depth)
                        }
                    }
                }
                guard let pick else { return }
                send(pick.s, pick.c)
            }
        }

        var bestBaseline: (record: BaselineRecord, value: Double)?   // read once every rule is scored
        let ruleCount = Baselines.scalings(geometry: geometry, config: config).count
        func report() {
            if bestBaseline == nil, let baselines = try? store.baselines(searchID), baselines.count >= ruleCount {
                bestBaseline = SearchSummary.bestBaseline(baselines, fitness: config.fitnessKind)
            }
            // Decided candidates of open steps count too (overlapped, they are in `history` already).
            let inOpen = overlapped ? [] : open.flatMap(\.candidates).filter(\.isDecided).map(evaluated)
            let openBest = inOpen.compactMap(\.outcome.perplexity).min()
            progress?(SearchProgress(step: open.first?.step ?? max(0, nextStep - 1), stepCount: config.stepCount,
                                     candidatesDone: doneCount + inOpen.count, unitsDone: unitsDone,
                                     best: [doneBest, openBest].compactMap { $0 }.min(),
                                     bestBaseline: bestBaseline?.value, bestBaselineMethod: bestBaseline?.record.method))
        }

        var iterator = events.makeAsyncIterator()
        while true {
            try advance()
            dispatch()
            if tasks.isEmpty { break }
            guard let event = await iterator.next() else { throw CancellationError() }
            guard tasks.removeValue(forKey: event.key) != nil,
                  let s = open.firstIndex(where: { $0.step == event.key.step }),
                  !open[s].candidates[event.key.candidate].isDecided else { continue }   // abandoned
            // A unit that failed for good stops the run (see run), as do cancellation and store errors.
            let result = Result<UnitResult, UnitFailed>.success(try event.result.get())
            let rows = open[s].candidates[event.key.candidate].receive(window: event.key.window, result, config: config)
            for (row, outcome) in rows {
                try store.recordEvaluation(row, outcome: outcome)
                unitsDone += 1
            }
            if open[s].candidates[event.key.candidate].isDecided {
                for window in open[s].candidates[event.key.candidate].takeAbandoned() {
                    tasks.removeValue(forKey: UnitKey(step: event.key.step, candidate: event.key.candidate, window: window))?
                        .cancel()
                }
                if overlapped {
                    history.append(evaluated(open[s].candidates[event.key.candidate]))
                    count([history.last!])
                }
            }
            if !rows.isEmpty { report() }
        }
        try advance()
        guard open.isEmpty else { throw StoreError.corrupt("a step ended with undecided candidates") }
        return overlapped ? history : decided.keys.sorted().flatMap { decided[$0]! }
    }
}
