import Foundation
import Wire

/// Browser sessions of the dashboard: a correct token typed into `/login` gets a random
/// session id in an HttpOnly, SameSite=Strict cookie that reads (GET) accept instead of the
/// bearer header. Writes still need the header, so a cookie can never change anything (no CSRF).
/// Served over HTTPS the cookie is also `Secure`: a browser never sends it over plain HTTP.
public final class Sessions: @unchecked Sendable {
    public static let cookieName = "longrope_session"
    public let lifetime: TimeInterval
    /// Whether the cookies carry `Secure` (the coordinator serves HTTPS).
    public let secure: Bool
    private var expiries: [String: Date] = [:]
    private let lock = NSLock()

    public init(lifetime: TimeInterval = 12 * 3600, secure: Bool = false) {
        self.lifetime = lifetime
        self.secure = secure
    }

    /// A new session id, valid for `lifetime`.
    public func open() -> String {
        let id = randomHex(32)
        lock.withLock {
            let now = Date()
            expiries = expiries.filter { $0.value > now }   // forget expired ones
            expiries[id] = now.addingTimeInterval(lifetime)
        }
        return id
    }

    public func isValid(_ id: String) -> Bool {
        lock.withLock { expiries[id].map { $0 > Date() } ?? false }
    }

    public func close(_ id: String) { _ = lock.withLock { expiries.removeValue(forKey: id) } }

    /// The session id in a Cookie header, if any.
    public static func id(fromCookieHeader header: String?) -> String? {
        guard let header else { return nil }
        for part in header.split(separator: ";") {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2, pair[0] == cookieName { return pair[1] }
        }
        return nil
    }

    /// The Set-Cookie value that opens session `id`.
    public func setCookie(_ id: String) -> String { cookie(value: id, maxAge: Int(lifetime)) }

    /// The Set-Cookie value that makes the browser forget its session.
    public var clearCookie: String { cookie(value: "", maxAge: 0) }

    private func cookie(value: String, maxAge: Int) -> String {
        "\(Self.cookieName)=\(value); Path=/; HttpOnly; SameSite=Strict\(secure ? "; Secure" : ""); Max-Age=\(maxAge)"
    }

    /// The login page: one field for the token.
    public static func loginPage(error: String? = nil) -> String {
        """
        <!doctype html><html><head><meta charset=utf-8><title>longrope: sign in</title>
        <style>body{font:15px system-ui,sans-serif;margin:4em auto;max-width:28em}input{font:inherit;padding:.4em;width:100%;box-sizing:border-box}
        button{font:inherit;margin-top:.8em;padding:.4em 1.2em}.error{color:#b91c1c}</style></head><body>
        <h1>longrope</h1><p>This coordinator needs its token to show the dashboard.</p>
        \(error.map { "<p class=error>\($0)</p>" } ?? "")
        <form method=post action=/login><label>Token<br><input type=password name=token autofocus autocomplete=off></label>
        <button type=submit>Sign in</button></form></body></html>
        """
    }
}
