import ArgumentParser
import Evaluator
import Foundation
import Seeded
import GGUF
import Kernels
import RoPE

/// Benchmarks (not tests): they print figures for the README and the issues.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "longrope-bench",
        abstract: "Print speed and memory figures of longrope's evaluator.",
        subcommands: [EvalBench.self, FitnessBench.self, QualityBench.self, MatmulBench.self, DispatchBench.self, WorkersBench.self, RejectionBench.self,
                      ClusterBench.self, DigestBench.self, AttentionBench.self, CostBench.self, RankBench.self])
}

/// A comma-separated list of attention precisions (`f32,bf16`), or a ValidationError naming
/// `option` and the first name that is not one.
func attentionPrecisions(_ list: String, option: String) throws -> [AttentionPrecision] {
    try list.split(separator: ",").map { name in
        guard let precision = AttentionPrecision(rawValue: String(name)) else {
            throw ValidationError("\(option): '\(name)' is not f32 or bf16")
        }
        return precision
    }
}

/// Peak resident memory of this process (VmHWM), in MiB.
func peakMemoryMiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return .nan }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = Double(line.split(separator: " ").dropFirst().first ?? "") ?? .nan
        return kb / 1024
    }
    return .nan
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
}

/// `longrope-bench eval`: tokens/s, GFLOP/s and peak memory of the forward pass.
struct EvalBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eval",
        abstract: "Time windows of a model at a context (llama.cpp's protocol: second half scored).")

    @Option var model: String
    @Option var text: String
    @Option var context: Int = 512
    @Option var threads: Int = 2
    @Option(help: "Windows per repetition.") var windows: Int = 4
    @Option(help: "Repetitions; the median is reported.") var repeats: Int = 3
    @Option(help: "A scaling spec as `longrope eval --scaling` takes: none, pi:S, ntk:A, yarn:S, … or a JSON file.") var scaling: String = "none"

    func run() throws {
        let model = try LlamaModel(path: model, threads: threads)
        let content = String(decoding: FileManager.default.contents(atPath: text) ?? Data(), as: UTF8.self)
        let cut = try TextWindows(text: content, model: model, context: context, protocol: .llamacpp, windowCount: windows)
        let rope = try ScalingSpec.parse(scaling, geometry: model.geometry, originalContext: model.config.contextLength,
                                         context: context)
        _ = try model.loss(tokens: cut.windows[0].tokens, scoredFrom: cut.windows[0].scoredFrom, scaling: rope)  // warm-up
        var rates: [Double] = []
        for _ in 0..<repeats {
            let result = try model.perplexity(cut.windows, scaling: rope)
            rates.append(result.tokensPerSecond)
        }
        let c = model.config
        let n = Double(context), d = Double(c.embeddingLength), hd = Double(c.headDim)
        let qDim = Double(c.headCount) * hd, kvDim = Double(c.kvHeadCount) * hd, ff = Double(c.feedForwardLength)
        let perLayer = 2 * n * d * (qDim + 2 * kvDim) + 2 * n * qDim * d + 3 * 2 * n * d * ff
            + 2 * 2 * Double(c.headCount) * hd * n * (n + 1) / 2
        let scored = Double(cut.windows[0].scoredCount)
        let flopsPerWindow = Double(c.layerCount) * perLayer + 2 * d * Double(c.vocabularySize) * scored
        let tokensPerSecond = median(rates)
        let gflops = flopsPerWindow / n * tokensPerSecond / 1e9
        print(String(format: "model %@  context %d  threads %d  kernels %@  windows %d×%d  tokens/s %.1f (median of %d: %@)  GFLOP/s %.1f  peak memory %.1f MiB",
                     (self.model as NSString).lastPathComponent, context, threads, KernelLevel.current, windows, repeats,
                     tokensPerSecond, repeats, rates.map { String(format: "%.1f", $0) }.joined(separator: ", "),
                     gflops, peakMemoryMiB()))
    }
}

