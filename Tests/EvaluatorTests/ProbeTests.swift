import Foundation
import Testing
import Evaluator
import RoPE
import TestSupport

/// Per-token scores, key tokens, needle windows and the passkey prompt, on real models.
@Suite(.enabled(if: TestPaths.has("models/stories260K.gguf") && TestPaths.has("text/tinystories-valid.txt"),
                "needs ../shared/models/stories260K.gguf and ../shared/text/tinystories-valid.txt"))
struct ProbeTests {
    let model: LlamaModel
    let text: String

    init() throws {
        model = try LlamaModel(path: TestPaths.shared.appendingPathComponent("models/stories260K.gguf").path, threads: 2)
        text = String(decoding: try Data(contentsOf: TestPaths.shared.appendingPathComponent("text/tinystories-valid.txt"))
            .prefix(60_000), as: UTF8.self)
    }

    @Test func scoringChosenPositionsAddsUpToTheWindowLoss() throws {
        let w = try TextWindows(text: text, model: model, context: 300, protocol: .full, windowCount: 1).windows[0]
        let scaling = RoPEScaling.ntk(pairs: model.pairs, alpha: 2)
        let all = try model.loss(tokens: w.tokens, scoredFrom: 0, scaling: scaling)
        let scores = try model.tokenScores(tokens: w.tokens, positions: w.positions, scaling: scaling)
        #expect(scores.count == all.tokens)
        #expect(abs(scores.map(\.nll).reduce(0, +) - all.nllSum) < 1e-9 * abs(all.nllSum))
        let some = [3, 50, 51, 298]
        let part = try model.loss(tokens: w.tokens, positions: some, scaling: scaling)
        #expect(abs(part.nllSum - some.map { scores[$0].nll }.reduce(0, +)) < 1e-9)
        #expect(throws: EvaluatorError.self) { try model.loss(tokens: w.tokens, positions: [5, 4], scaling: scaling) }
        #expect(throws: EvaluatorError.self) { try model.loss(tokens: w.tokens, positions: [299], scaling: scaling) }
    }

    @Test func keyTokensAreLateAndShrinkAsTheThresholdGrows() throws {
        let w = try TextWindows(text: text, model: model, context: 1024, protocol: .full, windowCount: 1).windows[0]
        let scaling = RoPEScaling.ntk(pairs: model.pairs, alpha: 4)
        let loose = try KeyTokens.positions(model: model, window: w, scaling: scaling, shortContext: 256, threshold: 0.5)
        let strict = try KeyTokens.positions(model: model, window: w, scaling: scaling, shortContext: 256, threshold: 2)
        #expect(!loose.isEmpty, "some prediction must gain 0.5 nats from 1024 tokens of context")
        #expect(Set(strict).isSubset(of: Set(loose)))
        #expect(strict.count < loose.count)
        #expect(loose.allSatisfy { $0 >= 255 && $0 < 1023 }, "only positions past the short context can gain")
        #expect(loose == loose.sorted())
        // The same positions again (deterministic), and none with an absurd threshold.
        #expect(try KeyTokens.positions(model: model, window: w, scaling: scaling, shortContext: 256, threshold: 0.5) == loose)
        #expect(try KeyTokens.positions(model: model, window: w, scaling: scaling, shortContext: 256, threshold: 1e9).isEmpty)
    }

