import Foundation
import HummingbirdTesting
import Testing
import Coordinator
import Hummingbird
import RoPE
import Runner
import Store
import TestSupport
import Wire

/// Every malformed request gets the documented 4xx with a JSON error body, and the service keeps running.
@Suite(.serialized) struct APIErrorTests {
    /// A coordinator with a token, its API served through the router (no socket).
    func withCoordinator(_ body: @escaping @Sendable (RouterAPI) async throws -> Void) async throws {
        var settings = CoordinatorSettings(databasePath: temporaryDirectory().appendingPathComponent("api.sqlite").path)
        settings.token = "secret"
        try await RouterAPI.serve(try Coordinator(settings: settings), body)
    }

    nonisolated(unsafe) static let validSearch: [String: Any] = ["model_sha256": "abc", "text_sha256": "def", "original_context": 512,
                                             "target_context": 4096, "pairs": 4, "rope_base": 10000.0, "population": 4,
                                             "iterations": 0, "windows": 1]

    func with(_ changes: [String: Any?]) -> Data {
        var object = Self.validSearch
        for (key, value) in changes { object[key] = value }
        return TestHTTP.json(object)
    }

    /// A valid worker registration with `changes`.
    func worker(_ changes: [String: Any]) -> Data {
        var object: [String: Any] = ["name": "w", "address": "http://127.0.0.1:9", "model_sha256": String(repeating: "a", count: 64),
                                     "text_sha256": String(repeating: "b", count: 64), "architecture": "llama", "threads": 1,
                                     "pairs": 4, "rope_base": 10000.0, "context_length": 512]
        for (key, value) in changes { object[key] = value }
        return TestHTTP.json(object)
    }

