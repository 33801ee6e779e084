import Dispatch
import Foundation

/// Runs `body(worker)` for worker = 0..<count on `count` threads and waits. Work split by
/// worker index is static, so results never depend on scheduling. Every thread that runs a
/// part first takes the process's niceness (`Niceness.adopt`).
func parallel(_ count: Int, _ body: (Int) -> Void) {
    let nice = Niceness.process   // read once per call, not once per part
    if count <= 1 { Niceness.adopt(nice); body(0); return }
    // The workers write disjoint parts of shared buffers; the caller waits for all of them.
    withoutActuallyEscaping(body) { escapable in
        let shared = unsafeBitCast(escapable, to: (@Sendable (Int) -> Void).self)
        DispatchQueue.concurrentPerform(iterations: count) { worker in
            Niceness.adopt(nice)
            shared(worker)
        }
    }
}

/// The evaluator's threads run at the process's niceness: what `nice -n N longrope worker …`
/// (or `renice`) set on its main thread. libdispatch gives the threads of its pool a priority
/// of their own — nice 0 at the default QoS, whatever the process's — so without this a worker
/// started with `nice` to yield to a node's other work would compete with it at full priority
/// (seen: a search worker at nice 19 took half of a 2-core machine from a nice-0 `eval`).
enum Niceness {
    /// The main thread's nice value (on Linux, `getpriority(PRIO_PROCESS, tid)` is that thread's
    /// own), or nil when it cannot be read.
    static var process: Int32? { value(of: id_t(getpid())) }

    /// Lowers the calling thread's priority to `target` (default: the process's) when it runs
    /// higher; never raises it (that needs privileges, and nothing here asks for it).
    static func adopt(_ target: Int32? = process) {
        guard let target, let own = value(of: 0), own < target else { return }
        #if os(Linux)
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, target)
        #endif
    }

    /// A thread's nice value (`tid` 0: the calling thread); nil where it cannot be read, and
    /// off Linux, where niceness is the process's and not each thread's.
    static func value(of tid: id_t) -> Int32? {
        #if os(Linux)
        errno = 0
        let nice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), tid)
        return errno == 0 ? nice : nil
        #else
        return nil
        #endif
    }
}

/// `count` floats, 64-byte aligned, zeroed; freed with the owner.
final class FloatBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(_ count: Int) {
        self.count = max(count, 16)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: self.count * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: self.count)
        pointer.initialize(repeating: 0, count: self.count)
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}
