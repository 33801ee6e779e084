import Foundation
import Testing
@testable import Evaluator

/// The evaluator's threads run at the process's niceness (`nice -n N longrope worker …`), not at
/// the priority libdispatch gives its pool threads.
@Suite(.enabled(if: Niceness.process != nil, "per-thread nice values are read on Linux only"))
struct NicenessTests {
    /// `adopt` lowers a thread's priority to the target and never raises it. On a thread of its
    /// own, which ends with the test (nice values are per thread on Linux).
    @Test func adoptLowersAndNeverRaises() throws {
        let result = onThreadOfItsOwn { () -> (own: Int32, lowered: Int32, kept: Int32)? in
            guard let own = Niceness.value(of: 0), own <= 17 else { return nil }
            Niceness.adopt(own + 2)
            let lowered = Niceness.value(of: 0) ?? own
            Niceness.adopt(own)
            return (own, lowered, Niceness.value(of: 0) ?? own)
        }
        let r = try #require(result, "this thread's nice value could not be read, or is above 17")
        #expect(r.lowered == r.own + 2)
        #expect(r.kept == r.own + 2, "adopt must not raise a thread's priority back")
    }

    /// With the main thread's nice value raised by one (as `nice` or `renice` would set the
    /// process's), every thread that runs a part of `parallel` runs at least that nice. Without
    /// `adopt`, libdispatch's pool threads stay at their own (0 at the default QoS). This raises
    /// the test process's main thread for good (lowering needs privileges): harmless, tests
    /// measure no time.
    @Test func parallelPartsRunAtTheProcesssNiceness() throws {
        let main = try #require(Niceness.process, "the main thread's nice value cannot be read")
        try #require(main < 19, "the main thread is already at nice 19: nothing to raise")
        #if os(Linux)
        #expect(setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(getpid()), main + 1) == 0)
        #endif
        #expect(Niceness.process == main + 1)
        let seen = NSLock(), parts = 4
        var nice: [Int32?] = Array(repeating: nil, count: parts)
        parallel(parts) { part in
            let value = Niceness.value(of: 0)
            seen.withLock { nice[part] = value }
        }
        #expect(nice.allSatisfy { ($0 ?? .min) >= main + 1 }, "nice values of the parts: \(nice), process: \(main + 1)")
    }

    private func onThreadOfItsOwn<T>(_ body: @escaping @Sendable () -> T) -> T {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: T?
        let thread = Thread { result = body(); done.signal() }
        thread.start()
        done.wait()
        return result!
    }
}