    /// A search asking an attention precision its workers' model cannot run is refused when it
    /// is created (400 naming them), not found out unit by unit.
    @Test func aPrecisionTheWorkersCannotRunIsRefusedAtCreation() async throws {
        try await withCoordinator { api in
            let model = String(repeating: "a", count: 64)
            let registered = try await api.request("POST", "/v1/workers", body: worker(["name": "f32-only", "attention_precisions": ["f32"]]),
                                                   token: "secret")
            #expect(registered.status == 201, "\(registered.text)")
            let refused = try await api.request("POST", "/v1/searches", body: with(["model_sha256": model, "attention_precision": "bf16"]),
                                                token: "secret")
            #expect(refused.status == 400 && refused.text.contains("attention_precision bf16") && refused.text.contains("f32-only"),
                    "\(refused.text)")
            let f32 = try await api.request("POST", "/v1/searches", body: with(["model_sha256": model]), token: "secret")
            #expect(f32.status == 201, "\(f32.text)")
        }
    }

    @Test func tableOfBadRequests() async throws {
        try await withCoordinator { api in
            struct Case { var name: String; var method: String; var path: String; var body: Data?; var token: String?; var status: Int; var mentions: String }
            let token = "secret"
            let cases: [Case] = [
                Case(name: "malformed JSON", method: "POST", path: "/v1/searches", body: Data("{\"model_sha256\": ".utf8), token: token, status: 400, mentions: "malformed"),
                Case(name: "not an object", method: "POST", path: "/v1/searches", body: Data("[1,2]".utf8), token: token, status: 400, mentions: "object"),
                Case(name: "wrong type", method: "POST", path: "/v1/searches", body: with(["target_context": "big"]), token: token, status: 400, mentions: "target_context"),
                Case(name: "unknown field", method: "POST", path: "/v1/searches", body: with(["colour": "red"]), token: token, status: 400, mentions: "colour"),
                Case(name: "missing field", method: "POST", path: "/v1/searches", body: with(["text_sha256": nil]), token: token, status: 400, mentions: "text_sha256"),
                Case(name: "NaN literal", method: "POST", path: "/v1/searches", body: Data("{\"model_sha256\":\"a\",\"text_sha256\":\"b\",\"original_context\":512,\"target_context\":1024,\"lambda_max\":NaN}".utf8), token: token, status: 400, mentions: "malformed"),
                Case(name: "non-monotone seed", method: "POST", path: "/v1/searches", body: with(["seeds": [[1.0, 3.0, 2.0, 4.0]]]), token: token, status: 400, mentions: "non-decreasing"),
                Case(name: "seed above lambda_max", method: "POST", path: "/v1/searches", body: with(["seeds": [[1.0, 2.0, 3.0, 99.0]]]), token: token, status: 400, mentions: "lambda_max"),
                Case(name: "bad config", method: "POST", path: "/v1/searches", body: with(["windows": 0]), token: token, status: 400, mentions: "windows"),
                Case(name: "oversize body", method: "POST", path: "/v1/searches", body: Data(repeating: 32, count: (1 << 20) + 10), token: token, status: 413, mentions: "limited"),
                Case(name: "unknown search", method: "GET", path: "/v1/searches/999", body: nil, token: token, status: 404, mentions: "999"),
                Case(name: "non-numeric id", method: "GET", path: "/v1/searches/abc", body: nil, token: token, status: 400, mentions: "integer"),
                Case(name: "best of unknown search", method: "GET", path: "/v1/searches/999/best?format=hf", body: nil, token: token, status: 404, mentions: "999"),
                Case(name: "pause unknown search", method: "POST", path: "/v1/searches/42/pause", body: nil, token: token, status: 404, mentions: "42"),
                Case(name: "missing token", method: "GET", path: "/v1/searches", body: nil, token: nil, status: 401, mentions: "Bearer"),
                Case(name: "wrong token", method: "GET", path: "/v1/searches", body: nil, token: "guess", status: 401, mentions: "wrong token"),
                Case(name: "worker without token", method: "POST", path: "/v1/workers", body: Data("{}".utf8), token: nil, status: 401, mentions: "Bearer"),
                Case(name: "worker with bad address", method: "POST", path: "/v1/workers", body: TestHTTP.json(["name": "w", "address": "ftp://x", "model_sha256": "a", "text_sha256": "b", "architecture": "llama", "threads": 1, "pairs": 4, "rope_base": 10000.0, "context_length": 512]), token: token, status: 400, mentions: "address"),
                Case(name: "worker address with a port out of range", method: "POST", path: "/v1/workers", body: worker(["address": "http://127.0.0.1:99999"]), token: token, status: 400, mentions: "address"),
                Case(name: "worker address without a host", method: "POST", path: "/v1/workers", body: worker(["address": "http:///v1"]), token: token, status: 400, mentions: "address"),
                Case(name: "worker with an unknown attention precision", method: "POST", path: "/v1/workers", body: worker(["attention_precisions": ["fp8"]]), token: token, status: 400, mentions: "attention_precisions"),
                Case(name: "worker name with an escape sequence", method: "POST", path: "/v1/workers", body: worker(["name": "w\u{1B}[2J"]), token: token, status: 400, mentions: "control characters"),
                Case(name: "search name with a line break", method: "POST", path: "/v1/searches", body: with(["name": "a\nb"]), token: token, status: 400, mentions: "control characters"),
                Case(name: "heartbeat of unknown worker", method: "POST", path: "/v1/workers/w99/heartbeat", body: Data("{}".utf8), token: token, status: 404, mentions: "w99"),
                Case(name: "delete an unknown worker", method: "DELETE", path: "/v1/workers/w-nope", body: nil, token: token, status: 404, mentions: "w-nope"),
                Case(name: "delete a worker without the token", method: "DELETE", path: "/v1/workers/w-nope", body: nil, token: nil, status: 401, mentions: "token"),
                Case(name: "unknown route", method: "GET", path: "/v2/nothing", body: nil, token: token, status: 404, mentions: ""),
                Case(name: "target below original", method: "POST", path: "/v1/searches", body: with(["target_context": 256]), token: token, status: 400, mentions: "target_context"),
                Case(name: "target of a billion", method: "POST", path: "/v1/searches", body: with(["target_context": 1_000_000_000]), token: token, status: 400, mentions: "at most"),
                Case(name: "population of ten million", method: "POST", path: "/v1/searches", body: with(["population": 10_000_000]), token: token, status: 400, mentions: "population"),
                Case(name: "a megabyte name", method: "POST", path: "/v1/searches", body: with(["name": String(repeating: "n", count: 1 << 19)]), token: token, status: 400, mentions: "name"),
                Case(name: "fractional population", method: "POST", path: "/v1/searches", body: with(["population": 512.5]), token: token, status: 400, mentions: "population"),
                Case(name: "fractional original_context", method: "POST", path: "/v1/searches", body: with(["original_context": 256.5]), token: token, status: 400, mentions: "original_context"),
                Case(name: "fractional context_length of a worker", method: "POST", path: "/v1/workers", body: worker(["context_length": 512.5]), token: token, status: 400, mentions: "context_length"),
                Case(name: "negative seed", method: "POST", path: "/v1/searches", body: with(["seed": -1]), token: token, status: 400, mentions: "seed"),
                Case(name: "unknown space", method: "POST", path: "/v1/searches", body: with(["space": "diagonal"]), token: token, status: 400, mentions: "space"),
                Case(name: "unknown fitness", method: "POST", path: "/v1/searches", body: with(["fitness": "bleu"]), token: token, status: 400, mentions: "fitness"),
                Case(name: "m range upside down", method: "POST", path: "/v1/searches", body: with(["attention_range": [1.3, 1.1]]), token: token, status: 400, mentions: "attention factor range"),
                Case(name: "m range beyond a float", method: "POST", path: "/v1/searches", body: with(["attention_range": [1.0, 1e39]]), token: token, status: 400, mentions: "attention factor range"),
                Case(name: "m beyond a float", method: "POST", path: "/v1/searches", body: with(["attention_factor": 1e39]), token: token, status: 400, mentions: "attention factor"),
                Case(name: "m of 1e20", method: "POST", path: "/v1/searches", body: with(["attention_factor": 1e20]), token: token, status: 400, mentions: "attention factor must be > 0 and at most 100"),
                Case(name: "m range to 1e30", method: "POST", path: "/v1/searches", body: with(["attention_range": [1.0, 1e30]]), token: token, status: 400, mentions: "max ≤ 100"),
                Case(name: "m range of three", method: "POST", path: "/v1/searches", body: with(["attention_range": [1.0, 1.1, 1.2]]), token: token, status: 400, mentions: "attention_range"),
                Case(name: "threshold without key tokens", method: "POST", path: "/v1/searches", body: with(["key_token_threshold": 1.0]), token: token, status: 400, mentions: "key-tokens"),
                Case(name: "needles without needle windows", method: "POST", path: "/v1/searches", body: with(["needles": 4]), token: token, status: 400, mentions: "needles"),
                Case(name: "too many needles", method: "POST", path: "/v1/searches", body: with(["fitness": "mixed", "needles": 65]), token: token, status: 400, mentions: "needles"),
                Case(name: "negative threshold", method: "POST", path: "/v1/searches", body: with(["fitness": "key-tokens", "key_token_threshold": -1.0]), token: token, status: 400, mentions: "threshold"),
                Case(name: "wrong method on a search", method: "DELETE", path: "/v1/searches/1", body: nil, token: token, status: 405, mentions: "GET"),
                Case(name: "wrong method on workers", method: "PUT", path: "/v1/workers", body: nil, token: token, status: 405, mentions: "POST"),
                Case(name: "GET of a heartbeat", method: "GET", path: "/v1/workers/w-1/heartbeat", body: nil, token: token, status: 405, mentions: "POST"),
                Case(name: "pairs of a million", method: "POST", path: "/v1/searches", body: with(["pairs": 1_000_000]), token: token, status: 400, mentions: "pairs"),
                Case(name: "lambda_max of 1e308", method: "POST", path: "/v1/searches", body: with(["lambda_max": 1e308]), token: token, status: 400, mentions: "lambda_max"),
                Case(name: "n_hat of 1e12", method: "POST", path: "/v1/searches", body: with(["n_hat": [1_000_000_000_000]]), token: token, status: 400, mentions: "n_hat"),
                Case(name: "a bad field without pairs is named before workers are looked for", method: "POST", path: "/v1/searches", body: with(["pairs": nil, "windows": 0]), token: token, status: 400, mentions: "windows"),
                Case(name: "a 100 KB worker name", method: "POST", path: "/v1/workers", body: worker(["name": String(repeating: "w", count: 100_000)]), token: token, status: 400, mentions: "name"),
                Case(name: "a model hash that is no sha256", method: "POST", path: "/v1/workers", body: worker(["model_sha256": "abc"]), token: token, status: 400, mentions: "model_sha256"),
                Case(name: "a worker with 0 threads", method: "POST", path: "/v1/workers", body: worker(["threads": 0]), token: token, status: 400, mentions: "threads"),
                Case(name: "search without a worker for its model", method: "POST", path: "/v1/searches", body: with(["pairs": nil]), token: token, status: 409, mentions: "no worker"),
            ]
            for c in cases {
                let reply = try await api.request(c.method, c.path, body: c.body, token: c.token)
                #expect(reply.status == c.status, "\(c.name): got \(reply.status) \(reply.text.prefix(200))")
                let error = reply.object["error"] as? String, detail = reply.object["detail"] as? String
                #expect(error != nil && detail != nil, "\(c.name): JSON error body, got \(reply.text.prefix(200))")
                if !c.mentions.isEmpty {
                    #expect((detail ?? "").contains(c.mentions) || (error ?? "").contains(c.mentions),
                            "\(c.name): \(reply.text.prefix(300))")
                }
            }
            // Still serving, and /healthz needs no token.
            #expect(try await api.request("GET", "/healthz").status == 200)
            let created = try await api.request("POST", "/v1/searches", body: with([:]), token: token)
            #expect(created.status == 201, "\(created.text)")
            // The defaults: m searched, LongRoPE's space, perplexity as fitness.
            #expect(created.object["fitness"] as? String == "ppl")
            #expect(created.object["space"] as? String == "all-pairs")
            #expect((created.object["attention_range"] as? [Double])?.count == 2)
            let levers = try await api.request("POST", "/v1/searches", body: with(
                ["space": "critical-dimension", "fitness": "needle", "attention_factor": 1.1]), token: token)
            #expect(levers.status == 201, "\(levers.text)")
            #expect(levers.object["fitness"] as? String == "needle" && levers.object["space"] as? String == "critical-dimension")
            #expect(levers.object["attention_range"] == nil || levers.object["attention_range"] is NSNull, "a given m is fixed")
            #expect(levers.object["attention_factor"] as? Double == 1.1)
            // BF16 with a needle fitness is allowed but said to reorder close candidates; with ppl it is not.
            #expect(created.object["warnings"] == nil || created.object["warnings"] is NSNull, "\(created.text)")
            let bf16Mixed = try await api.request("POST", "/v1/searches", body: with(["fitness": "mixed", "attention_precision": "bf16"]), token: token)
            #expect(bf16Mixed.status == 201, "\(bf16Mixed.text)")
            let warned = bf16Mixed.object["warnings"] as? [String] ?? []
            #expect(warned.count == 1 && warned[0].contains("bf16") && warned[0].contains("mixed"), "\(bf16Mixed.text)")
            let bf16Ppl = try await api.request("POST", "/v1/searches", body: with(["attention_precision": "bf16"]), token: token)
            #expect(bf16Ppl.status == 201 && (bf16Ppl.object["warnings"] == nil || bf16Ppl.object["warnings"] is NSNull), "\(bf16Ppl.text)")
            #expect(try await api.request("GET", "/v1/searches/1/best?format=xml", token: token).status != 200)
            // Issue 23, item 8: a DELETEd worker's address may not register again.
            let registered = try await api.request("POST", "/v1/workers", body: worker([:]), token: token)
            #expect(registered.status == 201, "\(registered.text)")
            let id = try #require(registered.object["id"] as? String)
            #expect(try await api.request("DELETE", "/v1/workers/\(id)", token: token).status == 204)
            let again = try await api.request("POST", "/v1/workers", body: worker([:]), token: token)
            #expect(again.status == 403 && again.text.contains("removed"), "\(again.text)")
            // Item 2: the removed worker stays named, with why.
            let removed = try await api.request("GET", "/v1/workers/removed", token: token)
            let listed = try #require(removed.json as? [[String: Any]], "\(removed.text)")
            #expect(listed.count == 1 && listed.first?["id"] as? String == id && (listed.first?["reason"] as? String)?.contains("removed") == true
                    && listed.first?["removed_at"] is String, "\(removed.text)")
        }
    }

    /// The router is built from the controllers' route table, and 405 answers come from the same
    /// table: every path it lists answers a method it does not serve with 405 naming the ones it
    /// does. Through HummingbirdTesting's router mode: no socket, no server.
    @Test func everyRouteOfTheTableIsServedAndAnswers405ToOtherMethods() async throws {
        var settings = CoordinatorSettings(databasePath: temporaryDirectory().appendingPathComponent("routes.sqlite").path)
        settings.token = "secret"
        let coordinator = try Coordinator(settings: settings)
        let routes = coordinator.routes
        #expect(routes.count >= 22 && Set(routes.map { "\($0.method) \($0.pattern)" }).count == routes.count, "one entry per route")
        let app = Application(router: coordinator.router())
        try await app.test(.router) { client in
            let auth: HTTPFields = [.authorization: "Bearer secret"]
            for (pattern, served) in Dictionary(grouping: routes, by: \.pattern) {
                let path = pattern.replacingOccurrences(of: ":id", with: "1")
                let methods = Set(served.map(\.method))
                let other = ["PUT", "PATCH", "DELETE", "POST", "GET"].first { !methods.contains($0) }!
                try await client.execute(uri: path, method: HTTPRequest.Method(other)!, headers: auth) { response in
                    let detail = (try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])?["detail"] as? String ?? ""
                    #expect(response.status == .methodNotAllowed, "\(other) \(path): got \(response.status)")
                    #expect(methods.allSatisfy { detail.contains($0) }, "\(other) \(path): \(detail)")
                }
            }
            try await client.execute(uri: "/v1/nothing-here", method: .get, headers: auth) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test func theServedOpenAPIDocumentIsTheFileInTheSources() async throws {
        try await withCoordinator { api in
            let served = try await api.request("GET", "/openapi.yaml", token: "secret")
            #expect(served.status == 200)
            // Embedded at build time (SwiftPM's embedInCode), served byte for byte; docs/openapi.yaml links to it.
            let file = try String(contentsOf: TestPaths.packageRoot.appendingPathComponent("Sources/Coordinator/openapi.yaml"), encoding: .utf8)
            #expect(served.text == file)
            let metrics = try await api.request("GET", "/metrics", token: "secret")
            #expect(metrics.status == 200 && metrics.text.contains("longrope_http_requests_total"))
            // Every counter and gauge says what it counts.
            for name in DispatcherMetrics.Counter.allCases.map(\.rawValue) + DispatcherMetrics.Gauge.allCases.map(\.rawValue) {
                #expect(metrics.text.contains("# HELP \(name) ") && metrics.text.contains("# TYPE \(name) "), "\(name): \(metrics.text)")
            }
        }
    }
}

