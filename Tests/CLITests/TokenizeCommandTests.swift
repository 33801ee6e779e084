import Foundation
import Testing
import TestSupport

/// `longrope tokenize --ids` prints what `llama-tokenize --ids` printed (../shared/reference/*.ids).
@Suite struct TokenizeCommandTests {
    func check(model: URL, text: URL, ids: URL) throws {
        let prefix = temporaryDirectory().appendingPathComponent("prefix.txt")
        try Data(contentsOf: text).prefix(2000).write(to: prefix)
        let run = try runLongrope(["tokenize", "--model", model.path, "--file", prefix.path, "--ids"])
        #expect(run.status == 0, "\(run.stderr)")
        let expected = try String(contentsOf: ids, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == expected)
    }

    @Test(.enabled(if: TestPaths.has("models/stories260K.gguf") && TestPaths.has("reference/stories260K-val2000.ids"),
                   "needs stories260K and its reference ids in ../shared"))
    func sentencePieceIDs() throws {
        try check(model: TestPaths.shared.appendingPathComponent("models/stories260K.gguf"),
                  text: TestPaths.shared.appendingPathComponent("text/tinystories-valid.txt"),
                  ids: TestPaths.shared.appendingPathComponent("reference/stories260K-val2000.ids"))
        let pieces = try runLongrope(["tokenize", "--model", TestPaths.shared.appendingPathComponent("models/stories260K.gguf").path,
                                      "--text", "Once upon a time"])
        #expect(pieces.status == 0 && pieces.stdout.contains("->"))
        let both = try runLongrope(["tokenize", "--model", "x.gguf", "--text", "a", "--file", "b"])
        #expect(both.status != 0 && both.stderr.contains("exactly one"))
    }

    @Test(.enabled(if: TestPaths.smolLM2 != nil && TestPaths.has("reference/smollm2-frank2000.ids"),
                   "needs models/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch-models.sh)"))
    func byteLevelIDs() throws {
        try check(model: TestPaths.smolLM2!, text: TestPaths.shared.appendingPathComponent("text/frankenstein.txt"),
                  ids: TestPaths.shared.appendingPathComponent("reference/smollm2-frank2000.ids"))
    }
}
