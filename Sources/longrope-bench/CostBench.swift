import ArgumentParser
import Foundation
import Evaluator
import GGUF

extension AttentionPrecision: ExpressibleByArgument {}

/// `longrope-bench cost`: a prediction, from kernel rates measured here and now, of what a
/// search on a 7B model costs: seconds per window for Llama-2-7B Q4_K at each length on one
/// node, and the wall time of the paper's search (1,344 candidates × K windows) on W workers.
/// Assumes the rates scale with cores and ignores everything but the matrix products and
/// attention (norms, RoPE, the NLL are a few percent); early rejection would only shorten it.
struct CostBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cost",
        abstract: "Predict seconds per window and search wall time for Llama-2-7B Q4_K from measured kernel rates.")

    @Option(help: "Cores of one worker node.") var cores = 32
    @Option(help: "Workers (nodes) the search runs on, comma-separated.") var workers = "1,8,32"
    @Option(help: "Window lengths, comma-separated.") var contexts = "4096,8192,16384,32768"
    @Option(name: .customLong("windows"), help: "Windows per candidate (K).") var windowCount = 5
    @Option(help: "Candidates of the search (the paper's P = 64, T = 40: 64 + 40·32).") var candidates = 1344
    @Option(help: "Attention precision whose rate is measured: f32 or bf16 (default: bf16 where the CPU has AVX512_BF16).")
    var attentionPrecision: AttentionPrecision = .fastest

    // Llama-2-7B.
    static let layers = 32.0, d = 4096.0, ffn = 11008.0, vocab = 32000.0, heads = 32.0, headDim = 128

    func run() throws {
        // Measured rates, one core: Q4_K products of the 7B's shapes, and attention at head dim 128.
        let mm = median([(4096, 4096), (11008, 4096), (4096, 11008)].map { rows, k in
            MatmulBench.gflops(.q4_K, rows: rows, k: k, tokens: 512, repeats: 3)
        })
        let bf16 = attentionPrecision == .bf16
        let att = 2.0 * Double(Self.headDim) * 4096 * 4096 / median((0..<3).map { _ in AttentionBench.measure(n: 4096, headDim: Self.headDim, bf16: bf16) }) / 1e9
        print(String(format: "measured on one core: Q4_K matrix products %.0f GFLOP/s (7B shapes, median), attention (%@) %.0f GFLOP/s (head dim 128, n = 4096), FP32 FMA peak %.0f GFLOP/s",
                     mm, attentionPrecision.rawValue, att, AttentionBench.fmaPeak()))
        print("PREDICTION for Llama-2-7B Q4_K, \(cores) cores per node (rates × cores), K = \(windowCount), \(candidates) candidates:")
        let ws = workers.split(separator: ",").compactMap { Int($0) }
        print("| window | matrix TFLOP | attention TFLOP | s per window | " + ws.map { "search on \($0) node\($0 == 1 ? "" : "s")" }.joined(separator: " | ") + " |")
        print("|---:|---:|---:|---:|" + String(repeating: "---:|", count: ws.count))
        for n in contexts.split(separator: ",").compactMap({ Double($0) }) {
            let matrix = 2 * n * (Self.layers * (4 * Self.d * Self.d + 3 * Self.d * Self.ffn) + Self.vocab * Self.d)
            let attention = Self.layers * Self.heads * 2 * Double(Self.headDim) * n * n
            let seconds = matrix / (mm * 1e9 * Double(cores)) + attention / (att * 1e9 * Double(cores))
            let search = ws.map { formatHours(Double(candidates * windowCount) * seconds / Double($0)) }
            print(String(format: "| %.0f | %.1f | %.1f | %.1f | ", n, matrix / 1e12, attention / 1e12, seconds) + search.joined(separator: " | ") + " |")
        }
    }

    func formatHours(_ seconds: Double) -> String {
        seconds >= 86400 ? String(format: "%.1f days", seconds / 86400) : String(format: "%.1f h", seconds / 3600)
    }
}