/// `longrope-bench matmul`: GFLOP/s of the matrix-product kernel, per weight type and shape,
/// on one thread (Benchmarks/kernels.sh puts OpenBLAS sgemm and the FMA peak beside it).
struct MatmulBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "matmul",
        abstract: "GFLOP/s of Y = X·Wᵀ per weight type and shape, one thread.")

    @Option(help: "Weight types, comma-separated.") var types = "f32,f16,q8_0,q4_0,q4_1,q4_k,q6_k"
    @Option(help: "Shapes ROWSxK (output × input), comma-separated: SmolLM2's q/o, up/gate, down; a 7B's q/o and up/down.")
    var shapes = "576x576,1536x576,576x1536,4096x4096,11008x4096,4096x11008"
    @Option var tokens = 512
    @Option var repeats = 3
    @Flag(help: "One JSON object per line.") var json = false

    func run() throws {
        let known = Dictionary(uniqueKeysWithValues: [GGMLType.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]
            .map { ($0.name.lowercased(), $0) })
        let chosen = try types.split(separator: ",").map { name -> GGMLType in
            guard let type = known[name.lowercased()] else { throw ValidationError("unknown type \(name) (\(known.keys.sorted().joined(separator: ", ")))") }
            return type
        }
        let dims = try shapes.split(separator: ",").map { text -> (rows: Int, k: Int) in
            let parts = text.split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts[0] > 0, parts[1] > 0 else { throw ValidationError("shape \(text): ROWSxK expected") }
            return (parts[0], parts[1])
        }
        for (rows, k) in dims {
            for type in chosen where k % type.blockSize == 0 {
                let gflops = Self.gflops(type, rows: rows, k: k, tokens: tokens, repeats: repeats)
                if json {
                    print("{\"type\": \"\(type.name)\", \"rows\": \(rows), \"k\": \(k), \"tokens\": \(tokens), \"kernels\": \"\(KernelLevel.current)\", \"gflops\": \(String(format: "%.1f", gflops))}")
                } else {
                    print(String(format: "matmul %@ %d×%d × %d tokens, kernels %@: %.1f GFLOP/s (median of %d)", type.name, rows, k, tokens,
                                 KernelLevel.current, gflops, repeats))
                }
                fflush(nil)
            }
        }
    }

    /// Median GFLOP/s of `repeats` products of `tokens` rows against a `rows`×`k` matrix in `type`
    /// (k a multiple of the type's block size), one thread.
    static func gflops(_ type: GGMLType, rows: Int, k: Int, tokens: Int, repeats: Int) -> Double {
        let x = UnsafeMutablePointer<Float>.allocate(capacity: tokens * k)
        let y = UnsafeMutablePointer<Float>.allocate(capacity: tokens * rows)
        defer { x.deallocate(); y.deallocate() }
        for i in 0..<(tokens * k) { x[i] = Float(i % 5) * 0.02 }
        let scratchFloats = Int(LR_MATMUL_PANEL) * (k + 16) + k + 64
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 4 * scratchFloats, alignment: 64)
        defer { scratch.deallocate() }
        let w = weights(type, rows: rows, k: k)
        var times: [Double] = []
        w.withUnsafeBytes { raw in
            for _ in 0..<repeats {
                let start = Date()
                lr_matmul(type.rawValue, raw.baseAddress!, Int64(type.rowBytes(k)), Int64(k), x, Int64(k), Int64(tokens),
                          y, Int64(rows), 0, Int64(rows), scratch.assumingMemoryBound(to: Float.self))
                times.append(Date().timeIntervalSince(start))
            }
        }
        return 2.0 * Double(rows * k * tokens) / median(times) / 1e9
    }

    /// `rows` rows of `k` weights in `type`: small random values, every block scale a valid,
    /// small f16 (the speed does not depend on the values, but NaNs and denormals could).
    static func weights(_ type: GGMLType, rows: Int, k: Int) -> [UInt8] {
        var generator = SplitMix64(seed: 1)
        func value() -> Float { (Float(generator.next() >> 40) / Float(1 << 24) * 2 - 1) * 0.05 }
        func f16(_ v: Float) -> [UInt8] { let bits = Float16(v).bitPattern; return [UInt8(bits & 0xFF), UInt8(bits >> 8)] }
        var out: [UInt8] = []
        out.reserveCapacity(rows * type.rowBytes(k))
        for _ in 0..<rows {
            switch type {
            case .f32: for _ in 0..<k { withUnsafeBytes(of: value()) { out += $0 } }
            case .f16: for _ in 0..<k { out += f16(value()) }
            case .bf16: for _ in 0..<k { let bits = value().bitPattern >> 16; out += [UInt8(bits & 0xFF), UInt8(bits >> 8)] }
            default:
                for _ in 0..<(k / type.blockSize) {
                    var block = (0..<type.bytesPerBlock).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                    func scale(_ at: Int, _ v: Float) { block.replaceSubrange(at..<(at + 2), with: f16(v)) }
                    switch type {
                    case .q8_0, .q4_0, .q5_0: scale(0, 0.01 + abs(value()))
                    case .q4_1, .q5_1, .q4_K, .q5_K: scale(0, 0.01 + abs(value())); scale(2, value())
                    case .q6_K: scale(208, 0.01 + abs(value()) * 0.2)
                    default: break
                    }
                    out += block
                }
            }
        }
        return out
    }
}

