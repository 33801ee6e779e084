import Foundation
import Testing
import GGUF
import Tokenizer
import TestSupport

/// Token ids must equal llama.cpp's (`llama-tokenize --ids`) on the first 2,000 bytes of a text.
@Suite struct ReferenceIDTests {
    func referenceIDs(_ file: URL) throws -> [Int32] {
        let text = try String(contentsOf: file, encoding: .utf8)
        return text.trimmingCharacters(in: CharacterSet(charactersIn: "[] \n"))
            .split(separator: ",").map { Int32($0.trimmingCharacters(in: .whitespaces))! }
    }

    func prefix(_ file: URL, bytes: Int) throws -> String {
        let data = try Data(contentsOf: file).prefix(bytes)
        return String(decoding: data, as: UTF8.self)
    }

    @Test(.enabled(if: TestPaths.has("models/stories260K.gguf") && TestPaths.has("text/tinystories-valid.txt")
                   && TestPaths.has("reference/stories260K-val2000.ids"), "needs stories260K, its text and reference ids in ../shared"))
    func sentencePieceMatchesLlamaCpp() throws {
        let model = try #require(TestPaths.sharedFile("models/stories260K.gguf"))
        let text = try #require(TestPaths.sharedFile("text/tinystories-valid.txt"))
        let ids = try #require(TestPaths.sharedFile("reference/stories260K-val2000.ids"))
        let tokenizer = try Tokenizer(gguf: GGUFFile(path: model.path))
        let expected = try referenceIDs(ids)
        let got = tokenizer.encode(try prefix(text, bytes: 2000))
        #expect(got.count == expected.count)
        #expect(got == expected)
        #expect(got.first == 1, "BOS first")
    }

    @Test(.enabled(if: TestPaths.smolLM2 != nil && TestPaths.has("text/frankenstein.txt")
                   && TestPaths.has("reference/smollm2-frank2000.ids"),
                   "needs SmolLM2 (scripts/fetch-models.sh), frankenstein.txt and its reference ids"))
    func byteLevelBPEMatchesLlamaCpp() throws {
        let model = try #require(TestPaths.smolLM2)
        let text = try #require(TestPaths.sharedFile("text/frankenstein.txt"))
        let ids = try #require(TestPaths.sharedFile("reference/smollm2-frank2000.ids"))
        let tokenizer = try Tokenizer(gguf: GGUFFile(path: model.path))
        let expected = try referenceIDs(ids)
        let got = tokenizer.encode(try prefix(text, bytes: 2000))
        #expect(got.count == expected.count)
        #expect(got == expected)
        #expect(!tokenizer.addsBOS, "SmolLM2 adds no BOS")
    }
}
