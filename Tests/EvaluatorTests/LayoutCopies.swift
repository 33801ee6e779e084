import Evaluator
import RoPE

/// Each model's perplexity on one window — the first 700 tokens of `text`, cut with the first
/// model's tokenizer — under YaRN s = 2: how the layout tests compare a converted copy (and a
/// deliberately wrong one) with the llama-layout original.
func perplexitiesOnOneWindow(_ models: [LlamaModel], text: String) throws -> [Double] {
    let first = models[0]
    let window = try TextWindows(text: text, model: first, context: 700, protocol: .full, windowCount: 1).windows[0]
    let scaling = RoPEScaling.yarn(geometry: first.geometry, scale: 2, originalContext: 512)
    return try models.map { try $0.loss(tokens: window.tokens, scoredFrom: 0, scaling: scaling).perplexity }
}

/// Q or K rows of a GGUF llama-layout tensor ([rows][columns], each head's pairs interleaved:
/// row 2j and 2j+1) in Hugging Face's half-split order (row j and j + head_dim/2), as qwen2 and
/// phi3 files store them. Used to write those layouts from stories260K.
func halfSplitRows(_ source: UnsafeBufferPointer<Float>, rows: Int, columns: Int, headDim: Int) -> [Float] {
    var out = [Float](repeating: 0, count: rows * columns)
    for head in 0..<(rows / headDim) {
        for j in 0..<(headDim / 2) {
            for (from, to) in [(2 * j, j), (2 * j + 1, j + headDim / 2)] {
                for c in 0..<columns { out[(head * headDim + to) * columns + c] = source[(head * headDim + from) * columns + c] }
            }
        }
    }
    return out
}
