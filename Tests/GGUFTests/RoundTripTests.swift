import Foundation
import Testing
import GGUF
import TestSupport

@Suite(.enabled(if: TestPaths.has("models/stories260K.gguf"), "needs ../shared/models")) struct RoundTripTests {
    @Test func aCopyReadsBackTheSame() throws {
        let model = try #require(TestPaths.sharedFile("models/stories260K.gguf"))
        let file = try GGUFFile(path: model.path)
        var writer = GGUFWriter(copying: file)
        writer.set("llama.rope.scaling.attn_factor", .float32(1.25))
        let url = temporaryDirectory().appendingPathComponent("copy.gguf")
        try writer.write(to: url.path)
        let copy = try GGUFFile(path: url.path)
        #expect(copy.tensors.count == file.tensors.count)
        #expect(copy.metadata["llama.rope.scaling.attn_factor"] == .float32(1.25))
        #expect(copy.metadata["tokenizer.ggml.tokens"] == file.metadata["tokenizer.ggml.tokens"])
        for (a, b) in zip(file.tensors, copy.tensors) {
            #expect(a.name == b.name && a.type == b.type && a.shape == b.shape)
            #expect(memcmp(a.data, b.data, a.byteCount) == 0, "\(a.name) bytes")
        }
    }

    /// A model keeps only the mapping (its tensors' bytes) once loaded, and gives back the
    /// header's pages: the mapping outlives the GGUFFile, and released pages read back the file.
    @Test func theMappingOutlivesTheFileAndReleasedPagesReadBack() throws {
        let model = try #require(TestPaths.sharedFile("models/stories260K.gguf"))
        let contents = try Data(contentsOf: model)
        var file: GGUFFile? = try GGUFFile(path: model.path)
        let mapping = file!.mapping, dataStart = file!.dataStart
        #expect(dataStart > 4096, "a header longer than a page, so that one is released")
        file = nil
        mapping.releasePages(before: dataStart)
        #expect(mapping.size == contents.count)
        #expect(contents.withUnsafeBytes { memcmp($0.baseAddress!, mapping.base, contents.count) } == 0)
        mapping.releasePages(before: mapping.size)   // every page
        #expect(contents.withUnsafeBytes { memcmp($0.baseAddress!, mapping.base, contents.count) } == 0)
    }

    @Test func metadataOfTheSharedModel() throws {
        let model = try #require(TestPaths.sharedFile("models/stories260K.gguf"))
        let file = try GGUFFile(path: model.path)
        #expect(try file.requireString("general.architecture") == "llama")
        #expect(try file.requireInt("llama.embedding_length") == 64)
        #expect(try file.requireInt("llama.block_count") == 5)
        #expect(try file.requireInt("llama.attention.head_count_kv") == 4)
        #expect(try file.requireInt("llama.context_length") == 2048)
        #expect(file.tensor("token_embd.weight")?.shape == [64, 512])
    }
}
