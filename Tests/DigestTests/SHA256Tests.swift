import Digest
import Foundation
import Testing
import TestSupport

/// The digests that name models and texts: FIPS 180-4's test vectors, and a file hashed in
/// pieces equals coreutils' sha256sum of it.
@Suite struct SHA256Tests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func knownVectors(text: String, digest: String) {
        #expect(SHA256.hex(Data(text.utf8)) == digest)
    }

    @Test func aFileLargerThanOnePieceMatchesSha256sum() throws {
        let file = temporaryDirectory().appendingPathComponent("blob.bin")
        var bytes = [UInt8](repeating: 0, count: (9 << 20) + 123)   // more than two 4 MiB pieces
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 7) }
        try Data(bytes).write(to: file)
        let run = try runProcess(URL(fileURLWithPath: "/usr/bin/sha256sum"), [file.path])
        #expect(try SHA256.hex(fileAt: file.path) == String(run.stdout.prefix(64)))
        #expect(SHA256.hex(Data(bytes)) == String(run.stdout.prefix(64)))
    }

    @Test func aMissingFileIsAnError() {
        #expect(throws: (any Error).self) { _ = try SHA256.hex(fileAt: "/nonexistent/model.gguf") }
    }
}
