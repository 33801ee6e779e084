import Foundation
import Testing
import Evaluator
import RoPE
import TestSupport

/// Each layer runs a chunk of tokens at a time, attention included (peak memory: only x and the
/// keys and values are whole); the chunk size must not change a bit of the result, at either
/// attention precision.
@Suite(.enabled(if: TestPaths.has("models/tinystories-3M-ctx256.gguf") && TestPaths.has("text/tinystories-valid.txt"),
                "needs ../shared/models/tinystories-3M-ctx256.gguf and ../shared/text/tinystories-valid.txt"))
struct ChunkedLayersTests {
    /// A 1,000-token window in chunks of 1,024 (one), 100 (ten) and 37 (the last one short; BF16
    /// keys packed a part of a tile at a time, query blocks off the multiples of 64) gives the
    /// same loss bits and the same most likely token at every position.
    @Test(arguments: [AttentionPrecision.f32, .bf16])
    func theChunkSizeChangesNoBit(precision: AttentionPrecision) throws {
        let model = try LlamaModel(path: BF16AttentionModelTests.modelPath, threads: 2, attentionPrecision: precision)
        let w = try BF16AttentionModelTests.window(model, length: 1000)
        let scaling = RoPEScaling.yarn(geometry: model.geometry, scale: 4, originalContext: 256)
        let positions = Array(0..<(w.tokens.count - 1))
        let whole = try model.tokenScores(tokens: w.tokens, positions: positions, scaling: scaling)
        #expect(model.chunkRows >= w.tokens.count)
        for rows in [100, 37] {
            let chunked = try model.withChunkRows(rows)
            #expect(chunked.chunkRows == rows)
            let scores = try chunked.tokenScores(tokens: w.tokens, positions: positions, scaling: scaling)
            #expect(scores.count == whole.count)
            let differing = zip(scores, whole).filter { $0.nll.bitPattern != $1.nll.bitPattern || $0.topToken != $1.topToken }.count
            #expect(differing == 0, "\(differing) of \(whole.count) positions differ in chunks of \(rows)")
        }
    }

    /// The thread count changes no bit either, though it sets the feed-forward's panel width:
    /// 1 thread runs tinystories-3M's F = 688 as panels of 256, 256 and 176 (the down product's
    /// sums continued panel to panel, the last panel's weight rows a part of a 32-row block),
    /// 16 threads as one of 688 — and splits every product and attention between more threads.
    @Test(arguments: [AttentionPrecision.f32, .bf16])
    func theThreadCountChangesNoBit(precision: AttentionPrecision) throws {
        let one = try LlamaModel(path: BF16AttentionModelTests.modelPath, threads: 1, attentionPrecision: precision)
        let sixteen = try LlamaModel(path: BF16AttentionModelTests.modelPath, threads: 16, attentionPrecision: precision)
        #expect(one.config.feedForwardLength == 688)
        let w = try BF16AttentionModelTests.window(one, length: 600)
        let scaling = RoPEScaling.yarn(geometry: one.geometry, scale: 4, originalContext: 256)
        let positions = Array(0..<(w.tokens.count - 1))
        let a = try one.tokenScores(tokens: w.tokens, positions: positions, scaling: scaling)
        let b = try sixteen.tokenScores(tokens: w.tokens, positions: positions, scaling: scaling)
        #expect(a.count == positions.count && b.count == positions.count)
        let differing = zip(a, b).filter { $0.nll.bitPattern != $1.nll.bitPattern || $0.topToken != $1.topToken }.count
        #expect(differing == 0, "\(differing) of \(a.count) positions differ between 1 and 16 threads")
    }
}
