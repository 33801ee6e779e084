import Foundation
import Testing
import Evaluator
import GGUF
import RoPE
import TestSupport

/// The evaluator's mechanics without ../shared: a tiny random Llama model (2 layers, 2 heads
/// sharing one K/V head, head_dim 8) written with GGUFWriter, scored by LlamaModel and by a
/// naive forward pass written here from the definitions (RMSNorm, adjacent-pair RoPE with
/// θ_j/λ_j and m, causal softmax attention with GQA, SwiGLU); they must agree to 1e-4. The
/// qwen3 variant adds per-head RMSNorm of q and k before a half-split rotation.
@Suite struct SyntheticModelTests {
    static let vocab = 12, d = 16, layers = 2, heads = 2, kvHeads = 1, hd = 8, ff = 24
    static let eps: Float = 1e-5, base = 10_000.0

    /// Deterministic weights: name → values (row-major [rows][columns]).
    final class Weights {
        var tensors: [(name: String, rows: Int, columns: Int, values: [Float])] = []
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func random() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
        }
        @discardableResult
        func add(_ name: String, rows: Int, columns: Int, scale: Float, offset: Float = 0) -> [Float] {
            let values = (0..<(rows * columns)).map { _ in offset + scale * random() }
            tensors.append((name, rows, columns, values))
            return values
        }
        func get(_ name: String) -> [Float] { tensors.first { $0.name == name }!.values }
    }

    /// A tiny model of `architecture` in the llama tensor layout; tensors whose name ends with
    /// one of `leaveOut` are not written (to check the errors of a file that lacks them).
    func makeModel(architecture: String = "llama", leaveOut: Set<String> = []) throws -> (path: String, weights: Weights) {
        let w = Weights()
        let (V, d, hd, ff) = (Self.vocab, Self.d, Self.hd, Self.ff)
        w.add("token_embd.weight", rows: V, columns: d, scale: 1)
        for l in 0..<Self.layers {
            w.add("blk.\(l).attn_norm.weight", rows: 1, columns: d, scale: 0.2, offset: 1)
            w.add("blk.\(l).attn_q.weight", rows: Self.heads * hd, columns: d, scale: 0.5)
            w.add("blk.\(l).attn_k.weight", rows: Self.kvHeads * hd, columns: d, scale: 0.5)
            w.add("blk.\(l).attn_v.weight", rows: Self.kvHeads * hd, columns: d, scale: 0.5)
            if architecture == "qwen3" {
                w.add("blk.\(l).attn_q_norm.weight", rows: 1, columns: hd, scale: 0.3, offset: 1)
                w.add("blk.\(l).attn_k_norm.weight", rows: 1, columns: hd, scale: 0.3, offset: 1)
            }
            w.add("blk.\(l).attn_output.weight", rows: d, columns: Self.heads * hd, scale: 0.3)
            w.add("blk.\(l).ffn_norm.weight", rows: 1, columns: d, scale: 0.2, offset: 1)
            w.add("blk.\(l).ffn_gate.weight", rows: ff, columns: d, scale: 0.3)
            w.add("blk.\(l).ffn_up.weight", rows: ff, columns: d, scale: 0.3)
            w.add("blk.\(l).ffn_down.weight", rows: d, columns: ff, scale: 0.3)
        }
        w.add("output_norm.weight", rows: 1, columns: d, scale: 0.2, offset: 1)
        w.add("output.weight", rows: V, columns: d, scale: 0.5)

        var writer = GGUFWriter()
        writer.set("general.architecture", .string(architecture))
        for (key, value) in [("embedding_length", d), ("block_count", Self.layers), ("attention.head_count", Self.heads),
                             ("attention.head_count_kv", Self.kvHeads), ("feed_forward_length", ff), ("context_length", 64),
                             ("vocab_size", V)] {
            writer.set("\(architecture).\(key)", .uint32(UInt32(value)))
        }
        writer.set("\(architecture).attention.layer_norm_rms_epsilon", .float32(Self.eps))
        writer.set("\(architecture).rope.freq_base", .float32(Float(Self.base)))
        writer.set("tokenizer.ggml.model", .string("llama"))
        writer.set("tokenizer.ggml.tokens", .array(["<unk>", "<s>", "</s>"].map { .string($0) }
                                                   + (0..<(V - 3)).map { .string("▁t\($0)") }))
        var buffers: [UnsafeMutableBufferPointer<Float>] = []
        defer { buffers.forEach { $0.deallocate() } }
        for t in w.tensors where !leaveOut.contains(where: { t.name.hasSuffix($0) }) {
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: t.values.count)
            _ = buffer.initialize(from: t.values)
            buffers.append(buffer)
            let shape = t.rows == 1 ? [t.columns] : [t.columns, t.rows]
            writer.tensors.append(.init(name: t.name, type: .f32, shape: shape, bytes: UnsafeRawBufferPointer(buffer)))
        }
        let path = temporaryDirectory().appendingPathComponent("synthetic-\(architecture).gguf").path
        try writer.write(to: path)
        return (path, w)
    }

    /// Σ −log p(token[t+1] | tokens ≤ t) for t in 0..<n−1, computed the slow, obvious way.
    func naiveNLL(_ w: Weights, tokens: [Int], scaling: RoPEScaling, architecture: String = "llama") -> Double {
        let qwen3 = architecture == "qwen3"
        let (n, d, hd, ff, V) = (tokens.count, Self.d, Self.hd, Self.ff, Self.vocab)
        func matvec(_ m: [Float], rows: Int, columns: Int, _ x: [Float]) -> [Float] {
            (0..<rows).map { r in (0..<columns).reduce(Float(0)) { $0 + m[r * columns + $1] * x[$1] } }
        }
        func rmsnorm(_ x: [Float], _ weight: [Float]) -> [Float] {
            let ms = x.reduce(Float(0)) { $0 + $1 * $1 } / Float(x.count)
            let inv = 1 / (ms + Self.eps).squareRoot()
            return zip(x, weight).map { $0 * inv * $1 }
        }
        func rotate(_ v: inout [Float], head: Int, position t: Int) {
            let original = t < scaling.nHat
            let m = original ? 1 : scaling.attentionFactor
            for j in 0..<(hd / 2) {
                let theta = pow(Self.base, -2 * Double(j) / Double(hd)) / (original ? 1 : scaling.lambda[j])
                let angle = Double(t) * theta
                let (c, s) = (Float(m * cos(angle)), Float(m * sin(angle)))
                // llama: pair j is (2j, 2j+1); qwen3 (half-split): (j, j + hd/2).
                let (i0, i1) = qwen3 ? (head * hd + j, head * hd + j + hd / 2) : (head * hd + 2 * j, head * hd + 2 * j + 1)
                let (a, b) = (v[i0], v[i1])
                v[i0] = a * c - b * s
                v[i1] = a * s + b * c
            }
        }
        let embedding = w.get("token_embd.weight")
        var x = tokens.map { Array(embedding[($0 * d)..<($0 * d + d)]) }
        for l in 0..<Self.layers {
            let p = "blk.\(l)."
            var q: [[Float]] = [], k: [[Float]] = [], v: [[Float]] = []
            for t in 0..<n {
                let h = rmsnorm(x[t], w.get(p + "attn_norm.weight"))
                var qt = matvec(w.get(p + "attn_q.weight"), rows: Self.heads * hd, columns: d, h)
                var kt = matvec(w.get(p + "attn_k.weight"), rows: Self.kvHeads * hd, columns: d, h)
                if qwen3 {
                    for head in 0..<Self.heads {
                        qt.replaceSubrange((head * hd)..<(head * hd + hd),
                                           with: rmsnorm(Array(qt[(head * hd)..<(head * hd + hd)]), w.get(p + "attn_q_norm.weight")))
                    }
                    for head in 0..<Self.kvHeads {
                        kt.replaceSubrange((head * hd)..<(head * hd + hd),
                                           with: rmsnorm(Array(kt[(head * hd)..<(head * hd + hd)]), w.get(p + "attn_k_norm.weight")))
                    }
                }
                for head in 0..<Self.heads { rotate(&qt, head: head, position: t) }
                for head in 0..<Self.kvHeads { rotate(&kt, head: head, position: t) }
                q.append(qt); k.append(kt)
                v.append(matvec(w.get(p + "attn_v.weight"), rows: Self.kvHeads * hd, columns: d, h))
            }
            for t in 0..<n {
                var attention = [Float](repeating: 0, count: Self.heads * hd)
                for head in 0..<Self.heads {
                    let kvHead = head / (Self.heads / Self.kvHeads)
                    let scores = (0...t).map { u in
                        (0..<hd).reduce(Float(0)) { $0 + q[t][head * hd + $1] * k[u][kvHead * hd + $1] } / Float(hd).squareRoot()
                    }
                    let top = scores.max()!
                    let e = scores.map { exp($0 - top) }
                    let total = e.reduce(0, +)
                    for u in 0...t { for i in 0..<hd { attention[head * hd + i] += e[u] / total * v[u][kvHead * hd + i] } }
                }
                let projected = matvec(w.get(p + "attn_output.weight"), rows: d, columns: Self.heads * hd, attention)
                x[t] = zip(x[t], projected).map(+)
                let h = rmsnorm(x[t], w.get(p + "ffn_norm.weight"))
                let gate = matvec(w.get(p + "ffn_gate.weight"), rows: ff, columns: d, h)
                let up = matvec(w.get(p + "ffn_up.weight"), rows: ff, columns: d, h)
                let act = zip(gate, up).map { g, u in g / (1 + exp(-g)) * u }
                x[t] = zip(x[t], matvec(w.get(p + "ffn_down.weight"), rows: d, columns: ff, act)).map(+)
            }
        }
        var nll = 0.0
        for t in 0..<(n - 1) {
            let logits = matvec(w.get("output.weight"), rows: V, columns: d, rmsnorm(x[t], w.get("output_norm.weight")))
                .map(Double.init)
            let top = logits.max()!
            let logSum = top + log(logits.reduce(0) { $0 + exp($1 - top) })
            nll += logSum - logits[tokens[t + 1]]
        }
        return nll
    }

    @Test(arguments: [
        RoPEScaling.none(pairs: 4),
        RoPEScaling(method: "searched", lambda: [1, 1.5, 2.5, 4], attentionFactor: 1.2),
        RoPEScaling(method: "n-hat", lambda: [2, 2, 3, 8], nHat: 3, attentionFactor: 1.1),
    ])
    func theForwardPassMatchesANaiveOne(scaling: RoPEScaling) throws {
        let (path, weights) = try makeModel()
        let model = try LlamaModel(path: path, threads: 2)
        let tokens = (0..<40).map { ($0 * 7 + 3) % Self.vocab }
        let ours = try model.loss(tokens: tokens.map(Int32.init), scoredFrom: 0, scaling: scaling)
        let naive = naiveNLL(weights, tokens: tokens, scaling: scaling)
        #expect(ours.tokens == tokens.count - 1)
        #expect(abs(ours.nllSum - naive) / naive < 1e-4, "ours \(ours.nllSum), naive \(naive) (\(scaling.method))")
    }

    /// A qwen3 file without its q/k norms, or a phi3 file without its fused tensors, is refused
    /// with the missing tensor's name (running on without them would give wrong losses).
    @Test func aFileMissingItsArchitecturesTensorsIsRefusedByName() throws {
        for (architecture, missing, named) in [("qwen3", "attn_k_norm.weight", "attn_k_norm"),
                                               ("qwen3", "attn_q_norm.weight", "attn_q_norm"),
                                               ("phi3", "attn_q.weight", "attn_qkv")] {
            let (path, _) = try makeModel(architecture: architecture, leaveOut: [missing])
            do {
                _ = try LlamaModel(path: path, threads: 1)
                Issue.record("a \(architecture) file without \(missing) loaded")
            } catch {
                #expect("\(error)".contains(named), "\(architecture) without \(missing): \(error)")
            }
        }
    }

    @Test(arguments: [
        RoPEScaling.none(pairs: 4),
        RoPEScaling(method: "searched", lambda: [1, 1.5, 2.5, 4], attentionFactor: 1.2),
    ])
    func qwen3sHeadNormsMatchANaivePass(scaling: RoPEScaling) throws {
        let (path, weights) = try makeModel(architecture: "qwen3")
        let model = try LlamaModel(path: path, threads: 2)
        #expect(model.config.architecture == .qwen3 && model.config.halfSplitRotation)
        let tokens = (0..<40).map { ($0 * 5 + 1) % Self.vocab }
        let ours = try model.loss(tokens: tokens.map(Int32.init), scoredFrom: 0, scaling: scaling)
        let naive = naiveNLL(weights, tokens: tokens, scaling: scaling, architecture: "qwen3")
        #expect(abs(ours.nllSum - naive) / naive < 1e-4, "ours \(ours.nllSum), naive \(naive) (\(scaling.method))")
        // Without the norms (read as llama) the same weights give another loss: they are used.
        let plain = naiveNLL(weights, tokens: tokens, scaling: scaling)
        #expect(abs(plain - naive) / naive > 1e-3)
    }
}
