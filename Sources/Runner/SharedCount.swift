import Foundation

/// An integer read and written from any thread.
public final class SharedCount: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = 0
    public init() {}
    public var value: Int {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
    public func add(_ n: Int) { lock.withLock { stored += n } }
}
