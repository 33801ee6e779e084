import Foundation
import Testing
import TestSupport

/// Found 7 of issue 13: each failure says what is wrong in one line.
@Suite struct ClearErrorTests {
    @Test(.enabled(if: TestPaths.has("models/stories260K.gguf") && TestPaths.has("text/tinystories-valid.txt"),
                   "needs stories260K and tinystories-valid.txt in ../shared"))
    func outputDirectoriesAndBinaryTextAreNamed() throws {
        let directory = temporaryDirectory()
        let model = TestPaths.shared.appendingPathComponent("models/stories260K.gguf").path
        let text = directory.appendingPathComponent("t.txt")
        try Data(contentsOf: TestPaths.shared.appendingPathComponent("text/tinystories-valid.txt")).prefix(30_000).write(to: text)
        let search = try runLongrope(["search", "--model", model, "--text", text.path, "--original-context", "128",
                                      "--target-context", "256", "--samples", "1", "--population", "4", "--iterations", "0",
                                      "--db", directory.appendingPathComponent("d.sqlite").path, "--out", directory.path])
        #expect(search.status != 0 && search.stderr.contains("is a directory"), "\(search.stderr)")
        let export = try runLongrope(["export", "--db", directory.appendingPathComponent("d.sqlite").path, "--format", "json",
                                      "--out", directory.path])
        #expect(export.status != 0 && export.stderr.contains("is a directory"), "\(export.stderr)")
        var garbage = Data()
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 { garbage.append(UInt8.random(in: 0...255, using: &generator)) }
        let binary = directory.appendingPathComponent("garbage.bin")
        try garbage.write(to: binary)
        let eval = try runLongrope(["eval", "--model", model, "--text", binary.path, "--context", "128", "--samples", "1"])
        #expect(eval.stderr.contains("not valid UTF-8"), "\(eval.stderr)")
    }
}

/// Issue 13, token handling: a token file every user can read is refused, with the fix.
@Suite struct TokenFileTests {
    @Test func aWorldReadableTokenFileIsRefused() throws {
        let file = temporaryDirectory().appendingPathComponent("token")
        try "s3cret\n".write(to: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
        let db = temporaryDirectory().appendingPathComponent("t.sqlite").path
        let open = try runLongrope(["coordinator", "--db", db, "--listen", "127.0.0.1:0", "--token-file", file.path])
        #expect(open.status != 0 && open.stderr.contains("chmod 600"), "\(open.stderr)")
        #expect(!open.stderr.contains("s3cret"), "the token never appears in messages")
    }
}
