import Testing
import Foundation
import Search

/// A fake fitness with an optimum inside the searched m range, so m must move to win.
func fakeWithTemperature(_ c: Candidate) -> Double {
    fakePerplexity(c) + 1000 * (c.attentionFactor - 1.13) * (c.attentionFactor - 1.13)
}

func runSearch(_ config: SearchConfig, fitness: (Candidate) -> Double = fakeWithTemperature) throws -> [Evaluated] {
    var history: [Evaluated] = []
    for step in 0..<config.stepCount {
        for candidate in try SearchEngine.breed(step: step, config: config, seeds: seeds(config), history: history) {
            let p = fitness(candidate)
            history.append(Evaluated(ordinal: history.count, candidate: candidate, outcome: .scored(perplexity: p, windowNLL: [p])))
        }
    }
    return history
}

/// The searched attention factor and LongRoPE2's critical-dimension space keep their
/// constraints in every candidate bred, over many seeds.
@Suite struct SearchSpaceTests {
    func config(seed: UInt64, space: SearchSpace, searchM: Bool, refine: Int = 0) -> SearchConfig {
        var config = SearchConfig(pairs: 16, originalContext: 256, targetContext: 2048, seed: seed)
        config.setPopulation(16)
        config.iterations = 6
        config.refineIterations = refine
        config.windowCount = 1
        if searchM { config.attentionSearch = AttentionSearch(min: 1.0, max: 1.3, step: 0.01) }
        if space == .criticalDimension {
            config.space = .criticalDimension
            config.criticalPairs = 3...9
        }
        return config
    }

    @Test(arguments: [SearchSpace.allPairs, .criticalDimension], [0, 3])
    func everyBredCandidateRespectsMAndCriticalPairConstraints(space: SearchSpace, refine: Int) throws {
        var ms = Set<Int>(), criticals = Set<Int>(), refinements = 0
        for seed in UInt64(0)..<40 {
            let config = config(seed: seed, space: space, searchM: true, refine: refine)
            let s = config.scale
            for e in try runSearch(config) {
                let c = e.candidate
                if c.operation == .refinement { refinements += 1 }
                let m = c.attentionFactor
                #expect(m >= 1.0 - 1e-12 && m <= 1.3 + 1e-12, "m \(m) outside its range (seed \(seed))")
                ms.insert(Int((m * 100).rounded()))
                #expect(c.isMonotone, "not monotone: \(c.lambda)")
                switch space {
                case .allPairs:
                    #expect(c.criticalPair == nil)
                    #expect(c.lambda.allSatisfy { $0 >= 1 && $0 <= config.lambdaMax + 1e-12 })
                case .criticalDimension:
                    let d = try #require(c.criticalPair, "a candidate without d_rcd")
                    #expect((3...9).contains(d), "d_rcd \(d) outside 3…9")
                    criticals.insert(d)
                    for i in d..<c.lambda.count {
                        #expect(c.lambda[i] >= s - 1e-9 && c.lambda[i] <= 2 * s + 1e-9, "λ[\(i)] = \(c.lambda[i]) outside [s, 2s]")
                    }
                    for i in 0..<d {   // the ramp below d_rcd
                        #expect(abs(c.lambda[i] - pow(c.lambda[d], Double(i) / Double(d))) < 1e-9, "λ[\(i)] is not on the ramp")
                    }
                }
            }
        }
        // The last iterations score neighbours of the best (mutants of it once those run out).
        #expect(refine == 0 ? refinements == 0 : refinements > 40 * refine * 8 / 2, "\(refinements) refinements")
        #expect(ms.count > 10, "m must actually be searched: only \(ms.count) values seen")
        if space == .criticalDimension { #expect(criticals.count == 7, "every d_rcd of 3…9 should be tried: \(criticals.sorted())") }
    }

    @Test func aFixedMStaysFixed() throws {
        let config = config(seed: 1, space: .allPairs, searchM: false)
        for e in try runSearch(config) { #expect(e.candidate.attentionFactor == config.attentionFactor) }
    }

    @Test func searchingMFindsTheTemperatureTheFitnessWants() throws {
        var config = config(seed: 2, space: .allPairs, searchM: true)
        config.iterations = 20
        let best = try #require(SearchEngine.best(try runSearch(config)))
        #expect(abs(best.candidate.attentionFactor - 1.13) < 0.05, "best m \(best.candidate.attentionFactor)")
    }

    @Test func seedsAreProjectedIntoTheCriticalSpaceAndCapped() throws {
        var config = config(seed: 3, space: .criticalDimension, searchM: true)
        config.setPopulation(2)
        let batch = try SearchEngine.breed(step: 0, config: config, seeds: seeds(config), history: [])
        #expect(batch.count == 2, "never more than P candidates in the first step")
        // NTK's λ reaches s only at the last pair: its d_rcd is the top of the range.
        #expect(batch[1].criticalPair == 9)
        #expect(batch[0].criticalPair == 3)   // PI: λ = s from the first pair of the range
    }

    @Test func mAndCriticalPairAreConfigProblemsWhenInvalid() {
        var config = config(seed: 0, space: .criticalDimension, searchM: true)
        config.criticalPairs = 3...40
        config.attentionSearch = AttentionSearch(min: 1.2, max: 1.1)
        let problems = config.problems()
        #expect(problems.contains { $0.contains("critical pair range") })
        #expect(problems.contains { $0.contains("attention factor range") })
    }
}

/// A config is stored as JSON in every database: renaming a Swift property must not change it.
@Suite struct StoredConfigTests {
    @Test func aConfigStoredByAnEarlierVersionStillDecodes() throws {
        // Written by the version before n̂'s and K's properties were renamed (startTokenChoices → nHatChoices, samples → windowCount).
        let stored = #"{"crossovers":8,"earlyRejection":true,"extraSeeds":[],"iterations":10,"lambdaMax":9,"mutationProbability":0.3,"mutations":8,"originalContext":256,"pairs":32,"parents":16,"population":32,"rejectionMargin":0.05,"samples":3,"seed":0,"startTokenChoices":[0,4],"step":0.01,"targetContext":2048,"attentionFactor":1.2}"#
        let config = try JSONDecoder().decode(SearchConfig.self, from: Data(stored.utf8))
        #expect(config.nHatChoices == [0, 4] && config.population == 32 && config.windowCount == 3)
        let again = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)) as! [String: Any]
        #expect(again["startTokenChoices"] as? [Int] == [0, 4] && again["samples"] as? Int == 3, "the stored keys keep their names")
    }
}
