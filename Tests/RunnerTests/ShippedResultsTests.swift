import Foundation
import Testing
import RoPE
import Runner
import Search
import Store
import TestSupport

/// Issue 19: what results/ ships can be used as it stands. Every directory under results/ holds
/// the search's database (its full record); once the search is done it also holds the files
/// `scripts/ship-results.sh` writes. This reads every one of them:
/// - every candidate in the database keeps the LongRoPE constraints (pairs, monotone, 1 ≤ λ ≤ λ_max);
/// - `factors.json` loads the way `longrope eval --scaling FILE` loads it, keeps the constraints,
///   and is the database's best (the same λ, m, n̂ and fitness);
/// - `rope_scaling.json` and `factors.csv` carry the same factors (the portable best when the best
///   needs n̂ > 0), and the config that reproduces the search sits beside them.
@Suite struct ShippedResultsTests {
    static let results = TestPaths.packageRoot.appendingPathComponent("results")

    /// Every directory under results/ that holds a shipped file or a database.
    static func shippedDirectories() -> [URL] {
        let names: Set = ["search.sqlite", "factors.json", "rope_scaling.json", "factors.csv"]
        guard let walker = FileManager.default.enumerator(at: results, includingPropertiesForKeys: nil) else { return [] }
        var directories: Set<URL> = []
        for case let url as URL in walker where names.contains(url.lastPathComponent) {
            directories.insert(url.deletingLastPathComponent().standardizedFileURL)
        }
        return directories.sorted { $0.path < $1.path }
    }

    @Test func resultsHoldAtLeastOneSearch() {
        #expect(!Self.shippedDirectories().isEmpty, "nothing under \(Self.results.path)")
    }

    /// `longrope export` opens the database read-only: a shipped file (or one on a read-only
    /// disk) is read without one byte of it changing (a read-write open would turn its
    /// rollback journal into WAL), and a write through such a store throws.
    @Test(arguments: shippedDirectories())
    func aShippedDatabaseReadsWithoutChanging(_ directory: URL) throws {
        let copy = temporaryDirectory().appendingPathComponent("search.sqlite")
        try FileManager.default.copyItem(at: directory.appendingPathComponent("search.sqlite"), to: copy)
        let before = try Data(contentsOf: copy)
        do {
            let store = try SearchStore(path: copy.path, readOnly: true)
            let search = try #require(try store.searches().last)
            #expect(try store.summary(search.id).perplexity != nil)
            #expect(throws: (any Error).self) { try store.setStatus(search.id, .failed, error: "must not be written") }
        }
        #expect(try Data(contentsOf: copy) == before, "reading \(directory.lastPathComponent)'s database changed it")
    }

    @Test(arguments: shippedDirectories())
    func everyShippedSearchKeepsTheConstraintsAndShipsItsBest(_ directory: URL) throws {
        let file = { (name: String) in directory.appendingPathComponent(name) }
        let exists = { (name: String) in FileManager.default.fileExists(atPath: file(name).path) }
        try #require(exists("search.sqlite"), "\(directory.path): no search.sqlite (the search's record ships with its factors)")

        // Open a copy: a newer binary migrates the schema on open, and the committed file stays as it is.
        let copy = temporaryDirectory().appendingPathComponent("search.sqlite")
        try FileManager.default.copyItem(at: file("search.sqlite"), to: copy)
        let store = try SearchStore(path: copy.path)
        let searches = try store.searches()
        try #require(!searches.isEmpty, "\(directory.path): the database holds no search")

        for search in searches {
            let candidates = try store.candidates(search.id)
            #expect(!candidates.isEmpty, "search \(search.id) has no candidate")
            for record in candidates {
                let scaling = RoPEScaling(method: "search", lambda: record.candidate.lambda,
                                          nHat: record.candidate.nHat, attentionFactor: record.attentionFactor)
                do {
                    try scaling.validate(pairs: search.config.pairs, lambdaMax: search.config.lambdaMax)
                } catch {
                    Issue.record("\(directory.lastPathComponent): search \(search.id), candidate \(record.ordinal): \(error)")
                }
            }
        }

        let shipped = ["factors.json", "rope_scaling.json", "factors.csv", "search-config.toml"]
        guard shipped.contains(where: exists) else { return }   // the search is still running: its record is all there is
        for name in shipped { #expect(exists(name), "\(directory.path): \(name) missing beside the other shipped files") }

        // factors.json: what `longrope eval --scaling` reads, and the database's best.
        let factors = try ScalingSpec.load(path: file("factors.json").path)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file("factors.json"))) as? [String: Any])
        let searchID = try #require(object["search_id"] as? Int, "factors.json names no search_id")
        let search = try #require(searches.first { $0.id == Int64(searchID) }, "factors.json's search \(searchID) is not in the database")
        #expect(search.status == .done, "factors shipped from search \(searchID) while it is \(search.status)")
        try factors.validate(pairs: search.config.pairs, lambdaMax: search.config.lambdaMax)
        let summary = try store.summary(search.id)
        #expect(factors.lambda == summary.lambda)
        #expect(factors.attentionFactor == summary.attentionFactor)
        #expect(factors.nHat == summary.nHat)
        #expect((object["ppl"] as? Double) == summary.perplexity)
        #expect(object["original_context"] as? Int == search.config.originalContext)
        #expect(object["target_context"] as? Int == search.config.targetContext)

        // rope_scaling.json and factors.csv: the factors a runtime without n̂ can apply.
        let portable = Exporter.portable(summary).summary
        let hf = try JSONDecoder().decode(HuggingFaceRopeScaling.self, from: Data(contentsOf: file("rope_scaling.json")))
        #expect(hf.ropeType == "longrope")
        #expect(hf.longFactor == portable.lambda)
        #expect(hf.shortFactor.count == search.config.pairs)
        #expect(hf.attentionFactor == portable.attentionFactor)
        #expect(hf.originalMaxPositionEmbeddings == search.config.originalContext)
        let csv = try String(contentsOf: file("factors.csv"), encoding: .utf8)
            .split(whereSeparator: \.isNewline).map { Double($0) }
        #expect(csv == portable.lambda.map { Optional($0) }, "factors.csv is not the portable best's λ")
    }
}
