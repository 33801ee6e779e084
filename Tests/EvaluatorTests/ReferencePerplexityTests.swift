import Foundation
import Testing
import Evaluator
import RoPE
import TestSupport

/// Perplexities measured with llama.cpp (../shared/reference), reproduced with `--protocol llamacpp`.
struct ReferenceRow: Sendable, CustomStringConvertible {
    var label: String
    var context: Int
    var perplexity: Double
    /// llama.cpp's "± …" after the perplexity.
    var uncertainty: Double?
    var description: String { "\(label) @ \(context)" }

    /// The scaling a row's label names ("none", "PI s=4", "NTK alpha=8", "YaRN s=16").
    func scaling(_ model: LlamaModel, originalContext: Int) -> RoPEScaling {
        let value = Double(label.split(separator: "=").last ?? "1") ?? 1
        switch label.split(separator: " ").first {
        case "PI": return .linear(pairs: model.pairs, scale: value)
        case "NTK": return .ntk(pairs: model.pairs, alpha: value)
        case "YaRN": return .yarn(geometry: model.geometry, scale: value, originalContext: originalContext)
        default: return .none(pairs: model.pairs)
        }
    }

    static func load(_ name: String) -> [ReferenceRow] {
        guard let url = TestPaths.sharedFile("reference/\(name)"),
              let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(separator: "\t").map(String.init)
            let figures = fields.count >= 4 ? fields[3].split(separator: " ") : []
            guard fields.count >= 4, let context = Int(fields[2]), let ppl = Double(figures.first ?? "") else { return nil }
            return ReferenceRow(label: fields[0], context: context, perplexity: ppl, uncertainty: figures.last.flatMap { Double($0) })
        }
    }
}

/// Loads each model once for all its rows.
actor ModelCache {
    static let shared = ModelCache()
    private var models: [String: LlamaModel] = [:]
    func model(_ path: String) throws -> LlamaModel {
        if let model = models[path] { return model }
        let model = try LlamaModel(path: path, threads: 2)
        models[path] = model
        return model
    }
}

func textBytes(_ relative: String, prefix: Int? = nil, from: Int? = nil) -> String? {
    guard let url = TestPaths.sharedFile(relative), let data = try? Data(contentsOf: url) else { return nil }
    var slice = data[...]
    if let from { slice = slice.dropFirst(from) }
    if let prefix { slice = slice.prefix(prefix) }
    return String(decoding: slice, as: UTF8.self)
}

@Suite(.serialized, .enabled(if: TestPaths.has("reference/stories260K-val200k.tsv"), "needs ../shared (models, texts, reference)"))
struct ReferencePerplexityTests {
    /// Evaluates one reference row with llama.cpp's protocol and compares within `tolerance`.
    func check(_ row: ReferenceRow, model: URL?, text: String?, originalContext: Int, tolerance: Double) async throws {
        let model = try #require(model, "the reference row's model is not in ../shared")
        let text = try #require(text, "the reference row's text is not in ../shared")
        let llama = try await ModelCache.shared.model(model.path)
        let windows = try TextWindows(text: text, model: llama, context: row.context, protocol: .llamacpp, windowCount: nil)
        let result = try llama.perplexity(windows.windows, scaling: row.scaling(llama, originalContext: originalContext))
        let error = abs(result.perplexity - row.perplexity) / row.perplexity
        #expect(error < tolerance, "\(row): ours \(result.perplexity), llama.cpp \(row.perplexity)")
        // The standard error as llama-perplexity prints it after "±" (it scales with the
        // perplexity and the spread of the per-token NLL, so it follows the same tolerance, ×2).
        let reference = try #require(row.uncertainty, "\(row): no ± in the reference")
        #expect(abs(result.uncertainty - reference) / reference < 2 * tolerance + 0.002,
                "\(row): ± ours \(result.uncertainty), llama.cpp \(reference)")
    }

    @Test(arguments: ReferenceRow.load("stories260K-val200k.tsv"))
    func stories260K(row: ReferenceRow) async throws {
        try await check(row, model: TestPaths.sharedFile("models/stories260K.gguf"),
                        text: textBytes("text/tinystories-valid.txt", prefix: 200_000), originalContext: 512, tolerance: 0.005)
    }

    @Test(arguments: ReferenceRow.load("tinystories3M-valend.tsv"))
    func tinyStories3M(row: ReferenceRow) async throws {
        try await check(row, model: TestPaths.sharedFile("models/tinystories-3M-ctx256.gguf"),
                        text: textBytes("text/tinystories-valid.txt", from: 700_000), originalContext: 256, tolerance: 0.005)
    }

    /// llama.cpp rounds activations to 8 bits for quantised weights; we keep them in f32: 2%.
    @Test(.enabled(if: TestPaths.smolLM2 != nil, "SmolLM2 is fetched by scripts/fetch-models.sh (needs the network)"),
          arguments: ReferenceRow.load("smollm2-frank60k.tsv"))
    func smolLM2(row: ReferenceRow) async throws {
        try await check(row, model: TestPaths.smolLM2, text: textBytes("text/frankenstein.txt", prefix: 60_000),
                        originalContext: 8192, tolerance: 0.02)
    }

    @Test func everyReferenceFileHasRows() throws {
        try #require(TestPaths.sharedFile("reference/stories260K-val200k.tsv") != nil)
        #expect(ReferenceRow.load("stories260K-val200k.tsv").count == 9)
        #expect(ReferenceRow.load("tinystories3M-valend.tsv").count == 13)
        #expect(ReferenceRow.load("smollm2-frank60k.tsv").count == 1)
        #expect(ReferenceRow.load("stories260K-val200k.tsv").allSatisfy { $0.uncertainty != nil }, "every row has its ±")
    }
}
