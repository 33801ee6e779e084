import Foundation
import Testing
import TestSupport

/// `longrope passkey` runs, reports accuracy per depth, and refuses bad flags.
@Suite struct PasskeyCommandTests {
    @Test(.enabled(if: TestPaths.has("models/stories260K.gguf"), "needs ../shared/models/stories260K.gguf"))
    func reportsAccuracyPerDepth() throws {
        let model = TestPaths.shared.appendingPathComponent("models/stories260K.gguf").path
        let run = try runLongrope(["passkey", "--model", model, "--context", "512", "--trials", "2", "--depths", "0,0.5,1",
                                   "--seed", "3", "--threads", "1", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let depths = try #require(object["depths"] as? [[String: Any]])
        #expect(depths.map { $0["depth"] as? Double } == [0, 0.5, 1])
        #expect(depths.allSatisfy { $0["trials"] as? Int == 2 && ($0["answer_nll"] as? Double ?? .nan).isFinite })
        let accuracy = try #require(object["accuracy"] as? Double)
        #expect((0...1).contains(accuracy))
        #expect((object["prompt_tokens"] as? Int ?? 0) <= 512 && (object["prompt_tokens"] as? Int ?? 0) > 400)
        // The same seed gives the same report.
        let again = try runLongrope(["passkey", "--model", model, "--context", "512", "--trials", "2", "--depths", "0,0.5,1",
                                     "--seed", "3", "--threads", "2", "--json"])
        #expect(again.stdout == run.stdout)
        // A text report too, and clear errors.
        let text = try runLongrope(["passkey", "--model", model, "--context", "512", "--trials", "1", "--depths", "1", "--threads", "1"])
        #expect(text.status == 0 && text.stdout.contains("depth 1.00") && text.stdout.contains("accuracy"))
        let badDepth = try runLongrope(["passkey", "--model", model, "--context", "512", "--depths", "0,2"])
        #expect(badDepth.status != 0 && badDepth.stderr.contains("--depths"))
        let tooShort = try runLongrope(["passkey", "--model", model, "--context", "40"])
        #expect(tooShort.status != 0 && tooShort.stderr.contains("passkey prompt needs"), "\(tooShort.stderr)")
    }

    /// Needles in real text: the JSON lists every needle, and its rows add up to the totals.
    @Test(.enabled(if: TestPaths.has("models/stories260K.gguf"), "needs ../shared/models/stories260K.gguf"))
    func listsEveryNeedleOfRealText() throws {
        let model = TestPaths.shared.appendingPathComponent("models/stories260K.gguf").path
        let text = TestPaths.shared.appendingPathComponent("text/tinystories-valid.txt").path
        let run = try runLongrope(["passkey", "--model", model, "--context", "512", "--text", text, "--windows", "2",
                                   "--needles", "2", "--digits", "3", "--seed", "5", "--threads", "1", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let each = try #require(object["each"] as? [[String: Any]])
        #expect(each.count == 4)
        #expect(each.filter { $0["retrieved"] as? Bool == true }.count == object["retrieved"] as? Int)
        #expect(each.map { $0["window"] as? Int } == [0, 0, 1, 1])
        #expect(each.allSatisfy { (1..<512).contains($0["distance"] as? Int ?? 0) && (0..<1).contains($0["depth"] as? Double ?? 2) })
        let nll = each.compactMap { $0["answer_nll"] as? Double }.reduce(0, +) / 4
        #expect(abs(nll - (object["answer_nll"] as? Double ?? .nan)) < 1e-9)
    }

    /// SmolLM2 retrieves inside its trained context (llama.cpp agrees: ../shared/reference/passkey-smollm2.md).
    @Test(.enabled(if: TestPaths.smolLM2 != nil, "needs models/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch-models.sh)"))
    func smolLM2FindsTheKeyInsideItsContext() throws {
        let run = try runLongrope(["passkey", "--model", TestPaths.smolLM2!.path, "--context", "800", "--trials", "2",
                                   "--depths", "0,0.5", "--threads", "2", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(object["accuracy"] as? Double == 1, "\(run.stdout)")
    }
}
