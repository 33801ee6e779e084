import Foundation
import RoPE
import Wire
import Search
import Store

/// The search's steps, scored unit by unit so that every worker has work: `StepSchedule`
/// decides what goes out and what each result means; this loop breeds or reloads the steps it
/// opens, sends its units to the evaluator and stores what comes back.
extension SearchRunner {
    typealias UnitKey = StepSchedule.UnitKey

    struct UnitEvent: Sendable {
        var key: UnitKey
        var result: Result<UnitResult, Error>
        /// Once checked by a second worker: every window's answer (the candidate would have
        /// become the new best), in window order.
        var confirmed: [UnitResult]?
    }

    /// Runs every step not yet done and returns the history (every decided candidate).
    func runSteps(_ record: SearchRecord, seeds: [Candidate], keyTokens: [Int: [Int]], evaluator: UnitEvaluator,
                  progress: (@Sendable (SearchProgress) -> Void)?) async throws -> [Evaluated] {
        let config = record.config
        let stored = Dictionary(try store.candidates(searchID).map { ($0.ordinal, $0) }, uniquingKeysWith: { a, _ in a })
        var schedule = StepSchedule(config: config)
        var unitsDone = try store.evaluationCount(searchID)
        var tasks: [UnitKey: Task<Void, Never>] = [:]
        let (events, sink) = AsyncStream.makeStream(of: UnitEvent.self)
        defer {
            for task in tasks.values { task.cancel() }
            sink.finish()
        }

        /// Opens every block the schedule allows now: reloaded from the store if it was bred
        /// before a stop, else bred (within the budget) and stored first. Its ordinals are fixed
        /// by the config, so a block stores the same rows whenever it opens.
        func openBlocks() throws {
            while true {
                let ready = schedule.blocksToOpen(unitsOut: tasks.count, capacity: evaluator.capacity)
                if ready.isEmpty { return }
                for next in ready {
                    let first = SearchEngine.firstOrdinal(step: next.step, island: next.block.island, config: config)
                    let ordinals = first..<(first + next.size)
                    var batch = ordinals.compactMap { stored[$0] }.filter { $0.step == next.step }
                    let reloaded = !batch.isEmpty
                    if !reloaded {
                        let bred: [Candidate] = switch next.sources {
                        case let .history(history):
                            try SearchEngine.breed(step: next.step, config: config, seeds: seeds, history: history)
                        case let .block(history):
                            try SearchEngine.breed(next.block, config: config, seeds: seeds, history: history,
                                                   seen: schedule.seenKeys(of: next.block))
                        }
                        try store.insertCandidates(searchID, step: next.step, firstOrdinal: first, Array(bred.prefix(next.size)))
                        batch = try store.candidates(searchID, step: next.step, ordinals: ordinals)
                    }
                    let windows = try batch.map { candidate in
                        // A block bred just now has no units stored yet.
                        let nll = reloaded ? try store.windowResults(candidate.rowID).map { $0 ?? .nan } : []
                        let tokens = reloaded ? try store.windowTokens(candidate.rowID) : []
                        return CandidateWindows(record: candidate, reference: next.reference, windowCount: config.windowCount,
                                                storedNLL: nll, storedTokens: tokens)
                    }
                    schedule.open(next, candidates: windows)
                }
            }
        }

        func unit(_ key: UnitKey, window: Int) -> WorkUnit {
            let candidate = schedule.candidate(of: key)!
            return Self.unit(record, candidateRowID: candidate.rowID, window: window,
                             scaling: RoPEScaling(method: "candidate", lambda: candidate.candidate.lambda,
                                                  nHat: candidate.candidate.nHat, attentionFactor: candidate.attentionFactor),
                             fitness: config.fitnessKind, keyTokens: keyTokens)
        }

        func send(_ key: UnitKey) {
            let unit = unit(key, window: key.window)
            tasks[key] = Task {
                let result: Result<UnitResult, Error>
                do { result = .success(try await evaluator.evaluate(unit)) } catch { result = .failure(error) }
                sink.yield(UnitEvent(key: key, result: result))
            }
        }

        /// Asks for a second opinion on every window of a would-be new best (`answers`, in
        /// window order) before `key`'s result is taken; the answers come back as `key`'s event.
        func confirm(_ key: UnitKey, _ answers: [UnitResult]) {
            let units = answers.indices.map { unit(key, window: $0) }
            tasks[key] = Task {
                do {
                    // Every window at once: each may go to a different worker.
                    let checked = try await withThrowingTaskGroup(of: (Int, UnitResult).self) { group in
                        for (window, (unit, answer)) in zip(units, answers).enumerated() {
                            group.addTask { (window, try await evaluator.confirm(unit, answer)) }
                        }
                        var checked = answers
                        for try await (window, answer) in group { checked[window] = answer }
                        return checked
                    }
                    sink.yield(UnitEvent(key: key, result: .success(checked[key.window]), confirmed: checked))
                } catch {
                    sink.yield(UnitEvent(key: key, result: .failure(error)))
                }
            }
        }

        var bestBaseline: (record: BaselineRecord, value: Double)?   // read once every rule is scored
        let ruleCount = Baselines.scalings(geometry: geometry, config: config).count
        func report() {
            // Progress only: a failed read shows no rule to beat until the next report.
            if bestBaseline == nil, let baselines = try? store.baselines(searchID), baselines.count >= ruleCount {
                bestBaseline = SearchSummary.bestBaseline(baselines, fitness: config.fitnessKind)
            }
            let now = schedule.progress
            progress?(SearchProgress(step: now.step, stepCount: config.stepCount, candidatesDone: now.candidatesDone,
                                     unitsDone: unitsDone, best: now.best,
                                     bestBaseline: bestBaseline?.value, bestBaselineMethod: bestBaseline?.record.method))
        }

        var iterator = events.makeAsyncIterator()
        while true {
            try openBlocks()
            for key in schedule.unitsToSend(unitsOut: tasks.count, capacity: evaluator.capacity) { send(key) }
            if tasks.isEmpty { break }
            guard let event = await iterator.next() else { throw CancellationError() }
            guard tasks.removeValue(forKey: event.key) != nil, schedule.wants(event.key) else { continue }   // abandoned
            // A unit that failed for good stops the run (see run), as do cancellation and store errors.
            let result = try event.result.get()
            if let checked = event.confirmed {
                // A second opinion replaced a window's answer: store the corrected row in place.
                for (window, answer) in checked.enumerated() where window != event.key.window {
                    if let row = schedule.correct(event.key, window: window, answer) { try store.correctEvaluation(row) }
                }
            } else if evaluator.confirms, let answers = schedule.newBestAnswers(event.key, result) {
                confirm(event.key, answers)
                continue
            }
            guard let taken = schedule.receive(event.key, result) else { continue }
            for (row, outcome) in taken.rows {
                try store.recordEvaluation(row, outcome: outcome)
                unitsDone += 1
            }
            for key in taken.abandoned { tasks.removeValue(forKey: key)?.cancel() }
            if !taken.rows.isEmpty { report() }
        }
        schedule.closeFinished()
        guard schedule.open.isEmpty else { throw StoreError.corrupt("a block ended with undecided candidates") }
        return schedule.result
    }
}
