import ArgumentParser
import Evaluator
import Foundation
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
                      ClusterBench.self, DigestBench.self])
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
        let cut = try TextWindows(text: content, model: model, context: context, protocol: .llamacpp, samples: windows)
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
        print(String(format: "model %@  context %d  threads %d  windows %d×%d  tokens/s %.1f (median of %d: %@)  GFLOP/s %.1f  peak memory %.1f MiB",
                     (self.model as NSString).lastPathComponent, context, threads, windows, repeats,
                     tokensPerSecond, repeats, rates.map { String(format: "%.1f", $0) }.joined(separator: ", "),
                     gflops, peakMemoryMiB()))
    }
}

/// `longrope-bench matmul`: GFLOP/s of the matrix-product kernel.
struct MatmulBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "matmul",
        abstract: "GFLOP/s of Y = X·Wᵀ for F32 weights, one thread.")

    @Option var rows = 1536
    @Option var columns = 576
    @Option var tokens = 512
    @Option var repeats = 5

    func run() {
        let w = UnsafeMutablePointer<Float>.allocate(capacity: rows * columns)
        let x = UnsafeMutablePointer<Float>.allocate(capacity: tokens * columns)
        let y = UnsafeMutablePointer<Float>.allocate(capacity: tokens * rows)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 4 * (32 * (columns + 16) + columns + 64), alignment: 64)
            .bindMemory(to: Float.self, capacity: 32 * (columns + 16) + columns + 64)
        for i in 0..<(rows * columns) { w[i] = Float(i % 7) * 0.01 }
        for i in 0..<(tokens * columns) { x[i] = Float(i % 5) * 0.02 }
        var times: [Double] = []
        for _ in 0..<repeats {
            let start = Date()
            lr_matmul(0, w, Int64(4 * columns), Int64(columns), x, Int64(columns), Int64(tokens), y, Int64(rows),
                      0, Int64(rows), scratch)
            times.append(Date().timeIntervalSince(start))
        }
        let flops = 2.0 * Double(rows * columns * tokens)
        print(String(format: "matmul %d×%d × %d tokens: %.1f GFLOP/s (median of %d)", rows, columns, tokens,
                     flops / median(times) / 1e9, repeats))
    }
}
