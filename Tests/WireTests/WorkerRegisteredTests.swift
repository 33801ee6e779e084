import Foundation
import Testing
import Wire

/// A worker sleeps `heartbeatInterval` between heartbeats, as nanoseconds in a UInt64: whatever
/// the registration reply says (a coordinator of another version, a proxy), the period must be
/// one that sleep can hold and not a busy loop.
@Suite struct WorkerRegisteredTests {
    @Test(arguments: [
        (2.0, 2.0), (0.5, 0.5), (60.0, 60.0),
        (1e300, 60.0), (Double.infinity, 2.0), (Double.nan, 2.0), (-1.0, 2.0), (0.0, 2.0), (1e-9, 0.05),
    ])
    func theHeartbeatIntervalIsOneASleepCanHold(offered: Double, interval: Double) {
        let reply = WorkerRegistered(id: "w-1", heartbeatSeconds: offered)
        #expect(reply.heartbeatInterval == interval)
        #expect(UInt64(exactly: (reply.heartbeatInterval * 1e9).rounded()) != nil)
    }
}
