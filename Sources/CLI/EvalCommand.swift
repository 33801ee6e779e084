import ArgumentParser
import Evaluator
import Foundation
import RoPE

extension PerplexityProtocol: ExpressibleByArgument {}
extension AttentionPrecision: ExpressibleByArgument {}

/// The help of every `--attention-precision` option.
let attentionPrecisionHelp = ArgumentHelp(
    "Attention's inputs: f32, or bf16 (rounded to BF16, FP32 sums: ~2× faster with AVX512_BF16, within 0.1% in perplexity; head dims that are multiples of 32). Default: bf16 where the CPU has AVX512_BF16 and the model allows it, else f32.")

/// `longrope eval`: the perplexity of a GGUF model on a text at one context under one scaling.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure a model's perplexity on a text at a context length under a RoPE scaling.")

    @Option(help: "GGUF model (llama, qwen2, qwen3 or phi3 architecture).")
    var model: String

    @Option(help: "UTF-8 text file to score.")
    var text: String

    @Option(help: "Context length (tokens per window).")
    var context: Int

    @Option(help: "The context the model was trained at (default: the GGUF's context_length).")
    var originalContext: Int?

    @Option(help: "none, pi:S, ntk:ALPHA, dynamic-ntk, yarn:S, yarn-linear:S, llama3:S, or a JSON file from `longrope factors --format json`.")
    var scaling: String = "none"

    @Option(name: .customLong("protocol"), help: "full (LongRoPE: every token of each window) or llamacpp (llama-perplexity's chunks).")
    var perplexityProtocol: PerplexityProtocol = .full

    @Option(name: .customLong("windows"), help: "Number of windows to score (default: all the text gives).")
    var windowCount: Int?
    @Option(name: .customLong("samples"), help: .hidden) var samplesAlias: Int?   // the name before 2026-11-28

    @Option(help: "Threads, 1 to four per core (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: attentionPrecisionHelp)
    var attentionPrecision: AttentionPrecision?

    @Flag(help: "Print one JSON object instead of a line of text.")
    var json = false

    func validate() throws {
        guard context >= 2 else { throw ValidationError("--context must be at least 2, got \(context)") }
        if let problem = ThreadLimit.problem(threads) { throw ValidationError(problem) }
        if let count = windowCount ?? samplesAlias, count < 1 { throw ValidationError("--windows must be at least 1, got \(count)") }
        if let originalContext, originalContext < 1 { throw ValidationError("--original-context must be at least 1") }
    }

    func run() throws {
        let model = try loadModel(model, threads: threads, attentionPrecision: attentionPrecision)
        let original = originalContext ?? model.config.contextLength
        let rope = try ScalingSpec.parse(scaling, geometry: model.geometry, originalContext: original, context: context)
        let textContent = try readText(text)
        let windows = try TextWindows(text: textContent, model: model, context: context,
                                      protocol: perplexityProtocol, windowCount: windowCount ?? samplesAlias)
        let progress = ProgressLine(label: "eval")
        let result = try model.perplexity(windows.windows, scaling: rope) { done, total, running in
            progress.show("window \(done)/\(total), ppl so far \(String(format: "%.4f", running))")
        }
        progress.finish()
        // A file with its own factors (an exported copy) is not scored at "none": say whose they are.
        let fileScales = model.config.scalesRoPEItself
        let label = !fileScales ? rope.method : rope.method == "none" ? "the file's own factors" : "\(rope.method) on the file's factors"
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            var object = try JSONSerialization.jsonObject(with: encoder.encode(result)) as! [String: Any]
            object["scaling"] = rope.method
            object["file_factors"] = fileScales
            object["context"] = context
            object["original_context"] = original
            object["protocol"] = perplexityProtocol.rawValue
            object["threads"] = threads
            object["attention_precision"] = model.attentionPrecision.rawValue
            object["attention_kernels"] = model.attentionPrecision.kernels
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(String(format: "ppl %.4f ± %.5f  nll %.5f  tokens scored %d  windows %d  %.1f s  %.0f tokens/s  (%@, context %d, %@, attention %@)",
                         result.perplexity, result.uncertainty, result.nll, result.tokensScored, result.windows, result.seconds,
                         result.tokensPerSecond, label, context, perplexityProtocol.rawValue, model.attentionPrecision.kernels))
        }
    }
}

/// Loads a model, turning errors into one clear line. `attentionPrecision` nil: bf16 where the
/// CPU has AVX512_BF16 and the model's head dimension allows it, else f32 (an explicit bf16 the
/// model cannot take is an error).
func loadModel(_ path: String, threads: Int, attentionPrecision: AttentionPrecision? = .f32) throws -> LlamaModel {
    do {
        if let attentionPrecision { return try LlamaModel(path: path, threads: threads, attentionPrecision: attentionPrecision) }
        let model = try LlamaModel(path: path, threads: threads)
        let fastest = AttentionPrecision.fastest
        return fastest.supports(headDim: model.config.headDim) ? try model.withAttentionPrecision(fastest) : model
    } catch {
        throw CLIError("cannot load model \(path): \(error)")
    }
}

/// Reads a UTF-8 text file.
func readText(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw CLIError("cannot read text file \(path)")
    }
    warnIfNotUTF8(data, path: path)
    return String(decoding: data, as: UTF8.self)
}

/// Says so on stderr when a text is not valid UTF-8 (its bad bytes become U+FFFD), so a binary
/// file scored by mistake does not pass silently.
func warnIfNotUTF8(_ data: Data, path: String) {
    guard String(data: data, encoding: .utf8) == nil else { return }
    FileHandle.standardError.write(Data("warning: \(path) is not valid UTF-8 (a binary file?); invalid bytes are read as U+FFFD\n".utf8))
}

/// Refuses a path to write (`--out`, a `--db` to create) that is a directory, or whose
/// directory is missing or not writable, with a message instead of a Foundation or SQLite error
/// (a search checks before its hours of work).
func checkWritablePath(_ path: String, option: String = "--out") throws {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
        throw CLIError("\(option) \(path) is a directory; give a file path")
    }
    let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
    guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw CLIError("\(option) \(path): the directory \(parent) does not exist")
    }
    guard FileManager.default.isWritableFile(atPath: parent) else { throw CLIError("\(option) \(path): cannot write in \(parent)") }
}

/// Turns a failure to listen into one line naming the address.
func listenError(_ error: Error, host: String, port: Int) -> Error {
    let text = "\(error)"
    if text.contains("Address already in use") {
        return CLIError("cannot listen on \(host):\(port): the port is in use (choose another with --listen)")
    }
    if text.contains("Cannot assign requested address") || text.contains("bind(") {
        return CLIError("cannot listen on \(host):\(port): \(text)")
    }
    return error
}

/// An error printed as one line.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
