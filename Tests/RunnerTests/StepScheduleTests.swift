import Foundation
@testable import Runner
import Search
import Seeded
@testable import Store
import Testing
import Wire

/// The schedule alone (issue 22): no store, no evaluator, no tasks — steps opened by hand with
/// candidates that need no breeding, results handed in in any order.
@Suite struct StepScheduleTests {
    static func config(population: Int = 4, windows: Int = 3, pipelineDepth: Int? = nil) -> SearchConfig {
        var config = SearchConfig(pairs: 2, originalContext: 256, targetContext: 1024, seed: 1)
        config.setPopulation(population)
        config.iterations = 3
        config.windowCount = windows
        config.pipelineDepth = pipelineDepth
        return config
    }

    /// `count` undecided candidates for `step`, rows numbered from `firstRow`.
    static func candidates(step: Int, count: Int, windows: Int, firstRow: Int64 = 0) -> [CandidateWindows] {
        (0..<count).map { i in
            let record = CandidateRecord(rowID: firstRow + Int64(i), ordinal: Int(firstRow) + i, step: step,
                                         candidate: Candidate(lambda: [1, 1 + Double(Int(firstRow) + i)], operation: .seed), attentionFactor: 1, outcome: nil)
            return CandidateWindows(record: record, reference: nil, windowCount: windows, storedNLL: [], storedTokens: [])
        }
    }

    static func result(_ nll: Double = 700) -> UnitResult { UnitResult(nllSum: nll, tokens: 1023, seconds: 0, worker: "w") }

    /// Opens the block the schedule names next with fresh candidates.
    static func openNext(_ schedule: inout StepSchedule, count: Int, unitsOut: Int = 0) throws {
        let nextTaken = schedule.blocksToOpen(unitsOut: unitsOut, capacity: 1).first
        let next = try #require(nextTaken)
        schedule.open(next, candidates: candidates(step: next.step, count: count, windows: schedule.config.windowCount,
                                                   firstRow: Int64(100 * next.step)))
    }

    @Test func sureUnitsGoFirstThenTheLeastSpeculative() throws {
        var schedule = StepSchedule(config: Self.config())
        try Self.openNext(&schedule, count: 4)
        let sent = schedule.unitsToSend(unitsOut: 0, capacity: 10)
        // Window 0 of all four, then window 1 of all four (one ahead), then window 2 of two.
        #expect(sent.map(\.window) == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
        #expect(sent.prefix(4).map(\.candidate) == [0, 1, 2, 3])
        let more = schedule.unitsToSend(unitsOut: 10, capacity: 10)
        #expect(more.isEmpty, "no room, and nothing sure left")
        // A capacity of 1 still sends every sure unit: they are never held back.
        var narrow = StepSchedule(config: Self.config())
        try Self.openNext(&narrow, count: 4)
        let sure = narrow.unitsToSend(unitsOut: 0, capacity: 1)
        #expect(sure.count == 4)
    }

    @Test func windowsAreConsumedInOrderWhateverOrderTheyComeBackIn() throws {
        var schedule = StepSchedule(config: Self.config(population: 2))
        try Self.openNext(&schedule, count: 2)
        let sent = schedule.unitsToSend(unitsOut: 0, capacity: 6)
        #expect(sent.count == 6)
        let c0 = sent.filter { $0.candidate == 0 }.sorted { $0.window < $1.window }
        let lateTaken = schedule.receive(c0[2], Self.result(702))
        let late = try #require(lateTaken)
        #expect(late.rows.isEmpty, "window 2 waits for 0 and 1")
        let middleTaken = schedule.receive(c0[1], Self.result(701))
        let middle = try #require(middleTaken)
        #expect(middle.rows.isEmpty)
        let allTaken = schedule.receive(c0[0], Self.result(700))
        let all = try #require(allTaken)
        #expect(all.rows.map(\.0.window) == [0, 1, 2])
        #expect(all.rows.map(\.0.nllSum) == [700, 701, 702])
        #expect(all.rows.last?.1 != nil && all.rows.dropLast().allSatisfy { $0.1 == nil }, "the last window decides")
        #expect(!schedule.wants(c0[0]), "a decided candidate wants nothing more")
        let copy = schedule.receive(c0[0], Self.result())
        #expect(copy == nil, "a late copy is dropped")
        #expect(schedule.progress.candidatesDone == 1)
    }

    /// With L = 2, step t is bred from steps ≤ t − 2: step 2 opens while step 1 is out, step 3
    /// only once step 1 is decided — and what step 2 is bred from is step 0 alone, step 1 seen.
    @Test func aStepOpensOnceTheStepsItIsBredFromAreDecided() throws {
        var schedule = StepSchedule(config: Self.config(population: 2, windows: 1, pipelineDepth: 2))
        try Self.openNext(&schedule, count: 2)
        let early = schedule.blocksToOpen(unitsOut: 0, capacity: 1)
        #expect(early.isEmpty, "step 1 waits for step 0")
        for key in schedule.unitsToSend(unitsOut: 0, capacity: 1) { _ = schedule.receive(key, Self.result()) }
        try Self.openNext(&schedule, count: 1)                                        // step 1
        let step2Taken = schedule.blocksToOpen(unitsOut: 0, capacity: 1)
        #expect(step2Taken.count == 1)
        let step2 = try #require(step2Taken.first)
        #expect(step2.step == 2)
        guard case let .block(history) = step2.sources else { Issue.record("not bred from blocks"); return }
        #expect(history.count == 2, "bred from step 0 only")
        let seen = schedule.seenKeys(of: step2.block)
        let step1 = try #require(schedule.open.first { $0.step == 1 }?.candidates.first?.record.candidate)
        #expect(seen.contains(step1.noveltyKey), "step 1's candidate counts as seen")
        #expect(!seen.contains(Candidate(lambda: [1, 9], operation: .seed).noveltyKey), "a candidate never bred does not")
        schedule.open(step2, candidates: Self.candidates(step: 2, count: 1, windows: 1, firstRow: 200))
        let step3Early = schedule.blocksToOpen(unitsOut: 0, capacity: 1)
        #expect(step3Early.isEmpty, "step 3 waits for step 1")
        let step1UnitTaken = schedule.unitsToSend(unitsOut: 0, capacity: 1).first { $0.step == 1 }
        let step1Unit = try #require(step1UnitTaken)
        _ = schedule.receive(step1Unit, Self.result())
        let step3 = schedule.blocksToOpen(unitsOut: 0, capacity: 1)
        #expect(step3.map(\.step) == [3])
    }

