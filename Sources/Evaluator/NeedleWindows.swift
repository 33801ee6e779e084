import Tokenizer
import Foundation

/// LongRoPE2's needle-driven fitness (Shang et al. 2025, §3.2): each window of the target length
/// opens with an instruction, hides "One of the special magic numbers for {key} is: {N}." at a
/// depth inside real text, and ends with the answer "The special magic number for {key}
/// mentioned in the provided text is: {N}". Only the answer's number tokens are scored, so the
/// fitness is how well the model retrieves across the window.
///
/// Keys, 7-digit numbers and depths are drawn from `seed` and the window's index: window k's
/// needle lies in the k-th of `windows` equal slices of the depth range, so the windows spread
/// the needle from the start to the end.
public enum NeedleWindows {
    public static let opening = "A special magic number is hidden within the following text. Make sure to memorize it. I will quiz you about the number afterwards."
    static let words = ["apple", "river", "garden", "silver", "window", "rabbit", "candle", "forest", "pencil",
                        "harbor", "meadow", "lantern", "violet", "basket", "thunder", "orchard", "marble",
                        "falcon", "copper", "willow", "saddle", "velvet", "pepper", "island"]

    /// One needle: its key, its number and how deep it sits (0 = start of the filler, 1 = end).
    public struct Needle: Sendable, Equatable {
        public var key: String
        public var number: Int
        public var depth: Double
    }

    public static func needle(seed: UInt64, window k: Int, windowCount: Int) -> Needle {
        var draws = SeededDraws(seed: seed, stream: UInt64(k))
        let key = words[draws.int(in: 0...(words.count - 1))] + "-" + words[draws.int(in: 0...(words.count - 1))]
        let number = draws.int(in: 1_000_000...9_999_999)
        let depth = (Double(k) + draws.unit()) / Double(max(windowCount, 1))
        return Needle(key: key, number: number, depth: depth)
    }

    /// `windows` needle windows of exactly `context` tokens, with the text's own windows as
    /// filler. Throws when the context cannot hold the template with some filler.
    public static func windows(text: String, model: LlamaModel, context: Int, windowCount: Int,
                               seed: UInt64) throws -> [EvaluationWindow] {
        let plain = try TextWindows(text: text, model: model, context: context, protocol: .full, windowCount: windowCount).windows
        let tokenizer = model.tokenizer
        let bos: [Int32] = tokenizer.addsBOS ? tokenizer.bosID.map { [$0] } ?? [] : []
        return try plain.enumerated().map { k, window in
            let needle = needle(seed: seed, window: k, windowCount: windowCount)
            let head = bos + tokenizer.encode(opening, addSpecial: false)
            let hidden = tokenizer.encodeContinuation(" One of the special magic numbers for \(needle.key) is: \(needle.number).")
            let (question, number) = answerTokens(tokenizer: model.tokenizer,
                                                  prompt: " The special magic number for \(needle.key) mentioned in the provided text is:",
                                                  answer: " \(needle.number)")
            let budget = context - head.count - hidden.count - question.count - number.count
            guard budget >= 16 else {
                throw EvaluatorError.invalidRequest("a needle window of \(context) tokens cannot hold the template (\(context - budget) tokens) and some text")
            }
            let filler = Array(window.tokens.dropFirst(bos.count).prefix(budget))
            let insert = sentenceBoundary(in: filler, near: Int(needle.depth * Double(filler.count)), tokenizer: tokenizer)
            let tokens = head + filler[..<insert] + hidden + filler[insert...] + question + number
            let first = tokens.count - number.count - 1
            return EvaluationWindow(tokens: tokens, scoredFrom: first, scoredPositions: Array(first..<(tokens.count - 1)))
        }
    }

    /// The tokens of `prompt` and of `answer` as they come out of encoding both together, so the
    /// scored tokens are those a model reading the whole text would see.
    static func answerTokens(tokenizer: Tokenizer, prompt: String, answer: String) -> (prompt: [Int32], answer: [Int32]) {
        let whole = tokenizer.encodeContinuation(prompt + answer)
        let head = tokenizer.encodeContinuation(prompt)
        if whole.count > head.count, Array(whole.prefix(head.count)) == head {
            return (head, Array(whole.dropFirst(head.count)))
        }
        return (head, tokenizer.encodeContinuation(answer))
    }

    /// The index just after the last sentence end (".", "!", "?" or a newline) at or before
    /// `index`, looking back at most 64 tokens; `index` itself when there is none.
    static func sentenceBoundary(in tokens: [Int32], near index: Int, tokenizer: Tokenizer) -> Int {
        let index = min(max(index, 0), tokens.count)
        var i = index
        while i > 0, index - i < 64 {
            let piece = tokenizer.tokens[Int(tokens[i - 1])]
            if piece.hasSuffix(".") || piece.hasSuffix("!") || piece.hasSuffix("?") || piece.contains("\n")
                || piece == "<0x0A>" || piece.hasSuffix("Ċ") { return i }
            i -= 1
        }
        return index
    }
}
