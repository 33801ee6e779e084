import Evaluator
import Foundation
import GGUF
import ModelExport
import RoPE
import Runner
import Scoring
import Search
import Store
import TestSupport
import Testing
import Wire

/// A small real search: stories260K, 128 → 256 tokens, 2 windows per candidate.
struct Fixture {
    let model: LlamaModel
    let text: String
    let config: SearchConfig

    init?(earlyRejection: Bool = true, refineIterations: Int = 0) throws {
        guard let url = TestPaths.sharedFile("models/stories260K.gguf"),
              let textURL = TestPaths.sharedFile("text/tinystories-valid.txt") else { return nil }
        model = try LlamaModel(path: url.path, threads: 2)
        text = String(decoding: try Data(contentsOf: textURL).prefix(60_000), as: UTF8.self)
        var config = SearchConfig(pairs: model.pairs, originalContext: 128, targetContext: 256, seed: 11)
        config.setPopulation(8)
        config.iterations = 3
        config.windowCount = 2
        config.earlyRejection = earlyRejection
        if refineIterations > 0 { config.refineIterations = refineIterations }
        self.config = config
    }

    /// The same search under the key-token fitness at 512 tokens: its rules go first.
    var keyTokenConfig: SearchConfig {
        var config = config
        config.fitness = .keyTokens
        config.keyTokenThreshold = 0.5
        config.targetContext = 512
        return config
    }

    func newSearch(_ store: SearchStore, config: SearchConfig? = nil) throws -> Int64 {
        try store.createSearch(name: "fixture", config: config ?? self.config, modelPath: "m", modelSHA256: "m", textPath: "t",
                               textOffset: 0, textSHA256: "t")
    }

    func evaluator() throws -> LocalEvaluator {
        LocalEvaluator(model: model, text: Data(text.utf8))
    }
}

/// Fails after `limit` units, as a crash would.
final class CrashingEvaluator: UnitEvaluator, @unchecked Sendable {
    struct Crash: Error {}
    let inner: UnitEvaluator
    let limit: Int
    private var calls = 0
    private let lock = NSLock()
    var capacity: Int { inner.capacity }

    init(_ inner: UnitEvaluator, limit: Int) { self.inner = inner; self.limit = limit }

    func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
        let call: Int = lock.withLock { calls += 1; return calls }
        if call > limit { throw Crash() }
        return try await inner.evaluate(unit)
    }
}

/// Scores the first `limit` units it is given, then fails every other (a stop) once the runner
/// has stored their results (`stored` counts what it has stored): unlike `CrashingEvaluator`,
/// whose failures can overtake units still running when the runner sends many at once.
final class StopsAfter: UnitEvaluator, @unchecked Sendable {
    let inner: UnitEvaluator
    let limit: Int
    let stored: @Sendable () throws -> Int
    private var calls = 0
    private let lock = NSLock()
    var capacity: Int { inner.capacity }

    init(_ inner: UnitEvaluator, limit: Int, stored: @escaping @Sendable () throws -> Int) {
        (self.inner, self.limit, self.stored) = (inner, limit, stored)
    }

    func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
        let call: Int = lock.withLock { calls += 1; return calls }
        if call > limit {
            let deadline = Date().addingTimeInterval(120)   // a safety net, not a bound the test relies on
            while try stored() < limit, Date() < deadline { try await Task.sleep(nanoseconds: 5_000_000) }
            throw CrashingEvaluator.Crash()
        }
        return try await inner.evaluate(unit)
    }
}

/// Counts the rules' units (candidate row −1, not the key-token probes) it passes on.
final class RuleUnits: UnitEvaluator, @unchecked Sendable {
    let inner: UnitEvaluator
    private(set) var count = 0
    private let lock = NSLock()
    init(_ inner: UnitEvaluator) { self.inner = inner }
    func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
        if unit.candidateRowID < 0, unit.probe != true { lock.withLock { count += 1 } }
        return try await inner.evaluate(unit)
    }
}

