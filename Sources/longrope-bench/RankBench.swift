import ArgumentParser
import Digest
import Evaluator
import Foundation
import RoPE
import Runner
import Scoring
import Search
import Store
import Wire

extension Fitness: ExpressibleByArgument {}

/// `longrope-bench rank`: would a search have ranked its best candidates the same at another
/// attention precision? Re-scores the K best scored candidates of a stored search, window by
/// window as its workers did (the same units, `SearchRunner.unit`), at each precision asked,
/// and prints each candidate's fitness beside the stored one and Kendall's τ between the
/// orders. At the search's own precision the re-scored fitness must equal the stored one.
struct RankBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rank",
        abstract: "Re-score a stored search's best candidates at attention precisions; Kendall's tau between the orders.")

    @Option(help: "The search's SQLite database (read only).") var db: String
    @Option(help: "Search id (default: the database's latest).") var search: Int64?
    @Option(help: "The search's model (GGUF; checked against the search's SHA-256).") var model: String
    @Option(help: "The search's text (checked against the search's SHA-256).") var text: String
    @Option(help: "How many of the best scored candidates to re-score.") var top = 20
    @Option(help: "Attention precisions to score at, comma-separated (f32, bf16).") var precisions = "f32,bf16"
    @Option(help: ArgumentHelp("Windows of the search's text per candidate (default: the search's own).",
                               discussion: "More windows than the search scored re-rank its best by text (and needles) it never saw; with another count of windows the needles' depths change, so every window is scored again.")) var windows: Int?
    @Option(help: ArgumentHelp("Fitness to re-score with (default: the search's own).",
                               discussion: "Would a search with another fitness rank these candidates the same at both precisions? With another fitness the stored figures measure something else: only τ between the precisions asked compares like with like. key-tokens only as a key-tokens search's own (its key tokens are stored with it).")) var fitness: Fitness?
    @Option(help: "Threads.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Flag(help: "One JSON object per candidate and precision, then one for the result.") var json = false
    @Option(help: ArgumentHelp("JSON lines of an earlier run of this command (--json): what it re-scored is taken from there, not scored again.",
                               discussion: "A re-scoring of 20 candidates at 16k or 32k takes hours: run it with --json into a file, and after a stop run it again with --resume FILE (the same search and windows) to score only what is missing.")) var resume: String?

    func run() throws {
        let asked = try attentionPrecisions(precisions, option: "--precisions")
        guard top >= 2 else { throw ValidationError("--top must be at least 2 (τ compares pairs)") }
        if let windows, windows < 1 { throw ValidationError("--windows must be at least 1") }
        let store = try SearchStore(path: db, readOnly: true)
        guard let record = try search.map({ try store.search($0) }) ?? store.searches().last else {
            throw ValidationError("no search \(search.map(String.init) ?? "") in \(db)")
        }
        guard try SHA256.hex(fileAt: model) == record.modelSHA256 else {
            throw ValidationError("\(model) is not the model search \(record.id) ran on (SHA-256 differs)")
        }
        let textData = try Data(contentsOf: URL(fileURLWithPath: text))
        guard SHA256.hex(textData) == record.textSHA256 else {
            throw ValidationError("\(text) is not the text search \(record.id) ran on (SHA-256 differs)")
        }
        let best = try store.candidates(record.id)
            .compactMap { c in c.outcome?.perplexity.map { (record: c, stored: $0) } }
            .sorted { ($0.stored, $0.record.ordinal) < ($1.stored, $1.record.ordinal) }
            .prefix(top)
        guard best.count >= 2 else { throw ValidationError("search \(record.id) has \(best.count) scored candidate(s)") }
        let keyTokens = try store.keyTokens(record.id)
        let searchPrecision = record.config.attentionPrecision ?? "f32"
        let windowCount = windows ?? record.config.windowCount
        let searchFitness = record.config.fitnessKind
        let fitnessKind = fitness ?? searchFitness
        if fitnessKind == .keyTokens, searchFitness != .keyTokens {
            throw ValidationError("--fitness key-tokens: search \(record.id) scores \(searchFitness.rawValue) and has no key tokens stored")
        }
        if fitnessKind == .keyTokens, windowCount != record.config.windowCount {
            throw ValidationError("--windows: search \(record.id) scores key tokens, found only on its own \(record.config.windowCount) window(s)")
        }
        FileHandle.standardError.write(Data("search \(record.id) (\(record.name), \(searchFitness.rawValue), attention \(searchPrecision)): re-scoring its \(best.count) best as \(fitnessKind.rawValue) at \(asked.map(\.rawValue).joined(separator: ", ")) on \(windowCount) window(s) (the search: \(record.config.windowCount)), \(best.count * windowCount) units each\n".utf8))

        // With another count of windows or another fitness the re-scored figure is of other
        // text or another measure: say so in every label.
        let sameWindows = windowCount == record.config.windowCount, sameFitness = fitnessKind == searchFitness
        let storedLabel = "stored" + (sameWindows ? "" : " (\(record.config.windowCount) window(s))") + (sameFitness ? "" : " (\(searchFitness.rawValue))")
        func label(_ precision: AttentionPrecision) -> String {
            precision.rawValue + (sameWindows ? "" : " on \(windowCount) window(s)") + (sameFitness ? "" : " as \(fitnessKind.rawValue)")
        }

        let earlier = try resume.map {
            try Self.earlierScores(file: $0, search: record.id, windows: windowCount, fitness: fitnessKind, searchFitness: searchFitness)
        } ?? [:]
        let base = try LlamaModel(path: model, threads: threads)
        var rescored: [AttentionPrecision: [Double]] = [:]
        for precision in asked {
            let scorer = UnitScorer(model: try base.withAttentionPrecision(precision), text: textData)
            var values: [Double] = []
            for (rank, entry) in best.enumerated() {
                let c = entry.record
                let value = try earlier[ScoreKey(precision: precision.rawValue, candidate: c.ordinal)]
                    ?? Self.score(c, record: record, fitness: fitnessKind, keyTokens: keyTokens, windows: windowCount,
                                  precision: precision, scorer: scorer)
                values.append(value)
                let change = sameFitness ? String(format: " (%+.4f%%)", (value / entry.stored - 1) * 100) : ""
                let line = String(format: "%@ rank %d candidate %d: %@ %.6f, %@ %.6f%@", precision.rawValue,
                                  rank + 1, c.ordinal, storedLabel, entry.stored, label(precision), value, change)
                print(json ? jsonLine(["search": record.id, "precision": precision.rawValue, "rank": rank + 1,
                                       "candidate": c.ordinal, "stored": entry.stored, "rescored": value,
                                       "windows": windowCount, "search_windows": record.config.windowCount,
                                       "fitness": fitnessKind.rawValue]) : line)
                fflush(nil)   // each candidate takes minutes: show it when it ends, even into a file
            }
            rescored[precision] = values
        }
        let stored = best.map(\.stored)
        var summary: [String: Any] = ["search": record.id, "candidates": best.count, "search_precision": searchPrecision,
                                      "fitness": fitnessKind.rawValue]
        for precision in asked {
            let tau = kendallTau(stored, rescored[precision]!)
            summary["tau_stored_vs_\(precision.rawValue)"] = tau
            if !json { print(String(format: "Kendall τ, %@ order (%@) against %@: %.3f", storedLabel, searchPrecision, label(precision), tau)) }
        }
        if asked.count == 2 {
            let tau = kendallTau(rescored[asked[0]]!, rescored[asked[1]]!)
            summary["tau_\(asked[0].rawValue)_vs_\(asked[1].rawValue)"] = tau
            if !json { print(String(format: "Kendall τ, %@ against %@: %.3f", asked[0].rawValue, asked[1].rawValue, tau)) }
        }
        if json { print(jsonLine(summary)) }
    }

    /// Candidate `c`'s `fitness` on `windows` windows, unit by unit as the search's workers scored it.
    static func score(_ c: CandidateRecord, record: SearchRecord, fitness: Fitness, keyTokens: [Int: [Int]], windows: Int,
                      precision: AttentionPrecision, scorer: UnitScorer) throws -> Double {
        let scaling = RoPEScaling(method: "candidate", lambda: c.candidate.lambda, nHat: c.candidate.nHat,
                                  attentionFactor: c.attentionFactor)
        var nll = 0.0, tokens = 0
        for window in 0..<windows {
            var unit = SearchRunner.unit(record, candidateRowID: c.rowID, window: window, scaling: scaling,
                                         fitness: fitness, keyTokens: keyTokens)
            unit.windowCount = windows
            unit.attentionPrecision = precision.rawValue
            let result = try scorer.score(unit, worker: "rank")
            nll += result.nllSum ?? .nan
            tokens += result.tokens
        }
        return exp(nll / Double(tokens))
    }

    struct ScoreKey: Hashable { var precision: String; var candidate: Int }

    /// The fitness an earlier `--json` run re-scored, by precision and candidate; lines of other
    /// searches, window counts or fitness are an error (they would mix other units into the
    /// orders). A line without "fitness" (written before `--fitness`) is of the search's own.
    static func earlierScores(file: String, search: Int64, windows: Int, fitness: Fitness,
                              searchFitness: Fitness) throws -> [ScoreKey: Double] {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        var scores: [ScoreKey: Double] = [:]
        for (number, line) in text.split(separator: "\n").enumerated() where line.hasPrefix("{") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw ValidationError("--resume \(file), line \(number + 1): not a JSON object")
            }
            if object["precision"] == nil, object["candidates"] != nil { continue }   // the result line
            guard let precision = object["precision"] as? String, let candidate = object["candidate"] as? Int,
                  let value = object["rescored"] as? Double, let lineWindows = object["windows"] as? Int else {
                throw ValidationError("--resume \(file), line \(number + 1): not a line of `longrope-bench rank --json`")
            }
            guard (object["search"] as? Int).map({ Int64($0) == search }) ?? true, lineWindows == windows else {
                throw ValidationError("--resume \(file), line \(number + 1): another search or count of windows than this run's")
            }
            let lineFitness = object["fitness"] as? String ?? searchFitness.rawValue
            guard lineFitness == fitness.rawValue else {
                throw ValidationError("--resume \(file), line \(number + 1): scored as \(lineFitness), this run as \(fitness.rawValue)")
            }
            scores[ScoreKey(precision: precision, candidate: candidate)] = value
        }
        return scores
    }

    func jsonLine(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// Kendall's τ-a between two score lists of the same items: (concordant − discordant) pairs
/// over all pairs; a tie in either list counts as neither.
func kendallTau(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count && a.count >= 2, "kendallTau needs two lists of the same length ≥ 2")
    var score = 0
    for i in 0..<a.count {
        for j in (i + 1)..<a.count {
            let x = a[i] - a[j], y = b[i] - b[j]
            if x * y > 0 { score += 1 } else if x * y < 0 { score -= 1 }
        }
    }
    return Double(score) / Double(a.count * (a.count - 1) / 2)
}
