import Foundation
import RoPE
import Store

/// Turns a search's best factors into the formats people load: our JSON, a Hugging Face
/// `rope_scaling` object, CSV, and a GGUF copy of the model with the factors inside.
public enum Exporter {
    /// `longrope factors --format json`'s shape, plus the perplexity and the baselines.
    public static func json(_ summary: SearchSummary) -> String {
        var document = ScalingDocument(RoPEScaling(method: "longrope-search", lambda: summary.lambda,
                                                   nHat: summary.nHat,
                                                   attentionFactor: summary.attentionFactor),
                                       originalContext: summary.originalContext, targetContext: summary.targetContext)
        document.method = "longrope-search"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var object = try! JSONSerialization.jsonObject(with: encoder.encode(document)) as! [String: Any]
        object["ppl"] = summary.perplexity
        object["search_id"] = summary.searchID
        object["baselines"] = summary.baselines.mapValues { $0 as Any? ?? NSNull() }
        object["fitness"] = summary.fitness
        if summary.fitness != "ppl" { object["baseline_fitness"] = summary.baselineFitness.mapValues { $0 as Any? ?? NSNull() } }
        if let d = summary.criticalPair { object["critical_pair"] = d }
        if summary.nHat > 0 { object["note"] = nHatNote(summary.nHat) }
        if let portable = summary.portable {
            object["portable"] = ["candidate": portable.candidate, "lambda": portable.lambda,
                                  "attention_factor": portable.attentionFactor, "ppl": portable.perplexity] as [String: Any]
        }
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// A Hugging Face `rope_scaling` of type `longrope`: long factors from this search, short
    /// factors from a search at the original length when given, else all 1 (the original RoPE).
    public static func huggingFace(_ summary: SearchSummary, shortFactors: [Double]?) -> String {
        HuggingFaceRopeScaling(shortFactor: shortFactors ?? Array(repeating: 1, count: summary.lambda.count),
                               longFactor: summary.lambda, originalContext: summary.originalContext,
                               attentionFactor: summary.attentionFactor,
                               factor: Double(summary.targetContext) / Double(summary.originalContext)).json()
    }

    public static func csv(_ summary: SearchSummary) -> String { csvLines(summary.lambda) }

    /// What a runtime without n̂ (HF, llama.cpp, CSV readers) can apply: the best itself when
    /// its n̂ is 0, else the best candidate with n̂ = 0, with a note saying which was written.
    public static func portable(_ summary: SearchSummary) -> (summary: SearchSummary, note: String?) {
        guard summary.nHat > 0 else { return (summary, nil) }
        guard let portable = summary.portable else {
            return (summary, nHatNote(summary.nHat) + "; no candidate with n_hat = 0 was scored, so the best is written as is")
        }
        var copy = summary
        copy.lambda = portable.lambda
        copy.attentionFactor = portable.attentionFactor
        copy.nHat = 0
        copy.perplexity = portable.perplexity
        copy.bestOrdinal = portable.candidate
        let best = summary.perplexity.map { String(format: "%.4f", $0) } ?? "?"
        let note = "wrote candidate \(portable.candidate) (n_hat = 0, \(summary.fitness) \(String(format: "%.4f", portable.perplexity))), the best that HF and llama.cpp can apply; the overall best, candidate \(summary.bestOrdinal ?? -1) (\(summary.fitness) \(best)), needs n_hat = \(summary.nHat)"
        return (copy, note)
    }

    public static func nHatNote(_ nHat: Int) -> String {
        "n_hat = \(nHat): the first \(nHat) positions keep the original RoPE; llama.cpp and Hugging Face cannot express this, so their perplexity may differ from the search's"
    }
}
