import Foundation
import Testing
import Digest
import TestSupport

/// The dashboard, loaded in headless Chromium against a running coordinator, shows plots with data.
@Suite(.serialized, .enabled(if: TestPaths.has("models/stories260K.gguf"), "needs ../shared/models"))
struct DashboardTests {
    static var chromium: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    func browser(_ arguments: [String]) throws -> CommandResult {
        try runProcess(URL(fileURLWithPath: Self.chromium!),
                       ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"] + arguments)
    }

    /// A coordinator and a worker (processes, `token` on both when given) that have finished a
    /// small search on stories260K, 128 → 512 tokens, seed 1; `search` adds the request's sizes.
    func finishedSearch(token: String?, _ search: [String: Any]) async throws -> (ServiceProcess, ServiceProcess) {
        let model = try #require(TestPaths.sharedFile("models/stories260K.gguf"), "../shared/models/stories260K.gguf")
        let source = try #require(TestPaths.sharedFile("text/tinystories-valid.txt"), "../shared/text/tinystories-valid.txt")
        let directory = temporaryDirectory()
        let text = directory.appendingPathComponent("text.txt")
        try Data(contentsOf: source).prefix(60_000).write(to: text)
        var tokenArguments: [String] = []
        if let token {
            let file = directory.appendingPathComponent("token")
            try Data((token + "\n").utf8).write(to: file)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
            tokenArguments = ["--token-file", file.path]
        }
        let coordinator = try ServiceProcess(["coordinator", "--db", directory.appendingPathComponent("d.sqlite").path,
                                              "--listen", "127.0.0.1:0"] + tokenArguments)
        let base = "http://127.0.0.1:\(coordinator.port)"
        let worker = try ServiceProcess(["worker", "--coordinator", base, "--model", model.path, "--text", text.path,
                                         "--threads", "2", "--name", "dash"] + tokenArguments)
        #expect(try await waitUntil(30) {
            ((try? await TestHTTP.request("GET", base + "/v1/workers", token: token))?.json as? [Any])?.isEmpty == false
        })
        var request: [String: Any] = ["model_sha256": try SHA256.hex(fileAt: model.path), "text_sha256": try SHA256.hex(fileAt: text.path),
                                      "original_context": 128, "target_context": 512, "seed": 1]
        request.merge(search) { _, new in new }
        #expect(try await TestHTTP.request("POST", base + "/v1/searches", body: TestHTTP.json(request), token: token).status == 201)
        #expect(try await waitUntil(120) {
            (try? await TestHTTP.request("GET", base + "/v1/searches/1", token: token))?.object["status"] as? String == "done"
        })
        return (coordinator, worker)
    }

    @Test func plotsCarryDataInChromium() async throws {
        guard Self.chromium != nil else {
            FileHandle.standardError.write(Data("SKIP: chromium is not installed (scripts/setup.sh installs Debian's chromium)\n".utf8))
            return
        }
        let (coordinator, worker) = try await finishedSearch(token: nil, ["name": "dashboard", "windows": 2, "population": 8,
                                                                          "iterations": 3])
        defer { coordinator.stop(); worker.stop() }
        let base = "http://127.0.0.1:\(coordinator.port)"
        let directory = temporaryDirectory()

        let dom = try browser(["--dump-dom", base + "/searches/1"])
        #expect(dom.status == 0, "\(dom.stderr.prefix(500))")
        let html = dom.stdout
        // Both plots, each with the search's series and the baselines' flat or curved lines.
        for plot in ["history", "lambda"] {
            #expect(html.contains("<svg id=\"\(plot)\""), "plot \(plot) rendered")
        }
        let series = html.components(separatedBy: "<polyline class=\"series\"").dropFirst()
        let points = series.compactMap { s -> (String, Int)? in
            guard let name = s.range(of: "data-name=\"").map({ s[$0.upperBound...].prefix { $0 != "\"" } }),
                  let count = s.range(of: "data-points=\"").map({ Int(s[$0.upperBound...].prefix { $0 != "\"" }) ?? 0 }) else { return nil }
            return (String(name), count)
        }
        #expect(points.filter { $0.0 == "search best" }.count == 2, "the search's line in both plots")
        #expect(points.filter { $0.0 == "search best" }.allSatisfy { $0.1 >= 2 }, "with data: \(points)")
        for baseline in ["pi", "ntk", "yarn"] {
            #expect(points.contains { $0.0 == baseline && $0.1 >= 2 }, "baseline \(baseline) drawn")
        }
        #expect(html.contains("healthy"), "the worker is listed")
        #expect(html.contains(">left</span><b>—</b>"), "a finished search has no time left")

        let index = try browser(["--dump-dom", base + "/"])
        #expect(index.stdout.contains("href=\"/searches/1\""))
        let shot = directory.appendingPathComponent("dashboard.png")
        let screenshot = try browser(["--screenshot=\(shot.path)", "--window-size=1280,1100", base + "/searches/1"])
        #expect(screenshot.status == 0)
        #expect((try? Data(contentsOf: shot).count) ?? 0 > 10_000, "a screenshot with content")
    }

    /// Issue 13, item 2: with a token set, a person logs in through /login in the browser (the
    /// form, then an HttpOnly cookie) and sees the search's plots.
    @Test func aBrowserLogsInAndSeesThePlots() async throws {
        guard let chromium = Self.chromium else {
            FileHandle.standardError.write(Data("SKIP: chromium is not installed (scripts/setup.sh installs Debian's chromium)\n".utf8))
            return
        }
        let (coordinator, worker) = try await finishedSearch(token: "browser-secret", ["windows": 1, "population": 6,
                                                                                       "iterations": 2])
        defer { coordinator.stop(); worker.stop() }
        let base = "http://127.0.0.1:\(coordinator.port)"

        let anonymous = try browser(["--dump-dom", base + "/searches/1"])
        #expect(!anonymous.stdout.contains("<svg id=\"history\""), "no plots without logging in")

        let run = try runProcess(URL(fileURLWithPath: "/usr/bin/python3"),
                                 [TestPaths.packageRoot.appendingPathComponent("scripts/browser-login.py").path,
                                  chromium, base, "browser-secret", "/searches/1"])
        #expect(run.status == 0, "\(run.stderr.suffix(800))")
        let page = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let html = page["html"] as? String ?? ""
        #expect((page["url"] as? String ?? "").hasSuffix("/searches/1"))
        #expect(page["cookie"] as? String == "", "the session cookie is HttpOnly: scripts cannot read it")
        for plot in ["history", "lambda"] { #expect(html.contains("<svg id=\"\(plot)\""), "plot \(plot) after logging in") }
        #expect(html.contains("data-name=\"search best\""), "the search's line is drawn")
    }
}
