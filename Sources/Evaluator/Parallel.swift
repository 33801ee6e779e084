import Dispatch

/// Runs `body(worker)` for worker = 0..<count on `count` threads and waits. Work split by
/// worker index is static, so results never depend on scheduling.
func parallel(_ count: Int, _ body: (Int) -> Void) {
    if count <= 1 { body(0); return }
    // The workers write disjoint parts of shared buffers; the caller waits for all of them.
    withoutActuallyEscaping(body) { escapable in
        let shared = unsafeBitCast(escapable, to: (@Sendable (Int) -> Void).self)
        DispatchQueue.concurrentPerform(iterations: count, execute: shared)
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
