import RoPE

/// LongPPL's key tokens (Fang et al., ICLR 2025): the positions of a window whose next token is
/// predicted much better with the whole window than with only the last `shortContext` tokens
/// (the "long-short difference"). Perplexity over them measures what long context adds and
/// nothing else: most tokens of real text are predicted as well from a short context.
public enum KeyTokens {
    /// Positions p of `window` (ascending) with NLL_short(p) − NLL_long(p) > `threshold` nats,
    /// both under `scaling`. The short pass cuts the window into chunks of `shortContext`
    /// tokens every `shortContext/2` (the first token of each replaced by BOS, as llama.cpp's
    /// perplexity does) and scores each chunk's second half, so every position sees between
    /// `shortContext/2` and `shortContext` tokens. Positions before `shortContext − 1` see the
    /// same tokens either way and are never key tokens. `stop` ends the passes early.
    public static func positions(model: LlamaModel, window: EvaluationWindow, scaling: RoPEScaling,
                                 shortContext: Int, threshold: Double, stop: StopSignal? = nil) throws -> [Int] {
        let tokens = window.tokens, n = tokens.count
        guard shortContext >= 4 else { throw EvaluatorError.invalidRequest("the short context must be at least 4 tokens") }
        guard n > shortContext else { return [] }
        let long = try model.tokenScores(tokens: tokens, positions: Array((shortContext - 1)..<(n - 1)), scaling: scaling,
                                         stop: stop)
        var longNLL = [Double](repeating: .nan, count: n)
        for score in long { longNLL[score.position] = score.nll }
        return try shortContextScores(model: model, tokens: tokens, scaling: scaling, shortContext: shortContext, stop: stop)
            .filter { $0.nll - longNLL[$0.position] > threshold }.map(\.position)
    }

    /// Scores of positions `shortContext − 1 …` of `tokens` when each sees only its last
    /// `shortContext/2` to `shortContext` tokens: chunks of `shortContext` every
    /// `shortContext/2`, first token replaced by BOS (as llama.cpp's perplexity does), second
    /// half scored. Positions are those of `tokens`, ascending.
    public static func shortContextScores(model: LlamaModel, tokens: [Int32], scaling: RoPEScaling,
                                          shortContext: Int, stop: StopSignal? = nil) throws -> [TokenScore] {
        let n = tokens.count, stride = shortContext / 2, first = shortContext / 2 - 1
        let bos = model.tokenizer.addsBOS ? model.tokenizer.bosID : nil
        var out: [TokenScore] = []
        var start = stride
        while start + first <= n - 2 {
            var chunk = Array(tokens[start..<min(start + shortContext, n)])
            if let bos { chunk[0] = bos }
            guard first < chunk.count - 1 else { break }
            for var score in try model.tokenScores(tokens: chunk, positions: Array(first..<(chunk.count - 1)), scaling: scaling,
                                                   stop: stop) {
                score.position += start
                out.append(score)
            }
            start += stride
        }
        return out
    }
}
