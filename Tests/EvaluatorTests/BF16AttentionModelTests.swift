import Foundation
import Testing
import Evaluator
import RoPE
import TestSupport

/// BF16 attention in the whole model (tinystories-3M, head dim 64): close to FP32 but not equal,
/// and the same bits for any thread count (RunnerTests/AttentionPrecisionTests: chosen per unit).
@Suite(.enabled(if: TestPaths.has("models/tinystories-3M-ctx256.gguf") && TestPaths.has("text/tinystories-valid.txt"),
                "needs ../shared/models/tinystories-3M-ctx256.gguf and ../shared/text/tinystories-valid.txt"))
struct BF16AttentionModelTests {
    static func window(_ model: LlamaModel, length: Int) throws -> EvaluationWindow {
        let text = try #require(textBytes("text/tinystories-valid.txt", prefix: 100_000))
        return try TextWindows(text: text, model: model, context: length, protocol: .full, windowCount: 1).windows[0]
    }

    static var modelPath: String { TestPaths.sharedFile("models/tinystories-3M-ctx256.gguf")!.path }

    /// Within 0.5% of FP32's loss at 4× the trained length (the same tokens), yet not the same
    /// number (the BF16 path really ran); threads 1, 2 and 3 give the same bits.
    @Test func closeToFP32AndIndependentOfThreads() throws {
        let f32 = try LlamaModel(path: Self.modelPath, threads: 2)
        let w = try Self.window(f32, length: 1024)
        let scaling = RoPEScaling.yarn(geometry: f32.geometry, scale: 4, originalContext: 256)
        let reference = try f32.loss(tokens: w.tokens, scoredFrom: 0, scaling: scaling)
        var losses: [WindowLoss] = []
        for threads in [1, 2, 3] {
            let model = try LlamaModel(path: Self.modelPath, threads: threads, attentionPrecision: .bf16)
            #expect(model.attentionPrecision == .bf16)
            losses.append(try model.loss(tokens: w.tokens, scoredFrom: 0, scaling: scaling))
        }
        #expect(losses[0].nllSum.bitPattern == losses[1].nllSum.bitPattern)
        #expect(losses[0].nllSum.bitPattern == losses[2].nllSum.bitPattern)
        let relative = abs(losses[0].perplexity / reference.perplexity - 1)
        #expect(relative < 0.005, "ppl \(losses[0].perplexity) against FP32's \(reference.perplexity)")
        #expect(losses[0].nllSum != reference.nllSum, "BF16 gave FP32's exact loss: the BF16 path did not run")
        // A sibling made from the FP32 model scores exactly as a model loaded for BF16.
        let sibling = try f32.withAttentionPrecision(.bf16)
        #expect(try sibling.loss(tokens: w.tokens, scoredFrom: 0, scaling: scaling) == losses[1])
    }

    /// A head dimension BF16 cannot take (stories260K: 8) is refused with a message, not run.
    @Test(.enabled(if: TestPaths.has("models/stories260K.gguf"), "needs ../shared/models/stories260K.gguf"))
    func aHeadDimensionOffThe32GridIsRefused() throws {
        let path = TestPaths.sharedFile("models/stories260K.gguf")!.path
        #expect(throws: EvaluatorError.self) { try LlamaModel(path: path, threads: 1, attentionPrecision: .bf16) }
        #expect(throws: EvaluatorError.self) { try LlamaModel(path: path, threads: 1).withAttentionPrecision(.bf16) }
    }
}
