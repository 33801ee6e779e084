import Foundation
import Store
import Testing
import TestSupport

/// `longrope search` killed with SIGKILL at a random moment and rerun ends like an uninterrupted run.
@Suite(.serialized, .enabled(if: TestPaths.has("models/stories260K.gguf"), "needs ../shared/models"))
struct SearchCommandTests {
    struct Setup {
        let directory = temporaryDirectory()
        let model: URL
        let text: URL

        init?() throws {
            guard let model = TestPaths.sharedFile("models/stories260K.gguf"),
                  let source = TestPaths.sharedFile("text/tinystories-valid.txt") else { return nil }
            self.model = model
            text = directory.appendingPathComponent("text.txt")
            try Data(contentsOf: source).prefix(80_000).write(to: text)
        }

        func arguments(db: String, out: String, extra: [String] = []) -> [String] {
            ["search", "--model", model.path, "--text", text.path, "--original-context", "128", "--target-context", "384",
             "--db", db, "--out", out, "--seed", "5", "--windows", "2", "--population", "8", "--iterations", "8",
             "--threads", "2"] + extra
        }
    }

    func result(_ path: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    /// Default levers (m searched, ppl), m searched with the needle fitness, and the mixed fitness
    /// on multi-needle windows.
    @Test(arguments: [[String](), ["--search-attention-factor", "--fitness", "needle"], ["--fitness", "mixed", "--needles", "2"]])
    func killedAndRerunEndsLikeAnUninterruptedRun(extra: [String]) throws {
        let setup = try #require(try Setup())
        let referenceOut = setup.directory.appendingPathComponent("reference.json").path
        let started = Date()
        let reference = try runLongrope(setup.arguments(db: setup.directory.appendingPathComponent("a.sqlite").path,
                                                        out: referenceOut, extra: extra))
        let duration = Date().timeIntervalSince(started)
        #expect(reference.status == 0, "\(reference.stderr)")
        let expected = try result(referenceOut)
        // The line it ends with compares like with like: the best and the rules under the
        // search's fitness (a mixed fitness beside the rules' perplexities compared nothing).
        let fitness = expected["fitness"] as? String ?? "?"
        let measure = fitness == "ppl" ? "ppl" : "\(fitness) fitness"
        let line = reference.stdout.split(separator: "\n").first { $0.hasPrefix("best ") }.map(String.init) ?? ""
        #expect(line.hasPrefix(String(format: "best %@ %.4f after", measure, expected["ppl"] as? Double ?? .nan)), "\(line)")
        let rules = expected["baseline_fitness"] as? [String: Double] ?? [:]
        #expect(!rules.isEmpty && rules.allSatisfy { line.contains(String(format: "%@ %.4f", $0.key, $0.value)) }, "\(line)")

        var generator = SystemRandomNumberGenerator()
        for attempt in 0..<2 {
            let db = setup.directory.appendingPathComponent("killed\(attempt).sqlite").path
            let out = setup.directory.appendingPathComponent("killed\(attempt).json").path
            let process = Process()
            process.executableURL = TestPaths.longropeBinary
            process.arguments = setup.arguments(db: db, out: out, extra: extra)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Somewhere inside the run (start-up is a small part of it).
            let delay = duration * Double.random(in: 0.15...0.85, using: &generator)
            Thread.sleep(forTimeInterval: delay)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let rerun = try runLongrope(setup.arguments(db: db, out: out, extra: extra))
            #expect(rerun.status == 0, "\(rerun.stderr)")
            let got = try result(out)
            #expect(got["lambda"] as? [Double] == expected["lambda"] as? [Double], "killed after \(delay) s")
            #expect(got["ppl"] as? Double == expected["ppl"] as? Double)
            #expect(got["units"] as? Int == expected["units"] as? Int, "no unit lost or scored twice")
            #expect(got["evaluations"] as? Int == expected["evaluations"] as? Int)
            #expect(got["attention_factor"] as? Double == expected["attention_factor"] as? Double)
            #expect(got["fitness"] as? String == (extra.contains("needle") ? "needle" : extra.contains("mixed") ? "mixed" : "ppl"))
            // Every rule scored, none lost to the crash (a baseline recorded infeasible by a kill would differ).
            #expect(got["baselines"] as? [String: Double] == expected["baselines"] as? [String: Double])
            #expect(got["baseline_fitness"] as? [String: Double] == expected["baseline_fitness"] as? [String: Double])
        }
    }

    @Test func aTextTooShortIsAClearErrorAndStoresNothing() throws {
        let setup = try #require(try Setup())
        let short = setup.directory.appendingPathComponent("short.txt")
        try Data("Once upon a time there was a tiny cat.".utf8).write(to: short)
        var arguments = setup.arguments(db: setup.directory.appendingPathComponent("s.sqlite").path,
                                        out: setup.directory.appendingPathComponent("s.json").path)
        arguments[arguments.firstIndex(of: setup.text.path)!] = short.path
        let run = try runLongrope(arguments)
        #expect(run.status != 0)
        #expect(run.stderr.contains("too short") && run.stderr.contains("tokens"), "\(run.stderr)")
    }

    /// Progressive extension across databases: one search's result file seeds a longer one, its
    /// λ rescaled to the new scale; a file that cannot seed is named and nothing is stored.
    @Test func aResultFileSeedsALongerSearch() throws {
        let setup = try #require(try Setup())
        func small(_ name: String, target: Int, extra: [String] = []) throws -> (run: CommandResult, db: String, out: String) {
            let db = setup.directory.appendingPathComponent("\(name).sqlite").path
            let out = setup.directory.appendingPathComponent("\(name).json").path
            let arguments = ["search", "--model", setup.model.path, "--text", setup.text.path, "--original-context", "128",
                             "--target-context", String(target), "--db", db, "--out", out, "--seed", "3", "--windows", "1",
                             "--population", "6", "--iterations", "1", "--threads", "2"] + extra
            return (try runLongrope(arguments), db, out)
        }
        let first = try small("first", target: 256)
        #expect(first.run.status == 0, "\(first.run.stderr)")
        let found = try #require(try result(first.out)["lambda"] as? [Double])

        let second = try small("second", target: 512, extra: ["--seed-factors", first.out])
        #expect(second.run.status == 0, "\(second.run.stderr)")
        let store = try SearchStore(path: second.db, readOnly: true)
        let search = try #require(try store.searches().first)
        let seeded = try store.candidates(search.id, step: 0).filter { $0.candidate.seedName == "extra" }
        #expect(seeded.count == 1, "the result file is one seed of the first step")
        let expected = found.map { min(1 + ($0 - 1) * 3, search.config.lambdaMax) }   // 2x -> 4x
        let lambda = try #require(seeded.first?.candidate.lambda)
        #expect(lambda.count == expected.count && zip(lambda, expected).allSatisfy { abs($0 - $1) < 1e-12 }, "\(lambda) vs \(expected)")
        #expect(found.contains { $0 > 1 }, "the first search found factors above 1 to rescale")

        let missing = try small("third", target: 512, extra: ["--seed-factors", setup.directory.appendingPathComponent("none.json").path])
        #expect(missing.run.status != 0 && missing.run.stderr.contains("none.json"), "\(missing.run.stderr)")
        #expect(try SearchStore(path: missing.db, readOnly: true).searches().isEmpty, "nothing stored")
    }

    @Test func aConfigFileReplacesTheFlags() throws {
        let setup = try #require(try Setup())
        let config = setup.directory.appendingPathComponent("search.toml")
        try """
            # a small search
            model = "\(setup.model.path)"
            text = "text.txt"
            original_context = 128
            target_context = 256
            db = "c.sqlite"
            out = "c.json"
            seed = 1
            windows = 1
            population = 6
            iterations = 1
            search_attention_factor = true
            attention_range = [1, 1.2]   # an integer where a number is expected
            lambda_max = 3
            space = "all-pairs"
            fitness = "ppl"
            """.write(to: config, atomically: true, encoding: .utf8)
        let run = try runLongrope(["search", "--config", config.path])
        #expect(run.status == 0, "\(run.stderr)")
        let json = try result(setup.directory.appendingPathComponent("c.json").path)
        #expect(json["target_context"] as? Int == 256)
        #expect(json["evaluations"] as? Int == 6 + 1 * 2)   // P = 6: one mutant and one crossover per iteration
        let m = try #require(json["attention_factor"] as? Double)
        #expect(m >= 1.0 && m <= 1.2, "m searched inside the config's range, got \(m)")
        #expect(json["fitness"] as? String == "ppl")
        // A typo in a key is refused, not ignored.
        try "target_contxt = 256\n".write(to: config, atomically: true, encoding: .utf8)
        let bad = try runLongrope(["search", "--config", config.path])
        #expect(bad.status != 0 && bad.stderr.contains("unknown key") && bad.stderr.contains("target_contxt"), "\(bad.stderr)")
        // A wrong type, a section, a line that is not TOML, nan or inf and a fraction for an
        // integer are each named (issue 22: the hand-kept parser skipped [section] headers and
        // read keys under them as global).
        for (text, says) in [("population = \"six\"\n", "population must be"), ("[search]\npopulation = 6\n", "[search]"),
                             ("population = \n", "not TOML"), ("seeds = [[1.0]]\n", "unknown key \"seeds\""),
                             ("lambda_max = nan\n", "lambda_max must be finite"), ("attention_range = [1.0, inf]\n", "attention_range must be finite"),
                             ("target_context = 2048.5\n", "\"target_context\": 2048.5")] {
            try text.write(to: config, atomically: true, encoding: .utf8)
            let refused = try runLongrope(["search", "--config", config.path])
            #expect(refused.status != 0 && refused.stderr.contains(says) && refused.stderr.contains(config.path), "\(text): \(refused.stderr)")
        }
    }

    /// m beyond 100 (or a range reaching past it) is refused before anything runs: m = 1e20 fit
    /// a Float, passed, and crashed the search making its candidates' keys (λ and m × 10⁶ as Int64).
    @Test func anAttentionFactorBeyondAHundredIsRefused() throws {
        let setup = try #require(try Setup())
        for (extra, says) in [(["--attention-factor", "1e20"], "attention factor must be > 0 and at most 100"),
                              (["--attention-range", "1,1e30"], "the attention factor range must have 0 < min ≤ max ≤ 100")] {
            let db = setup.directory.appendingPathComponent("m.sqlite").path
            let run = try runLongrope(setup.arguments(db: db, out: setup.directory.appendingPathComponent("m.json").path, extra: extra))
            #expect(run.status == 1 && run.stderr.contains(says), "\(extra): \(run.status) \(run.stderr.prefix(400))")
            #expect(!FileManager.default.fileExists(atPath: db), "a refused search creates no database")
        }
        // From a config file, the message names the file.
        let config = setup.directory.appendingPathComponent("m.toml")
        try """
            model = "\(setup.model.path)"
            text = "\(setup.text.path)"
            original_context = 128
            target_context = 384
            db = "m.sqlite"
            attention_factor = 1e20
            """.write(to: config, atomically: true, encoding: .utf8)
        let run = try runLongrope(["search", "--config", config.path])
        #expect(run.status == 1 && run.stderr.contains("invalid search (\(config.path)): attention factor must be > 0 and at most 100"),
                "\(run.stderr.prefix(400))")
    }

