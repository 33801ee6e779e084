import Foundation
import Seeded
import Testing
import GGUF
import TestSupport

/// A truncated or corrupt GGUF file either loads or throws a GGUFError; it never crashes.
@Suite(.enabled(if: TestPaths.has("models/stories260K.gguf"), "needs ../shared/models")) struct CorruptionTests {
    /// Writes `bytes` to a temporary file and opens it.
    func open(_ bytes: Data) throws -> GGUFFile {
        let url = temporaryDirectory().appendingPathComponent("model.gguf")
        try bytes.write(to: url)
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        return try GGUFFile(path: url.path)
    }

    /// Opening must throw a GGUFError (any other error type, or a crash, fails the test).
    func expectGGUFError(_ bytes: Data) -> GGUFError? {
        do {
            _ = try open(bytes)
            return nil
        } catch let error as GGUFError {
            return error
        } catch {
            Issue.record("unexpected error type \(error)")
            return nil
        }
    }

    @Test func truncationAtManyOffsetsThrows() throws {
        let model = try #require(TestPaths.sharedFile("models/stories260K.gguf"))
        let original = try Data(contentsOf: model)
        let file = try GGUFFile(path: model.path)
        // Every offset through the header and tensor table, then a spread through the data.
        var offsets = Array(stride(from: 0, to: file.dataStart, by: 7))
        offsets += stride(from: file.dataStart, to: original.count, by: original.count / 50)
        var failures = 0
        for offset in offsets {
            guard let error = expectGGUFError(original.prefix(offset)) else {
                Issue.record("a file truncated at \(offset) of \(original.count) bytes opened")
                continue
            }
            failures += 1
            #expect(!error.description.isEmpty)
        }
        #expect(failures == offsets.count)
    }

    @Test func randomByteFlipsInHeaderAndTensorTableLoadOrThrow() throws {
        let model = try #require(TestPaths.sharedFile("models/stories260K.gguf"))
        let original = try Data(contentsOf: model)
        let file = try GGUFFile(path: model.path)
        var generator = SplitMix64(seed: 42)
        var loaded = 0, thrown = 0
        for _ in 0..<400 {
            var bytes = original
            let flips = Int(generator.next() % 4) + 1
            for _ in 0..<flips {
                let position = Int(generator.next() % UInt64(file.dataStart))
                bytes[position] ^= UInt8(truncatingIfNeeded: generator.next() | 1)
            }
            do {
                let reopened = try open(bytes)
                // Whatever loaded must be self-consistent: every tensor inside the file.
                for tensor in reopened.tensors {
                    #expect(reopened.dataStart + Int(tensor.offset) + tensor.byteCount <= reopened.fileSize)
                }
                loaded += 1
            } catch is GGUFError {
                thrown += 1
            }
        }
        #expect(loaded + thrown == 400)
        #expect(thrown > 0, "some corruptions must be detected")
    }

    @Test func specificErrors() throws {
        let model = try #require(TestPaths.sharedFile("models/stories260K.gguf"))
        let original = try Data(contentsOf: model)
        var bad = original
        bad[0] = UInt8(ascii: "X")
        #expect(expectGGUFError(bad) == .notGGUF(magic: "XGUF"))
        bad = original
        bad[4] = 9   // version 9
        #expect(expectGGUFError(bad) == .unsupportedVersion(9))
        bad = original
        bad.replaceSubrange(4..<8, with: [0, 0, 0, 3])
        #expect(expectGGUFError(bad) == .bigEndian)
        #expect(expectGGUFError(Data()) != nil)
    }

    @Test func unknownTensorTypeAndOutOfBoundsTensor() throws {
        var floats: [Float] = [1, 2, 3, 4]
        let writerBytes = floats.withUnsafeMutableBytes { raw -> Data in
            var writer = GGUFWriter()
            writer.set("general.architecture", .string("llama"))
            writer.tensors.append(.init(name: "t", type: .f32, shape: [4], bytes: UnsafeRawBufferPointer(raw)))
            return writer.serialized()
        }
        let good = try open(writerBytes)
        #expect(good.tensors.first?.name == "t")
        // The tensor info's type field sits 12 bytes before the end of the table
        // (type u32, offset u64) — the table ends at the last info, before padding.
        let typeOffset = tableEnd(writerBytes) - 12
        var unknown = writerBytes
        unknown[typeOffset] = 10   // Q2_K: a real ggml type longrope does not read
        #expect(expectGGUFError(unknown) == .unsupportedTensorType(tensor: "t", type: 10))
        var outside = writerBytes
        outside[typeOffset + 4] = 64   // offset 64: past the 16 bytes of data
        #expect(expectGGUFError(outside) == .tensorOutOfBounds(tensor: "t", end: 80, dataSize: 32))
        var misaligned = writerBytes
        misaligned[typeOffset + 4] = 3
        #expect(expectGGUFError(misaligned) == .misalignedTensor(tensor: "t", offset: 3, alignment: 32))
        _ = floats.removeLast()
    }

    /// Byte offset just after the tensor table of a file written by GGUFWriter with one KV.
    func tableEnd(_ bytes: Data) -> Int {
        // magic 4 + version 4 + counts 16 + KV ("general.architecture": 8+20, type 4, string 8+5)
        // + tensor ("t": 8+1, dims 4, ne 8, type 4, offset 8)
        24 + (8 + 20 + 4 + 8 + 5) + (8 + 1 + 4 + 8 + 4 + 8)
    }

    @Test func missingAndMistypedKeys() throws {
        let writer = GGUFWriter()
        let url = temporaryDirectory().appendingPathComponent("empty.gguf")
        try writer.write(to: url.path)
        let file = try GGUFFile(path: url.path)
        #expect(throws: GGUFError.missingKey("general.architecture")) { try file.requireString("general.architecture") }
        #expect(throws: GGUFError.missingTensor("token_embd.weight")) { try file.requireTensor("token_embd.weight") }
    }
}
