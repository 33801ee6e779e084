import Testing
import Seeded
import Search

/// Issue 21: what a pipelined step or an island is bred from (`StepSources`), as pure functions.
@Suite struct StepSourcesTests {
    struct Stuck: Error {}

    /// Runs a whole search against the fake fitness the way the runner schedules it: each block
    /// bred as soon as `BlockLedger` allows, from what it says. With `shuffle`, blocks are
    /// decided in an order drawn from that seed (as workers of any speed would finish them),
    /// else in the order they were bred. Returns every step's candidates, island by island.
    /// With `byKeys`, each block is bred as the runner breeds it (`history(of:)` and
    /// `seenKeys(of:)`), and first its seen keys are checked against `sources(of:)` on every
    /// candidate bred so far.
    func runScheduled(_ config: SearchConfig, shuffle: UInt64? = nil, byKeys: Bool = false) throws -> [[Evaluated]] {
        var ledger = BlockLedger(config: config)
        var undecided: [(Block, [Candidate])] = []
        var rng = shuffle.map { SplitMix64(seed: $0) }
        while true {
            for block in ledger.blocksToBreed() {
                let (history, seen) = ledger.sources(of: block)
                let batch: [Candidate]
                if byKeys {
                    let plain = Set((history.map(\.candidate) + seen).map(\.noveltyKey))
                    let keys = ledger.seenKeys(of: block)
                    let everyKey = Set(ledger.bred.values.flatMap { $0 }.map(\.noveltyKey))
                    let disagree = everyKey.filter { keys.contains($0) != plain.contains($0) }
                    #expect(disagree.isEmpty, "\(block): \(disagree.count) of \(everyKey.count) keys seen differently")
                    #expect(ledger.history(of: block) == history)
                    batch = try SearchEngine.breed(block, config: config, seeds: seeds(config), history: ledger.history(of: block),
                                                   seen: keys)
                } else {
                    batch = try SearchEngine.breed(block, config: config, seeds: seeds(config), history: history, seen: seen)
                }
                ledger.recordBred(block, Array(batch.prefix(SearchEngine.budgetedSize(block, config: config))))
                undecided.append((block, ledger.bred[block]!))
            }
            if undecided.isEmpty { break }
            var next = 0
            if var r = rng { next = r.below(undecided.count); rng = r }
            let (block, batch) = undecided.remove(at: next)
            let first = SearchEngine.firstOrdinal(step: block.step, island: block.island, config: config)
            ledger.recordDecided(block, batch.enumerated().map { offset, candidate in
                let p = fakePerplexity(candidate)
                return Evaluated(ordinal: first + offset, candidate: candidate, outcome: .scored(perplexity: p, windowNLL: [p]))
            })
        }
        guard ledger.isExhausted else { throw Stuck() }
        return (0..<config.stepCount).map { step in
            (0..<SearchEngine.blockCount(step: step, config: config)).flatMap { ledger.decided[Block(step: step, island: $0)] ?? [] }
        }
    }

    @Test func oneStepAtATimeIsLongRoPEsSearch() throws {
        let config = smallConfig()
        #expect(SearchEngine.horizon(of: 0, config: config) == nil)
        #expect((1..<config.stepCount).allSatisfy { SearchEngine.horizon(of: $0, config: config) == $0 - 1 })
        var explicit = config
        explicit.pipelineDepth = 1
        explicit.islands = 1
        #expect(try runScheduled(explicit).flatMap { $0 } == run(config), "L = 1, I = 1: the same candidates")
    }

