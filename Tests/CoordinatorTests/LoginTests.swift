import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
import Coordinator
import TestSupport

/// Issue 13, browser login: the dashboard opens in a browser through /login, a cookie reads,
/// never writes, and /logout ends it.
@Suite(.serialized) struct LoginTests {
    /// A client that does not follow redirects, so the 303s and cookies can be checked.
    static let client = HTTPClient(eventLoopGroupProvider: .singleton,
                                   configuration: HTTPClient.Configuration(redirectConfiguration: .disallow))

    struct Reply { var status: Int; var headers: [String: String]; var text: String }

    func send(_ method: String, _ url: String, body: String? = nil, cookie: String? = nil, token: String? = nil,
              contentType: String = "application/x-www-form-urlencoded") async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = .RAW(value: method)
        if let cookie { request.headers.add(name: "Cookie", value: cookie) }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await Self.client.execute(request, timeout: .seconds(30))
        let data = try await response.body.collect(upTo: 16 << 20)
        var headers: [String: String] = [:]
        for header in response.headers { headers[header.name.lowercased()] = header.value }
        return Reply(status: Int(response.status.code), headers: headers, text: String(buffer: data))
    }

    @Test func aBrowserSignsInReadsAndSignsOut() async throws {
        var settings = CoordinatorSettings(databasePath: temporaryDirectory().appendingPathComponent("login.sqlite").path)
        settings.port = 0
        settings.token = "s3cret-token"
        let coordinator = try Coordinator(settings: settings)
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = try coordinator.application { continuation.yield($0) }
        let server = Task { try await app.run() }
        defer { server.cancel() }
        var iterator = stream.makeAsyncIterator()
        let base = "http://127.0.0.1:\(await iterator.next()!)"

        // A browser without a session is sent to the form; an API client gets 401.
        let bounced = try await send("GET", base + "/")
        #expect(bounced.status == 303 && bounced.headers["location"] == "/login")
        #expect(try await send("GET", base + "/v1/searches").status == 401)
        let form = try await send("GET", base + "/login")
        #expect(form.status == 200 && form.text.contains("<form") && form.text.contains("name=token"))

        // A wrong token: no cookie, and the token never echoes back.
        let wrong = try await send("POST", base + "/login", body: "token=guess")
        #expect(wrong.status == 401 && wrong.headers["set-cookie"] == nil && wrong.text.contains("Wrong token"))

        // The form is decoded as a browser encodes it: percent escapes, other fields beside it.
        let encoded = try await send("POST", base + "/login", body: "remember=1&token=s3cret%2Dtoken")
        #expect(encoded.status == 303 && encoded.headers["set-cookie"] != nil, "a percent-encoded token signs in")

        let signed = try await send("POST", base + "/login", body: "token=s3cret-token")
        #expect(signed.status == 303 && signed.headers["location"] == "/")
        let setCookie = try #require(signed.headers["set-cookie"])
        #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && setCookie.contains("Max-Age="))
        #expect(!setCookie.contains("Secure"), "over plain HTTP a Secure cookie would never come back")
        #expect(!setCookie.contains("s3cret-token"), "the cookie is a session id, not the token")
        let cookie = String(setCookie.split(separator: ";")[0])

        // The cookie reads: the dashboard (with its plots once a search exists) and the API.
        let created = try await send("POST", base + "/v1/searches", body: String(decoding: TestHTTP.json(
            ["model_sha256": "m", "text_sha256": "t", "original_context": 256, "target_context": 512, "pairs": 4,
             "rope_base": 10000.0, "population": 4, "iterations": 0, "windows": 1]), as: UTF8.self),
                                     token: "s3cret-token", contentType: "application/json")
        #expect(created.status == 201, "\(created.text)")
        let dashboard = try await send("GET", base + "/", cookie: cookie)
        #expect(dashboard.status == 200 && dashboard.text.contains("<table"))
        let page = try await send("GET", base + "/searches/1", cookie: cookie)
        #expect(page.status == 200 && page.text.contains("<svg"), "the plots are drawn for a signed-in browser")
        #expect(try await send("GET", base + "/v1/searches", cookie: cookie).status == 200)
        // ... but never writes (no CSRF): the bearer header is still needed.
        let write = try await send("POST", base + "/v1/searches/1/cancel", cookie: cookie)
        #expect(write.status == 401)
        // A forged session id is refused.
        #expect(try await send("GET", base + "/v1/searches", cookie: "longrope_session=0123").status == 401)

        // Sign out: the cookie is cleared and the old session no longer reads.
        let out = try await send("POST", base + "/logout", cookie: cookie)
        #expect(out.status == 303 && (out.headers["set-cookie"] ?? "").contains("Max-Age=0"))
        #expect(try await send("GET", base + "/v1/searches", cookie: cookie).status == 401)
    }
}

/// Issue 13, token handling: the token never shows in the coordinator's log, its metrics or
/// any answer, right or wrong.
@Suite struct TokenSecrecyTests {
    @Test func theTokenNeverAppearsInLogsMetricsOrErrorBodies() async throws {
        let directory = temporaryDirectory()
        let token = "tok-\(UUID().uuidString)"
        let tokenFile = directory.appendingPathComponent("token")
        try Data((token + "\n").utf8).write(to: tokenFile)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: tokenFile.path)
        let log = directory.appendingPathComponent("coordinator.log")
        let coordinator = try ServiceProcess(["coordinator", "--db", directory.appendingPathComponent("s.sqlite").path,
                                              "--listen", "127.0.0.1:0", "--token-file", tokenFile.path], stderr: log)
        let base = "http://127.0.0.1:\(coordinator.port)"
        let wrong = "wrong-\(UUID().uuidString)"
        var bodies: [String] = []
        for (path, bearer) in [("/v1/searches", wrong), ("/v1/searches/9", token), ("/v1/workers", token), ("/nowhere", token)] {
            bodies.append(try await TestHTTP.request("GET", base + path, token: bearer).text)
        }
        bodies.append(try await TestHTTP.request("POST", base + "/v1/searches", body: Data("{\"bad\": 1}".utf8), token: token).text)
        let login = try await LoginTests().send("POST", base + "/login", body: "token=\(wrong)")
        bodies.append(login.text)
        let metrics = try await TestHTTP.request("GET", base + "/metrics", token: token)
        #expect(metrics.status == 200)
        bodies.append(metrics.text)
        coordinator.stop()
        let logged = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(logged.contains("listening"), "the log was captured")
        for text in bodies + [logged] {
            #expect(!text.contains(token) && !text.contains(wrong), "a token leaked: \(text.prefix(300))")
        }
    }
}
