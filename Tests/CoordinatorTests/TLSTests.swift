import AsyncHTTPClient
import Foundation
import Coordinator
import HTTPService
import TestSupport
import Testing

/// Issue 13, item 1: HTTPS between coordinator, workers and clients with a private CA made at
/// test time by scripts/make-ca.sh (openssl), and the refusal to expose plain or open services.
private let tlsLabAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")
    && TestPaths.sharedFile("models/stories260K.gguf") != nil

@Suite(.serialized, .enabled(if: tlsLabAvailable, "needs /usr/bin/openssl and ../shared/models/stories260K.gguf"))
struct TLSTests {
    struct Lab {
        let directory = temporaryDirectory()
        let model: URL
        let text: URL

        init?() throws {
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"),
                  let model = TestPaths.sharedFile("models/stories260K.gguf"),
                  let text = TestPaths.sharedFile("text/tinystories-valid.txt") else { return nil }
            self.model = model
            self.text = text
            for (name, hosts) in [("ca", ["localhost", "127.0.0.1"]), ("other", ["localhost"])] {
                let run = try runProcess(TestPaths.packageRoot.appendingPathComponent("scripts/make-ca.sh"),
                                         [directory.appendingPathComponent(name).path] + hosts)
                guard run.status == 0 else { throw CLIFailure(run.stderr) }
            }
        }

        func file(_ name: String) -> String { directory.appendingPathComponent(name).path }

        func coordinator() throws -> ServiceProcess {
            try ServiceProcess(["coordinator", "--db", file("tls.sqlite"), "--listen", "127.0.0.1:0",
                                "--tls-cert", file("ca/server.pem"), "--tls-key", file("ca/server.key"),
                                "--ca-file", file("ca/ca.pem")])
        }

        func worker(_ port: Int, ca: String, log: URL) throws -> ServiceProcess {
            try ServiceProcess(["worker", "--coordinator", "https://localhost:\(port)", "--model", model.path,
                                "--text", text.path, "--threads", "1", "--ca-file", file("\(ca)/ca.pem"),
                                "--tls-cert", file("ca/server.pem"), "--tls-key", file("ca/server.key")], stderr: log)
        }
    }

    struct CLIFailure: Error { let message: String; init(_ m: String) { message = m } }

