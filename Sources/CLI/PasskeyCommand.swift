import ArgumentParser
import Evaluator
import Foundation
import RoPE

/// `longrope passkey`: passkey retrieval accuracy per depth (LongRoPE paper §4, llama-passkey).
struct PasskeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passkey",
        abstract: "Passkey retrieval: does the model find a key hidden at a depth of a long prompt?",
        discussion: """
            Each trial hides "The pass key is K. Remember it. K is the pass key." (K: 5 digits drawn \
            from --seed) at a depth of "The grass is green. ..." filler that fills --context tokens, \
            then asks "What is the pass key? The pass key is". One forward pass per trial scores it \
            by teacher forcing: it passes when the most likely token at every answer position is the \
            key's, which is what greedy decoding would answer.
            """)

    @Option(help: "GGUF model (llama or qwen2 architecture).") var model: String
    @Option(help: "Prompt length in tokens.") var context: Int
    @Option(help: "The context the model was trained at (default: the GGUF's context_length).") var originalContext: Int?
    @Option(help: "none, pi:S, ntk:ALPHA, dynamic-ntk, yarn:S, yarn-linear:S, llama3:S, or a JSON factors file.")
    var scaling: String = "none"
    @Option(help: "Trials per depth.") var trials: Int = 5
    @Option(help: "Depths of the key in the filler, comma-separated fractions (0 = start, 1 = end).")
    var depths: String = "0,0.25,0.5,0.75,1"
    @Option(help: "Seed of the keys.") var seed: UInt64 = 0
    @Option(help: "Repeat the key line this many times (1 = the standard test).") var keyRepeats: Int = 1
    @Option(help: "Threads (default: all cores).") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard context >= 16 else { throw ValidationError("--context must be at least 16 tokens") }
        guard trials >= 1 else { throw ValidationError("--trials must be at least 1") }
        guard keyRepeats >= 1 else { throw ValidationError("--key-repeats must be at least 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        _ = try parsedDepths()
    }

    func parsedDepths() throws -> [Double] {
        let values = depths.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil && (0...1).contains($0!) }) else {
            throw ValidationError("--depths takes fractions between 0 and 1 separated by commas, e.g. 0,0.5,1")
        }
        return values.map { $0! }
    }

    func run() throws {
        let llama = try loadModel(model, threads: threads)
        let original = originalContext ?? llama.config.contextLength
        let rope = try ScalingSpec.parse(scaling, geometry: llama.geometry, originalContext: original, context: context)
        let progress = ProgressLine(label: "passkey")
        var rows: [[String: Any]] = []
        var passedAll = 0, total = 0
        let depthList = try parsedDepths()
        var promptTokens = 0
        for (d, depth) in depthList.enumerated() {
            var passed = 0
            var nll = 0.0
            for t in 0..<trials {
                let key = Passkey.key(seed: seed, trial: d * trials + t)
                let trial: Passkey.Trial
                do {
                    trial = try Passkey.trial(tokenizer: llama.tokenizer, context: context, depth: depth, key: key,
                                              keyRepeats: keyRepeats)
                } catch { throw CLIError("\(error)") }
                promptTokens = trial.tokens.count
                let result = try Passkey.run(trial, model: llama, scaling: rope)
                if result.passed { passed += 1 }
                nll += result.nll
                progress.show("depth \(depth): trial \(t + 1)/\(trials), \(passed) passed")
            }
            passedAll += passed
            total += trials
            rows.append(["depth": depth, "trials": trials, "passed": passed, "accuracy": Double(passed) / Double(trials),
                         "answer_nll": nll / Double(trials)])
        }
        progress.finish()
        let accuracy = Double(passedAll) / Double(total)
        if json {
            let object: [String: Any] = ["context": context, "prompt_tokens": promptTokens, "scaling": rope.method,
                                         "accuracy": accuracy, "depths": rows, "seed": seed, "trials": trials]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print("passkey, \(promptTokens) prompt tokens, \(rope.method), \(trials) trial(s) per depth")
            for row in rows {
                print(String(format: "  depth %.2f: %d/%d passed (answer NLL %.3f)", row["depth"] as! Double,
                             row["passed"] as! Int, row["trials"] as! Int, row["answer_nll"] as! Double))
            }
            print(String(format: "accuracy %.3f (%d/%d)", accuracy, passedAll, total))
        }
    }
}
