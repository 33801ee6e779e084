import Evaluator
import Foundation
import RoPE
import Runner
import Scoring
import Search
import Store
import TestSupport
import Testing
import Wire

/// A search's `attention_precision`: from the options into the stored config, onto every unit,
/// and to the scorer, which runs the model at that precision.
@Suite struct AttentionPrecisionTests {
    /// "bf16" is stored; "f32" (the default) is not, so a search's config stays what it was;
    /// anything else is a problem the API and CLI report.
    @Test func optionsBecomeTheConfigsPrecision() {
        let geometry = RoPEGeometry(rotaryDimension: 64, base: 10_000)
        var options = SearchOptions()
        #expect(options.config(geometry: geometry, originalContext: 256, targetContext: 1024).attentionPrecision == nil)
        options.attentionPrecision = "f32"
        #expect(options.config(geometry: geometry, originalContext: 256, targetContext: 1024).attentionPrecision == nil)
        options.attentionPrecision = "bf16"
        let config = options.config(geometry: geometry, originalContext: 256, targetContext: 1024)
        #expect(config.attentionPrecision == "bf16")
        #expect(config.problems().isEmpty, "\(config.problems())")
        options.attentionPrecision = "fp8"
        let bad = options.config(geometry: geometry, originalContext: 256, targetContext: 1024).problems()
        #expect(bad.contains { $0.contains("attention_precision") && $0.contains("fp8") }, "\(bad)")
    }

    /// BF16 with a fitness that hangs on the needles' answers is allowed, with a warning (it
    /// reorders close candidates, docs/benchmarks.md); with `ppl`, or in FP32, there is none.
    @Test func bf16WithANeedleFitnessIsWarnedAbout() {
        let geometry = RoPEGeometry(rotaryDimension: 64, base: 10_000)
        var options = SearchOptions()
        func warnings(_ precision: String?, _ fitness: Fitness?) -> [String] {
            options.attentionPrecision = precision; options.fitness = fitness
            return options.config(geometry: geometry, originalContext: 256, targetContext: 1024).warnings
        }
        #expect(warnings("bf16", nil).isEmpty)
        #expect(warnings("bf16", .ppl).isEmpty)
        #expect(warnings("f32", .mixed).isEmpty)
        #expect(warnings(nil, .needle).isEmpty)
        for fitness in [Fitness.mixed, .needle] {
            let said = warnings("bf16", fitness)
            #expect(said.count == 1 && said[0].contains("bf16") && said[0].contains(fitness.rawValue), "\(said)")
        }
    }

    /// Every unit of a search stored with "bf16" carries it (the rules' and the candidates'):
    /// the recorder notes each unit's precision, then scores it at FP32 (stories260K's head dim
    /// of 8 has no BF16 path), so the search itself runs as usual.
    @Test func everyUnitOfABF16SearchCarriesIt() async throws {
        final class Recorder: UnitEvaluator, @unchecked Sendable {
            let inner: UnitEvaluator
            private(set) var seen: [String?] = []
            private let lock = NSLock()
            var capacity: Int { 1 }
            init(_ inner: UnitEvaluator) { self.inner = inner }
            func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
                lock.withLock { seen.append(unit.attentionPrecision) }
                var plain = unit
                plain.attentionPrecision = nil
                return try await inner.evaluate(plain)
            }
        }
        let fixture = try #require(try Fixture(), "needs ../shared/models/stories260K.gguf and ../shared/text/tinystories-valid.txt")
        var config = fixture.config
        config.attentionPrecision = "bf16"
        config.iterations = 1
        let store = try SearchStore(path: temporaryDirectory().appendingPathComponent("search.sqlite").path)
        let id = try store.createSearch(name: "bf16", config: config, modelPath: "m", modelSHA256: "m", textPath: "t",
                                        textOffset: 0, textSHA256: "t")
        let recorder = Recorder(try fixture.evaluator())
        _ = try await SearchRunner(store: store, searchID: id, geometry: fixture.model.geometry).run(evaluator: recorder)
        #expect(recorder.seen.count > 10)
        #expect(recorder.seen.allSatisfy { $0 == "bf16" }, "\(Set(recorder.seen.map { $0 ?? "nil" }))")
        #expect(try store.search(id)?.config.attentionPrecision == "bf16")
    }

    static var modelPath: String? { TestPaths.sharedFile("models/tinystories-3M-ctx256.gguf")?.path }

    /// A unit carries its search's precision to the scorer: "bf16" scores as the BF16 model,
    /// nil and "f32" as FP32, and an unknown name is the unit's error, not a crash.
    @Test(.enabled(if: modelPath != nil && TestPaths.has("text/tinystories-valid.txt"),
                   "needs ../shared/models/tinystories-3M-ctx256.gguf and ../shared/text/tinystories-valid.txt"))
    func aUnitIsScoredAtItsSearchsPrecision() throws {
        let modelPath = try #require(Self.modelPath)
        let model = try LlamaModel(path: modelPath, threads: 2)
        let text = try #require(FileManager.default.contents(atPath: TestPaths.sharedFile("text/tinystories-valid.txt")!.path))
        let scorer = UnitScorer(model: model, text: text.prefix(100_000))
        let scaling = RoPEScaling.yarn(geometry: model.geometry, scale: 2, originalContext: 256)
        var unit = WorkUnit(searchID: 1, candidateRowID: 1, window: 0, lambda: scaling.lambda, nHat: 0,
                            attentionFactor: scaling.attentionFactor, targetContext: 512, windowCount: 1,
                            modelSHA256: "", textSHA256: "", textOffset: 0)
        let plain = try scorer.score(unit, worker: "t")
        unit.attentionPrecision = "f32"
        #expect(try scorer.score(unit, worker: "t").nllSum == plain.nllSum)
        unit.attentionPrecision = "bf16"
        let bf16 = try scorer.score(unit, worker: "t")
        let w = try scorer.windows(for: unit)[0]
        let expected = try LlamaModel(path: modelPath, threads: 2, attentionPrecision: .bf16)
            .loss(tokens: w.tokens, positions: w.positions, scaling: unit.scaling)
        #expect(bf16.nllSum == expected.nllSum)
        #expect(bf16.nllSum != plain.nllSum)
        unit.attentionPrecision = "fp8"
        #expect(throws: EvaluatorError.self) { try scorer.score(unit, worker: "t") }
    }

}