/// Found 2 of issue 13: a second owner of a database is refused, and the first keeps it.
@Suite struct OwnerLockTests {
    @Test func aSecondCoordinatorOnTheSameDatabaseIsRefused() throws {
        let path = temporaryDirectory().appendingPathComponent("owned.sqlite").path
        let first = try Coordinator(settings: CoordinatorSettings(databasePath: path))
        #expect(throws: OwnerLock.Held.self) { _ = try Coordinator(settings: CoordinatorSettings(databasePath: path)) }
        do { _ = try Coordinator(settings: CoordinatorSettings(databasePath: path)) } catch {
            #expect("\(error)".contains("owns") && "\(error)".contains(path))
        }
        withExtendedLifetime(first) {}
    }

    @Test func aSearchRefusesADatabaseACoordinatorOwns() throws {
        let path = temporaryDirectory().appendingPathComponent("busy.sqlite").path
        let owner = try Coordinator(settings: CoordinatorSettings(databasePath: path))
        let run = try runLongrope(["search", "--model", "/nonexistent.gguf", "--text", "/nonexistent.txt", "--original-context", "128",
                                   "--target-context", "256", "--db", path])
        #expect(run.status != 0 && run.stderr.contains("owns"), "\(run.stderr)")
        withExtendedLifetime(owner) {}
    }
}

