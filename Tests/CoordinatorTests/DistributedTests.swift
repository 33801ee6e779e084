import Coordinator
import Foundation
import Testing
import Digest
import Store
import TestSupport
import Wire

/// A coordinator and workers as separate processes on loopback, killed on purpose.
@Suite(.serialized, .enabled(if: TestPaths.has("models/stories260K.gguf"), "needs ../shared/models"))
struct DistributedTests {
    struct Files {
        let directory = temporaryDirectory()
        let model: URL
        let text: URL
        let modelHash: String
        let textHash: String

        init?() throws {
            guard let model = TestPaths.sharedFile("models/stories260K.gguf"),
                  let source = TestPaths.sharedFile("text/tinystories-valid.txt") else { return nil }
            self.model = model
            text = directory.appendingPathComponent("text.txt")
            try Data(contentsOf: source).prefix(100_000).write(to: text)
            modelHash = try SHA256.hex(fileAt: model.path)
            textHash = try SHA256.hex(fileAt: text.path)
        }

        /// Windows of 3072 tokens take about a second on one thread: long enough to kill a worker mid-unit.
        var searchRequest: Data {
            TestHTTP.json(["name": "loopback", "model_sha256": modelHash, "text_sha256": textHash, "original_context": 512,
                           "target_context": 3072, "seed": 3, "windows": 2, "population": 6, "iterations": 2,
                           "early_rejection": false])
        }

        func coordinator(db: String, port: Int = 0) throws -> ServiceProcess {
            try ServiceProcess(["coordinator", "--db", db, "--listen", "127.0.0.1:\(port)", "--heartbeat-timeout", "3"])
        }

        func worker(_ coordinatorPort: Int, name: String) throws -> ServiceProcess {
            try ServiceProcess(["worker", "--coordinator", "http://127.0.0.1:\(coordinatorPort)", "--model", model.path,
                                "--text", text.path, "--threads", "1", "--name", name])
        }
    }

    /// Each view `createAndWait` read while it waited.
    final class Views { var seen: [[String: Any]] = [] }

