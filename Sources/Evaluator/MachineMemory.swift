import Foundation

/// The memory this process may use: the machine's, or a lower limit of the cgroup it runs in or
/// of any cgroup above it (a container, a Slurm job, a systemd unit's MemoryMax), v2 or v1, or
/// `LONGROPE_MEMORY_LIMIT` (bytes) when lower still: a worker sharing a node with others.
enum MachineMemory {
    static let environmentKey = "LONGROPE_MEMORY_LIMIT"

    static var limit: Double {
        var bytes = Double(ProcessInfo.processInfo.physicalMemory)
        if let text = ProcessInfo.processInfo.environment[environmentKey], let value = Double(text), value > 0 {
            bytes = min(bytes, value)
        }
        // Each line of /proc/self/cgroup is ID:CONTROLLERS:PATH; v2 is "0::PATH" (limit in
        // memory.max), v1's memory controller "N:memory:PATH" (memory.limit_in_bytes).
        let lines = ((try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? "").split(separator: "\n")
        for fields in lines.map({ $0.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false) }) where fields.count == 3 {
            let (root, file): (String, String)
            if fields[1].isEmpty { (root, file) = ("/sys/fs/cgroup", "memory.max") }
            else if fields[1].split(separator: ",").contains("memory") { (root, file) = ("/sys/fs/cgroup/memory", "memory.limit_in_bytes") }
            else { continue }
            var path = String(fields[2])
            while true {   // this cgroup and each above it, to the root of what is mounted here
                let limitFile = root + (path == "/" ? "" : path) + "/" + file
                if let text = try? String(contentsOfFile: limitFile, encoding: .utf8),
                   let value = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) {   // v2 "max": none
                    bytes = min(bytes, value)
                }
                guard path != "/", let slash = path.lastIndex(of: "/") else { break }
                path = slash == path.startIndex ? "/" : String(path[..<slash])
            }
        }
        return bytes
    }

    /// "1.3 GiB", "420 MiB": for messages.
    static func describe(_ bytes: Double) -> String {
        bytes >= Double(1 << 30) ? String(format: "%.1f GiB", bytes / Double(1 << 30)) : String(format: "%.0f MiB", bytes / Double(1 << 20))
    }
}
