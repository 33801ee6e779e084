import ArgumentParser
import Digest
import Foundation
import GGUF
import ModelExport
import RoPE
import Runner
import Store

/// `longrope export`: a search's best factors as JSON, HF rope_scaling, CSV or a GGUF copy.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a search's best factors: json, hf (rope_scaling), csv, or gguf (a model copy llama.cpp loads).")

    enum Format: String, ExpressibleByArgument, CaseIterable { case json, hf, csv, gguf }

    @Option(help: "SQLite database of the search.") var db: String
    @Option(help: "Search id (default: the most recent).") var search: Int64?
    @Option(help: "json, hf, csv or gguf.") var format: Format
    @Option(help: "Output file (`-` for standard output; not for gguf).") var out: String
    @Option(help: "For gguf: the model to copy (default: the search's model; its sha256 must match).") var model: String?
    @Option(help: "For hf: the search at the original length whose best gives the short factors (default: none, short factors all 1).")
    var shortSearch: Int64?

    func run() throws {
        guard FileManager.default.fileExists(atPath: db) else { throw CLIError("no database at \(db)") }
        if out != "-" { try checkWritablePath(out) }
        let store: SearchStore, searches: [SearchRecord]
        do {
            store = try SearchStore(path: db, readOnly: true)
            searches = try store.searches()
        } catch { throw CLIError("cannot read database \(db): \(error)") }
        guard let record = search.map({ id in searches.first { $0.id == id } }) ?? searches.last else {
            throw CLIError(search.map { "no search \($0) in \(db)" } ?? "no search in \(db)")
        }
        let best = try store.summary(record.id)
        guard best.perplexity != nil else { throw CLIError("search \(record.id) has no scored candidate yet") }
        // JSON keeps the best (with its n̂ and the n̂ = 0 best beside it); the other formats
        // cannot carry n̂, so they get the best with n̂ = 0 and a note says which was written.
        let (portable, portableNote) = Exporter.portable(best)
        let summary = format == .json ? best : portable
        if format == .json, best.nHat > 0 {
            FileHandle.standardError.write(Data("note: \(Exporter.nHatNote(best.nHat))\n".utf8))
        } else if let portableNote {
            FileHandle.standardError.write(Data("note: \(portableNote)\n".utf8))
        }

        let text: String
        switch format {
        case .json: text = Exporter.json(summary) + "\n"
        case .csv: text = Exporter.csv(summary)
        case .hf:
            let short = try shortFactors(store: store, searches: searches, record: record)
            text = Exporter.huggingFace(summary, shortFactors: short) + "\n"
        case .gguf:
            guard out != "-" else { throw CLIError("--format gguf needs a file for --out") }
            guard let modelPath = model ?? (record.modelPath.isEmpty ? nil : record.modelPath) else {
                throw CLIError("search \(record.id) was made through the coordinator's API, which knows its model only by sha256 (\(record.modelSHA256)): pass --model with that GGUF")
            }
            guard FileManager.default.fileExists(atPath: modelPath) else { throw CLIError("model \(modelPath) not found (pass --model)") }
            let hash = try SHA256.hex(fileAt: modelPath)
            guard hash == record.modelSHA256 else {
                throw CLIError("\(modelPath) is not the model search \(record.id) ran on (sha256 \(hash.prefix(12))… ≠ \(record.modelSHA256.prefix(12))…)")
            }
            do { try Exporter.gguf(summary, model: try GGUFFile(path: modelPath), to: out) }
            catch { throw CLIError("cannot export: \(error)") }
            print("wrote \(out): rope_freqs.weight = λ (\(summary.lambda.count) pairs), attn_factor = \(summary.attentionFactor), context_length = \(summary.targetContext)")
            return
        }
        if out == "-" { print(text, terminator: "") }
        else {
            do { try Data(text.utf8).write(to: URL(fileURLWithPath: out), options: .atomic) }
            catch { throw CLIError("cannot write \(out): \(error.localizedDescription)") }
            print("wrote \(out)")
        }
    }

    /// The best λ of the search named by --short-search, checked to be a search at this one's
    /// original length on the same model; nil (short factors all 1) when none is named. Never
    /// picked silently: another search in the same database may have nothing to do with this one.
    func shortFactors(store: SearchStore, searches: [SearchRecord], record: SearchRecord) throws -> [Double]? {
        guard let shortSearch else { return nil }
        guard let chosen = searches.first(where: { $0.id == shortSearch }) else { throw CLIError("no search \(shortSearch) in \(db)") }
        guard chosen.modelSHA256 == record.modelSHA256, chosen.config.pairs == record.config.pairs else {
            throw CLIError("--short-search \(shortSearch) ran on another model than search \(record.id)")
        }
        guard chosen.config.targetContext == record.config.originalContext else {
            throw CLIError("--short-search \(shortSearch) extends to \(chosen.config.targetContext) tokens; short factors come from a search at the original length, \(record.config.originalContext)")
        }
        let summary = try store.summary(chosen.id)
        guard !summary.lambda.isEmpty else { throw CLIError("--short-search \(shortSearch) has no scored candidate yet") }
        return Exporter.portable(summary).summary.lambda
    }
}