/// Pause, resume and cancel through the API.
@Suite(.serialized) struct SearchLifecycleTests {
    @Test func pauseResumeCancel() async throws {
        let settings = CoordinatorSettings(databasePath: temporaryDirectory().appendingPathComponent("life.sqlite").path)
        try await RouterAPI.serve(try Coordinator(settings: settings)) { api in
            // No worker holds this model, so the search waits with its units queued.
            let created = try await api.request("POST", "/v1/searches", body: TestHTTP.json(
                ["model_sha256": "m", "text_sha256": "t", "original_context": 256, "target_context": 512, "pairs": 4,
                 "rope_base": 10000.0, "population": 4, "iterations": 1, "windows": 1]))
            #expect(created.status == 201)
            // The rules' units (rules with the same factors are scored once). Step 0's four are the
            // first four rules' own λ and m: they wait for those units instead of queueing copies.
            var options = SearchOptions()
            (options.population, options.iterations, options.windowCount) = (4, 1, 1)
            let geometry = RoPEGeometry(rotaryDimension: 8, base: 10000)
            let rules = Baselines.scalings(geometry: geometry,
                                           config: options.config(geometry: geometry, originalContext: 256, targetContext: 512))
            let ruleUnits = Set(rules.map { $0.lambda + [$0.attentionFactor] }).count
            #expect(ruleUnits >= 2 && ruleUnits <= 9)
            #expect(try await waitUntil(10) {
                (try await api.request("GET", "/v1/searches/1")).object["units_queued"] as? Int == ruleUnits
            }, "the rules' units go out and wait for a worker; step 0's seeds, equal to rules, are not queued twice")
            let waiting = try await api.request("GET", "/v1/searches/1")
            #expect((waiting.object["waiting"] as? String ?? "").contains("no healthy worker holds model m"), "\(waiting.text)")
            // How far the rules are: none scored yet, every one planned, one window each.
            let rulesNow = try #require(waiting.object["rules"] as? [String: Any], "\(waiting.text)")
            #expect(rulesNow["planned"] as? Int == rules.count && rulesNow["perplexity_scored"] as? Int == 0
                    && rulesNow["windows"] as? Int == 1 && rulesNow["fitness_scored"] == nil, "\(rulesNow)")
            let paused = try await api.request("POST", "/v1/searches/1/pause")
            #expect(paused.status == 200 && paused.object["status"] as? String == "paused")
            #expect(paused.object["units_queued"] as? Int == 0, "pausing withdraws the queued units")
            #expect(try await api.request("POST", "/v1/searches/1/pause").status == 409)
            let resumed = try await api.request("POST", "/v1/searches/1/resume")
            #expect(resumed.status == 200 && ["queued", "running"].contains(resumed.object["status"] as? String ?? ""))
            let cancelled = try await api.request("POST", "/v1/searches/1/cancel")
            #expect(cancelled.status == 200 && cancelled.object["status"] as? String == "cancelled")
            #expect(try await api.request("POST", "/v1/searches/1/cancel").status == 409)
            #expect(try await api.request("POST", "/v1/searches/1/resume").status == 409)
            let list = try await api.request("GET", "/v1/searches")
            #expect((list.json as? [[String: Any]])?.first?["status"] as? String == "cancelled")
            #expect((list.json as? [[String: Any]])?.first?["overlap_steps"] as? Bool == false)
            let overlapped = try await api.request("POST", "/v1/searches", body: TestHTTP.json(
                ["model_sha256": "m", "text_sha256": "t", "original_context": 256, "target_context": 512, "pairs": 4,
                 "rope_base": 10000.0, "population": 4, "iterations": 1, "windows": 1, "overlap_steps": true]))
            #expect(overlapped.status == 201 && overlapped.object["overlap_steps"] as? Bool == true, "\(overlapped.text)")
            #expect(overlapped.object["refine_iterations"] as? Int == 1, "the default: 0.6 × 1 iteration, rounded")
            let body: [String: Any] = ["model_sha256": "m", "text_sha256": "t", "original_context": 256, "target_context": 512,
                                       "pairs": 4, "rope_base": 10000.0, "population": 4, "iterations": 3, "windows": 1]
            let refined = try await api.request("POST", "/v1/searches",
                                                     body: TestHTTP.json(body.merging(["refine_iterations": 0]) { $1 }))
            #expect(refined.status == 201 && refined.object["refine_iterations"] as? Int == 0, "\(refined.text)")
            let tooMany = try await api.request("POST", "/v1/searches",
                                                     body: TestHTTP.json(body.merging(["refine_iterations": 4]) { $1 }))
            #expect(tooMany.status == 400 && tooMany.text.contains("refine iterations must be between 0 and the iterations (3)"),
                    "\(tooMany.text)")
            // Issue 21: the deterministic schedules are stored with the search and shown; nonsense is a 400 naming the key.
            let scheduled = try await api.request("POST", "/v1/searches", body: TestHTTP.json(
                body.merging(["pipeline_depth": 2, "islands": 3, "migration_interval": 1]) { $1 }))
            #expect(scheduled.status == 201, "\(scheduled.text)")
            #expect(scheduled.object["pipeline_depth"] as? Int == 2 && scheduled.object["islands"] as? Int == 3
                    && scheduled.object["migration_interval"] as? Int == 1, "\(scheduled.text)")
            #expect(scheduled.object["candidates_planned"] as? Int == 4 + 3 * 3 * 2, "P + T × I × (N1 + N2)")
            for (bad, named) in [(["pipeline_depth": 0], "pipeline_depth"), (["islands": 1000], "islands"),
                                 (["migration_interval": 2], "migration_interval needs islands"),
                                 (["overlap_steps": true, "islands": 2], "overlap_steps cannot be combined")] as [([String: Any], String)] {
                let refused = try await api.request("POST", "/v1/searches", body: TestHTTP.json(body.merging(bad) { $1 }))
                #expect(refused.status == 400 && refused.text.contains(named), "\(bad): \(refused.text)")
            }
        }
    }
}
