import Foundation
import RoPE
import Runner
import Search
import Simulation
import Store
import TestSupport
import Testing
import Wire

/// The first step's seeds are the rules' factors: their units are the rules' units and are
/// taken from them, never scored a second time (16k SmolLM2: 8 units, ~36 min per search on
/// 2 threads). Simulated workers, the real runner and store.
@Suite struct ReusedUnitsTests {
    /// Every unit it passes on to its worker, keyed without the candidate it was for.
    final class Recording: UnitEvaluator, @unchecked Sendable {
        let inner: UnitEvaluator
        private let lock = NSLock()
        private(set) var units: [WorkUnit] = []
        init(_ inner: UnitEvaluator) { self.inner = inner }
        func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
            lock.withLock { units.append(unit) }
            return try await inner.evaluate(unit)
        }
        /// Units that reached the worker more than once (ignoring the candidate row).
        var repeated: Int {
            lock.withLock {
                var seen = Set<WorkUnit>()
                return units.filter { unit in
                    var key = unit
                    key.candidateRowID = -1
                    return !seen.insert(key).inserted
                }.count
            }
        }
    }

    static func config(_ fitness: Fitness) -> SearchConfig {
        var config = SearchConfig(pairs: 8, originalContext: 256, targetContext: 2048, seed: 3)
        config.setPopulation(16)
        config.iterations = 2
        config.windowCount = 2
        config.fitness = fitness
        config.attentionSearch = AttentionSearch(min: 1, max: 1.3)   // seeds keep their rules' m (as the 16k search's)
        return config
    }

    static let geometry = RoPEGeometry(rotaryDimension: 16, base: 10_000)

    static func worker() -> SimulatedWorker {
        SimulatedWorker(profile: SimulatedWorker.Profile(meanSeconds: 0.001), originalContext: 256, seed: 1)
    }

    static func newSearch(_ config: SearchConfig) throws -> (SearchStore, Int64) {
        let store = try SearchStore(path: temporaryDirectory().appendingPathComponent("reuse.sqlite").path)
        let id = try store.createSearch(name: "reuse", config: config, modelPath: "m", modelSHA256: "m", textPath: "t",
                                        textOffset: 0, textSHA256: "t")
        return (store, id)
    }

    /// The seed candidates of step 0 that equal a rule, with that rule's stored NLL per window
    /// under the search's fitness.
    static func ruleSeeds(_ store: SearchStore, _ id: Int64, fitness: Fitness) throws -> [(CandidateRecord, [Double])] {
        let baselines = try store.baselines(id)
        return try store.candidates(id, step: 0).compactMap { candidate in
            guard let rule = baselines.first(where: {
                $0.lambda == candidate.candidate.lambda && $0.attentionFactor == candidate.attentionFactor
                    && candidate.candidate.nHat == 0
            }) else { return nil }
            return (candidate, try #require(fitness == .ppl ? rule.windowNLL : rule.fitnessNLL))
        }
    }

    /// ppl (rules and steps dispatched together: a seed waits for its rule's unit) and mixed
    /// (rules first): no unit reaches a worker twice, and each rule-equal seed holds its rule's values.
    @Test(arguments: [Fitness.ppl, .mixed])
    func aSeedEqualToARuleTakesTheRulesUnits(fitness: Fitness) async throws {
        let config = Self.config(fitness)
        let (store, id) = try Self.newSearch(config)
        let recording = Recording(Self.worker())
        let summary = try await SearchRunner(store: store, searchID: id, geometry: Self.geometry).run(evaluator: recording)
        #expect(summary.status == "done")
        #expect(recording.repeated == 0, "\(recording.repeated) units were scored twice")
        let seeds = try Self.ruleSeeds(store, id, fitness: fitness)
        #expect(seeds.count >= 5, "only \(seeds.count) seeds equal a rule: this checks little")
        for (candidate, ruleNLL) in seeds {
            let stored = try store.windowResults(candidate.rowID)
            #expect(stored == ruleNLL.map(Optional.some), "\(candidate.candidate.seedName ?? "?"): the rule's values")
        }
    }

    /// A search resumed with its rules stored (as after a stop between the rules and the first
    /// step): the seeds take the rules' units from the store. The rules are copied from a
    /// finished search into a new one, so no seed of the new one has been scored yet.
    @Test func aResumedSearchTakesTheStoredRulesUnits() async throws {
        let config = Self.config(.mixed)
        let (done, doneID) = try Self.newSearch(config)
        _ = try await SearchRunner(store: done, searchID: doneID, geometry: Self.geometry).run(evaluator: Self.worker())
        let (store, id) = try Self.newSearch(config)
        for baseline in try done.baselines(doneID) {
            #expect(baseline.windowTokens?.count == config.windowCount && baseline.fitnessTokens?.count == config.windowCount,
                    "\(baseline.method): the windows' tokens are stored")
            try store.recordBaseline(id, baseline)
        }
        let recording = Recording(Self.worker())
        let summary = try await SearchRunner(store: store, searchID: id, geometry: Self.geometry).run(evaluator: recording)
        #expect(summary.status == "done")
        #expect(recording.units.allSatisfy { $0.candidateRowID >= 0 }, "no rule scored again")
        let seeds = try Self.ruleSeeds(store, id, fitness: .mixed)
        let sentForSeeds = recording.units.filter { unit in seeds.contains { $0.0.rowID == unit.candidateRowID } }
        #expect(seeds.count >= 5 && sentForSeeds.isEmpty, "\(sentForSeeds.count) units of rule-equal seeds were scored again")
        #expect(try store.candidates(id).map(\.outcome) == done.candidates(doneID).map(\.outcome), "the same search")
    }

    /// A rule whose twin (a rule with the same factors) is stored takes the twin's units in both
    /// passes, as after a stop between the two twins' rows (a 32k unit is minutes): nothing of
    /// it reaches a worker, `unitsLeftInRules` counts none for it, and the search is the same.
    @Test func aRuleWithAStoredTwinTakesItsUnits() async throws {
        let config = Self.config(.mixed)
        let rules = Baselines.scalings(geometry: Self.geometry, config: config)
        let twins = rules.indices.flatMap { a in rules.indices.filter { $0 > a }.map { (a, $0) } }.filter {
            rules[$0.0].lambda == rules[$0.1].lambda && rules[$0.0].attentionFactor == rules[$0.1].attentionFactor
        }
        let (first, second) = try #require(twins.first, "two rules must share their factors, or this checks nothing")
        let (done, doneID) = try Self.newSearch(config)
        _ = try await SearchRunner(store: done, searchID: doneID, geometry: Self.geometry).run(evaluator: Self.worker())
        // Only the first twin is stored (both passes).
        let (store, id) = try Self.newSearch(config)
        try store.recordBaseline(id, try #require(try done.baselines(doneID).first { $0.method == rules[first].method }))
        let runner = SearchRunner(store: store, searchID: id, geometry: Self.geometry)
        let left = try runner.unitsLeftInRules()
        let recording = Recording(Self.worker())
        let summary = try await runner.run(evaluator: recording)
        let ruleUnits = recording.units.filter { $0.candidateRowID < 0 }
        #expect(!ruleUnits.contains { $0.lambda == rules[second].lambda && $0.attentionFactor == rules[second].attentionFactor },
                "\(rules[second].method) was scored again though its twin \(rules[first].method) is stored")
        #expect(ruleUnits.count == left, "unitsLeftInRules said \(left), \(ruleUnits.count) were scored")
        let distinct = Set(rules.map { $0.lambda + [$0.attentionFactor] }).count
        #expect(left == (distinct - 1) * config.windowCount * 2, "both passes, every distinct rule but the stored twins'")
        #expect(summary.baselines == (try done.summary(doneID)).baselines)
        #expect(try store.candidates(id).map(\.outcome) == done.candidates(doneID).map(\.outcome), "the same search")
    }
}