    /// Step t is bred from steps 0…t−L: no parent comes from a later step, and the search still
    /// improves on its seeds.
    @Test func aPipelinedStepUsesOnlyStepsLBehindIt() throws {
        var config = smallConfig()
        config.pipelineDepth = 3
        #expect(SearchEngine.horizon(of: 1, config: config) == 0 && SearchEngine.horizon(of: 3, config: config) == 0)
        #expect(SearchEngine.horizon(of: 7, config: config) == 4)
        let steps = try runScheduled(config)
        let stepOf = Dictionary(uniqueKeysWithValues: steps.enumerated().flatMap { s, batch in batch.map { ($0.ordinal, s) } })
        for (s, batch) in steps.enumerated() where s > 0 {
            for item in batch {
                #expect(item.candidate.parents.allSatisfy { stepOf[$0]! <= max(0, s - 3) }, "step \(s) used a parent from a later step")
            }
        }
        let all = steps.flatMap { $0 }
        #expect(Set(all.map(\.candidate.noveltyKey)).count == all.count, "no candidate bred twice")
        let seedsBest = steps[0].compactMap(\.outcome.perplexity).min()!
        #expect(SearchEngine.best(all)!.outcome.perplexity! < seedsBest)
        #expect(try runScheduled(smallConfig()).flatMap { $0 } != all, "L = 3 must differ from one step at a time")
    }

    /// Each step holds I blocks; without migration an island's parents are the shared step 0
    /// and its own blocks only; no island breeds a candidate twice, nor one it could see.
    @Test func islandsBreedFromTheirOwnLineage() throws {
        var config = smallConfig()
        config.islands = 3
        let steps = try runScheduled(config)
        #expect(steps[0].count == config.population)
        for s in 1..<steps.count { #expect(steps[s].count == 3 * (s % 2 == 1 ? config.mutations : config.crossovers)) }
        #expect(config.plannedCandidates == steps.flatMap { $0 }.count)
        var islandOf: [Int: Int] = [:]   // ordinal → island; step 0 shared (absent)
        for (s, batch) in steps.enumerated() where s > 0 {
            for (position, item) in batch.enumerated() { islandOf[item.ordinal] = SearchEngine.island(step: s, position: position, config: config) }
        }
        for (s, batch) in steps.enumerated() where s > 0 {
            for (position, item) in batch.enumerated() {
                let island = SearchEngine.island(step: s, position: position, config: config)
                #expect(item.candidate.parents.allSatisfy { islandOf[$0] == nil || islandOf[$0] == island },
                        "step \(s): island \(island) bred from another island")
            }
        }
        // No island breeds a candidate twice in its own lineage, nor one of another island's
        // blocks it could see (steps 1…t−L; its own blocks of the steps between count too).
        for k in 0..<3 {
            let lineage = steps[0] + steps.indices.dropFirst().flatMap { s in steps[s].enumerated().filter {
                SearchEngine.island(step: s, position: $0.offset, config: config) == k }.map(\.element) }
            #expect(Set(lineage.map(\.candidate.noveltyKey)).count == lineage.count, "island \(k) bred a candidate twice")
        }
        for (s, batch) in steps.enumerated() where s > 1 {
            let visible = Set(steps[1...(s - 1)].flatMap { $0 }.map(\.candidate.noveltyKey))
            #expect(batch.allSatisfy { !visible.contains($0.candidate.noveltyKey) }, "step \(s) repeated a candidate it could see")
        }
        // The islands draw from different streams: their first blocks differ.
        let block = config.mutations
        #expect(Array(steps[1][0..<block]).map(\.candidate) != Array(steps[1][block..<2 * block]).map(\.candidate))
    }

    /// With migration every iteration, each island's history holds the best of the island
    /// before it (a ring) once an iteration ends — and never before.
    @Test func migrationCarriesEachIslandsBestToTheNext() throws {
        var config = smallConfig()
        config.islands = 3
        config.migrationInterval = 1
        let steps = try runScheduled(config)
        let afterStep1 = SearchEngine.islandHistories(Array(steps[0...1]), config: config)
        let afterStep2 = SearchEngine.islandHistories(Array(steps[0...2]), config: config)
        var none = config
        none.migrationInterval = 0
        let isolated = SearchEngine.islandHistories(Array(steps[0...2]), config: none)
        for k in 0..<3 {
            let previous = (k + 2) % 3
            let best = try #require(SearchEngine.best(isolated[previous]))
            #expect(afterStep2[k].contains { $0.ordinal == best.ordinal }, "island \(k) did not receive island \(previous)'s best")
            #expect(afterStep1[k].count == isolated[k].count - config.crossovers, "no migration in the middle of an iteration")
        }
        #expect(afterStep2.map(\.count) != isolated.map(\.count), "migrants were added")
    }