    @Test func needleWindowsHaveTheTargetLengthAndScoreTheNumber() throws {
        let windows = try NeedleWindows.windows(text: text, model: model, context: 512, windowCount: 3, seed: 4)
        #expect(windows.count == 3)
        for (k, w) in windows.enumerated() {
            #expect(w.tokens.count == 512)
            let positions = try #require(w.scoredPositions)
            #expect(positions.last == 510 && positions == Array(positions.first!...510), "the answer closes the window")
            let needle = NeedleWindows.needle(seed: 4, window: k, windowCount: 3)
            #expect(needle.depth >= Double(k) / 3 && needle.depth < Double(k + 1) / 3, "window k's needle in the k-th slice")
            #expect((1_000_000...9_999_999).contains(needle.number))
            // The number's digits are what is scored: the same digits appear once earlier (the needle).
            let answer = Array(w.tokens[(positions.first! + 1)...])
            let body = Array(w.tokens[..<(positions.first! + 1)])
            let found = (0...(body.count - answer.count)).contains { Array(body[$0..<($0 + answer.count)]) == answer }
            #expect(found, "the answer's tokens must appear in the hidden needle")
        }
        #expect(try NeedleWindows.windows(text: text, model: model, context: 512, windowCount: 3, seed: 4) == windows)
        #expect(try NeedleWindows.windows(text: text, model: model, context: 512, windowCount: 3, seed: 5) != windows)
        #expect(throws: EvaluatorError.self) {
            try NeedleWindows.windows(text: text, model: model, context: 64, windowCount: 1, seed: 0)
        }
    }

    /// RULER's multi-key needle: K needles per window at spread depths, each answer scored where
    /// its question ends, the same windows from the same seed.
    @Test func multiNeedleWindowsScoreEveryAnswerAtItsPlace() throws {
        let count = 3
        let graded = try NeedleWindows.gradedWindows(text: text, model: model, context: 1024, windowCount: 3, seed: 4,
                                                     needles: count)
        #expect(graded.count == 3)
        let pieces = model.tokenizer.tokens
        for (k, g) in graded.enumerated() {
            let w = g.window
            #expect(w.tokens.count == 1024)
            #expect(g.needles == NeedleWindows.needles(seed: 4, window: k, windowCount: 3, count: count))
            #expect(Set(g.needles.map(\.key)).count == count, "distinct keys")
            let slices = g.needles.map { Int($0.depth * Double(count)) }.sorted()
            #expect(slices == Array(0..<count), "needle j in the j-th slice of the depth range")
            #expect(g.answerPositions.count == count)
            #expect(w.positions == g.answerPositions.flatMap { $0 } && w.positions == w.positions.sorted())
            #expect(g.answerPositions.last!.last == 1022, "the last answer closes the window")
            let questionsStart = g.answerPositions[0][0] - 40
            var hiddenAt: [Int] = []
            for (needle, positions) in zip(g.needles, g.answerPositions) {
                let answer = positions.map { w.tokens[$0 + 1] }
                #expect(answer.map { pieces[Int($0)] }.joined().filter(\.isNumber) == String(needle.number),
                        "the scored tokens are the number's digits")
                // The same tokens once before the questions: the hidden needle.
                let hits = (0...(questionsStart - answer.count)).filter { Array(w.tokens[$0..<($0 + answer.count)]) == answer }
                #expect(hits.count == 1, "needle \(needle.key) hidden once")
                hiddenAt.append(hits.first ?? -1)
            }
            // The window says where each needle's sentence starts: its number inside it, and
            // the distance to the answer counted from there.
            for j in 0..<count {
                let sentence = try #require(hiddenAt[j] > g.hiddenAt[j] ? hiddenAt[j] - g.hiddenAt[j] : nil,
                                            "needle \(j)'s number lies after its sentence's start")
                let needle = g.needles[j]
                let length = model.tokenizer.encodeContinuation(" One of the special magic numbers for \(needle.key) is: \(needle.number).").count
                #expect(sentence < length, "the number is in the needle's own sentence (\(sentence) of \(length) tokens in)")
                #expect(g.distance(j) == g.answerPositions[j][0] - g.hiddenAt[j] && g.distance(j) > 0)
            }
            let byDepth = g.needles.indices.sorted { g.needles[$0].depth < g.needles[$1].depth }
            #expect(byDepth.map { hiddenAt[$0] } == byDepth.map { hiddenAt[$0] }.sorted(), "hidden in depth order")
            #expect(hiddenAt.max()! - hiddenAt.min()! > 300, "spread over the window")
            // Grading agrees with the per-token scores.
            let scaling = RoPEScaling.none(pairs: model.pairs)
            let scores = try model.tokenScores(tokens: w.tokens, positions: w.positions, scaling: scaling)
            let top = Dictionary(uniqueKeysWithValues: scores.map { ($0.position, $0.topToken) })
            let grades = try model.grade(g, scaling: scaling)
            for (positions, grade) in zip(g.answerPositions, grades) {
                #expect(grade.passed == positions.allSatisfy { top[$0] == w.tokens[$0 + 1] })
                #expect(grade.nll.isFinite && grade.nll > 0)
            }
        }
        #expect(try NeedleWindows.gradedWindows(text: text, model: model, context: 1024, windowCount: 3, seed: 4, needles: count) == graded)
        #expect(try NeedleWindows.gradedWindows(text: text, model: model, context: 1024, windowCount: 3, seed: 5, needles: count) != graded)
        // One needle is LongRoPE2's template, as before.
        let single = try NeedleWindows.gradedWindows(text: text, model: model, context: 512, windowCount: 3, seed: 4)
        #expect(single.map(\.needles) == (0..<3).map { [NeedleWindows.needle(seed: 4, window: $0, windowCount: 3)] })
        for bad in [0, NeedleWindows.maxNeedles + 1] {
            #expect(throws: EvaluatorError.self) {
                try NeedleWindows.windows(text: text, model: model, context: 1024, windowCount: 1, seed: 0, needles: bad)
            }
        }
        #expect(throws: EvaluatorError.self, "too many needles for the window") {
            try NeedleWindows.windows(text: text, model: model, context: 512, windowCount: 1, seed: 0, needles: 8)
        }
    }

    /// Teacher forcing passes exactly when greedy decoding, token by token, writes the key.
    @Test func passkeyTeacherForcingEqualsGreedyDecoding() throws {
        for (depth, seed) in [(0.0, 1), (0.5, 2), (1.0, 3)] {
            let key = Passkey.key(seed: UInt64(seed), trial: 0)
            let trial = try Passkey.trial(tokenizer: model.tokenizer, context: 400, depth: depth, key: key)
            #expect(trial.tokens.count <= 400 && trial.tokens.count > 300)
            let scaling = RoPEScaling.none(pairs: model.pairs)
            let forced = try Passkey.run(trial, model: model, scaling: scaling)
            var prompt = Array(trial.tokens[..<trial.answerStart])
            var greedy: [Int32] = []
            for _ in trial.answerStart..<trial.tokens.count {
                // Score the last position of the prompt so far (a dummy next token makes it scorable).
                let top = try model.tokenScores(tokens: prompt + [0], positions: [prompt.count - 1], scaling: scaling)[0].topToken
                greedy.append(top)
                prompt.append(top)
            }
            #expect(forced.passed == (greedy == Array(trial.tokens[trial.answerStart...])))
            #expect(forced.nll.isFinite && forced.nll > 0)
        }
    }

    /// A prompt the model can answer: the key is a word it knows, repeated right before the question.
    @Test func passkeyPassesWhenTheAnswerIsForced() throws {
        var trial = try Passkey.trial(tokenizer: model.tokenizer, context: 600, depth: 1, key: 11111, keyRepeats: 6)
        // Make the answer the token the model itself predicts there: the mechanics must then pass.
        let top = try model.tokenScores(tokens: trial.tokens, positions: [trial.answerStart - 1],
                                        scaling: .none(pairs: model.pairs))[0].topToken
        trial.tokens = Array(trial.tokens[..<trial.answerStart]) + [top]
        #expect(try Passkey.run(trial, model: model, scaling: .none(pairs: model.pairs)).passed)
        trial.tokens[trial.answerStart] = top == 5 ? 6 : 5
        #expect(try !Passkey.run(trial, model: model, scaling: .none(pairs: model.pairs)).passed)
    }
}
