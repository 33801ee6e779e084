import ArgumentParser
import Evaluator
import Foundation
import RoPE
import Runner
import Scoring
import Search
import Store
import Wire

/// `longrope-bench quality`: what each lever of the search gives. For every lever set, a search
/// on one part of a text (the fitness part), then its best factors and every rule scored by
/// perplexity on another part that neither the search nor (for tinystories-3M) the model saw.
struct QualityBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "quality",
        abstract: "Run searches with each lever on and off; score every result and rule on held-out text.")

    @Option var model: String
    @Option var text: String
    @Option(help: "Fitness bytes of the text as FROM:TO (0-based, TO exclusive).") var fitnessBytes: String
    @Option(help: "Score on the text from this byte on.") var scoreFrom: Int
    @Option(help: "Score on at most this many bytes.") var scoreBytes: Int = 200_000
    @Option var originalContext: Int
    @Option var targetContext: Int
    @Option var population: Int = 32
    @Option var iterations: Int = 10
    @Option(name: .customLong("windows")) var windowCount: Int = 3
    @Option var seed: UInt64 = 0
    @Option var threads: Int = 2
    @Option(help: "Score windows on the held-out text (at most).") var scoreWindows: Int = 8
    @Option(help: "Lever sets, comma-separated: v1, m, rcd, rcd-fixed-m, key-tokens, needle, nhat, default, progressive (the default at half the target first, its best seeding the full search), refine[:N] (the last N iterations, default 4, refine the best), no-refine.")
    var levers: String = "v1,m,rcd,key-tokens,needle,nhat"
    @Option(help: "Schedule of every search: steps in flight L (pipeline_depth).") var pipelineDepth: Int?
    @Option(help: "Schedule of every search: I islands (with --migration-interval).") var islands: Int?
    @Option(help: "Iterations between the islands' migrations (0: none).") var migrationInterval: Int?
    @Option(help: "At most this many candidates per search (to compare schedules at equal candidates).") var budget: Int?
    @Flag(help: "One JSON object per line.") var json = false

    /// The lever sets. Each but `default`, `progressive` and `refine[:N]` turns refinement off,
    /// as the README's rows for them were measured before it existed.
    static func options(_ name: String) -> SearchOptions? {
        var o = SearchOptions()
        o.refineIterations = 0
        switch name {
        case "default", "progressive": o.refineIterations = nil
        case "no-refine": break
        case "refine": o.refineIterations = 4
        case _ where name.hasPrefix("refine:"):
            guard let n = Int(name.dropFirst("refine:".count)) else { return nil }
            o.refineIterations = n
        case "v1": o.searchAttentionFactor = false; o.space = .allPairs; o.fitness = .ppl; o.nHat = [0]
        case "m": o.searchAttentionFactor = true; o.space = .allPairs; o.fitness = .ppl; o.nHat = [0]
        case "rcd": o.searchAttentionFactor = true; o.space = .criticalDimension; o.fitness = .ppl; o.nHat = [0]
        case "rcd-fixed-m": o.searchAttentionFactor = false; o.space = .criticalDimension; o.fitness = .ppl; o.nHat = [0]
        case "key-tokens": o.searchAttentionFactor = true; o.space = .allPairs; o.fitness = .keyTokens; o.nHat = [0]
        case "needle": o.searchAttentionFactor = true; o.space = .allPairs; o.fitness = .needle; o.nHat = [0]
        case "nhat":
            o.searchAttentionFactor = true; o.space = .allPairs; o.fitness = .ppl
            o.nHat = [0, 1, 2, 4, 8, 12, 16, 20, 24, 28, 32, 64, 128, 256]
        default: return nil
        }
        return o
    }

    func run() async throws {
        let llama = try LlamaModel(path: model, threads: threads)
        guard let data = FileManager.default.contents(atPath: text) else { throw ValidationError("cannot read \(text)") }
        let range = fitnessBytes.split(separator: ":").compactMap { Int($0) }
        guard range.count == 2, range[0] < range[1], range[1] <= data.count else { throw ValidationError("--fitness-bytes FROM:TO") }
        let fitnessText = Data(data[range[0]..<range[1]])
        let heldOut = String(decoding: data.dropFirst(scoreFrom).prefix(scoreBytes), as: UTF8.self)
        let cut = try TextWindows(text: heldOut, model: llama, context: targetContext, protocol: .full, windowCount: nil)
        let windows = Array(cut.windows.prefix(scoreWindows))
        let name = URL(fileURLWithPath: model).deletingPathExtension().lastPathComponent
        let s = Double(targetContext) / Double(originalContext)

        // Every rule on the held-out text.
        var probe = SearchConfig(pairs: llama.pairs, originalContext: originalContext, targetContext: targetContext)
        probe.windowCount = windowCount
        var rules: [(String, Double)] = []
        for rule in Baselines.scalings(geometry: llama.geometry, config: probe) {
            rules.append((rule.method, try llama.perplexity(windows, scaling: rule).perplexity))
        }
        let bestRule = rules.min { $0.1 < $1.1 }!
        // LongPPL on the held-out windows: the key tokens under the best rule (threshold 2 nats).
        let ruleScalings = Baselines.scalings(geometry: llama.geometry, config: probe)
        let bestScaling = ruleScalings.first { $0.method == bestRule.0 }!
        let keyed = try windows.map { w in
            let keys = try KeyTokens.positions(model: llama, window: w, scaling: bestScaling, shortContext: originalContext,
                                               threshold: 2)
            return EvaluationWindow(tokens: w.tokens, scoredFrom: 0, scoredPositions: keys.isEmpty ? [w.tokens.count - 2] : keys)
        }
        func keyPPL(_ scaling: RoPEScaling) throws -> Double { try llama.perplexity(keyed, scaling: scaling).perplexity }
        var ruleKeys: [(String, Double)] = []
        for rule in ruleScalings { ruleKeys.append((rule.method, try keyPPL(rule))) }
        let bestKeyRule = ruleKeys.min { $0.1 < $1.1 }!
        if !json {
            print("\(name) \(originalContext)→\(targetContext) (s = \(s)); held-out: \(windows.count) windows of \(targetContext) from byte \(scoreFrom), \(keyed.map(\.scoredCount).reduce(0, +)) key tokens")
            for ((method, ppl), (_, key)) in zip(rules, ruleKeys) {
                print(String(format: "  rule %-14@ ppl %.4f  key-token ppl %.4f", method, ppl, key))
            }
        }
        for lever in levers.split(separator: ",").map(String.init) {
            guard let options = Self.options(lever) else { throw ValidationError("unknown lever set \(lever)") }
            var o = options
            o.seed = seed; o.population = population; o.iterations = iterations; o.windowCount = windowCount
            o.pipelineDepth = pipelineDepth; o.islands = islands; o.migrationInterval = migrationInterval; o.budget = budget
            var config = o.config(geometry: llama.geometry, originalContext: originalContext, targetContext: targetContext)
            func search(_ config: SearchConfig, name: String) async throws -> (SearchSummary, Double) {
                let path = FileManager.default.temporaryDirectory.appendingPathComponent("quality-\(UUID().uuidString).sqlite").path
                defer { try? FileManager.default.removeItem(atPath: path) }
                let store = try SearchStore(path: path)
                let id = try store.createSearch(name: name, config: config, modelPath: model, modelSHA256: "-", textPath: text,
                                                textOffset: 0, textSHA256: "-", ropeBase: llama.config.ropeBase)
                let start = Date()
                let summary = try await SearchRunner(store: store, searchID: id, geometry: llama.geometry)
                    .run(evaluator: LocalEvaluator(model: llama, text: fitnessText))
                return (summary, Date().timeIntervalSince(start))
            }
            var extraCandidates = 0, extraSeconds = 0.0
            if lever == "progressive" {
                // LongRoPE's progressive extension: search at half the target first, then seed the
                // full search with that best, rescaled (as `longrope search --seed-from` does).
                let half = o.config(geometry: llama.geometry, originalContext: originalContext, targetContext: targetContext / 2)
                let (first, firstSeconds) = try await search(half, name: "progressive-half")
                extraCandidates = first.evaluations; extraSeconds = firstSeconds
                config.extraSeeds = [RoPEScaling(method: "half", lambda: first.lambda).rescaled(fromScale: half.scale, toScale: config.scale)
                    .lambda.map { min(max($0, 1), config.lambdaMax) }]
            }
            var (summary, seconds) = try await search(config, name: lever)
            seconds += extraSeconds
            summary.evaluations += extraCandidates
            let best = RoPEScaling(method: lever, lambda: summary.lambda, nHat: summary.nHat,
                                   attentionFactor: summary.attentionFactor)
            let ppl = try llama.perplexity(windows, scaling: best).perplexity
            let key = try keyPPL(best)
            var portablePPL: Double?
            if let portable = summary.portable {
                portablePPL = try llama.perplexity(windows, scaling: RoPEScaling(method: "portable", lambda: portable.lambda,
                                                                                 attentionFactor: portable.attentionFactor)).perplexity
            }
            let row: [String: Any] = [
                "model": name, "target": targetContext, "scale": s, "lever": lever, "fitness": summary.fitness,
                "held_out_ppl": ppl, "best_rule": bestRule.0, "best_rule_ppl": bestRule.1, "ratio": ppl / bestRule.1,
                "candidates": summary.evaluations, "units": summary.units, "seconds": seconds.rounded(),
                "m": summary.attentionFactor, "n_hat": summary.nHat, "critical_pair": summary.criticalPair as Any,
                "portable_ppl": portablePPL as Any, "search_fitness": summary.perplexity as Any,
                "held_out_key_ppl": key, "best_key_rule": bestKeyRule.0, "best_key_rule_ppl": bestKeyRule.1,
                "key_ratio": key / bestKeyRule.1,
                "pipeline_depth": config.lag, "islands": config.islandCount, "migration_interval": config.migrationInterval ?? 0,
                "budget": config.budget as Any,
            ]
            if json {
                print(String(decoding: try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys]), as: UTF8.self))
            } else {
                print(String(format: "  %-12@ held-out %.4f  ratio %.3f to %@  key-token ppl %.4f (%.3f to %@)  m %.2f  n̂ %d  d_rcd %@  %d candidates  %.0f s%@",
                             lever, ppl, ppl / bestRule.1, bestRule.0, key, key / bestKeyRule.1, bestKeyRule.0,
                             summary.attentionFactor, summary.nHat,
                             summary.criticalPair.map(String.init) ?? "-", summary.evaluations, seconds,
                             portablePPL.map { String(format: "  (n̂ = 0 best: %.4f)", $0) } ?? ""))
            }
            fflush(nil)
        }
    }
}
