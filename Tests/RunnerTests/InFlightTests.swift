import Runner
import Scoring
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
}
