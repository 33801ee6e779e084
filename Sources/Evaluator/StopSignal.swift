import Foundation

/// Asks a forward pass running on another thread to stop: set from anywhere (a request that
/// was closed, a unit no longer wanted), read by the pass once per layer, which then throws
/// `EvaluatorError.cancelled`. A pass given none runs to the end.
public final class StopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false

    public init() {}

    /// Whether `stop()` was called.
    public var isStopped: Bool { lock.withLock { stopped } }

    public func stop() { lock.withLock { stopped = true } }

    /// Throws `EvaluatorError.cancelled` once stopped.
    public func check() throws {
        if isStopped { throw EvaluatorError.cancelled }
    }
}
