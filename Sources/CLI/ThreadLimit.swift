import Foundation

/// How many threads a command may run: 1 to four per core of this machine. More never helps,
/// and each thread has scratch buffers of its own (10,000 threads ran a 3M-parameter model in
/// 2.5 GB; a 7B model would take ~1.4 MB per thread).
enum ThreadLimit {
    static var cores: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }
    static var most: Int { 4 * cores }

    /// Why `count` threads are refused (naming the option `name`), or nil when they are not.
    static func problem(_ count: Int, _ name: String = "--threads") -> String? {
        (1...most).contains(count) ? nil
            : "\(name) must be between 1 and \(most) (four per core; this machine has \(cores)), got \(count)"
    }
}
