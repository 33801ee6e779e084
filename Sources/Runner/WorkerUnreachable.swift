/// The worker could not be reached at all (connection refused or reset).
public struct WorkerUnreachable: Error, CustomStringConvertible {
    public var detail: String
    public init(_ detail: String) { self.detail = detail }
    public var description: String { "worker unreachable: \(detail)" }
}
