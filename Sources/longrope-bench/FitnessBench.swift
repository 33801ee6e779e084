import ArgumentParser
import Evaluator
import Foundation
import RoPE

/// `longrope-bench fitness`: what each fitness sees on a model and text, before searching:
/// every rule's perplexity (all tokens, key tokens, needle answers), YaRN across m, and how
/// many key tokens a threshold gives.
struct FitnessBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fitness",
        abstract: "Score the rules under each fitness on some windows (no search).")

    @Option var model: String
    @Option var text: String
    @Option(help: "Bytes of the text to skip.") var textOffset: Int = 0
    @Option var originalContext: Int
    @Option var targetContext: Int
    @Option var windows: Int = 3
    @Option var threads: Int = 2
    @Option(help: "Key-token threshold (nats).") var threshold: Double = 2
    @Option(help: "Attention factors to try with the --rule's λ, comma-separated.") var m: String = "1.0,1.05,1.1,1.15,1.2,1.25"
    @Option(help: "The rule whose λ is tried with each m: yarn or llama3.") var rule: String = "yarn"

    func run() throws {
        let model = try LlamaModel(path: model, threads: threads)
        let data = FileManager.default.contents(atPath: text) ?? Data()
        let content = String(decoding: data.dropFirst(textOffset), as: UTF8.self)
        let plain = try TextWindows(text: content, model: model, context: targetContext, protocol: .full, windowCount: windows).windows
        let s = Double(targetContext) / Double(originalContext)
        let g = model.geometry
        let rules: [RoPEScaling] = [
            .ntk(pairs: g.pairs, alpha: s),
            .yarn(geometry: g, scale: s, originalContext: originalContext),
            .yarn(geometry: g, scale: s, originalContext: originalContext, blend: .linear),
            .llama3(geometry: g, factor: s, originalContext: originalContext),
            .ntkCritical(pairs: g.pairs, scale: s, criticalPair: g.theoreticalCriticalPair(originalContext: originalContext)),
            .yarnCritical(geometry: g, scale: s, originalContext: originalContext,
                          criticalPair: g.theoreticalCriticalPair(originalContext: originalContext)),
        ]
        print("critical pairs: theoretical \(g.theoreticalCriticalPair(originalContext: originalContext)), range \(g.criticalPairRange(originalContext: originalContext))")
        let start = Date()
        let yarn = rules[1]
        var keys: [[Int]] = []
        for w in plain {
            keys.append(try KeyTokens.positions(model: model, window: w, scaling: yarn, shortContext: originalContext, threshold: threshold))
        }
        print("key tokens per window (threshold \(threshold)): \(keys.map(\.count)) of \(plain[0].scoredCount); \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        let keyed = zip(plain, keys).map { EvaluationWindow(tokens: $0.tokens, scoredFrom: 0, scoredPositions: $1.isEmpty ? [0] : $1) }
        let needles = try NeedleWindows.windows(text: content, model: model, context: targetContext, windowCount: windows, seed: 0)
        func row(_ r: RoPEScaling) throws {
            let a = try model.perplexity(plain, scaling: r).perplexity
            let k = try model.perplexity(keyed, scaling: r).perplexity
            let n = try model.perplexity(needles, scaling: r).perplexity
            print(String(format: "%-12@ m %.3f  ppl %8.4f  key %8.4f  needle %10.4f", r.method, r.attentionFactor, a, k, n))
        }
        for r in rules { try row(r) }
        for value in m.split(separator: ",").compactMap({ Double($0) }) {
            var r = rule == "llama3" ? rules[3] : yarn
            r.attentionFactor = value
            try row(r)
        }
        // The floor: every position with at most the original context (sliding), original RoPE.
        var floorSum = 0.0, floorCount = 0
        for w in plain {
            let L = originalContext
            let head = try model.tokenScores(tokens: Array(w.tokens.prefix(L)), positions: Array(0..<(L - 1)), scaling: .none(pairs: g.pairs))
            let rest = try KeyTokens.shortContextScores(model: model, tokens: w.tokens, scaling: .none(pairs: g.pairs), shortContext: L)
            floorSum += (head + rest).map(\.nll).reduce(0, +); floorCount += head.count + rest.count
        }
        print(String(format: "sliding window of %d, no scaling (the short-context floor): ppl %.4f over %d tokens", originalContext, exp(floorSum / Double(floorCount)), floorCount))
    }
}