    func createAndWait(_ base: String, _ files: Files, during: ((Int64) async throws -> Void)? = nil,
                       views: Views? = nil) async throws -> (Int64, [String: Any]) {
        #expect(try await waitUntil(30) {
            (try? await TestHTTP.request("GET", base + "/v1/workers"))?.json.flatMap { $0 as? [Any] }?.isEmpty == false
        }, "a worker attached")
        let created = try await TestHTTP.request("POST", base + "/v1/searches", body: files.searchRequest)
        #expect(created.status == 201, "\(created.text)")
        let id = Int64(created.object["id"] as? Int ?? 0)
        try await during?(id)
        var view: [String: Any] = [:]
        #expect(try await waitUntil(240) {
            view = (try? await TestHTTP.request("GET", base + "/v1/searches/\(id)"))?.object ?? [:]
            views?.seen.append(view)
            return view["status"] as? String == "done"
        }, "search \(id) finished: \(view)")
        return (id, view)
    }

    /// Whether the coordinator at `base` counts the worker named `name` healthy (nil: not listed).
    func workerHealthy(_ base: String, _ name: String) async -> Bool? {
        let list = (try? await TestHTTP.request("GET", base + "/v1/workers"))?.json as? [[String: Any]]
        return list?.first { $0["name"] as? String == name }?["healthy"] as? Bool
    }

    func candidates(_ base: String, _ id: Int64) async throws -> [[Double]] {
        let top = try await TestHTTP.request("GET", base + "/v1/searches/\(id)/top?n=10000")
        return (top.json as? [[String: Any]] ?? []).compactMap { $0["lambda"] as? [Double] }
            .sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// BF16 attention on stories260K (head dim 8, no BF16 path): a search asking it is refused
    /// at creation, the worker having said what its model runs; a unit asking it anyway is
    /// refused by the worker (400), which the coordinator's connection reports as the unit's
    /// fault (`UnitRefused`: no strike against the worker, which stays healthy — three such
    /// units used to remove it, and a search then waited for ever).
    @Test func whatTheWorkersModelCannotRunIsRefusedNotBlamedOnTheWorker() async throws {
        let files = try #require(try Files())
        let coordinator = try files.coordinator(db: files.directory.appendingPathComponent("refused.sqlite").path)
        defer { coordinator.stop() }
        let base = "http://127.0.0.1:\(coordinator.port)"
        let worker = try files.worker(coordinator.port, name: "f32-only")
        defer { worker.kill9() }
        func healthy() async -> Bool? { await workerHealthy(base, "f32-only") }
        #expect(try await waitUntil(30) { await healthy() == true }, "the worker attached")
        let created = try await TestHTTP.request("POST", base + "/v1/searches", body: TestHTTP.json(
            ["name": "bf16", "model_sha256": files.modelHash, "text_sha256": files.textHash, "original_context": 128,
             "target_context": 256, "windows": 1, "population": 4, "iterations": 1, "attention_precision": "bf16"]))
        #expect(created.status == 400 && created.text.contains("f32-only") && created.text.contains("head dimension"), "\(created.text)")

        var unit = WorkUnit(searchID: 1, candidateRowID: 1, window: 0, lambda: [Double](repeating: 2, count: 4), nHat: 0,
                            attentionFactor: 1, targetContext: 256, windowCount: 1, modelSHA256: files.modelHash,
                            textSHA256: files.textHash, textOffset: 0)
        unit.attentionPrecision = "bf16"
        let connection = HTTPWorkerConnection(address: "http://127.0.0.1:\(worker.port)", token: nil, client: TestHTTP.client, timeout: 60)
        do {
            _ = try await connection.evaluate(unit)
            Issue.record("a BF16 unit on a head dim of 8 was scored")
        } catch let refused as UnitRefused {
            #expect(refused.reason.contains("head dimension"), "\(refused)")
        }
        #expect(await healthy() == true, "the worker is still attached and healthy")
    }

    /// SIGTERM is a graceful stop: the server and the heartbeats wind down as one service group
    /// and the process ends by itself (a heartbeat loop left running would keep it alive).
    @Test func aWorkerStoppedWithSIGTERMExitsCleanlyAndIsDropped() async throws {
        let files = try #require(try Files())
        let coordinator = try files.coordinator(db: files.directory.appendingPathComponent("term.sqlite").path)
        defer { coordinator.stop() }
        let base = "http://127.0.0.1:\(coordinator.port)"
        let worker = try files.worker(coordinator.port, name: "terminated")
        defer { worker.kill9() }
        func healthy() async -> Bool? { await workerHealthy(base, "terminated") }
        #expect(try await waitUntil(30) { await healthy() == true }, "the worker attached")
        kill(worker.process.processIdentifier, SIGTERM)
        let exited = try await waitUntil(15) { !worker.process.isRunning }
        #expect(exited, "the worker ended within 15 s of SIGTERM")
        if exited { #expect(worker.process.terminationStatus == 0, "a graceful stop exits 0") }
        #expect(try await waitUntil(15) { await healthy() != true }, "the coordinator stopped counting on it")
    }

    /// A worker stopping (SIGTERM) finishes the unit it scores and heartbeats meanwhile; if the
    /// coordinator forgets it then (a coordinator restart, or a removal), it must not register
    /// again: its server no longer listens, and every unit leased to it would come back refused
    /// until it exits (seen on a 32k search, where the unit takes minutes).
    @Test func aStoppingWorkerDoesNotRegisterAgain() async throws {
        let files = try #require(try Files())
        let db = files.directory.appendingPathComponent("drain.sqlite").path
        let coordinator = try files.coordinator(db: db)
        defer { coordinator.stop() }
        let base = "http://127.0.0.1:\(coordinator.port)"
        // Text for one window of 32,768 tokens: a unit of tens of seconds on one thread.
        let text = files.directory.appendingPathComponent("long.txt")
        try Data(contentsOf: try #require(TestPaths.sharedFile("text/tinystories-valid.txt"))).prefix(400_000).write(to: text)
        let worker = try ServiceProcess(["worker", "--coordinator", base, "--model", files.model.path, "--text", text.path,
                                         "--threads", "1", "--name", "draining"])
        defer { worker.kill9() }
        func listed() async -> [[String: Any]] {
            ((try? await TestHTTP.request("GET", base + "/v1/workers"))?.json as? [[String: Any]] ?? [])
                .filter { $0["name"] as? String == "draining" }
        }
        #expect(try await waitUntil(30) { await listed().count == 1 }, "the worker attached")
        let id = try #require(await listed().first?["id"] as? String)
        let unit = TestHTTP.json(["search_id": 1, "candidate_row": 1, "window": 0, "lambda": [Double](repeating: 1, count: 4),
                                  "n_hat": 0, "attention_factor": 1, "target_context": 32_768, "windows": 1,
                                  "model_sha256": files.modelHash, "text_sha256": try SHA256.hex(fileAt: text.path),
                                  "text_offset": 0])
        let idle = cpuSeconds(worker.process.processIdentifier)
        let scoring = Task { try? await TestHTTP.request("POST", "http://127.0.0.1:\(worker.port)/v1/evaluate", body: unit, timeout: 600) }
        defer { scoring.cancel() }
        // The unit is being scored once the worker has spent a second of CPU on it (however
        // loaded the machine, and however long the request took to arrive).
        try #require(try await waitUntil(60) { cpuSeconds(worker.process.processIdentifier) > idle + 1 }, "the worker never scored")
        kill(worker.process.processIdentifier, SIGTERM)
        // The coordinator restarts: the new one does not know the worker (a removal would ban
        // its address, which says nothing of this).
        coordinator.kill9()
        let restarted = try files.coordinator(db: db, port: coordinator.port)
        defer { restarted.stop() }
        // Three heartbeat periods: the old worker registered again at its next heartbeat.
        try await Task.sleep(nanoseconds: 6_000_000_000)
        try #require(worker.process.isRunning, "the worker must still be finishing its unit, or this checks nothing")
        let again = await listed()
        #expect(again.isEmpty && !again.contains { $0["id"] as? String == id }, "a stopping worker registered again: \(again)")
    }

    /// A coordinator that takes a lease back closes its request: the worker stops that pass
    /// (it says so) instead of scoring minutes for nobody, and answers the next unit.
    @Test func aWorkerStopsAUnitWhoseRequestWasClosed() async throws {
        let files = try #require(try Files())
        let coordinator = try files.coordinator(db: files.directory.appendingPathComponent("close.sqlite").path)
        defer { coordinator.stop() }
        let text = files.directory.appendingPathComponent("long-close.txt")
        try Data(contentsOf: try #require(TestPaths.sharedFile("text/tinystories-valid.txt"))).prefix(400_000).write(to: text)
        let log = files.directory.appendingPathComponent("worker-close.log")
        let worker = try ServiceProcess(["worker", "--coordinator", "http://127.0.0.1:\(coordinator.port)", "--model",
                                         files.model.path, "--text", text.path, "--threads", "1", "--name", "closing"],
                                        stderr: log)
        defer { worker.kill9() }
        func unit(_ context: Int) throws -> Data {
            TestHTTP.json(["search_id": 1, "candidate_row": context, "window": 0, "lambda": [Double](repeating: 4, count: 4),
                           "n_hat": 0, "attention_factor": 1, "target_context": context, "windows": 1,
                           "model_sha256": files.modelHash, "text_sha256": try SHA256.hex(fileAt: text.path),
                           "text_offset": 0])
        }
        let url = "http://127.0.0.1:\(worker.port)/v1/evaluate"
        let long = try unit(32_768)   // tens of seconds on one thread
        let idle = cpuSeconds(worker.process.processIdentifier)
        let scoring = Task { try await TestHTTP.request("POST", url, body: long, timeout: 600) }
        try #require(try await waitUntil(60) { cpuSeconds(worker.process.processIdentifier) > idle + 1 }, "the worker never scored")
        scoring.cancel()   // the client closes the connection
        #expect(try await waitUntil(60) {
            (try? String(contentsOf: log, encoding: .utf8))?.contains("stopped unit 32768/0") == true
        }, "the worker did not stop the pass: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        let next = try await TestHTTP.request("POST", url, body: try unit(512), timeout: 120)
        #expect(next.status == 200, "\(next.text)")
        #expect((next.object["tokens"] as? Int ?? 0) > 0)
    }

    /// CPU seconds a process has used (user + system), from /proc.
    func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")   // fields 3… of proc(5)
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    @Test func aWorkerKilledMidUnitChangesNothing() async throws {
        let files = try #require(try Files())
        let coordinator = try files.coordinator(db: files.directory.appendingPathComponent("a.sqlite").path)
        defer { coordinator.stop() }
        let base = "http://127.0.0.1:\(coordinator.port)"
        let first = try files.worker(coordinator.port, name: "first")
        let second = try files.worker(coordinator.port, name: "second")
        defer { first.stop(); second.stop() }

        let (reference, referenceView) = try await createAndWait(base, files)
        let (disturbed, disturbedView) = try await createAndWait(base, files) { id in
            // Kill the first worker while it holds a unit of this search.
            #expect(try await waitUntil(60) {
                let workers = (try? await TestHTTP.request("GET", base + "/v1/workers"))?.json as? [[String: Any]] ?? []
                let view = (try? await TestHTTP.request("GET", base + "/v1/searches/\(id)"))?.object ?? [:]
                return (view["units_done"] as? Int ?? 0) >= 3
                    && workers.contains { $0["name"] as? String == "first" && $0["busy"] as? Bool == true }
            })
            try await Task.sleep(nanoseconds: 300_000_000)
            first.kill9()
        }
        let best = { (view: [String: Any]) in (view["best"] as? [String: Any])?["lambda"] as? [Double] }
        #expect(best(disturbedView) != nil)
        #expect(best(disturbedView) == best(referenceView))
        #expect((disturbedView["best"] as? [String: Any])?["ppl"] as? Double == (referenceView["best"] as? [String: Any])?["ppl"] as? Double)
        #expect(try await candidates(base, disturbed) == candidates(base, reference), "the same candidates were evaluated")
        #expect(disturbedView["units_failed"] as? Int == 0)
    }

    @Test func aCoordinatorKilledAndRestartedResumesWithoutLosingOrRepeatingWork() async throws {
        let files = try #require(try Files())
        // Reference: an undisturbed run on its own database.
        let referenceDB = files.directory.appendingPathComponent("reference.sqlite").path
        let referenceCoordinator = try files.coordinator(db: referenceDB)
        let referenceWorker = try files.worker(referenceCoordinator.port, name: "ref")
        let views = Views()
        let (referenceID, referenceView) = try await createAndWait("http://127.0.0.1:\(referenceCoordinator.port)", files,
                                                                   views: views)
        referenceWorker.stop(); referenceCoordinator.stop()
        // While it ran, the search said about how long it had left (once its timed units said
        // how fast they come back; before that, nothing).
        let left = views.seen.filter { $0["status"] as? String == "running" }.compactMap { $0["seconds_left"] as? Double }
        #expect(!left.isEmpty && left.allSatisfy { $0 >= 0 }, "seconds_left while running: \(left)")

        let db = files.directory.appendingPathComponent("restart.sqlite").path
        var coordinator = try files.coordinator(db: db)
        let port = coordinator.port
        let base = "http://127.0.0.1:\(port)"
        let worker = try files.worker(port, name: "survivor")
        defer { worker.stop() }
        #expect(try await waitUntil(30) {
            ((try? await TestHTTP.request("GET", base + "/v1/workers"))?.json as? [Any])?.isEmpty == false
        })
        let created = try await TestHTTP.request("POST", base + "/v1/searches", body: files.searchRequest)
        let id = Int64(created.object["id"] as? Int ?? 0)
        #expect(try await waitUntil(120) {
            ((try? await TestHTTP.request("GET", base + "/v1/searches/\(id)"))?.object["units_done"] as? Int ?? 0) >= 12
        })
        coordinator.kill9()
        coordinator = try files.coordinator(db: db, port: port)
        defer { coordinator.stop() }
        var view: [String: Any] = [:]
        #expect(try await waitUntil(240) {
            view = (try? await TestHTTP.request("GET", base + "/v1/searches/\(id)"))?.object ?? [:]
            return view["status"] as? String == "done"
        }, "resumed to the end: \(view)")
        #expect((view["best"] as? [String: Any])?["lambda"] as? [Double] == (referenceView["best"] as? [String: Any])?["lambda"] as? [Double])
        #expect((view["best"] as? [String: Any])?["ppl"] as? Double == (referenceView["best"] as? [String: Any])?["ppl"] as? Double)
        // Done: nothing left, and the worker time its stored units took.
        #expect(view["seconds_left"] == nil || view["seconds_left"] is NSNull, "\(view)")
        #expect((view["worker_seconds"] as? Double ?? 0) > 0, "\(view)")
        coordinator.stop()
        // Counted in the databases: the same units, each stored once.
        let store = try SearchStore(path: db), referenceStore = try SearchStore(path: referenceDB)
        #expect(try store.evaluationCount(id) == referenceStore.evaluationCount(referenceID))
        #expect(try store.candidates(id).map(\.candidate) == referenceStore.candidates(referenceID).map(\.candidate))
        // The seeds equal to a rule took its units: counted apart, as the store holds them.
        let reused = try store.evaluationCount(id, worker: UnitResult.reusedWorker)
        #expect(reused > 0 && view["units_reused"] as? Int == reused, "units_reused \(view["units_reused"] ?? "absent"), stored \(reused)")
    }
}
