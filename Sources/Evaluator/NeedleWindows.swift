import Foundation
import Seeded
import RoPE
import Tokenizer

/// LongRoPE2's needle-driven fitness (Shang et al. 2025, §3.2) and RULER's multi-key needle:
/// each window of the target length opens with an instruction, hides K sentences "One of the
/// special magic numbers for {key} is: {N}." at spread depths inside real text, and ends with K
/// questions, each followed by its answer "The special magic number for {key} mentioned in the
/// provided text is: {N}". Only the answers' number tokens are scored, so one forward pass says
/// how well the factors retrieve at K depths of the window.
///
/// Keys, numbers and depths are drawn from `seed` and the window's index. With one needle per
/// window (LongRoPE2's template), window k's needle lies in the k-th of `windows` equal slices of
/// the depth range, so the windows spread the needle from the start to the end. With K > 1
/// needles, needle j of every window lies in the j-th of K equal slices, and the questions come
/// in a drawn order (not the order of the needles).
public enum NeedleWindows {
    public static let opening = "A special magic number is hidden within the following text. Make sure to memorize it. I will quiz you about the number afterwards."
    public static let openingMany = "Some special magic numbers are hidden within the following text. Make sure to memorize them. I will quiz you about the numbers afterwards."
    static let words = ["apple", "river", "garden", "silver", "window", "rabbit", "candle", "forest", "pencil",
                        "harbor", "meadow", "lantern", "violet", "basket", "thunder", "orchard", "marble",
                        "falcon", "copper", "willow", "saddle", "velvet", "pepper", "island"]
    /// The most needles one window may hold, and the digits a needle's number may have.
    public static let maxNeedles = 64
    public static let digitRange = 1...9

    /// One needle: its key, its number and how deep it sits (0 = start of the filler, 1 = end).
    public struct Needle: Sendable, Equatable {
        public var key: String
        public var number: Int
        public var depth: Double
    }

    /// A needle window with what is needed to grade each answer: the window (scoring every
    /// answer's number tokens), its needles in the order they are asked, and for each the
    /// positions whose predictions must be the answer's tokens.
    public struct Window: Sendable, Equatable {
        public var window: EvaluationWindow
        public var needles: [Needle]
        public var answerPositions: [[Int]]
        /// Where each needle's sentence starts in the window (same order as `needles`): its
        /// answer is `answerPositions[j][0] − hiddenAt[j]` tokens after it.
        public var hiddenAt: [Int]

        /// Tokens from needle j's sentence to its answer: how far back the model must look.
        public func distance(_ j: Int) -> Int { answerPositions[j][0] - hiddenAt[j] }
    }

    /// The single needle of window k (LongRoPE2's template, one needle per window).
    public static func needle(seed: UInt64, window k: Int, windowCount: Int) -> Needle {
        var draws = SplitMix64.probes(seed: seed, stream: UInt64(k))
        let key = words[draws.int(in: 0...(words.count - 1))] + "-" + words[draws.int(in: 0...(words.count - 1))]
        let number = draws.int(in: 1_000_000...9_999_999)
        let depth = (Double(k) + draws.unit()) / Double(max(windowCount, 1))
        return Needle(key: key, number: number, depth: depth)
    }

    /// The K needles of window k, in the order they are asked: distinct keys, `digits`-digit
    /// numbers, needle j (by depth) in the j-th of K equal slices of the depth range. One 7-digit
    /// needle is `needle(…)`, LongRoPE2's template.
    public static func needles(seed: UInt64, window k: Int, windowCount: Int, count: Int, digits: Int = 7) -> [Needle] {
        precondition(count >= 1 && count <= maxNeedles, "needles per window must be in 1…\(maxNeedles)")
        precondition(digitRange.contains(digits), "digits must be in \(digitRange)")
        if count == 1 && digits == 7 { return [needle(seed: seed, window: k, windowCount: windowCount)] }
        var draws = SplitMix64.probes(seed: seed, stream: 0x4E45_4544_0000_0000 | UInt64(k))
        var keys = Set<String>()
        var byDepth: [Needle] = []
        for j in 0..<count {
            var key: String
            repeat {
                key = words[draws.int(in: 0...(words.count - 1))] + "-" + words[draws.int(in: 0...(words.count - 1))]
            } while keys.contains(key)
            keys.insert(key)
            let low = Int(pow(10, Double(digits - 1)))
            let number = draws.int(in: low...(10 * low - 1))
            byDepth.append(Needle(key: key, number: number, depth: (Double(j) + draws.unit()) / Double(count)))
        }
        // The order of the questions: a Fisher–Yates shuffle from the same draws.
        for i in stride(from: count - 1, to: 0, by: -1) { byDepth.swapAt(i, draws.int(in: 0...i)) }
        return byDepth
    }

