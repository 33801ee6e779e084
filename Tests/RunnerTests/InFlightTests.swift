import Runner
import Scoring
import TestSupport
import Testing

/// A worker asked again for a unit it is still scoring joins that pass (InFlight).
@Suite struct InFlightTests {
    @Test func theSameKeyJoinsTheRunningWorkAndADifferentKeyDoesNot() async throws {
        let inFlight = InFlight<String, Int>()
        let runs = SharedCount(), release = SharedCount()
        @Sendable func work() async throws -> Int {
            runs.add(1)
            while release.value == 0 { try await Task.sleep(nanoseconds: 1_000_000) }
            return 42
        }
        let first = Task { try await inFlight.run("unit", work) }
        let second = Task { try await inFlight.run("unit", work) }
        let other = Task { try await inFlight.run("other", work) }
        while await inFlight.count < 2 { try await Task.sleep(nanoseconds: 1_000_000) }
        try await Task.sleep(nanoseconds: 20_000_000)   // let the second request arrive
        release.value = 1
        let values = [try await first.value, try await second.value, try await other.value]
        #expect(values == [42, 42, 42])
        #expect(runs.value == 2, "one run for \"unit\", one for \"other\"")
        #expect(await inFlight.count == 0)
        _ = try await inFlight.run("unit", work)
        #expect(runs.value == 3, "finished work is not cached: a later request runs again")
    }

    /// A request closed while its unit runs: the run is cancelled only when nobody else waits
    /// for it, and a request after that starts a run of its own (it must not join one that stops).
    @Test func theRunIsCancelledWhenItsLastWaiterIs() async throws {
        let inFlight = InFlight<String, Int>()
        let runs = SharedCount(), cancelled = SharedCount(), release = SharedCount()
        @Sendable func work() async throws -> Int {
            runs.add(1)
            for _ in 0..<20_000 where release.value == 0 {   // released, or ~20 s (the test then fails, not hangs)
                if Task.isCancelled { cancelled.add(1); throw CancellationError() }
                try? await Task.sleep(nanoseconds: 1_000_000)
            }
            return 7
        }
        let first = Task { try await inFlight.run("unit", work) }
        while runs.value < 1 { try await Task.sleep(nanoseconds: 1_000_000) }
        let second = Task { try await inFlight.run("unit", work) }
        #expect(try await waitUntil(30) { await inFlight.waiters("unit") == 2 }, "the second joined")
        first.cancel()
        try await Task.sleep(nanoseconds: 50_000_000)
        #expect(cancelled.value == 0, "the second request still waits: the run goes on")
        second.cancel()
        #expect(try await waitUntil(30) { cancelled.value == 1 }, "nobody waits: the run must stop")
        await #expect(throws: CancellationError.self) { try await first.value }
        await #expect(throws: CancellationError.self) { try await second.value }
        #expect(await inFlight.count == 0)
        release.value = 1
        #expect(try await inFlight.run("unit", work) == 7, "a later request runs again, not the stopped run")
        #expect(runs.value == 2)
    }

    /// A worker whose lease went back while it was paused gets the same unit again seconds
    /// later: the pass its closed request left goes on for `linger` and the new request joins
    /// it; if none comes, it is cancelled after that.
    @Test func aRunNobodyWaitsForLingersForTheNextRequest() async throws {
        let runs = SharedCount(), cancelled = SharedCount(), release = SharedCount()
        @Sendable func work() async throws -> Int {
            runs.add(1)
            for _ in 0..<20_000 where release.value == 0 {
                if Task.isCancelled { cancelled.add(1); throw CancellationError() }
                try? await Task.sleep(nanoseconds: 1_000_000)
            }
            return 7
        }
        let inFlight = InFlight<String, Int>(linger: 5)
        let first = Task { try await inFlight.run("unit", work) }
        #expect(try await waitUntil(30) { await inFlight.waiters("unit") == 1 })
        first.cancel()
        #expect(try await waitUntil(30) { await inFlight.waiters("unit") == 0 }, "the closed request left")
        #expect(await inFlight.count == 1, "the run lingers")
        let second = Task { try await inFlight.run("unit", work) }
        #expect(try await waitUntil(30) { await inFlight.waiters("unit") == 1 }, "the next request joined")
        release.value = 1
        #expect(try await second.value == 7)
        #expect(runs.value == 1 && cancelled.value == 0, "one run, not cancelled")
        _ = try? await first.value

        release.value = 0
        let brief = InFlight<String, Int>(linger: 0.1)
        let alone = Task { try await brief.run("unit", work) }
        #expect(try await waitUntil(30) { await brief.waiters("unit") == 1 })
        alone.cancel()
        #expect(try await waitUntil(30) { cancelled.value == 1 }, "nobody came: the run stops after its linger")
        #expect(await brief.count == 0)
        #expect(runs.value == 2)
    }
}
