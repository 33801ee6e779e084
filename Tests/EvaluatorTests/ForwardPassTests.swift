import Foundation
import Testing
import Evaluator
import GGUF
import RoPE
import TestSupport

@Suite(.enabled(if: TestPaths.has("models/stories260K.gguf"), "needs ../shared/models")) struct ForwardPassTests {
    func window(_ model: LlamaModel, length: Int) throws -> EvaluationWindow? {
        guard let text = textBytes("text/tinystories-valid.txt", prefix: 100_000) else { return nil }
        return try TextWindows(text: text, model: model, context: length, protocol: .full, windowCount: 1).windows[0]
    }

    @Test func bitIdenticalWhateverTheThreadCount() throws {
        let url = try #require(TestPaths.sharedFile("models/tinystories-3M-ctx256.gguf"))
        var losses: [WindowLoss] = []
        for threads in [1, 2, 3] {
            let model = try LlamaModel(path: url.path, threads: threads)
            let w = try #require(try window(model, length: 300))
            let scaling = RoPEScaling.yarn(geometry: model.geometry, scale: 4, originalContext: 256)
            losses.append(try model.loss(tokens: w.tokens, scoredFrom: 0, scaling: scaling))
        }
        #expect(losses[0].nllSum.bitPattern == losses[1].nllSum.bitPattern)
        #expect(losses[0].nllSum.bitPattern == losses[2].nllSum.bitPattern)
    }

    @Test func scalingChangesTheLossAndIdentityDoesNot() throws {
        let url = try #require(TestPaths.sharedFile("models/stories260K.gguf"))
        let model = try LlamaModel(path: url.path, threads: 2)
        let w = try #require(try window(model, length: 600))
        let none = try model.loss(tokens: w.tokens, scoredFrom: 0, scaling: .none(pairs: model.pairs))
        let explicitOnes = try model.loss(tokens: w.tokens, scoredFrom: 0,
                                          scaling: RoPEScaling(method: "x", lambda: [1, 1, 1, 1]))
        #expect(none == explicitOnes)
        let pi = try model.loss(tokens: w.tokens, scoredFrom: 0, scaling: .linear(pairs: model.pairs, scale: 2))
        #expect(pi.nllSum != none.nllSum)
        // n̂ covering the whole window keeps every position on the original RoPE.
        var nHat = RoPEScaling.linear(pairs: model.pairs, scale: 2)
        nHat.nHat = 600
        nHat.attentionFactor = 1.3
        #expect(try model.loss(tokens: w.tokens, scoredFrom: 0, scaling: nHat) == none)
        // A partial n̂ differs from both.
        nHat.nHat = 16
        let mixed = try model.loss(tokens: w.tokens, scoredFrom: 0, scaling: nHat)
        #expect(mixed.nllSum != none.nllSum && mixed.nllSum != pi.nllSum)
        // m multiplies the logits: a different temperature gives a different loss.
        var warm = RoPEScaling.none(pairs: model.pairs)
        warm.attentionFactor = 1.2
        #expect(try model.loss(tokens: w.tokens, scoredFrom: 0, scaling: warm).nllSum != none.nllSum)
    }

    @Test func scoringOnlyTheSecondHalfMatchesTheFullPassThere() throws {
        let url = try #require(TestPaths.sharedFile("models/stories260K.gguf"))
        let model = try LlamaModel(path: url.path, threads: 2)
        let w = try #require(try window(model, length: 256))
        let all = try model.loss(tokens: w.tokens, scoredFrom: 0, scaling: .none(pairs: model.pairs))
        let firstHalf = try model.loss(tokens: Array(w.tokens.prefix(129)), scoredFrom: 0, scaling: .none(pairs: model.pairs))
        let secondHalf = try model.loss(tokens: w.tokens, scoredFrom: 128, scaling: .none(pairs: model.pairs))
        // Causality: the first 128 predictions do not depend on later tokens.
        #expect(abs(firstHalf.nllSum + secondHalf.nllSum - all.nllSum) < 1e-6 * all.nllSum)
        #expect(secondHalf.tokens == 127 && all.tokens == 255)
    }

    @Test func badRequestsThrow() throws {
        let url = try #require(TestPaths.sharedFile("models/stories260K.gguf"))
        let model = try LlamaModel(path: url.path, threads: 1)
        #expect(throws: EvaluatorError.self) {
            try model.loss(tokens: [1, 2, 3], scoredFrom: 0, scaling: RoPEScaling(method: "x", lambda: [1, 2]))
        }
        #expect(throws: EvaluatorError.self) {
            try model.loss(tokens: [1, 2, 3], scoredFrom: 0, scaling: RoPEScaling(method: "x", lambda: [1, .nan, 1, 1]))
        }
        #expect(throws: EvaluatorError.invalidToken(9999)) {
            try model.loss(tokens: [1, 9999], scoredFrom: 0, scaling: .none(pairs: 4))
        }
        #expect(throws: EvaluatorError.self) { try model.loss(tokens: [1], scoredFrom: 0, scaling: .none(pairs: 4)) }
    }

    @Test func textTooShortSaysHowManyTokens() throws {
        let url = try #require(TestPaths.sharedFile("models/stories260K.gguf"))
        let model = try LlamaModel(path: url.path, threads: 1)
        do {
            _ = try TextWindows(text: "Once upon a time.", model: model, context: 512, protocol: .full, windowCount: 2)
            Issue.record("expected textTooShort")
        } catch let EvaluatorError.textTooShort(tokens, needed, _) {
            #expect(tokens > 0 && tokens < 20)
            #expect(needed == 2 * 511)
        }
        #expect(throws: EvaluatorError.self) {
            try TextWindows(text: "Once upon a time.", model: model, context: 512, protocol: .llamacpp, windowCount: nil)
        }
    }

    @Test func fullProtocolWindowsStartWithBOSAndAreScoredWhole() throws {
        let url = try #require(TestPaths.sharedFile("models/stories260K.gguf"))
        let text = try #require(textBytes("text/tinystories-valid.txt", prefix: 50_000), "needs tinystories-valid.txt in ../shared")
        let model = try LlamaModel(path: url.path, threads: 1)
        let windows = try TextWindows(text: text, model: model, context: 512, protocol: .full, windowCount: 3)
        #expect(windows.windows.count == 3)
        let plain = model.tokenizer.encode(text, addSpecial: false)
        for (k, window) in windows.windows.enumerated() {
            #expect(window.tokens.count == 512 && window.scoredFrom == 0 && window.scoredCount == 511)
            #expect(window.tokens[0] == model.tokenizer.bosID)
            #expect(Array(window.tokens.dropFirst()) == Array(plain[(k * 511)..<((k + 1) * 511)]))
        }
    }

    @Test func unsupportedArchitectureIsNamed() throws {
        let url = try #require(TestPaths.sharedFile("models/stories260K.gguf"))
        var writer = GGUFWriter(copying: try GGUFFile(path: url.path))
        writer.set("general.architecture", .string("mamba"))
        let out = temporaryDirectory().appendingPathComponent("mamba.gguf")
        try writer.write(to: out.path)
        #expect(throws: EvaluatorError.unsupportedArchitecture("mamba")) { try LlamaModel(path: out.path, threads: 1) }
    }

    @Test func corruptedModelsLoadOrThrowAndLoadedOnesEvaluate() throws {
        let url = try #require(TestPaths.sharedFile("models/stories260K.gguf"))
        let original = try Data(contentsOf: url)
        let dataStart = try GGUFFile(path: url.path).dataStart
        var state: UInt64 = 7
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 11 }
        let directory = temporaryDirectory()
        var loaded = 0, refused = 0
        for trial in 0..<120 {
            var bytes = original
            for _ in 0...(next() % 3) { bytes[Int(next() % UInt64(dataStart))] ^= UInt8(truncatingIfNeeded: next() | 1) }
            let path = directory.appendingPathComponent("m\(trial).gguf").path
            try bytes.write(to: URL(fileURLWithPath: path))
            // Either the file is refused with an error that says what is wrong, or it loads and
            // evaluates (any finite or non-finite loss, or an error naming the problem).
            do {
                let model = try LlamaModel(path: path, threads: 1)
                loaded += 1
                let tokens = model.tokenizer.encode("Once upon a time there was a cat.")
                if tokens.count >= 2 {
                    do { _ = try model.loss(tokens: tokens, scoredFrom: 0, scaling: .none(pairs: model.pairs)) }
                    catch { #expect("\(error)".count > 10, "trial \(trial): an evaluation error must say what is wrong: \(error)") }
                }
            } catch {
                refused += 1
                #expect("\(error)".count > 10 && !(error is DecodingError), "trial \(trial): a refusal must say what is wrong: \(error)")
            }
            try FileManager.default.removeItem(atPath: path)
        }
        #expect(loaded + refused == 120)
        #expect(refused > 0, "corrupted headers must be refused at least sometimes (\(loaded) of 120 loaded)")
    }
}
