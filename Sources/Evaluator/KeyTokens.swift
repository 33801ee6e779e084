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
    /// same tokens either way and are never key tokens.
    public static func positions(model: LlamaModel, window: EvaluationWindow, scaling: RoPEScaling,
                                 shortContext: Int, threshold: Double) throws -> [Int] {
        let tokens = window.tokens, n = tokens.count
        guard shortContext >= 4 else { throw EvaluatorError.invalidRequest("the short context must be at least 4 tokens") }
        guard n > shortContext else { return [] }
        let long = try model.tokenScores(tokens: tokens, positions: Array((shortContext - 1)..<(n - 1)), scaling: scaling)
        var longNLL = [Double](repeating: .nan, count: n)
        for score in long { longNLL[score.position] = score.nll }

        let stride = shortContext / 2
        let bos = model.tokenizer.addsBOS ? model.tokenizer.bosID : nil
        var keys: [Int] = []
        var start = stride
        while start + shortContext / 2 - 1 <= n - 2 {
            var chunk = Array(tokens[start..<min(start + shortContext, n)])
            if let bos { chunk[0] = bos }
            let first = shortContext / 2 - 1
            guard first < chunk.count - 1 else { break }
            let short = try model.tokenScores(tokens: chunk, positions: Array(first..<(chunk.count - 1)), scaling: scaling)
            for score in short {
                let p = start + score.position
                if score.nll - longNLL[p] > threshold { keys.append(p) }
            }
            start += stride
        }
        return keys
    }
}