    /// Blocks decided in any order — as workers of any number and speed would finish them —
    /// breed the same search: what a block is bred from never depends on timing.
    @Test func theOrderBlocksAreDecidedInChangesNothing() throws {
        var pipelined = smallConfig()
        pipelined.pipelineDepth = 3
        var islands = smallConfig()
        islands.islands = 3
        islands.migrationInterval = 1
        islands.pipelineDepth = 2
        var budgeted = smallConfig()
        budgeted.islands = 4
        budgeted.migrationInterval = 2
        budgeted.pipelineDepth = 3
        budgeted.budget = budgeted.population + 5 * 4 * budgeted.mutations + 2   // ends inside a block
        for (name, config) in [("pipeline L=3", pipelined), ("islands I=3 M=1 L=2", islands), ("budgeted I=4 M=2 L=3", budgeted)] {
            let inOrder = try runScheduled(config)
            #expect(inOrder.flatMap { $0 }.count == config.plannedCandidates, "\(name)")
            #expect(inOrder.flatMap { $0 }.map(\.ordinal) == Array(0..<config.plannedCandidates), "\(name): ordinals are dense")
            for shuffle: UInt64 in [1, 2, 3] {
                #expect(try runScheduled(config, shuffle: shuffle) == inOrder, "\(name), order \(shuffle)")
            }
            // Bred as the runner breeds (seen keys from the ledger's index): the same candidates.
            #expect(try runScheduled(config, shuffle: 4, byKeys: true) == inOrder, "\(name), by keys")
        }
    }

    /// An island breeds its next step as soon as its own blocks allow, while another island's
    /// block is still out — except after a migration, which waits for every island.
    @Test func anIslandMovesOnWithoutWaitingForTheOthers() throws {
        var config = smallConfig()
        config.islands = 2
        config.migrationInterval = 1   // the islands exchange at the end of step 2
        var ledger = BlockLedger(config: config)
        func breedAndDecide(_ block: Block, decide: Bool = true) throws {
            #expect(ledger.blocksToBreed().contains(block), "\(block) should be ready")
            let (history, seen) = ledger.sources(of: block)
            let batch = try SearchEngine.breed(block, config: config, seeds: seeds(config), history: history, seen: seen)
            ledger.recordBred(block, batch)
            let first = SearchEngine.firstOrdinal(step: block.step, island: block.island, config: config)
            if decide {
                ledger.recordDecided(block, batch.enumerated().map {
                    Evaluated(ordinal: first + $0.offset, candidate: $0.element, outcome: .scored(perplexity: fakePerplexity($0.element), windowNLL: [1]))
                })
            }
        }
        try breedAndDecide(Block(step: 0, island: 0))
        #expect(ledger.blocksToBreed() == [Block(step: 1, island: 0), Block(step: 1, island: 1)])
        try breedAndDecide(Block(step: 1, island: 1), decide: false)   // island 1 is slow
        try breedAndDecide(Block(step: 1, island: 0))
        try breedAndDecide(Block(step: 2, island: 0))
        #expect(ledger.blocksToBreed().isEmpty, "island 0's step 3 needs island 1's step 2 (migration); island 1's step 2 its step 1")
        let seen = ledger.sources(of: Block(step: 2, island: 1)).seen
        #expect(seen.count == config.mutations,
                "island 0's step-1 block counts as seen by island 1's step 2")
    }

    @Test func invalidSchedulesAreRefused() {
        var config = smallConfig()
        config.pipelineDepth = 0
        #expect(config.problems().contains { $0.contains("pipeline_depth") })
        config = smallConfig()
        config.islands = 0
        #expect(config.problems().contains { $0.contains("islands") })
        config = smallConfig()
        config.migrationInterval = 2
        #expect(config.problems().contains { $0.contains("migration_interval needs islands") })
        config = smallConfig()
        config.overlapSteps = true
        config.pipelineDepth = 2
        #expect(config.problems().contains { $0.contains("overlap_steps cannot be combined") })
    }
}
