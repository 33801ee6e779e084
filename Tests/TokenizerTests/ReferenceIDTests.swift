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

    @Test func sentencePieceMatchesLlamaCpp() throws {
        guard let model = TestPaths.sharedFile("models/stories260K.gguf"),
              let text = TestPaths.sharedFile("text/tinystories-valid.txt"),
              let ids = TestPaths.sharedFile("reference/stories260K-val2000.ids") else { return }
        let tokenizer = try Tokenizer(gguf: GGUFFile(path: model.path))
        let expected = try referenceIDs(ids)
        let got = tokenizer.encode(try prefix(text, bytes: 2000))
        #expect(got.count == expected.count)
        #expect(got == expected)
        #expect(got.first == 1, "BOS first")
    }

    @Test func byteLevelBPEMatchesLlamaCpp() throws {
        guard let model = TestPaths.smolLM2,
              let text = TestPaths.sharedFile("text/frankenstein.txt"),
              let ids = TestPaths.sharedFile("reference/smollm2-frank2000.ids") else { return }
        let tokenizer = try Tokenizer(gguf: GGUFFile(path: model.path))
        let expected = try referenceIDs(ids)
        let got = tokenizer.encode(try prefix(text, bytes: 2000))
        #expect(got.count == expected.count)
        #expect(got == expected)
        #expect(!tokenizer.addsBOS, "SmolLM2 adds no BOS")
    }
}
