import Foundation

/// The base URL of a service (a coordinator, a worker's announced address): http or https, a
/// host, and a port from 1 to 65535 when one is given. Anything else no HTTP client can reach,
/// so it is refused where it is given rather than retried.
public enum ServiceURL {
    /// Whether `text` is such a URL.
    public static func isValid(_ text: String) -> Bool {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty else { return false }
        if let port = url.port, !(1...65_535).contains(port) { return false }
        return true
    }
}
