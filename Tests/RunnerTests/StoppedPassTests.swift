import Evaluator
import Foundation
import Scoring
import TestSupport
import Testing
import Wire

/// A unit nobody waits for any more stops within a layer, and leaves the evaluator as it was.
@Suite(.enabled(if: TestPaths.has("models/stories260K.gguf"), "needs ../shared/models"))
struct StoppedPassTests {
    func unit(context: Int, row: Int64) -> WorkUnit {
        WorkUnit(searchID: 1, candidateRowID: row, window: 0, lambda: [8, 8, 8, 8], nHat: 0, attentionFactor: 1,
                 targetContext: context, windowCount: 1, modelSHA256: "m", textSHA256: "t", textOffset: 0)
    }

    @Test func aCancelledUnitStopsItsPassAndTheNextScoresTheSameBits() async throws {
        let url = try #require(TestPaths.sharedFile("models/stories260K.gguf"))
        let source = try #require(TestPaths.sharedFile("text/tinystories-valid.txt"))
        let text = try Data(contentsOf: source).prefix(400_000)
        let evaluator = LocalEvaluator(model: try LlamaModel(path: url.path, threads: 1), text: text)
        // One window of 32,768 tokens: tens of seconds on one thread, unless it stops.
        _ = try evaluator.scorer.windows(for: unit(context: 32_768, row: 1))   // cut before the clock matters
        let long = Task { try await evaluator.evaluate(unit(context: 32_768, row: 1)) }
        try await Task.sleep(nanoseconds: 300_000_000)
        long.cancel()
        await #expect(throws: CancellationError.self, "a cancelled unit must stop, not answer") { try await long.value }
        // A signal already stopped ends a pass before its first layer.
        let model = evaluator.model
        let window = try evaluator.scorer.windows(for: unit(context: 1024, row: 2))[0]
        let stopped = StopSignal()
        stopped.stop()
        #expect(throws: EvaluatorError.cancelled) {
            try model.loss(tokens: window.tokens, positions: window.positions, scaling: .none(pairs: model.pairs), stop: stopped)
        }
        // The buffers a stopped pass left behind change nothing in the next one.
        let after = try await evaluator.evaluate(unit(context: 1024, row: 2))
        let fresh = LocalEvaluator(model: try LlamaModel(path: url.path, threads: 1), text: text)
        let reference = try await fresh.evaluate(unit(context: 1024, row: 2))
        #expect(after.nllSum?.bitPattern == reference.nllSum?.bitPattern && after.tokens == reference.tokens)
    }
}
