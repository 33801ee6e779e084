import AsyncHTTPClient
import HTTPService
import Testing

/// The clients the coordinator, workers and CLI talk through wait as long as the request's own
/// deadline: a unit longer than 90 s (a 16k SmolLM2 unit takes 2–3 min on 2 threads) failed for
/// ever through `HTTPClient.shared`, whose read timeout is 90 s.
@Suite struct HTTPClientSettingsTests {
    @Test func noReadTimeoutOnlyTheRequestsDeadline() {
        let configuration = TLSFiles.clientConfiguration(tls: nil)
        #expect(configuration.timeout.read == nil, "a worker is silent for the whole of a unit")
        #expect(configuration.timeout.connect == .seconds(10))
    }
}