    @Test func theSearchEndsWhenEveryStepIsDecided() throws {
        var config = Self.config(population: 2, windows: 1)
        config.iterations = 0
        var schedule = StepSchedule(config: config)
        try Self.openNext(&schedule, count: 2)
        #expect(!schedule.isFinished)
        for key in schedule.unitsToSend(unitsOut: 0, capacity: 1) { _ = schedule.receive(key, Self.result()) }
        let none = schedule.blocksToOpen(unitsOut: 0, capacity: 1)
        #expect(none.isEmpty)
        #expect(schedule.isFinished && schedule.result.count == 2)
    }

    /// `unitsToSend` and `progress` keep their own bookkeeping (which blocks changed, decided
    /// counts, the best so far); played against the plain definitions — every sure unit in
    /// block and candidate order, then the least speculative one at a time, ties in that order;
    /// decided candidates counted and their best perplexity taken over every open block — at every
    /// moment of a search whose results come back in a drawn order, with early rejection.
    @Test func unitsAndProgressFollowTheirDefinitionsAtEveryMoment() throws {
        for seed in UInt64(1)...4 {
            var config = Self.config(population: 6, windows: 4, pipelineDepth: 2)
            config.iterations = 4
            config.parents = 3
            config.mutations = 2
            config.crossovers = 2
            var schedule = StepSchedule(config: config)
            var rng = SplitMix64(seed: seed, stream: 5)
            var out: [StepSchedule.UnitKey] = []
            var row: Int64 = 0
            var moments = 0
            while true {
                for next in schedule.blocksToOpen(unitsOut: out.count, capacity: 9) {
                    let count = next.size
                    schedule.open(next, candidates: Self.candidates(step: next.step, count: count, windows: config.windowCount,
                                                                    firstRow: row).map {
                        // A reference for early rejection from the block's own reference, when it has one.
                        CandidateWindows(record: $0.record, reference: next.reference, windowCount: config.windowCount,
                                         storedNLL: [], storedTokens: [])
                    })
                    row += Int64(count)
                }
                let capacity = Int(rng.next() % 12)
                let expected = Self.plainUnitsToSend(schedule.open, unitsOut: out.count, capacity: capacity)
                let sent = schedule.unitsToSend(unitsOut: out.count, capacity: capacity)
                #expect(sent == expected, "seed \(seed), moment \(moments)")
                out += sent
                let plain = Self.plainProgress(schedule)
                #expect(schedule.progress.candidatesDone == plain.done && schedule.progress.best == plain.best,
                        "seed \(seed), moment \(moments)")
                moments += 1
                if out.isEmpty { break }
                let key = out.remove(at: Int(rng.next() % UInt64(out.count)))
                guard schedule.wants(key) else { continue }
                let nll = 600 + Double(rng.next() % 200)
                if let taken = schedule.receive(key, Self.result(nll)) {
                    out.removeAll { taken.abandoned.contains($0) }
                }
            }
            #expect(schedule.isFinished, "seed \(seed): every block decided")
            #expect(moments > 40, "seed \(seed): a search long enough to say something (\(moments) moments)")
        }
    }

    /// `unitsToSend` as defined, by scanning every candidate for each unit (on copies).
    static func plainUnitsToSend(_ open: [StepSchedule.OpenBlock], unitsOut: Int, capacity: Int) -> [StepSchedule.UnitKey] {
        var open = open
        var keys: [StepSchedule.UnitKey] = []
        func send(_ s: Int, _ c: Int) {
            keys.append(.init(step: open[s].step, island: open[s].block.island, candidate: c, window: open[s].candidates[c].send()))
        }
        for s in open.indices {
            for c in open[s].candidates.indices where open[s].candidates[c].hasSureWindow { send(s, c) }
        }
        while unitsOut + keys.count < max(1, capacity) {
            var pick: (s: Int, c: Int, depth: Int)?
            for s in open.indices {
                for c in open[s].candidates.indices {
                    if let depth = open[s].candidates[c].speculativeDepth, depth < (pick?.depth ?? .max) { pick = (s, c, depth) }
                }
            }
            guard let pick else { break }
            send(pick.s, pick.c)
        }
        return keys
    }

    /// Decided candidates and their best perplexity, from the decided blocks and every open one.
    static func plainProgress(_ schedule: StepSchedule) -> (done: Int, best: Double?) {
        let decided = schedule.ledger.result.map(\.outcome) + schedule.open.flatMap(\.candidates).compactMap(\.outcome)
        return (decided.count, decided.compactMap(\.perplexity).min())
    }
}
