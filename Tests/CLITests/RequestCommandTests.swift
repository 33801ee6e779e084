import Foundation
import TestSupport
import Testing
import Wire

/// `longrope request`: a config file becomes the body the coordinator takes, decoded as
/// `longrope search --config` decodes it (the Slurm and local-cluster scripts rely on it).
@Suite struct RequestCommandTests {
    /// sha256("abc"), FIPS 180-2's first example.
    static let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

    func folder(config: String) throws -> URL {
        let dir = temporaryDirectory()
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("data"), withIntermediateDirectories: true)
        for file in ["data/m.gguf", "data/t.txt"] { try Data("abc".utf8).write(to: dir.appendingPathComponent(file)) }
        try config.write(to: dir.appendingPathComponent("search-16k.toml"), atomically: true, encoding: .utf8)
        return dir
    }

    /// What the coordinator would refuse with 400 is said before a body is written, and an --out
    /// that cannot be written is named (it was a Foundation "error 512" for a directory).
    @Test func anInvalidSearchOrOutIsRefusedBeforeTheBodyIsWritten() throws {
        for (extra, says) in [("attention_factor = 1e20", "invalid search: attention factor must be > 0 and at most 100"),
                              ("population = 1", "population"), ("windows = 0", "windows")] {
            let dir = try folder(config: "model = \"data/m.gguf\"\ntext = \"data/t.txt\"\noriginal_context = 8192\ntarget_context = 16384\n\(extra)\n")
            let out = dir.appendingPathComponent("request.json")
            let run = try runLongrope(["request", dir.appendingPathComponent("search-16k.toml").path, "--out", out.path])
            #expect(run.status == 1 && run.stderr.contains(says) && run.stdout.isEmpty, "\(extra): \(run.stderr.prefix(300))")
            #expect(!FileManager.default.fileExists(atPath: out.path), "\(extra): no body written")
        }
        let dir = try folder(config: "model = \"data/m.gguf\"\ntext = \"data/t.txt\"\noriginal_context = 8192\ntarget_context = 16384\n")
        let run = try runLongrope(["request", dir.appendingPathComponent("search-16k.toml").path, "--out", dir.path])
        #expect(run.status == 1 && run.stderr.contains("--out \(dir.path) is a directory"), "\(run.stderr.prefix(300))")
    }

    @Test func aConfigBecomesTheRequestAndThePaths() throws {
        let dir = try folder(config: """
            model = "data/m.gguf"
            text = "data/t.txt"
            db = "d.sqlite"
            threads = 2
            original_context = 8192
            target_context = 16384
            text_offset = 100
            fitness = "mixed"
            needles = 3
            windows = 2
            population = 16
            """)
        let out = dir.appendingPathComponent("request.json")
        let run = try runLongrope(["request", dir.appendingPathComponent("search-16k.toml").path, "--out", out.path])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.split(separator: "\n").map(String.init) ==
                [dir.appendingPathComponent("data/m.gguf").standardized.path, dir.appendingPathComponent("data/t.txt").standardized.path])
        // What the coordinator decodes (strictly: an extra key would be a 400).
        let request = try StrictJSON.decode(CreateSearchRequest.self, from: try Data(contentsOf: out))
        #expect(request.modelSHA256 == Self.abc && request.textSHA256 == Self.abc)
        #expect(request.originalContext == 8192 && request.targetContext == 16384 && request.textOffset == 100)
        #expect(request.name == "search-16k")
        #expect(request.options.fitness == .mixed && request.options.needles == 3 && request.options.windowCount == 2
                && request.options.population == 16)
    }

    @Test func aTypoIsAnErrorNotADroppedSetting() throws {
        let dir = try folder(config: """
            model = "data/m.gguf"
            text = "data/t.txt"
            original_context = 256
            target_context = 1024
            populaton = 8
            """)
        let run = try runLongrope(["request", dir.appendingPathComponent("search-16k.toml").path,
                                   "--out", dir.appendingPathComponent("r.json").path])
        #expect(run.status != 0)
        #expect(run.stderr.contains("populaton"), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("r.json").path))
    }

    @Test func aMissingModelIsNamed() throws {
        let dir = try folder(config: """
            text = "data/t.txt"
            original_context = 256
            target_context = 1024
            """)
        let run = try runLongrope(["request", dir.appendingPathComponent("search-16k.toml").path,
                                   "--out", dir.appendingPathComponent("r.json").path])
        #expect(run.status != 0)
        #expect(run.stderr.contains("missing model"), "\(run.stderr)")
    }

    /// Progressive extension through a coordinator: a factors file found at 2× seeds the 4×
    /// search, its λ rescaled (λ' = 1 + (λ − 1)·3) and held to λ_max; a file that is not one is named.
    @Test func seedFactorsAreRescaledIntoTheRequest() throws {
        let dir = try folder(config: """
            model = "data/m.gguf"
            text = "data/t.txt"
            original_context = 8192
            target_context = 32768
            lambda_max = 5
            seed_factors = "data/16k.json"
            """)
        let factors = #"{"method": "longrope-search", "lambda": [1, 1.25, 2, 2.5], "n_hat": 0, "attention_factor": 1.09, "scale": 2}"#
        try Data(factors.utf8).write(to: dir.appendingPathComponent("data/16k.json"))
        let out = dir.appendingPathComponent("request.json")
        let request = { try runLongrope(["request", dir.appendingPathComponent("search-16k.toml").path, "--out", out.path]) }
        let run = try request()
        #expect(run.status == 0, "\(run.stderr)")
        let body = try StrictJSON.decode(CreateSearchRequest.self, from: try Data(contentsOf: out))
        #expect(body.options.extraSeeds == [[1, 1.75, 4, 5]], "rescaled from 2x to 4x, the last held to lambda_max 5")

        // Not monotone: refused before anything is written, the file and the problem named.
        try Data(#"{"method": "x", "lambda": [1, 3, 2], "n_hat": 0, "attention_factor": 1, "scale": 2}"#.utf8)
            .write(to: dir.appendingPathComponent("data/16k.json"))
        try? FileManager.default.removeItem(at: out)
        let bad = try request()
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("16k.json") && bad.stderr.contains("non-decreasing"), "\(bad.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
        // No scale to rescale from.
        try Data(#"{"method": "x", "lambda": [1, 2], "n_hat": 0, "attention_factor": 1}"#.utf8)
            .write(to: dir.appendingPathComponent("data/16k.json"))
        let unscaled = try request()
        #expect(unscaled.status != 0 && unscaled.stderr.contains("no scale above 1"), "\(unscaled.stderr)")
    }
}
