import Foundation

/// A progress line on stderr — the one renderer of `eval`, `passkey` and `search`: redrawn in
/// place at most ten times a second on a terminal, quiet when stderr is a file or a pipe (logs
/// stay clean; the result lines on stdout say what happened).
final class ProgressLine: @unchecked Sendable {
    let label: String?
    let start = Date()
    let isTerminal = isatty(2) != 0
    private var last = Date.distantPast
    private let lock = NSLock()

    /// `label: message [elapsed]` when given a label, else the message alone.
    init(label: String? = nil) { self.label = label }

    var elapsed: Double { Date().timeIntervalSince(start) }

    /// `message` is built only when the line is drawn (a terminal, ≥ 0.1 s since the last draw):
    /// what it reads costs nothing otherwise.
    func show(_ message: @autoclosure () -> String) {
        lock.lock(); defer { lock.unlock() }
        let now = Date()
        guard isTerminal, now.timeIntervalSince(last) >= 0.1 else { return }
        last = now
        let message = message()
        let text = label.map { "\($0): \(message) [\(String(format: "%.1f", elapsed)) s]" } ?? message
        FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
    }

    func finish() { if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) } }
}

/// `████░░░░` for a fraction in [0, 1].
func progressBar(_ fraction: Double, width: Int) -> String {
    let filled = Int(min(1, max(0, fraction)) * Double(width))
    return String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
}
