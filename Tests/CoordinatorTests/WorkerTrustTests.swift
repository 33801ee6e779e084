import Foundation
import Testing
import Coordinator
import HTTPService
import Runner
import Store
import TestSupport
import Wire

/// Issue 23: what the coordinator takes from workers and from search requests.
@Suite struct WorkerTrustTests {
    struct Idle: UnitEvaluator {
        func evaluate(_ unit: WorkUnit) async throws -> UnitResult { throw CancellationError() }
    }

    func registration(_ name: String, pairs: Int) -> WorkerRegistration {
        WorkerRegistration(name: name, address: "in-process://\(name)", modelSHA256: "m", textSHA256: "t", architecture: "llama",
                           threads: 1, pairs: pairs, ropeBase: 10_000, contextLength: 512)
    }

    /// Item 7: workers that disagree on a model's geometry are named, not reported as missing.
    @Test func disagreeingWorkersAreNamedInTheConflict() async throws {
        let dispatcher = Dispatcher()
        let store = try SearchStore(path: temporaryDirectory().appendingPathComponent("g.sqlite").path)
        let searches = SearchManager(store: store, dispatcher: dispatcher)
        await dispatcher.register(registration("honest", pairs: 32), connection: Idle(), heartbeats: false)
        await dispatcher.register(registration("confused", pairs: 64), connection: Idle(), heartbeats: false)
        let request = CreateSearchRequest(modelSHA256: "m", textSHA256: "t", originalContext: 256, targetContext: 1024)
        do {
            _ = try await searches.create(request)
            Issue.record("a search was created from disagreeing workers")
        } catch let error as APIError {
            #expect(error.status == .conflict)
            #expect(error.detail.contains("disagree") && error.detail.contains("honest") && error.detail.contains("confused")
                    && error.detail.contains("pairs 32") && error.detail.contains("pairs 64"), "\(error.detail)")
        }
        await dispatcher.shutdown()
    }

    /// Item 6: a text offset past the text the workers announced is refused when the search is created.
    @Test func aTextOffsetPastTheWorkersTextIsRefusedAtOnce() async throws {
        let dispatcher = Dispatcher()
        let store = try SearchStore(path: temporaryDirectory().appendingPathComponent("o.sqlite").path)
        let searches = SearchManager(store: store, dispatcher: dispatcher)
        var worker = registration("w", pairs: 32)
        worker.textBytes = 5_000
        await dispatcher.register(worker, connection: Idle(), heartbeats: false)
        var request = CreateSearchRequest(modelSHA256: "m", textSHA256: "t", originalContext: 256, targetContext: 1024)
        request.textOffset = 5_000
        await #expect(throws: APIError.self) { _ = try await searches.create(request) }
        #expect(try store.searches().isEmpty, "nothing stored")
        await dispatcher.shutdown()
    }

    /// Items 5 and 9: a TLS coordinator refuses plain-HTTP workers unless told otherwise;
    /// loopback is an address, not a prefix.
    @Test func aTLSCoordinatorRefusesPlainHTTPWorkers() {
        var worker = WorkerRegistration(name: "w", address: "http://10.0.0.5:8081", modelSHA256: String(repeating: "a", count: 64),
                                        textSHA256: String(repeating: "b", count: 64), architecture: "llama", threads: 2,
                                        pairs: 32, ropeBase: 10_000, contextLength: 8192)
        #expect(worker.problem(tls: false, allowPlainHTTP: false) == nil)
        #expect(worker.problem(tls: true, allowPlainHTTP: false)?.contains("in clear") == true)
        #expect(worker.problem(tls: true, allowPlainHTTP: true) == nil)
        worker.address = "https://10.0.0.5:8081"
        #expect(worker.problem(tls: true, allowPlainHTTP: false) == nil)
        worker.modelSHA256 = String(repeating: "A", count: 64)
        #expect(worker.problem(tls: true, allowPlainHTTP: false)?.contains("model_sha256") == true)
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "::1"] { #expect(isLoopback(host), "\(host)") }
        for host in ["127.example.com", "0.0.0.0", "10.0.0.1", "1270.0.0.1", ""] { #expect(!isLoopback(host), "\(host)") }
    }

    /// Item 8: DELETE keeps a removed worker out until the coordinator restarts.
    @Test func aRemovedWorkersAddressIsBanned() async throws {
        let dispatcher = Dispatcher()
        let id = await dispatcher.register(registration("bad", pairs: 32), connection: Idle(), heartbeats: false)
        #expect(await !dispatcher.isBanned(address: "in-process://bad"))
        #expect(await dispatcher.remove(id, ban: true))
        #expect(await dispatcher.isBanned(address: "in-process://bad"))
        #expect(await !dispatcher.isBanned(address: "in-process://good"))
        let fresh = Dispatcher()   // a restarted coordinator
        #expect(await !fresh.isBanned(address: "in-process://bad"))
        await dispatcher.shutdown()
    }
}
