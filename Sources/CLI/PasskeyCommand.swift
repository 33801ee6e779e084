import ArgumentParser
import Evaluator
import Foundation
import RoPE
import Search

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

            With --text, the test is real-text retrieval instead (RULER's multi-key needle, \
            LongRoPE2's template): --windows windows of --context tokens of the text each hide \
            --needles sentences "One of the special magic numbers for KEY is: N." (N of --digits digits) at \
            spread depths, and end with one question per needle; a needle is retrieved when every \
            token of its number is the model's most likely one. Accuracy is over all needles; \
            --json also lists each needle ("each": window, depth, distance — tokens from its \
            sentence to its answer —, retrieved, answer NLL).
            """)

    @Option(help: "GGUF model (llama, qwen2, qwen3 or phi3 architecture).") var model: String
    @Option(help: "Prompt length in tokens.") var context: Int
    @Option(help: "The context the model was trained at (default: the GGUF's context_length).") var originalContext: Int?
    @Option(help: "none, pi:S, ntk:ALPHA, dynamic-ntk, yarn:S, yarn-linear:S, llama3:S, or a JSON factors file.")
    var scaling: String = "none"
    @Option(help: "Trials per depth.") var trials: Int = 5
    @Option(help: "Depths of the key in the filler, comma-separated fractions (0 = start, 1 = end).")
    var depths: String = "0,0.25,0.5,0.75,1"
    @Option(help: "Seed of the keys.") var seed: UInt64 = 0
    @Option(help: "Repeat the key line this many times (1 = the standard test).") var keyRepeats: Int = 1
    @Option(help: "Real text to hide numbers in (multi-needle retrieval) instead of the repeated filler.") var text: String?
    @Option(help: "With --text: bytes of the text to skip (text a search did not use).") var textOffset: Int = 0
    @Option(help: "With --text: needles hidden in each window.") var needles: Int = 4
    @Option(help: "With --text: digits of each needle's number.") var digits: Int = 7
    @Option(help: "With --text: windows of --context tokens (each a forward pass).") var windows: Int = 5
    @Option(help: "Threads, 1 to four per core (default: all cores).") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: attentionPrecisionHelp) var attentionPrecision: AttentionPrecision?
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard context >= 16, context <= SearchConfig.maxContext else {
            throw ValidationError("--context must be from 16 to \(SearchConfig.maxContext) tokens, got \(context)")
        }
        guard trials >= 1 else { throw ValidationError("--trials must be at least 1") }
        guard keyRepeats >= 1 else { throw ValidationError("--key-repeats must be at least 1") }
        if let problem = ThreadLimit.problem(threads) { throw ValidationError(problem) }
        guard (1...NeedleWindows.maxNeedles).contains(needles) else {
            throw ValidationError("--needles must be between 1 and \(NeedleWindows.maxNeedles)")
        }
        guard NeedleWindows.digitRange.contains(digits) else { throw ValidationError("--digits must be between 1 and 9") }
        guard windows >= 1 else { throw ValidationError("--windows must be at least 1") }
        guard textOffset >= 0 else { throw ValidationError("--text-offset must be ≥ 0") }
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
        let llama = try loadModel(model, threads: threads, attentionPrecision: attentionPrecision)
        let original = originalContext ?? llama.config.contextLength
        let rope = try ScalingSpec.parse(scaling, geometry: llama.geometry, originalContext: original, context: context)
        if let text { return try runOnText(text, model: llama, scaling: rope) }
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

    /// Multi-needle retrieval from real text: accuracy over every needle of every window, and
    /// per depth slice (needle j of each window lies in the j-th of --needles slices).
    func runOnText(_ path: String, model llama: LlamaModel, scaling rope: RoPEScaling) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read text file \(path)") }
        warnIfNotUTF8(data, path: path)
        guard textOffset < data.count else { throw CLIError("--text-offset \(textOffset) is past the end of \(path) (\(data.count) bytes)") }
        let content = String(decoding: data.dropFirst(textOffset), as: UTF8.self)
        let graded: [NeedleWindows.Window]
        do {
            graded = try NeedleWindows.gradedWindows(text: content, model: llama, context: context, windowCount: windows,
                                                     seed: seed, needles: needles, digits: digits)
        } catch { throw CLIError("\(path): \(error)") }
        let progress = ProgressLine(label: "needles")
        var passedBySlice = Array(repeating: 0, count: needles), nllBySlice = Array(repeating: 0.0, count: needles)
        var passed = 0
        var each: [[String: Any]] = []   // every needle: where it was, how far back, retrieved or not
        for (k, window) in graded.enumerated() {
            let grades = try llama.grade(window, scaling: rope)
            for (j, (needle, grade)) in zip(window.needles, grades).enumerated() {
                let slice = min(needles - 1, Int(needle.depth * Double(needles)))
                if grade.passed { passedBySlice[slice] += 1; passed += 1 }
                nllBySlice[slice] += grade.nll
                each.append(["window": k, "depth": needle.depth, "distance": window.distance(j), "retrieved": grade.passed,
                             "answer_nll": grade.nll])
            }
            progress.show("window \(k + 1)/\(graded.count), \(passed)/\((k + 1) * needles) retrieved")
        }
        progress.finish()
        let total = windows * needles
        let accuracy = Double(passed) / Double(total)
        let rows: [[String: Any]] = (0..<needles).map { j in
            ["depth_from": Double(j) / Double(needles), "depth_to": Double(j + 1) / Double(needles), "needles": windows,
             "retrieved": passedBySlice[j], "answer_nll": nllBySlice[j] / Double(windows)]
        }
        let meanNLL = nllBySlice.reduce(0, +) / Double(total)
        if json {
            let object: [String: Any] = ["context": context, "scaling": rope.method, "text": path, "text_offset": textOffset,
                                         "windows": windows, "needles_per_window": needles, "needles": total, "digits": digits,
                                         "retrieved": passed, "accuracy": accuracy, "answer_nll": meanNLL,
                                         "depths": rows, "seed": seed, "each": each]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print("needles in \(path), \(windows) window(s) of \(context) tokens, \(needles) needle(s) of \(digits) digits each, \(rope.method)")
            for row in rows {
                print(String(format: "  depth %.2f–%.2f: %d/%d retrieved (answer NLL %.3f)", row["depth_from"] as! Double,
                             row["depth_to"] as! Double, row["retrieved"] as! Int, windows, row["answer_nll"] as! Double))
            }
            print(String(format: "accuracy %.3f (%d/%d), answer NLL %.3f", accuracy, passed, total, meanNLL))
        }
    }
}
