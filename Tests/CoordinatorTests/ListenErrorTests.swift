import Foundation
import Testing
import TestSupport

/// Found 7 of issue 13: a port in use is named, not shown as NIO's bind() text.
@Suite struct ListenErrorTests {
    @Test func aPortInUseIsNamed() throws {
        let first = try ServiceProcess(["coordinator", "--db", temporaryDirectory().appendingPathComponent("a.sqlite").path,
                                        "--listen", "127.0.0.1:0"])
        defer { first.stop() }
        let second = try runLongrope(["coordinator", "--db", temporaryDirectory().appendingPathComponent("b.sqlite").path,
                                      "--listen", "127.0.0.1:\(first.port)"])
        #expect(second.status != 0 && second.stderr.contains("port is in use"), "\(second.stderr)")
        #expect(!second.stderr.contains("bind(descriptor"))
    }
}

/// Found 7 of issue 13: a worker whose token the coordinator refuses says so (not just
/// "listening"), once, and keeps retrying.
@Suite(.enabled(if: TestPaths.has("models/stories260K.gguf"), "needs ../shared/models"))
struct WorkerAttachErrorTests {
    @Test func aWorkerWithTheWrongTokenSaysSo() async throws {
        let directory = temporaryDirectory()
        func tokenFile(_ name: String, _ value: String) throws -> String {
            let url = directory.appendingPathComponent(name)
            try Data((value + "\n").utf8).write(to: url)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: url.path)
            return url.path
        }
        let coordinator = try ServiceProcess(["coordinator", "--db", directory.appendingPathComponent("d.sqlite").path,
                                              "--listen", "127.0.0.1:0", "--token-file", try tokenFile("right", "right-token")])
        defer { coordinator.stop() }
        let log = directory.appendingPathComponent("worker.log")
        let worker = try ServiceProcess(["worker", "--coordinator", "http://127.0.0.1:\(coordinator.port)",
                                         "--model", TestPaths.shared.appendingPathComponent("models/stories260K.gguf").path,
                                         "--text", TestPaths.shared.appendingPathComponent("text/tinystories-valid.txt").path,
                                         "--threads", "1", "--token-file", try tokenFile("wrong", "wrong-token")], stderr: log)
        defer { worker.stop() }
        #expect(try await waitUntil(20) {
            (try? String(contentsOf: log, encoding: .utf8))?.contains("refused the token (401)") == true
        }, "the worker names the problem")
        try await Task.sleep(nanoseconds: 3_000_000_000)
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(text.components(separatedBy: "refused the token").count - 1 == 1, "logged once while it retries: \(text)")
    }
}