    /// An --out the result cannot be written to is refused before the search runs (it was
    /// refused after it: hours of a real search, then "cannot write").
    @Test func anUnwritableOutIsRefusedBeforeTheSearch() throws {
        let setup = try #require(try Setup())
        for (out, says) in [(setup.directory.path, "is a directory"), ("/nonexistent/r.json", "the directory /nonexistent does not exist")] {
            let db = setup.directory.appendingPathComponent("o.sqlite").path
            let run = try runLongrope(setup.arguments(db: db, out: out))
            #expect(run.status == 1 && run.stderr.contains(says) && !run.stderr.contains("search 1:"), "\(out): \(run.stderr.prefix(400))")
            #expect(!FileManager.default.fileExists(atPath: db), "a refused search creates no database")
        }
        // The same for the database, at search and at the coordinator (SQLite's "unable to open
        // database file" and a lock file "not found" before).
        for (db, says) in [(setup.directory.path, "--db \(setup.directory.path) is a directory"),
                           ("/nonexistent/s.sqlite", "--db /nonexistent/s.sqlite: the directory /nonexistent does not exist")] {
            let search = try runLongrope(setup.arguments(db: db, out: setup.directory.appendingPathComponent("r.json").path))
            #expect(search.status == 1 && search.stderr.contains(says), "search --db \(db): \(search.stderr.prefix(300))")
            let coordinator = try runProcess(URL(fileURLWithPath: "/usr/bin/timeout"),
                                             ["60", TestPaths.longropeBinary.path, "coordinator", "--db", db, "--listen", "127.0.0.1:0"])
            #expect(coordinator.status == 1 && coordinator.stderr.contains(says), "coordinator --db \(db): \(coordinator.stderr.prefix(300))")
        }
    }

