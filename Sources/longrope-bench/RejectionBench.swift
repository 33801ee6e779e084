import ArgumentParser
import Evaluator
import Foundation
import Runner
import Scoring
import Search
import Store
import Wire

/// `longrope-bench rejection`: the same search with and without early rejection.
struct RejectionBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rejection",
        abstract: "Run one search with and without early rejection: best factors, units and tokens scored.")

    @Option var model: String
    @Option var text: String
    @Option var originalContext = 512
    @Option var targetContext = 4096
    @Option(name: .customLong("windows")) var windowCount = 3
    @Option var population = 16
    @Option var iterations = 6
    @Option var seed: UInt64 = 0
    @Option var margin = 0.05
    @Option var threads = 2

    func run() async throws {
        let llama = try LlamaModel(path: model, threads: threads)
        let evaluator = LocalEvaluator(model: llama, text: FileManager.default.contents(atPath: text) ?? Data())
        var results: [(Bool, SearchSummary, Double)] = []
        for rejection in [false, true] {
            var config = SearchConfig(pairs: llama.pairs, originalContext: originalContext, targetContext: targetContext, seed: seed)
            config.setPopulation(population)
            config.iterations = iterations
            config.windowCount = windowCount
            config.earlyRejection = rejection
            config.rejectionMargin = margin
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("rejection-\(UUID().uuidString).sqlite").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            let store = try SearchStore(path: path)
            let id = try store.createSearch(name: "bench", config: config, modelPath: model, modelSHA256: "-", textPath: text,
                                            textOffset: 0, textSHA256: "-", ropeBase: llama.config.ropeBase)
            let start = Date()
            let summary = try await SearchRunner(store: store, searchID: id, geometry: llama.geometry).run(evaluator: evaluator)
            results.append((rejection, summary, Date().timeIntervalSince(start)))
        }
        for (rejection, s, seconds) in results {
            print(String(format: "early rejection %@: best ppl %.4f, %d candidates, %d units (%d tokens incl. baselines), %.0f s, λ = %@",
                         rejection ? "on " : "off", s.perplexity ?? .nan, s.evaluations, s.units, s.tokensEvaluated, seconds,
                         s.lambda.map { String(format: "%.2f", $0) }.joined(separator: " ")))
        }
        let same = results[0].1.lambda == results[1].1.lambda
        print(String(format: "same best: %@; units saved: %.1f%%", same ? "yes" : "no",
                     100 * (1 - Double(results[1].1.units) / Double(results[0].1.units))))
    }
}