    @Test func aWorkerAttachesAndScoresOverTLS() async throws {
        let lab = try #require(try Lab())
        let coordinator = try lab.coordinator()
        defer { coordinator.stop() }
        let worker = try lab.worker(coordinator.port, ca: "ca", log: lab.directory.appendingPathComponent("w.log"))
        defer { worker.stop() }
        let client = try TLSFiles.client(caFile: lab.file("ca/ca.pem"))
        let base = "https://localhost:\(coordinator.port)"
        #expect(try await waitUntil(30) {
            let workers = try await TestHTTP.request("GET", base + "/v1/workers", client: client).json as? [[String: Any]]
            return workers?.first?["address"].map { "\($0)".hasPrefix("https://") } == true
        }, "the worker registered with its HTTPS address")
        // A small search: every unit goes coordinator → worker over HTTPS.
        let workers = try await TestHTTP.request("GET", base + "/v1/workers", client: client).json as! [[String: Any]]
        let created = try await TestHTTP.request("POST", base + "/v1/searches", body: TestHTTP.json(
            ["model_sha256": workers[0]["model_sha256"]!, "text_sha256": workers[0]["text_sha256"]!,
             "original_context": 128, "target_context": 256, "population": 4, "iterations": 1, "windows": 1]),
            client: client)
        #expect(created.status == 201, "\(created.text)")
        #expect(try await waitUntil(60) {
            try await TestHTTP.request("GET", base + "/v1/searches/1", client: client).object["status"] as? String == "done"
        })
        let status = try runLongrope(["status", "--coordinator", base, "--ca-file", lab.file("ca/ca.pem")])
        #expect(status.status == 0 && status.stdout.contains("done"), "\(status.stderr)")
        // Found 9 of issue 13: the full sha256s POST /v1/searches needs, where a user looks.
        let sha = try #require(workers[0]["model_sha256"] as? String)
        #expect(sha.count == 64 && status.stdout.contains("model_sha256 \(sha)"), "\(status.stdout)")
    }

    /// Issue 23, item 5: over HTTPS the dashboard's session cookie is `Secure` (a browser never
    /// sends it over plain HTTP); over plain HTTP it cannot be (it would never come back).
    @Test func theSessionCookieIsSecureOnlyOverHTTPS() throws {
        let lab = try #require(try Lab())
        var settings = CoordinatorSettings(databasePath: lab.file("cookie.sqlite"))
        settings.tlsCertificate = lab.file("ca/server.pem")
        settings.tlsKey = lab.file("ca/server.key")
        let https = try Coordinator(settings: settings)
        #expect(https.sessions.setCookie("abc").contains("; Secure"))
        #expect(https.sessions.clearCookie.contains("; Secure"))
        let plain = try Coordinator(settings: CoordinatorSettings(databasePath: lab.file("plain-cookie.sqlite")))
        #expect(!plain.sessions.setCookie("abc").contains("Secure") && !plain.sessions.clearCookie.contains("Secure"))
        // Item 9: a peer that never says close_notify holds a TLS coordinator's exit for 1 s, not 5.
        #expect(try TLSFiles.server(certificate: lab.file("ca/server.pem"), key: lab.file("ca/server.key")).shutdownTimeout
                <= .seconds(1))
    }

    @Test func aWorkerTrustingAnotherCAIsRefusedWithAClearError() async throws {
        let lab = try #require(try Lab())
        let coordinator = try lab.coordinator()
        defer { coordinator.stop() }
        let log = lab.directory.appendingPathComponent("wrong-ca.log")
        let worker = try lab.worker(coordinator.port, ca: "other", log: log)
        defer { worker.stop() }
        #expect(try await waitUntil(20) {
            (try? String(contentsOf: log, encoding: .utf8))?.contains("TLS with https://localhost") == true
        }, "the worker says TLS failed and why")
        let message = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(message.contains("--ca-file"), "\(message)")
        let client = try TLSFiles.client(caFile: lab.file("ca/ca.pem"))
        let workers = try await TestHTTP.request("GET", "https://localhost:\(coordinator.port)/v1/workers", client: client)
        #expect((workers.json as? [Any])?.isEmpty == true, "a worker that cannot verify the coordinator never attaches")
    }

    @Test func plainHTTPToTheTLSPortFailsCleanly() async throws {
        let lab = try #require(try Lab())
        let coordinator = try lab.coordinator()
        defer { coordinator.stop() }
        await #expect(throws: (any Error).self) {
            _ = try await TestHTTP.request("GET", "http://127.0.0.1:\(coordinator.port)/healthz", timeout: 5)
        }
        let status = try runLongrope(["status", "--coordinator", "http://127.0.0.1:\(coordinator.port)"])
        #expect(status.status != 0 && status.stderr.contains("try https://"), "\(status.stderr)")
        let client = try TLSFiles.client(caFile: lab.file("ca/ca.pem"))
        let healthy = try await TestHTTP.request("GET", "https://localhost:\(coordinator.port)/healthz", client: client)
        #expect(healthy.status == 200, "the coordinator still serves HTTPS afterwards")
    }

    @Test func listeningBeyondLoopbackNeedsATokenAndTLSOrAnExplicitFlag() throws {
        let directory = temporaryDirectory()
        let db = directory.appendingPathComponent("open.sqlite").path
        let token = directory.appendingPathComponent("token")
        try Data("t0ken\n".utf8).write(to: token)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: token.path)
        let open = try runLongrope(["coordinator", "--db", db, "--listen", "0.0.0.0:0"])
        #expect(open.status != 0 && open.stderr.contains("without a token") && open.stderr.contains("--allow-no-token"),
                "\(open.stderr)")
        let plain = try runLongrope(["coordinator", "--db", db, "--listen", "0.0.0.0:0", "--token-file", token.path])
        #expect(plain.status != 0 && plain.stderr.contains("plain HTTP") && plain.stderr.contains("--allow-plain-http"),
                "\(plain.stderr)")
        let worker = try runLongrope(["worker", "--coordinator", "http://127.0.0.1:1", "--model", "/m.gguf", "--text", "/t.txt",
                                      "--listen", "0.0.0.0:0", "--token-file", token.path])
        #expect(worker.status != 0 && worker.stderr.contains("plain HTTP"), "\(worker.stderr)")
        let allowed = try ServiceProcess(["coordinator", "--db", db, "--listen", "0.0.0.0:0", "--token-file", token.path,
                                          "--allow-plain-http"])
        #expect(allowed.port > 0, "allowed on purpose, it starts")
        allowed.stop()
    }
}