/// Before the first step of a non-ppl search the rules are scored, pass by pass (hours at 32k):
/// the progress callback says so, unit by unit, before any step's report.
@Suite struct RulesProgressTests {
    final class Reports: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var all: [SearchProgress] = []
        func add(_ p: SearchProgress) { lock.withLock { all.append(p) } }
    }

    @Test func theRulesPassesAreReportedBeforeTheSteps() async throws {
        let config = ReusedUnitsTests.config(.mixed)
        let (store, id) = try ReusedUnitsTests.newSearch(config)
        let reports = Reports()
        _ = try await SearchRunner(store: store, searchID: id, geometry: ReusedUnitsTests.geometry)
            .run(evaluator: ReusedUnitsTests.worker()) { reports.add($0) }
        let rules = reports.all.prefix { $0.rules != nil }.map { $0.rules! }
        #expect(reports.all.dropFirst(rules.count).allSatisfy { $0.rules == nil }, "no rules' report after the first step's")
        let passes = rules.map(\.pass).reduce(into: [Fitness]()) { if $0.last != $1 { $0.append($1) } }
        #expect(passes == [.ppl, .mixed], "\(passes) \(reports.all.map { $0.rules.map { "\($0.pass) \($0.unitsDone)/\($0.units)" } ?? "step \($0.step)" })")
        for pass in passes {
            let these = rules.filter { $0.pass == pass }
            #expect(these.first?.unitsDone == 0 && these.last.map { $0.unitsDone == $0.units } == true
                    && zip(these, these.dropFirst()).allSatisfy { $1.unitsDone == $0.unitsDone + 1 },
                    "\(pass): 0, 1, … every unit: \(these.map(\.unitsDone)) of \(these.first?.units ?? -1)")
        }
        let distinctRules = Set(Baselines.scalings(geometry: ReusedUnitsTests.geometry, config: config)
            .map { $0.lambda + [$0.attentionFactor] }).count
        #expect(rules.first?.units == distinctRules * config.windowCount, "one unit per distinct rule and window")
    }
}
