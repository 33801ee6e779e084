import Foundation
import Testing
import Evaluator
import GGUF
import RoPE
import TestSupport

/// phi3's layout (Q, K, V fused in `attn_qkv`, gate and up fused in `ffn_up`, half-split
/// rotation), checked by writing stories260K in that layout: the same network, so the same
/// loss; and a copy with gate and up swapped must not give it (the halves are read in order).
@Suite(.enabled(if: TestPaths.has("models/stories260K.gguf"), "needs ../shared/models"))
struct Phi3Tests {
    /// Writes the phi3 copy; `swapGateUp` writes [up | gate] instead of [gate | up].
    /// With `longFactor`, the file also carries its own factors: short all 1, long all
    /// `longFactor`, original context 256.
    func phi3Copy(of url: URL, swapGateUp: Bool = false, longFactor: Float? = nil) throws -> String {
        let file = try GGUFFile(path: url.path)
        var writer = GGUFWriter(copying: file)
        writer.metadata = writer.metadata.map { key, value in
            (key.hasPrefix("llama.") ? "phi3." + key.dropFirst(6) : key, value)
        }
        writer.set("general.architecture", .string("phi3"))
        writer.set("phi3.attention.sliding_window", .uint32(2048))   // llama.cpp requires it; ≥ every window here
        let headDim = 8, layers = 5
        var owned: [UnsafeMutableBufferPointer<Float>] = []
        defer { owned.forEach { $0.deallocate() } }
        var byName: [String: GGUFWriter.Tensor] = [:]
        for tensor in writer.tensors { byName[tensor.name] = tensor }
        func floats(_ name: String) -> (values: UnsafeBufferPointer<Float>, columns: Int, rows: Int) {
            let t = byName[name]!
            return (t.bytes.bindMemory(to: Float.self), t.shape[0], t.shape[1])
        }
        func halfSplit(_ name: String) -> [Float] {
            let (source, columns, rows) = floats(name)
            return halfSplitRows(source, rows: rows, columns: columns, headDim: headDim)
        }
        func fused(_ name: String, _ parts: [[Float]], columns: Int) -> GGUFWriter.Tensor {
            let all = parts.flatMap { $0 }
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: all.count)
            _ = buffer.initialize(from: all)
            owned.append(buffer)
            return .init(name: name, type: .f32, shape: [columns, all.count / columns], bytes: UnsafeRawBufferPointer(buffer))
        }
        var tensors = writer.tensors.filter { tensor in
            !["attn_q.weight", "attn_k.weight", "attn_v.weight", "ffn_gate.weight", "ffn_up.weight"].contains {
                tensor.name.hasSuffix($0)
            }
        }
        for layer in 0..<layers {
            let p = "blk.\(layer)."
            let columns = floats(p + "attn_q.weight").columns
            tensors.append(fused(p + "attn_qkv.weight", [halfSplit(p + "attn_q.weight"), halfSplit(p + "attn_k.weight"),
                                                         Array(floats(p + "attn_v.weight").values)], columns: columns))
            let gate = Array(floats(p + "ffn_gate.weight").values), up = Array(floats(p + "ffn_up.weight").values)
            tensors.append(fused(p + "ffn_up.weight", swapGateUp ? [up, gate] : [gate, up], columns: columns))
        }
        if let longFactor {
            let pairs = headDim / 2
            tensors.append(fused("rope_factors_short.weight", [[Float](repeating: 1, count: pairs)], columns: pairs))
            tensors.append(fused("rope_factors_long.weight", [[Float](repeating: longFactor, count: pairs)], columns: pairs))
            writer.set("phi3.rope.scaling.original_context_length", .uint32(256))
        }
        writer.tensors = tensors
        let path = temporaryDirectory().appendingPathComponent("phi3-\(swapGateUp)-\(longFactor ?? 0).gguf").path
        try writer.write(to: path)
        return path
    }

    @Test func fusedTensorsGiveTheLlamaLayoutsLoss() throws {
        let url = try #require(TestPaths.sharedFile("models/stories260K.gguf"))
        let text = try #require(textBytes("text/tinystories-valid.txt", prefix: 30_000))
        let llama = try LlamaModel(path: url.path, threads: 2)
        let phi3 = try LlamaModel(path: try phi3Copy(of: url), threads: 2)
        #expect(phi3.config.architecture == .phi3 && phi3.config.halfSplitRotation)
        let swapped = try LlamaModel(path: try phi3Copy(of: url, swapGateUp: true), threads: 2)
        let ppl = try perplexitiesOnOneWindow([llama, phi3, swapped], text: text)
        #expect(abs(ppl[0] - ppl[1]) / ppl[0] < 1e-4, "llama \(ppl[0]), phi3 copy \(ppl[1])")
        #expect(abs(ppl[2] - ppl[0]) / ppl[0] > 1e-3, "gate and up are told apart")
        // Longer windows than the sliding window are refused, not computed wrongly.
        #expect(phi3.config.slidingWindow == 2048)
        let scaling = RoPEScaling.yarn(geometry: phi3.geometry, scale: 2, originalContext: 512)
        #expect(throws: EvaluatorError.self) { _ = try phi3.loss(tokens: [Int32](repeating: 1, count: 2049), scoredFrom: 0, scaling: scaling) }
    }

    /// A Phi-3 file's own factors: short ones up to its original context, long ones beyond, and
    /// any scaling given replaces both.
    @Test func itsOwnShortAndLongFactorsApplyByWindowLength() throws {
        let url = try #require(TestPaths.sharedFile("models/stories260K.gguf"))
        let text = try #require(textBytes("text/tinystories-valid.txt", prefix: 30_000))
        let llama = try LlamaModel(path: url.path, threads: 2)
        let phi3 = try LlamaModel(path: try phi3Copy(of: url, longFactor: 2), threads: 2)
        let own = try #require(phi3.config.ownFactors)
        #expect(own.longFactors == [2, 2, 2, 2] && own.shortFactors == [1, 1, 1, 1] && own.originalContext == 256)
        let none = RoPEScaling.none(pairs: 4)
        func same(_ length: Int, _ phi3Scaling: RoPEScaling, _ llamaScaling: RoPEScaling) throws -> Bool {
            let w = try TextWindows(text: text, model: llama, context: length, protocol: .full, windowCount: 1).windows[0]
            let a = try llama.loss(tokens: w.tokens, scoredFrom: 0, scaling: llamaScaling).perplexity
            let b = try phi3.loss(tokens: w.tokens, scoredFrom: 0, scaling: phi3Scaling).perplexity
            return abs(a - b) / a < 1e-4
        }
        #expect(try same(200, none, none), "short factors (all 1) up to 256 tokens")
        #expect(try same(700, none, .linear(pairs: 4, scale: 2)), "long factors (all 2) beyond")
        #expect(try !same(700, none, none))
        let yarn = RoPEScaling.yarn(geometry: llama.geometry, scale: 4, originalContext: 256)
        #expect(try same(700, yarn, yarn), "a given scaling replaces the file's factors")
    }

    /// The phi3 copy against llama.cpp, which reads phi3 itself: llama-perplexity's estimate
    /// equals ours with its protocol.
    @Test(.enabled(if: TestPaths.has("tools/llama.cpp/llama-perplexity"), "needs ../shared/tools/llama.cpp"))
    func llamaCppAgreesOnThePhi3Copy() throws {
        let url = try #require(TestPaths.sharedFile("models/stories260K.gguf"))
        let path = try phi3Copy(of: url, longFactor: 2)
        let text = temporaryDirectory().appendingPathComponent("t.txt")
        try Data(contentsOf: try #require(TestPaths.sharedFile("text/tinystories-valid.txt"))).prefix(20_000).write(to: text)
        let tool = try #require(TestPaths.sharedFile("tools/llama.cpp/llama-perplexity"))
        // 512 > the file's original 256: both must use its long factors.
        let theirs = try runProcess(tool, ["-m", path, "-f", text.path, "-c", "512", "-t", "2"],
                                    environment: ["LD_LIBRARY_PATH": tool.deletingLastPathComponent().path])
        let estimate = try #require(theirs.stderr.range(of: "Final estimate: PPL = ").map {
            Double(theirs.stderr[$0.upperBound...].prefix { !$0.isWhitespace }) }, "\(theirs.stderr.suffix(500))")
        let ours = try runLongrope(["eval", "--model", path, "--text", text.path, "--context", "512", "--protocol", "llamacpp",
                                    "--threads", "2", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(ours.stdout.utf8)) as? [String: Any], "\(ours.stderr)")
        let ppl = try #require(object["ppl"] as? Double ?? object["perplexity"] as? Double, "\(ours.stdout)")
        #expect(abs(ppl - estimate!) / estimate! < 1e-3, "ours \(ppl), llama.cpp \(estimate!)")
    }
}
