import Foundation
import Testing
import Digest
import TestSupport

/// The dashboard, loaded in headless Chromium against a running coordinator, shows plots with data.
@Suite(.serialized) struct DashboardTests {
    static var chromium: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    func browser(_ arguments: [String]) throws -> CommandResult {
        try runProcess(URL(fileURLWithPath: Self.chromium!),
                       ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"] + arguments)
    }

    @Test func plotsCarryDataInChromium() async throws {
        guard Self.chromium != nil else {
            FileHandle.standardError.write(Data("SKIP: chromium is not installed (scripts/setup.sh installs Debian's chromium)\n".utf8))
            return
        }
        guard let model = TestPaths.sharedFile("models/stories260K.gguf"),
              let source = TestPaths.sharedFile("text/tinystories-valid.txt") else { return }
        let directory = temporaryDirectory()
        let text = directory.appendingPathComponent("text.txt")
        try Data(contentsOf: source).prefix(60_000).write(to: text)
        let coordinator = try ServiceProcess(["coordinator", "--db", directory.appendingPathComponent("d.sqlite").path,
                                              "--listen", "127.0.0.1:0"])
        defer { coordinator.stop() }
        let base = "http://127.0.0.1:\(coordinator.port)"
        let worker = try ServiceProcess(["worker", "--coordinator", base, "--model", model.path, "--text", text.path,
                                         "--threads", "2", "--name", "dash"])
        defer { worker.stop() }
        #expect(try await waitUntil(30) { ((try? await TestHTTP.request("GET", base + "/v1/workers"))?.json as? [Any])?.isEmpty == false })
        let request = TestHTTP.json(["name": "dashboard", "model_sha256": try SHA256.hex(fileAt: model.path),
                                     "text_sha256": try SHA256.hex(fileAt: text.path), "original_context": 128,
                                     "target_context": 512, "seed": 1, "samples": 2, "population": 8, "iterations": 3])
        #expect(try await TestHTTP.request("POST", base + "/v1/searches", body: request).status == 201)
        #expect(try await waitUntil(120) {
            (try? await TestHTTP.request("GET", base + "/v1/searches/1"))?.object["status"] as? String == "done"
        })

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

        let index = try browser(["--dump-dom", base + "/"])
        #expect(index.stdout.contains("href=\"/searches/1\""))
        let shot = directory.appendingPathComponent("dashboard.png")
        let screenshot = try browser(["--screenshot=\(shot.path)", "--window-size=1280,1100", base + "/searches/1"])
        #expect(screenshot.status == 0)
        #expect((try? Data(contentsOf: shot).count) ?? 0 > 10_000, "a screenshot with content")
    }
}
