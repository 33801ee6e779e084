import Evaluator
import Foundation
import RoPE
import Search
import Scoring
import TestSupport
import Testing
import Wire

/// The needle and mixed fitness as a worker scores them: the answers of K needles per window, and
/// every token of the needle window with the answers weighted to count as much as the rest.
@Suite(.enabled(if: TestPaths.has("models/stories260K.gguf") && TestPaths.has("text/tinystories-valid.txt"),
                "needs ../shared/models/stories260K.gguf and ../shared/text/tinystories-valid.txt"))
struct NeedleFitnessTests {
    let model: LlamaModel
    let scorer: UnitScorer

    init() throws {
        model = try LlamaModel(path: TestPaths.shared.appendingPathComponent("models/stories260K.gguf").path, threads: 2)
        let text = try Data(contentsOf: TestPaths.shared.appendingPathComponent("text/tinystories-valid.txt")).prefix(60_000)
        scorer = UnitScorer(model: model, text: text)
    }

    func unit(fitness: Fitness, needles: Int?) -> WorkUnit {
        var unit = WorkUnit(searchID: 1, candidateRowID: 1, window: 1, lambda: RoPEScaling.ntk(pairs: model.pairs, alpha: 2).lambda,
                            nHat: 0, attentionFactor: 1.05, targetContext: 1024, windowCount: 2, modelSHA256: "m",
                            textSHA256: "t", textOffset: 100)
        unit.fitness = fitness
        unit.needleSeed = 9
        unit.needles = needles
        return unit
    }

    @Test func needleUnitsScoreEveryAnswerOfTheirWindow() throws {
        let unit = unit(fitness: .needle, needles: 3)
        let window = try scorer.windows(for: unit)[1]
        let text = String(decoding: scorer.text.dropFirst(100), as: UTF8.self)
        let graded = try NeedleWindows.gradedWindows(text: text, model: model, context: 1024, windowCount: 2, seed: 9, needles: 3)
        #expect(window == graded[1].window, "the unit's window is the graded one")
        let result = try scorer.score(unit, worker: "w")
        let expected = try model.loss(tokens: window.tokens, positions: graded[1].answerPositions.flatMap { $0 }, scaling: unit.scaling)
        #expect(result.tokens == expected.tokens && result.tokens >= 3 * 7)
        #expect(abs(result.nllSum! - expected.nllSum) <= 1e-9 * expected.nllSum)
        #expect(result.problem(for: unit) == nil)
        // One needle per window is another window (LongRoPE2's), scored on its single answer.
        #expect(try scorer.windows(for: self.unit(fitness: .needle, needles: nil))[1] != window)
    }

    @Test func mixedUnitsWeighTheAnswersAsMuchAsTheRest() throws {
        let unit = unit(fitness: .mixed, needles: 2)
        let window = try scorer.windows(for: unit)[1]
        let result = try scorer.score(unit, worker: "w")
        let all = try model.loss(tokens: window.tokens, scoredFrom: 0, scaling: unit.scaling)
        let answers = try model.loss(tokens: window.tokens, positions: window.positions, scaling: unit.scaling)
        #expect(result.tokens == 1023 && all.tokens == 1023)
        let expected = all.nllSum + answers.nllSum / Double(answers.tokens) * 1023
        #expect(abs(result.nllSum! - expected) <= 1e-9 * expected)
        // exp(nll_sum / tokens) is the window's perplexity times its answers' perplexity.
        #expect(abs(exp(result.nllSum! / 1023) - all.perplexity * answers.perplexity) <= 1e-9 * all.perplexity * answers.perplexity)
        #expect(result.problem(for: unit) == nil)
        var short = result
        short.tokens = window.positions.count
        #expect(short.problem(for: unit) != nil, "a mixed unit scores every position")
    }
}