/// `longrope-bench attention`: GFLOP/s of causal attention of one head over a window, one
/// thread (QKᵀ and PV: 2·d·n² flops for n tokens of head dimension d, counted the same for
/// BF16), beside the core's FP32 FMA peak.
struct AttentionBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "attention",
        abstract: "GFLOP/s of the causal attention kernel, one head, one thread, beside the core's FP32 FMA peak.")

    @Option(help: "Window lengths, comma-separated.") var contexts = "2048,8192"
    @Option var headDim = 64
    @Option var repeats = 3
    @Option(help: "Attention precisions, comma-separated: f32, bf16 (measured A B A B).") var precision = "f32,bf16"
    @Flag(help: "One JSON object per line.") var json = false

    func validate() throws {
        for p in try attentionPrecisions(precision, option: "--precision") {
            if let problem = p.problem(headDim: headDim, model: "the benchmark") {
                throw ValidationError("--precision \(p.rawValue): " + problem)
            }
        }
    }

    func run() throws {
        let peak = Self.fmaPeak()
        let precisions = try attentionPrecisions(precision, option: "--precision")
        if !json { print(String(format: "FP32 FMA peak of one core (kernels %@): %.1f GFLOP/s", KernelLevel.current, peak)) }
        for n in contexts.split(separator: ",").compactMap({ Int($0) }) {
            // A B A B: every precision once per round, medians over the rounds.
            var times: [AttentionPrecision: [Double]] = [:]
            for _ in 0..<repeats {
                for p in precisions { times[p, default: []].append(Self.measure(n: n, headDim: headDim, bf16: p == .bf16)) }
            }
            for p in precisions {
                let seconds = median(times[p]!)
                let gflops = 2.0 * Double(headDim) * Double(n) * Double(n) / seconds / 1e9
                let level = p.kernels
                if json {
                    print("{\"n\": \(n), \"head_dim\": \(headDim), \"precision\": \"\(p.rawValue)\", \"kernels\": \"\(level)\", \"gflops\": \(String(format: "%.1f", gflops)), \"fma_peak_gflops\": \(String(format: "%.1f", peak))}")
                } else {
                    print(String(format: "attention n %d, head dim %d, %@ (%@): %.1f GFLOP/s = %.2f× the FMA peak, %.3f s per head (median of %d)",
                                 n, headDim, p.rawValue, level, gflops, gflops / peak, seconds, repeats))
                }
            }
        }
    }

    /// The FP32 FMA peak of one core in GFLOP/s: median of five timings of twelve FMA chains.
    static func fmaPeak() -> Double {
        let iterations: Int64 = 20_000_000
        var rates: [Double] = []
        for _ in 0..<5 {
            let start = Date()
            let keep = lr_fma_chains(iterations)
            let seconds = Date().timeIntervalSince(start)
            if keep.isNaN { print("") }
            rates.append(Double(iterations) * Double(lr_fma_chains_flops_per_iteration()) / seconds / 1e9)
        }
        return median(rates)
    }

    /// Seconds of one pass of causal attention, one head of `headDim` over `n` tokens, one thread
    /// (BF16: keys and values packed before the clock starts, as the forward pass packs them once
    /// per layer).
    static func measure(n: Int, headDim d: Int, bf16: Bool) -> Double {
        let q = UnsafeMutablePointer<Float>.allocate(capacity: n * d), k = UnsafeMutablePointer<Float>.allocate(capacity: n * d)
        let v = UnsafeMutablePointer<Float>.allocate(capacity: n * d), out = UnsafeMutablePointer<Float>.allocate(capacity: n * d)
        defer { q.deallocate(); k.deallocate(); v.deallocate(); out.deallocate() }
        for i in 0..<(n * d) { q[i] = Float((i * 7) % 13) * 0.05 - 0.3; k[i] = Float((i * 5) % 11) * 0.05 - 0.25; v[i] = Float(i % 9) * 0.1 }
        let floats = Int(bf16 ? lr_attention_bf16_scratch_floats(Int64(d)) : lr_attention_scratch_floats(Int64(d)))
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 4 * floats, alignment: 64)
        defer { scratch.deallocate() }
        let scale = 1 / Float(d).squareRoot()
        if !bf16 {
            let start = Date()
            lr_attention(q, Int64(d), k, Int64(d), v, Int64(d), out, Int64(d), Int64(d), 0, Int64(n),
                         scale, scratch.assumingMemoryBound(to: Float.self))
            return Date().timeIntervalSince(start)
        }
        let elements = Int(lr_attention_bf16_packed_elements(Int64(n), Int64(d)))
        let kp = UnsafeMutableRawPointer.allocate(byteCount: 2 * elements, alignment: 64).assumingMemoryBound(to: UInt16.self)
        let vp = UnsafeMutableRawPointer.allocate(byteCount: 2 * elements, alignment: 64).assumingMemoryBound(to: UInt16.self)
        defer { kp.deallocate(); vp.deallocate() }
        lr_pack_keys_bf16(k, Int64(d), 0, Int64(n), Int64(d), kp)
        lr_pack_values_bf16(v, Int64(d), 0, Int64(n), Int64(d), vp)
        let start = Date()
        lr_attention_bf16(q, Int64(d), kp, vp, out, Int64(d), Int64(d), 0, Int64(n), scale, scratch.assumingMemoryBound(to: Float.self))
        return Date().timeIntervalSince(start)
    }
}
