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
