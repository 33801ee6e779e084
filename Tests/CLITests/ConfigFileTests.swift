import CLI
import Foundation
import TestSupport
import Testing
import Wire

/// Every config the repository ships decodes, names its model, text and database, and holds
/// options the API would accept.
@Suite struct ConfigFileTests {
    @Test func everyShippedConfigDecodesAndIsValid() throws {
        let folder = TestPaths.packageRoot.appendingPathComponent("configs")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".toml") }.sorted()
        try #require(!files.isEmpty, "configs/ holds no .toml")
        for name in files {
            let path = folder.appendingPathComponent(name).path
            let file = try ConfigFile(path: path)
            #expect(file.model != nil && file.text != nil && file.db != nil, "\(name): model, text and db")
            #expect(file.originalContext != nil && file.targetContext != nil, "\(name): both contexts")
            #expect(file.options.problems().isEmpty, "\(name): \(file.options.problems())")
            // Paths relative to the file resolve against its folder (configs/), not the working directory.
            if !file.text!.hasPrefix("/") {
                #expect(file.resolve(file.text!) == folder.appendingPathComponent(file.text!).standardized.path, "\(name)")
            }
        }
    }

    /// Every search option the API takes is a config key (but `seeds`, the API's alone), under
    /// the same name: a config cannot silently ignore an option.
    @Test func everyAPIOptionIsAConfigKey() {
        #expect(SearchOptions.fields.subtracting(["seeds"]).isSubset(of: ConfigFile.fields))
        #expect(!ConfigFile.fields.contains("seeds"))
    }

    @Test func valuesLandInTheOptions() throws {
        let file = temporaryDirectory().appendingPathComponent("c.toml")
        try """
            model = "m.gguf"   # a comment
            text = "t.txt"
            db = "d.sqlite"
            original_context = 128
            target_context = 512
            lambda_max = 5
            attention_range = [1, 1.25]
            needles = 3
            fitness = "mixed"
            n_hat = [0, 4]
            samples = 2
            """.write(to: file, atomically: true, encoding: .utf8)
        let config = try ConfigFile(path: file.path)
        #expect(config.options.lambdaMax == 5 && config.options.attentionRange == [1, 1.25])
        #expect(config.options.needles == 3 && config.options.fitness == .mixed && config.options.nHat == [0, 4])
        #expect(config.options.windowCount == 2, "samples, the old name of windows, is still read")
        #expect(config.resolve(config.model!) == file.deletingLastPathComponent().appendingPathComponent("m.gguf").standardized.path)
    }

    /// A config's search name is held to the API's rule (it reaches the database and the status
    /// table): no control characters, at most 200 characters; empty is allowed, as in the API.
    @Test func aNameTheAPIWouldRefuseIsRefused() throws {
        let file = temporaryDirectory().appendingPathComponent("c.toml")
        for (name, problem) in [("\"a\\u001B[2Jb\"", "name must not hold control characters"),
                                ("\"line\\nbreak\"", "name must not hold control characters"),
                                ("\"\(String(repeating: "x", count: 201))\"", "name must be at most 200 characters")] {
            try "model = \"m.gguf\"\nname = \(name)\n".write(to: file, atomically: true, encoding: .utf8)
            #expect {
                _ = try ConfigFile(path: file.path)
            } throws: { error in
                "\(error)".contains(problem) && "\(error)".contains(file.path)
            }
        }
        for name in ["\"\"", "\"32k, three windows — Pride and Prejudice\"", "\"\(String(repeating: "x", count: 200))\""] {
            try "model = \"m.gguf\"\nname = \(name)\n".write(to: file, atomically: true, encoding: .utf8)
            #expect(throws: Never.self, "name = \(name.prefix(40))") { _ = try ConfigFile(path: file.path) }
        }
    }
}
