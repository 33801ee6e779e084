import Testing
import Search

/// Issue 21: what a pipelined step or an island is bred from (`StepSources`), as pure functions.
@Suite struct StepSourcesTests {
    /// Runs a whole search against the fake fitness the way the runner schedules it: step t
    /// from steps 0…horizon(t), the steps between only as seen. Returns every step's candidates.
    func runScheduled(_ config: SearchConfig) throws -> [[Evaluated]] {
        var steps: [[Evaluated]] = []
        var ordinal = 0
        for step in 0..<config.stepCount {
            let horizon = SearchEngine.horizon(of: step, config: config)
            let known = horizon.map { Array(steps[0...$0]) } ?? []
            let pending = steps[((horizon ?? -1) + 1)...].flatMap { $0.map(\.candidate) }
            let batch = try SearchEngine.breed(step: step, config: config, seeds: seeds(config), steps: known, pending: pending)
            steps.append(batch.map { candidate in
                defer { ordinal += 1 }
                let p = fakePerplexity(candidate)
                return Evaluated(ordinal: ordinal, candidate: candidate, outcome: .scored(perplexity: p, windowNLL: [p]))
            })
        }
        return steps
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
    /// and its own blocks only; no candidate is bred twice across islands.
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
        let all = steps.flatMap { $0 }
        #expect(Set(all.map(\.candidate.noveltyKey)).count == all.count, "no candidate bred twice")
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