    /// `windows` needle windows of exactly `context` tokens with `needles` needles of `digits`
    /// digits each, the text's own windows as filler. Throws when the context cannot hold the
    /// template with some filler.
    public static func windows(text: String, model: LlamaModel, context: Int, windowCount: Int,
                               seed: UInt64, needles: Int = 1, digits: Int = 7) throws -> [EvaluationWindow] {
        try gradedWindows(text: text, model: model, context: context, windowCount: windowCount, seed: seed,
                          needles: needles, digits: digits).map(\.window)
    }

    /// As `windows(…)`, with each window's needles and answer positions.
    public static func gradedWindows(text: String, model: LlamaModel, context: Int, windowCount: Int,
                                     seed: UInt64, needles count: Int = 1, digits: Int = 7) throws -> [Window] {
        guard count >= 1, count <= maxNeedles else {
            throw EvaluatorError.invalidRequest("needles per window must be between 1 and \(maxNeedles), got \(count)")
        }
        guard digitRange.contains(digits) else {
            throw EvaluatorError.invalidRequest("a needle's number must have \(digitRange.lowerBound) to \(digitRange.upperBound) digits, got \(digits)")
        }
        let plain = try TextWindows(text: text, model: model, context: context, protocol: .full, windowCount: windowCount).windows
        let tokenizer = model.tokenizer
        let bos: [Int32] = tokenizer.addsBOS ? tokenizer.bosID.map { [$0] } ?? [] : []
        let head = bos + tokenizer.encode(count == 1 ? opening : openingMany, addSpecial: false)
        let period = tokenizer.encodeContinuation(".")
        return try plain.enumerated().map { k, window in
            let asked = needles(seed: seed, window: k, windowCount: windowCount, count: count, digits: digits)
            let hidden = asked.map { tokenizer.encodeContinuation(" One of the special magic numbers for \($0.key) is: \($0.number).") }
            let answers = asked.map {
                answerTokens(tokenizer: tokenizer, prompt: " The special magic number for \($0.key) mentioned in the provided text is:",
                             answer: " \($0.number)")
            }
            // The questions: each question and its number, a period between one answer and the next question.
            let tail = answers.map { $0.prompt.count + $0.answer.count }.reduce(0, +) + period.count * (count - 1)
            let budget = context - head.count - hidden.map(\.count).reduce(0, +) - tail
            guard budget >= 16 * count else {
                throw EvaluatorError.invalidRequest("a needle window of \(context) tokens cannot hold the template (\(context - budget) tokens for \(count) needle(s)) and some text")
            }
            let filler = Array(window.tokens.dropFirst(bos.count).prefix(budget))
            // Hide the needles in depth order, each at a sentence end near its depth.
            var tokens = head
            var from = 0
            var hiddenAt = Array(repeating: 0, count: count)
            for j in asked.indices.sorted(by: { asked[$0].depth < asked[$1].depth }) {
                let near = max(from, Int(asked[j].depth * Double(filler.count)))
                let insert = max(from, sentenceBoundary(in: filler, near: near, tokenizer: tokenizer))
                tokens += filler[from..<insert]
                hiddenAt[j] = tokens.count
                tokens += hidden[j]
                from = insert
            }
            tokens += filler[from...]
            var answerPositions: [[Int]] = []
            for (j, qa) in answers.enumerated() {
                if j > 0 { tokens += period }
                tokens += qa.prompt
                answerPositions.append(Array((tokens.count - 1)..<(tokens.count - 1 + qa.answer.count)))
                tokens += qa.answer
            }
            let scored = answerPositions.flatMap { $0 }
            return Window(window: EvaluationWindow(tokens: tokens, scoredFrom: scored[0], scoredPositions: scored),
                          needles: asked, answerPositions: answerPositions, hiddenAt: hiddenAt)
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

extension LlamaModel {
    /// Grades one needle window: for each needle (in the order asked), whether the model's most
    /// likely token at every answer position is the answer's (what greedy decoding would
    /// write), and the mean NLL of its tokens. One forward pass.
    public func grade(_ graded: NeedleWindows.Window, scaling: RoPEScaling) throws -> [(passed: Bool, nll: Double)] {
        let window = graded.window
        let scores = try tokenScores(tokens: window.tokens, positions: window.positions, scaling: scaling)
        let byPosition = Dictionary(uniqueKeysWithValues: scores.map { ($0.position, $0) })
        return graded.answerPositions.map { positions in
            let own = positions.compactMap { byPosition[$0] }
            let passed = own.count == positions.count && own.allSatisfy { $0.topToken == window.tokens[$0.position + 1] }
            return (passed, own.map(\.nll).reduce(0, +) / Double(max(own.count, 1)))
        }
    }
}
