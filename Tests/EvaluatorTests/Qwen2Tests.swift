import Foundation
import Testing
import Evaluator
import GGUF
import RoPE
import TestSupport

/// qwen2's path (half-split rotation, Q/K/V biases), checked by turning the llama-layout
/// stories260K into a qwen2-layout copy: Q/K rows un-permuted to HF's order, zero biases.
/// The two files describe the same network, so their losses must agree.
@Suite(.enabled(if: TestPaths.has("models/stories260K.gguf") && TestPaths.has("text/tinystories-valid.txt"),
                "needs stories260K and tinystories-valid.txt in ../shared"))
struct Qwen2Tests {
    /// Writes the qwen2 copy; `biasValue` fills the added biases.
    func qwen2Copy(of url: URL, biasValue: Float) throws -> String {
        let file = try GGUFFile(path: url.path)
        var writer = GGUFWriter(copying: file)
        writer.metadata = writer.metadata.map { key, value in
            (key.hasPrefix("llama.") ? "qwen2." + key.dropFirst(6) : key, value)
        }
        writer.set("general.architecture", .string("qwen2"))
        let headDim = 8, layers = 5
        var owned: [UnsafeMutableBufferPointer<Float>] = []
        defer { owned.forEach { $0.deallocate() } }
        func buffer(_ count: Int, _ fill: Float = 0) -> UnsafeMutableBufferPointer<Float> {
            let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
            b.initialize(repeating: fill)
            owned.append(b)
            return b
        }
        writer.tensors = writer.tensors.map { tensor in
            guard tensor.name.hasSuffix("attn_q.weight") || tensor.name.hasSuffix("attn_k.weight") else { return tensor }
            let columns = tensor.shape[0], rows = tensor.shape[1]
            let out = buffer(rows * columns)
            _ = out.initialize(from: halfSplitRows(tensor.bytes.bindMemory(to: Float.self), rows: rows, columns: columns,
                                                   headDim: headDim))
            return .init(name: tensor.name, type: .f32, shape: tensor.shape, bytes: UnsafeRawBufferPointer(out))
        }
        for layer in 0..<layers {
            for (name, length) in [("attn_q", 64), ("attn_k", 32), ("attn_v", 32)] {
                writer.tensors.append(.init(name: "blk.\(layer).\(name).bias", type: .f32, shape: [length],
                                            bytes: UnsafeRawBufferPointer(buffer(length, biasValue))))
            }
        }
        let path = temporaryDirectory().appendingPathComponent("qwen2.gguf").path
        try writer.write(to: path)
        return path
    }

    @Test func halfSplitRotationWithBiasesMatchesTheLlamaLayout() throws {
        let url = try #require(TestPaths.sharedFile("models/stories260K.gguf"))
        let text = try #require(textBytes("text/tinystories-valid.txt", prefix: 30_000))
        let llama = try LlamaModel(path: url.path, threads: 2)
        let qwen = try LlamaModel(path: try qwen2Copy(of: url, biasValue: 0), threads: 2)
        #expect(qwen.config.architecture == .qwen2 && qwen.config.halfSplitRotation)
        // The biases are used: non-zero ones change the loss.
        let biased = try LlamaModel(path: try qwen2Copy(of: url, biasValue: 0.05), threads: 2)
        let ppl = try perplexitiesOnOneWindow([llama, qwen, biased], text: text)
        #expect(abs(ppl[0] - ppl[1]) / ppl[0] < 1e-4, "llama \(ppl[0]), qwen2 copy \(ppl[1])")
        #expect(abs(ppl[2] - ppl[0]) / ppl[0] > 1e-4)
    }
}