    @Test func exportFormats() throws {
        let setup = try #require(try Setup())
        let db = setup.directory.appendingPathComponent("e.sqlite").path
        var arguments = setup.arguments(db: db, out: setup.directory.appendingPathComponent("e.json").path)
        arguments[arguments.firstIndex(of: "--iterations")! + 1] = "1"
        #expect(try runLongrope(arguments).status == 0)
        let hf = try runLongrope(["export", "--db", db, "--format", "hf", "--out", "-"])
        #expect(hf.status == 0, "\(hf.stderr)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(hf.stdout.utf8)) as? [String: Any])
        #expect(object["rope_type"] as? String == "longrope")
        #expect((object["long_factor"] as? [Double])?.count == 4)
        #expect(object["original_max_position_embeddings"] as? Int == 128)
        let csv = try runLongrope(["export", "--db", db, "--format", "csv", "--out", "-"])
        #expect(csv.stdout.split(separator: "\n").count == 4)
        let gguf = setup.directory.appendingPathComponent("out.gguf").path
        let exported = try runLongrope(["export", "--db", db, "--format", "gguf", "--out", gguf])
        #expect(exported.status == 0, "\(exported.stderr)")
        #expect(FileManager.default.fileExists(atPath: gguf))
        // eval says when it scores a file's own factors (the copy), and not for the plain model.
        for (model, own) in [(gguf, true), (setup.model.path, false)] {
            let scored = try runLongrope(["eval", "--model", model, "--text", setup.text.path, "--context", "384",
                                          "--original-context", "128", "--windows", "1", "--threads", "1"])
            #expect(scored.status == 0, "\(scored.stderr)")
            #expect(scored.stdout.contains("(the file's own factors,") == own, "\(model): \(scored.stdout)")
            #expect(scored.stdout.contains("(none,") == !own, "\(model): \(scored.stdout)")
        }
        let missing = try runLongrope(["export", "--db", setup.directory.appendingPathComponent("none.sqlite").path,
                                       "--format", "json", "--out", "-"])
        #expect(missing.status != 0 && missing.stderr.contains("no database"))
    }
}