/// Returns NaN for candidates whose last λ is above a threshold.
struct NaNEvaluator: UnitEvaluator {
    let inner: UnitEvaluator
    var capacity: Int { 1 }
    func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
        if unit.candidateRowID >= 0, unit.lambda.last! > 2.5 {
            return UnitResult(nllSum: .nan, tokens: 255, seconds: 0, worker: "nan")
        }
        return try await inner.evaluate(unit)
    }
}

/// Every unit fails for good with the same reason (after the dispatcher's retries).
struct FailingEvaluator: UnitEvaluator {
    var capacity: Int { 1 }
    func evaluate(_ unit: WorkUnit) async throws -> UnitResult { throw UnitFailed(reason: "4 attempts, last: out of memory") }
}

@Suite(.serialized, .enabled(if: TestPaths.has("models/stories260K.gguf"), "needs ../shared/models"))
struct SearchRunnerTests {
    /// Found 4 of issue 13: a search whose units all fail ends `failed`, saying why.
    @Test func aSearchWhoseUnitsAllFailEndsFailedWithTheReason() async throws {
        let fixture = try #require(try Fixture())
        let store = try SearchStore(path: database())
        let id = try fixture.newSearch(store)
        await #expect(throws: (any Error).self) {
            try await SearchRunner(store: store, searchID: id, geometry: fixture.model.geometry).run(evaluator: FailingEvaluator())
        }
        #expect(try store.search(id)?.status == .failed)
        let message = try #require(try store.errorMessage(id))
        #expect(message.contains("out of memory") && message.contains("failed for good"), "\(message)")
    }

    func database() -> String { temporaryDirectory().appendingPathComponent("search.sqlite").path }

    /// Issue 23, item 1: a unit that fails for good stops the search (failed, saying why)
    /// instead of scoring its candidate infeasible; resumed with working workers, the search
    /// ends as if nothing had happened.
    @Test func aUnitFailingForGoodStopsTheSearchAndAResumeLosesNothing() async throws {
        struct FailsOnce: UnitEvaluator {
            let inner: UnitEvaluator
            let at: Int
            let calls = SharedCount()
            func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
                calls.add(1)
                if calls.value == at { throw UnitFailed(reason: "4 attempts, last: worker w-1 (bad): unreadable answer") }
                return try await inner.evaluate(unit)
            }
        }
        let fixture = try #require(try Fixture())
        let reference = try SearchStore(path: database())
        let referenceID = try fixture.newSearch(reference)
        let expected = try await SearchRunner(store: reference, searchID: referenceID, geometry: fixture.model.geometry)
            .run(evaluator: try fixture.evaluator())
        for at in [5, 30] {   // a baseline's unit, then a candidate's
            let store = try SearchStore(path: database())
            let id = try fixture.newSearch(store)
            let runner = SearchRunner(store: store, searchID: id, geometry: fixture.model.geometry)
            await #expect(throws: SearchRunnerError.self) {
                try await runner.run(evaluator: FailsOnce(inner: try fixture.evaluator(), at: at))
            }
            #expect(try store.search(id)?.status == .failed)
            let message = try #require(try store.errorMessage(id))
            #expect(message.contains("failed for good") && message.contains("w-1 (bad)"), "\(message)")
            let resumed = try await runner.run(evaluator: try fixture.evaluator())
            #expect(resumed.lambda == expected.lambda && resumed.perplexity == expected.perplexity, "failure at unit \(at)")
            #expect(resumed.baselines == expected.baselines)
            #expect(try store.candidates(id).map(\.outcome) == reference.candidates(referenceID).map(\.outcome))
        }
    }

    @Test func aSearchBeatsItsBaselinesAndRecordsEverything() async throws {
        let fixture = try #require(try Fixture())
        let store = try SearchStore(path: database())
        let id = try fixture.newSearch(store)
        let summary = try await SearchRunner(store: store, searchID: id, geometry: fixture.model.geometry)
            .run(evaluator: try fixture.evaluator())
        #expect(summary.status == "done")
        #expect(Set(summary.baselines.keys) == ["pi", "ntk", "yarn", "yarn-linear", "yarn-b16-2", "yarn-b64-0.5", "llama3",
                                                 "ntk-rcd", "yarn-rcd"])
        let best = try #require(summary.perplexity)
        let bestBaseline = summary.baselines.values.compactMap { $0 }.min()!
        #expect(best <= bestBaseline, "the seeds are in the population, so the best can only match or beat them")
        #expect(summary.evaluations == 8 + 3 * 4)
        #expect(try SearchStore(path: store.path).search(id)?.status == .done)
        try RoPEScaling(method: "x", lambda: summary.lambda).validate(pairs: 4, lambdaMax: fixture.config.lambdaMax)
    }

    /// Rules with the same factors are scored once (a unit is a whole window of the target
    /// length), and every one of them is recorded with that score.
    @Test func rulesWithTheSameFactorsAreScoredOnce() async throws {
        let fixture = try #require(try Fixture())
        let rules = Baselines.scalings(geometry: fixture.model.geometry, config: fixture.config)
        let distinct = Set(rules.map { $0.lambda + [$0.attentionFactor] })
        try #require(distinct.count < rules.count, "the fixture must have rules that coincide, or this checks nothing")
        let store = try SearchStore(path: database())
        let id = try fixture.newSearch(store)
        let counting = RuleUnits(try fixture.evaluator())
        let summary = try await SearchRunner(store: store, searchID: id, geometry: fixture.model.geometry).run(evaluator: counting)
        #expect(counting.count == distinct.count * fixture.config.windowCount)
        #expect(summary.baselines.count == rules.count, "every rule is recorded")
        for a in rules { for b in rules where a.lambda == b.lambda && a.attentionFactor == b.attentionFactor {
            #expect(summary.baselines[a.method]! == summary.baselines[b.method]!, "\(a.method) and \(b.method)")
        } }
    }

    /// A stop while the rules are scored loses only the units still out: each rule is stored
    /// as soon as it and the rules before it are complete, each of its units as it comes back,
    /// and a resume scores the rest.
    @Test func aStopWhileRulesAreScoredKeepsTheRulesDone() async throws {
        let fixture = try #require(try Fixture())
        let rules = Baselines.scalings(geometry: fixture.model.geometry, config: fixture.config)
        let factors = rules.map { $0.lambda + [$0.attentionFactor] }
        let firstOfLast = try #require(factors.firstIndex(of: factors.last!))
        try #require(firstOfLast > 0, "the last rule's factors must not be the first rule's")
        /// Scores every rule unit but the last rule's, which fails (a stop) once all others are in.
        final class StopsOnTheLastRule: UnitEvaluator, @unchecked Sendable {
            let inner: UnitEvaluator, last: [Double], others: Int
            let done = SharedCount()
            init(_ inner: UnitEvaluator, last: [Double], others: Int) { (self.inner, self.last, self.others) = (inner, last, others) }
            func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
                if unit.candidateRowID < 0, unit.lambda + [unit.attentionFactor] == last {
                    while done.value < others { try await Task.sleep(nanoseconds: 1_000_000) }
                    try await Task.sleep(nanoseconds: 200_000_000)   // the others' results reach the runner first
                    throw CrashingEvaluator.Crash()
                }
                let result = try await inner.evaluate(unit)
                done.add(1)
                return result
            }
        }
        let windows = fixture.config.windowCount
        let store = try SearchStore(path: database())
        let id = try fixture.newSearch(store)
        let stopping = StopsOnTheLastRule(try fixture.evaluator(), last: factors.last!,
                                          others: (Set(factors).count - 1) * windows)
        await #expect(throws: CrashingEvaluator.Crash.self) {
            _ = try await SearchRunner(store: store, searchID: id, geometry: fixture.model.geometry).run(evaluator: stopping)
        }
        // Stored: a prefix of the rules, in rule order (all before the stopped one, unless a
        // loaded machine delivered the stop before the last of their results).
        let stored = try store.baselines(id).map(\.method)
        #expect(!stored.isEmpty && stored.count <= firstOfLast && stored == rules.prefix(stored.count).map(\.method), "\(stored)")
        // Every unit that came back before the stop is kept (on a loaded machine the stop can
        // overtake the last of them: those are not), the stopped rule's among the rest.
        let kept = try store.ruleUnits(id, pass: "ppl").count
        #expect(kept >= 1 && kept <= (Set(factors).count - 1) * windows)
        let resuming = RuleUnits(try fixture.evaluator())
        let resumed = try await SearchRunner(store: store, searchID: id, geometry: fixture.model.geometry).run(evaluator: resuming)
        #expect(resuming.count == Set(factors).count * windows - kept,
                "only the units not kept are scored again, not every unit of the rules not stored")
        let fresh = try SearchStore(path: database())
        let uninterrupted = try await SearchRunner(store: fresh, searchID: try fixture.newSearch(fresh), geometry: fixture.model.geometry)
            .run(evaluator: try fixture.evaluator())
        #expect(resumed.baselines == uninterrupted.baselines && resumed.lambda == uninterrupted.lambda)
    }

    /// A search whose rules go first (any fitness but `ppl`) stopped in the middle of a rule, in
    /// the perplexity pass and in the fitness pass: the units that came back before the stop are
    /// kept (`rule_unit`), the resume scores exactly the units `unitsLeftInRules` said were left
    /// (the figure behind `seconds_left` before the first step), and the search ends as an
    /// uninterrupted one does. The stored units are the pace `seconds_left` reads.
    @Test func aStopInTheMiddleOfARuleLosesNoneOfItsUnits() async throws {
        let fixture = try #require(try Fixture())
        let config = fixture.keyTokenConfig
        func newSearch(_ store: SearchStore) throws -> Int64 { try fixture.newSearch(store, config: config) }
        let reference = try SearchStore(path: database())
        let expected = try await SearchRunner(store: reference, searchID: try newSearch(reference), geometry: fixture.model.geometry)
            .run(evaluator: try fixture.evaluator())
        let rules = Baselines.scalings(geometry: fixture.model.geometry, config: config)
        let perplexityUnits = Set(rules.map { $0.lambda + [$0.attentionFactor] }).count * config.windowCount
        // Three units into the perplexity pass, and three into the fitness pass (after the
        // perplexities and the key-token probes, one per window): each stop cuts a rule in two.
        for (limit, pass) in [(3, Fitness.ppl), (perplexityUnits + config.windowCount + 3, .keyTokens)] {
            let store = try SearchStore(path: database())
            let id = try newSearch(store)
            let runner = SearchRunner(store: store, searchID: id, geometry: fixture.model.geometry)
            await #expect(throws: CrashingEvaluator.Crash.self) {
                // Units stored: the rules' (both passes) and the key-token probes (one row per window).
                try await runner.run(evaluator: StopsAfter(try fixture.evaluator(), limit: limit) {
                    try store.ruleUnits(id, pass: "ppl").count + store.ruleUnits(id, pass: pass.rawValue).count
                        * (pass == .ppl ? 0 : 1) + store.keyTokens(id).count
                })
            }
            let baselines = try store.baselines(id)
            let recorded = Set((pass == .ppl ? baselines : baselines.filter { $0.fitnessNLL != nil }).map(\.method))
            let kept = try store.ruleUnits(id, pass: pass.rawValue)
            try #require(kept.contains { !recorded.contains($0.method) },
                         "the stop after \(limit) units must cut a rule (units kept of a rule not recorded), or this checks nothing")
            let arrivals = try store.recentUnitArrivals(id, count: 21)   // as many as `seconds_left` reads
            #expect(arrivals.count == min(21, try store.ruleUnits(id, pass: "ppl").count + (pass == .ppl ? 0 : kept.count)))
            let left = try runner.unitsLeftInRules()
            // Time left (`seconds_left`, the embedded bar's): the rules' units left and every
            // candidate still to come, at the stored units' pace — more than the rules alone.
            if arrivals.count >= 4 {
                let seconds = try #require(try runner.secondsLeft(), "four timed units are stored: an estimate")
                #expect(seconds > 0)
            } else {
                #expect(try runner.secondsLeft() == nil, "fewer than four timed units: no estimate")
            }
            let resuming = RuleUnits(try fixture.evaluator())
            let resumed = try await runner.run(evaluator: resuming)
            #expect(resuming.count == left, "stop after \(limit) units: only the units not kept are scored again")
            #expect(try runner.unitsLeftInRules() == 0)
            #expect(try runner.secondsLeft() == 0, "a finished search has nothing left")
            #expect(resumed.baselines == expected.baselines && resumed.baselineFitness == expected.baselineFitness)
            #expect(resumed.lambda == expected.lambda && resumed.perplexity == expected.perplexity)
            #expect(resumed.units == expected.units)
        }
    }

    /// With and without refinement (the last 2 of 3 iterations, the last 8 of 20 candidates: the crash after 38 of 40 units falls in it).
    @Test(arguments: [0, 2])
    func aCrashedSearchResumesToTheSameResult(refine: Int) async throws {
        let fixture = try #require(try Fixture(refineIterations: refine))
        let reference = try SearchStore(path: database())
        let referenceID = try fixture.newSearch(reference)
        let expected = try await SearchRunner(store: reference, searchID: referenceID, geometry: fixture.model.geometry)
            .run(evaluator: try fixture.evaluator())
        if refine > 0 {
            #expect(try reference.candidates(referenceID).contains { $0.candidate.operation == .refinement }, "refinement stored")
        }
        for limit in [3, 11, 26, 38] {
            let store = try SearchStore(path: database())
            let id = try fixture.newSearch(store)
            let runner = SearchRunner(store: store, searchID: id, geometry: fixture.model.geometry)
            await #expect(throws: CrashingEvaluator.Crash.self) {
                try await runner.run(evaluator: CrashingEvaluator(try fixture.evaluator(), limit: limit))
            }
            #expect(try store.search(id)?.status == .failed)
            let resumed = try await runner.run(evaluator: try fixture.evaluator())
            #expect(resumed.lambda == expected.lambda, "crash after \(limit) units")
            #expect(resumed.perplexity == expected.perplexity)
            #expect(resumed.units == expected.units, "no unit lost or scored twice")
            let a = try reference.candidates(referenceID).map(\.candidate)
            let b = try store.candidates(id).map(\.candidate)
            #expect(a == b, "the same candidates in the same order")
            // A crash inside the baselines must not leave a rule infeasible for good.
            #expect(resumed.baselines == expected.baselines, "crash after \(limit) units")
        }
    }

    /// m searched and the key-token fitness: a crash anywhere (baselines, the key-token probe,
    /// the steps) resumes to the same result, and the key tokens are found once.
    @Test func aKeyTokenSearchWithMSearchedResumesToTheSameResult() async throws {
        let fixture = try #require(try Fixture())
        var config = fixture.keyTokenConfig
        config.attentionSearch = AttentionSearch(min: 1, max: 1.3)
        func newSearch(_ store: SearchStore) throws -> Int64 { try fixture.newSearch(store, config: config) }
        let reference = try SearchStore(path: database())
        let referenceID = try newSearch(reference)
        let expected = try await SearchRunner(store: reference, searchID: referenceID, geometry: fixture.model.geometry)
            .run(evaluator: try fixture.evaluator())
        #expect(expected.fitness == "key-tokens")
        let keys = try reference.keyTokens(referenceID)
        #expect(keys.count == config.windowCount && keys.values.allSatisfy { !$0.isEmpty })
        #expect(Set(try reference.candidates(referenceID).map(\.candidate.attentionFactor)).count > 1, "m must vary")
        for limit in [19, 20, 40] {   // 18 baseline units, then the probes, then the fitness baselines and steps
            let store = try SearchStore(path: database())
            let id = try newSearch(store)
            let runner = SearchRunner(store: store, searchID: id, geometry: fixture.model.geometry)
            await #expect(throws: CrashingEvaluator.Crash.self) {
                try await runner.run(evaluator: CrashingEvaluator(try fixture.evaluator(), limit: limit))
            }
            let resumed = try await runner.run(evaluator: try fixture.evaluator())
            #expect(try store.keyTokens(id) == keys, "crash after \(limit) units")
            #expect(resumed.lambda == expected.lambda && resumed.attentionFactor == expected.attentionFactor)
            #expect(resumed.perplexity == expected.perplexity)
            #expect(resumed.baselineFitness == expected.baselineFitness)
            #expect(resumed.units == expected.units)
        }
    }

    /// The key tokens (and so the whole key-token search) do not depend on how many workers
    /// score the units, nor on their thread counts.
    @Test func keyTokensAreTheSameWhateverTheWorkerCount() async throws {
        let fixture = try #require(try Fixture())
        var config = fixture.keyTokenConfig
        config.iterations = 1
        var results: [([Int: [Int]], SearchSummary)] = []
        for workers in [1, 3] {
            let store = try SearchStore(path: database())
            let id = try fixture.newSearch(store, config: config)
            let dispatcher = Dispatcher()
            for w in 0..<workers {
                let model = try LlamaModel(path: #require(TestPaths.sharedFile("models/stories260K.gguf")).path, threads: w + 1)
                await dispatcher.register(WorkerRegistration(name: "w\(w)", address: "in-process://\(w)", modelSHA256: "m",
                                                             textSHA256: "t", architecture: "llama", threads: w + 1,
                                                             pairs: model.pairs, ropeBase: model.config.ropeBase,
                                                             contextLength: 512),
                                          connection: LocalEvaluator(model: model, text: Data(fixture.text.utf8)),
                                          heartbeats: false)
            }
            let summary = try await SearchRunner(store: store, searchID: id, geometry: fixture.model.geometry)
                .run(evaluator: dispatcher)
            await dispatcher.shutdown()
            results.append((try store.keyTokens(id), summary))
        }
        #expect(!results[0].0.isEmpty)
        #expect(results[0].0 == results[1].0, "key tokens differ between 1 and 3 workers")
        #expect(results[0].1.lambda == results[1].1.lambda && results[0].1.perplexity == results[1].1.perplexity)
    }

    @Test func infeasibleCandidatesAreStoredAndNeverRetried() async throws {
        let fixture = try #require(try Fixture())
        let store = try SearchStore(path: database())
        let id = try fixture.newSearch(store)
        let summary = try await SearchRunner(store: store, searchID: id, geometry: fixture.model.geometry)
            .run(evaluator: NaNEvaluator(inner: try fixture.evaluator()))
        let rows = try store.candidates(id)
        let infeasible = rows.filter { $0.outcome == .infeasible }
        #expect(!infeasible.isEmpty)
        for row in infeasible { #expect(try store.windowResults(row.rowID) == [nil], "one unit, then stopped") }
        #expect(summary.lambda.last! <= 2.5)
    }

    @Test func earlyRejectionFindsTheSameBestWithFewerUnits() async throws {
        let withRejection = try #require(try Fixture(earlyRejection: true))
        let without = try #require(try Fixture(earlyRejection: false))
        var a = withRejection.config, b = without.config
        a.windowCount = 3; b.windowCount = 3
        a.rejectionMargin = 0.05; b.rejectionMargin = 0.05
        let storeA = try SearchStore(path: database()), storeB = try SearchStore(path: database())
        let idA = try storeA.createSearch(name: "a", config: a, modelPath: "m", modelSHA256: "m", textPath: "t", textOffset: 0, textSHA256: "t")
        let idB = try storeB.createSearch(name: "b", config: b, modelPath: "m", modelSHA256: "m", textPath: "t", textOffset: 0, textSHA256: "t")
        let evaluatorA = LocalEvaluator(model: withRejection.model, text: Data(withRejection.text.utf8))
        let summaryA = try await SearchRunner(store: storeA, searchID: idA, geometry: withRejection.model.geometry).run(evaluator: evaluatorA)
        let summaryB = try await SearchRunner(store: storeB, searchID: idB, geometry: without.model.geometry).run(evaluator: evaluatorA)
        #expect(summaryA.units < summaryB.units, "rejection must save units: \(summaryA.units) vs \(summaryB.units)")
        #expect(summaryB.units == summaryB.evaluations * 3)
        #expect(summaryA.lambda == summaryB.lambda, "and find the same best")
        #expect(summaryA.perplexity == summaryB.perplexity)
    }

    /// A best with n̂ > 0 cannot be applied by HF or llama.cpp: their exports get the best n̂ = 0
    /// candidate, the JSON keeps both, and a note says which was written.
    @Test func aBestWithNHatExportsItsBestWithoutNHat() throws {
        let summary = SearchSummary(searchID: 1, status: "done", lambda: [1, 2, 3, 4], nHat: 4,
                                    attentionFactor: 1.1, perplexity: 5, bestOrdinal: 7, baselines: [:], bestBaseline: nil,
                                    evaluations: 9, units: 9, tokensEvaluated: 1, originalContext: 512, targetContext: 2048,
                                    seed: 0, portable: PortableBest(candidate: 3, lambda: [1, 1.5, 2, 4], attentionFactor: 1.05,
                                                                    perplexity: 5.5))
        let (portable, note) = Exporter.portable(summary)
        #expect(portable.lambda == [1, 1.5, 2, 4] && portable.nHat == 0 && portable.attentionFactor == 1.05)
        let text = try #require(note)
        #expect(text.contains("candidate 3") && text.contains("candidate 7") && text.contains("n_hat = 4"))
        let hf = try #require(JSONSerialization.jsonObject(with: Data(Exporter.huggingFace(portable, shortFactors: nil).utf8)) as? [String: Any])
        #expect(hf["long_factor"] as? [Double] == [1, 1.5, 2, 4])
        #expect(hf["attention_factor"] as? Double == 1.05)
        let json = try #require(JSONSerialization.jsonObject(with: Data(Exporter.json(summary).utf8)) as? [String: Any])
        #expect(json["n_hat"] as? Int == 4)
        #expect((json["portable"] as? [String: Any])?["candidate"] as? Int == 3)
        // With n̂ = 0 nothing changes and nothing is said.
        var plain = summary
        plain.nHat = 0
        plain.portable = nil
        #expect(Exporter.portable(plain).note == nil && Exporter.portable(plain).summary.lambda == [1, 2, 3, 4])
    }

    @Test func theExportedGGUFGivesTheSamePerplexityAsTheFactors() async throws {
        let fixture = try #require(try Fixture())
        let url = try #require(TestPaths.sharedFile("models/stories260K.gguf"))
        let summary = SearchSummary(searchID: 1, status: "done", lambda: [1, 1.5, 3.25, 4], nHat: 0,
                                    attentionFactor: 1.12, perplexity: 1, bestOrdinal: 0, baselines: [:], bestBaseline: nil,
                                    evaluations: 1, units: 1, tokensEvaluated: 1, originalContext: 512,
                                    targetContext: 2048, seed: 0)
        let out = temporaryDirectory().appendingPathComponent("extended.gguf").path
        try Exporter.gguf(summary, model: try GGUFFile(path: url.path), to: out)
        let exported = try LlamaModel(path: out, threads: 2)
        #expect(exported.config.contextLength == 2048)
        let windows = try TextWindows(text: fixture.text, model: fixture.model, context: 1024, protocol: .full, windowCount: 1).windows
        let direct = try fixture.model.loss(tokens: windows[0].tokens, scoredFrom: 0,
                                            scaling: RoPEScaling(method: "x", lambda: summary.lambda, attentionFactor: 1.12))
        let viaFile = try exported.loss(tokens: windows[0].tokens, scoredFrom: 0, scaling: .none(pairs: 4))
        #expect(abs(direct.perplexity - viaFile.perplexity) / direct.perplexity < 1e-5,
                "direct \(direct.perplexity), exported \(viaFile.perplexity)")
        let plain = try fixture.model.loss(tokens: windows[0].tokens, scoredFrom: 0, scaling: .none(pairs: 4))
        #expect(abs(plain.perplexity - viaFile.perplexity) > 1e-3, "the factors must change something")
        let file = try GGUFFile(path: out)
        #expect(file.tensor("rope_freqs.weight")?.shape == [4])
        #expect(file.metadata["llama.rope.scaling.attn_factor"] == .float32(1.12))
    }
}
