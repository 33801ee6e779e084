import Seeded
import Tokenizer
import RoPE

/// The passkey retrieval test of the LongRoPE paper, Landmark Attention and llama.cpp's
/// `llama-passkey`: a key hidden at some depth in repeated filler, asked for at the end.
///
/// Scored by teacher forcing: one forward pass over prompt + answer; the trial passes when the
/// model's most likely token at every answer position is the answer's token, which is exactly
/// what greedy decoding would produce.
public enum Passkey {
    public static let header = "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. I will quiz you about the important information there."
    public static let filler = " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
    public static let question = " What is the pass key? The pass key is"

    public static func keyLine(_ key: Int) -> String { " The pass key is \(key). Remember it. \(key) is the pass key." }

    /// One prompt: its tokens (at most `context`), where the answer's tokens start, and the key.
    public struct Trial: Sendable, Equatable {
        public var tokens: [Int32]
        public var answerStart: Int
        public var key: Int
        public var depth: Double
        /// Positions whose prediction must be the answer's next token.
        public var positions: [Int] { Array((answerStart - 1)..<(tokens.count - 1)) }
    }

    /// Builds a prompt of at most `context` tokens: header, filler lines, the key line after
    /// `depth` of them (0 = first, 1 = last), more filler, the question and the key.
    /// `keyRepeats` > 1 repeats the key line (a prompt any model can answer: for tests).
    public static func trial(tokenizer: Tokenizer, context: Int, depth: Double, key: Int,
                             keyRepeats: Int = 1) throws -> Trial {
        let bos: [Int32] = tokenizer.addsBOS ? tokenizer.bosID.map { [$0] } ?? [] : []
        let head = bos + tokenizer.encode(header, addSpecial: false)
        let fill = tokenizer.encodeContinuation(filler)
        let keyTokens = Array(repeating: tokenizer.encodeContinuation(keyLine(key)), count: max(1, keyRepeats)).flatMap { $0 }
        let (ask, answer) = NeedleWindows.answerTokens(tokenizer: tokenizer, prompt: question, answer: " \(key)")
        let fixed = head.count + keyTokens.count + ask.count + answer.count
        let lines = (context - fixed) / max(fill.count, 1)
        guard lines >= 1 else {
            throw EvaluatorError.invalidRequest("a passkey prompt needs more than \(fixed + fill.count) tokens; the context is \(context)")
        }
        let before = min(lines, max(0, Int((depth * Double(lines)).rounded())))
        var tokens = head
        for _ in 0..<before { tokens += fill }
        tokens += keyTokens
        for _ in before..<lines { tokens += fill }
        tokens += ask
        let answerStart = tokens.count
        tokens += answer
        return Trial(tokens: tokens, answerStart: answerStart, key: key, depth: depth)
    }

    /// The key of trial `index` with `seed`: five digits, as llama-passkey uses.
    public static func key(seed: UInt64, trial index: Int) -> Int {
        var draws = SplitMix64.probes(seed: seed, stream: 0xBA55 &+ UInt64(index))
        return draws.int(in: 10_000...99_999)
    }

    /// Whether the model gives the key under `scaling`, and the mean NLL of its tokens.
    public static func run(_ trial: Trial, model: LlamaModel, scaling: RoPEScaling) throws -> (passed: Bool, nll: Double) {
        let scores = try model.tokenScores(tokens: trial.tokens, positions: trial.positions, scaling: scaling)
        let passed = scores.allSatisfy { $0.topToken == trial.tokens[$0.position + 1] }
        return (passed, scores.map(\.nll).reduce(0, +) / Double(scores.count))
    }
}
