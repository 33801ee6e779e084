import Foundation
import RoPE

/// How a text is cut into windows and which positions are scored.
public enum PerplexityProtocol: String, Sendable, CaseIterable {
    /// LongRoPE's: consecutive windows of exactly the context length (BOS first when the model
    /// adds one, then context − 1 text tokens); every position is scored.
    case full
    /// llama.cpp's `llama-perplexity`: the text tokenised whole, cut into chunks of the context
    /// length, the first token of each chunk replaced by BOS, only the second half scored.
    case llamacpp
}

/// One window of tokens and the positions whose prediction (of the token after them) is
/// scored: every position from `scoredFrom` on, or exactly `scoredPositions` when given.
public struct EvaluationWindow: Sendable, Equatable {
    public var tokens: [Int32]
    public var scoredFrom: Int
    /// Ascending positions to score instead of `scoredFrom...` (key tokens, a needle's answer).
    public var scoredPositions: [Int]?

    public init(tokens: [Int32], scoredFrom: Int, scoredPositions: [Int]? = nil) {
        self.tokens = tokens
        self.scoredFrom = scoredFrom
        self.scoredPositions = scoredPositions
    }

    /// The scored positions.
    public var positions: [Int] { scoredPositions ?? Array(scoredFrom..<(tokens.count - 1)) }
    /// Predictions scored in this window.
    public var scoredCount: Int { scoredPositions?.count ?? tokens.count - 1 - scoredFrom }
}

/// The windows of a text for one context length and protocol.
public struct TextWindows: Sendable {
    public let windows: [EvaluationWindow]
    /// Tokens in the whole text, and windows the text could give.
    public let textTokens: Int
    public let available: Int

    /// Cuts `text` for `model`'s tokenizer. `windows` caps the number of windows (nil = all).
    /// Throws `textTooShort` saying how many tokens the text has and needs.
    public init(text: String, model: LlamaModel, context: Int, protocol kind: PerplexityProtocol,
                windowCount: Int?) throws {
        guard context >= 2 else { throw EvaluatorError.invalidRequest("the context must be at least 2 tokens, got \(context)") }
        if let windowCount, windowCount < 1 { throw EvaluatorError.invalidRequest("--windows must be at least 1, got \(windowCount)") }
        let tokenizer = model.tokenizer
        switch kind {
        case .llamacpp:
            let tokens = tokenizer.encode(text)
            textTokens = tokens.count
            guard tokens.count >= 2 * context else {
                throw EvaluatorError.textTooShort(tokens: tokens.count, needed: 2 * context,
                                                  detail: "llama.cpp's protocol needs at least two chunks of \(context)")
            }
            available = tokens.count / context
            let count = min(available, windowCount ?? available)
            windows = (0..<count).map { k in
                var window = Array(tokens[(k * context)..<((k + 1) * context)])
                if tokenizer.addsBOS, let bos = tokenizer.bosID { window[0] = bos }
                return EvaluationWindow(tokens: window, scoredFrom: context / 2)
            }
        case .full:
            let tokens = tokenizer.encode(text, addSpecial: false)
            textTokens = tokens.count
            let bos: Int32? = tokenizer.addsBOS ? tokenizer.bosID : nil
            let perWindow = bos == nil ? context : context - 1
            available = tokens.count / perWindow
            let wanted = windowCount ?? max(available, 1)
            guard available >= wanted else {
                throw EvaluatorError.textTooShort(tokens: tokens.count, needed: wanted * perWindow,
                                                  detail: "\(wanted) window(s) of \(context) tokens")
            }
            windows = (0..<wanted).map { k in
                let slice = tokens[(k * perWindow)..<((k + 1) * perWindow)]
                return EvaluationWindow(tokens: (bos.map { [$0] } ?? []) + slice, scoredFrom: 0)
            }
        }
    }
}

/// The perplexity of a model over some windows under one scaling.
public struct PerplexityResult: Sendable, Codable, Equatable {
    public var perplexity: Double
    /// The perplexity's standard error, as llama-perplexity prints it after "±":
    /// ppl · sqrt((mean nll² − mean nll²) / (tokens − 1)).
    public var uncertainty: Double
    /// Mean negative log-likelihood per scored token.
    public var nll: Double
    public var nllSum: Double
    public var tokensScored: Int
    /// Tokens run through the model (windows × context).
    public var tokensProcessed: Int
    public var windows: Int
    public var seconds: Double
    /// Tokens run through the model per second.
    public var tokensPerSecond: Double
    /// Each window's own perplexity.
    public var windowPerplexities: [Double]

    enum CodingKeys: String, CodingKey {
        case perplexity = "ppl", uncertainty = "ppl_uncertainty", nll, nllSum = "nll_sum", tokensScored = "tokens_scored"
        case tokensProcessed = "tokens_processed", windows, seconds
        case tokensPerSecond = "tokens_per_second", windowPerplexities = "window_ppl"
    }
}

extension LlamaModel {
    /// Evaluates every window under `scaling`; `progress(done, total, running perplexity)` is
    /// called after each window.
    public func perplexity(_ windows: [EvaluationWindow], scaling: RoPEScaling,
                           progress: ((Int, Int, Double) -> Void)? = nil) throws -> PerplexityResult {
        let start = Date()
        var nllSum = 0.0, squares = 0.0, scored = 0, processed = 0
        var perWindow: [Double] = []
        for (index, window) in windows.enumerated() {
            let loss = try loss(tokens: window.tokens, positions: window.positions, scaling: scaling)
            nllSum += loss.nllSum
            squares += loss.nllSquaredSum
            scored += loss.tokens
            processed += window.tokens.count
            perWindow.append(loss.perplexity)
            progress?(index + 1, windows.count, exp(nllSum / Double(scored)))
        }
        let seconds = Date().timeIntervalSince(start)
        let mean = scored > 0 ? nllSum / Double(scored) : .nan
        let variance = scored > 1 ? max(0, squares / Double(scored) - mean * mean) / Double(scored - 1) : .nan
        return PerplexityResult(perplexity: exp(mean), uncertainty: exp(mean) * variance.squareRoot(), nll: mean, nllSum: nllSum, tokensScored: scored,
                                tokensProcessed: processed, windows: windows.count, seconds: seconds,
                                tokensPerSecond: seconds > 0 ? Double(processed) / seconds : 0,
                                windowPerplexities: perWindow)
    }
}
