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
