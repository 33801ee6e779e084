import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Wire

/// Checks the bearer token (every path but /healthz) and turns every error into JSON.
public struct GuardMiddleware<Context: RequestContext>: RouterMiddleware {
    public let token: String?
    public let onRequest: @Sendable () -> Void
    /// The routes served, as (method, path pattern with `:name` segments): a known path asked
    /// with another method gets 405 and an Allow header instead of 404.
    public let routes: [(method: String, pattern: String)]
    /// Browser sessions whose cookie stands for the token on GET requests (nil: header only).
    public let sessions: Sessions?

    public init(token: String?, routes: [(method: String, pattern: String)] = [], sessions: Sessions? = nil,
                onRequest: @escaping @Sendable () -> Void = {}) {
        self.token = token
        self.routes = routes
        self.sessions = sessions
        self.onRequest = onRequest
    }

    /// Paths open without the token: health, and the login form itself.
    static var open: Set<String> { ["/healthz", "/login", "/logout"] }

    /// The methods served at `path`.
    func methods(for path: String) -> [String] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        return routes.filter { route in
            let pattern = route.pattern.split(separator: "/", omittingEmptySubsequences: true)
            return pattern.count == parts.count && zip(pattern, parts).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
        }.map(\.method)
    }

    public func handle(_ request: Request, context: Context,
                       next: (Request, Context) async throws -> Response) async throws -> Response {
        onRequest()
        if let token, !Self.open.contains(request.uri.path) {
            if let header = request.headers[.authorization] {
                guard constantTimeEqual(header, "Bearer \(token)") else {
                    throw APIError(.unauthorized, "unauthorized", "wrong token")
                }
            } else if request.method == .get, let sessions,
                      let id = Sessions.id(fromCookieHeader: request.headers[.cookie]), sessions.isValid(id) {
                // A signed-in browser may read; writes still need the header.
            } else if request.method == .get, sessions != nil,
                      request.uri.path == "/" || request.uri.path.hasPrefix("/searches/") {
                return Response(status: .seeOther, headers: [.location: "/login"])   // a browser: to the form
            } else {
                throw APIError(.unauthorized, "unauthorized", request.method == .get && sessions != nil
                               ? "missing Authorization: Bearer token (or sign in at /login)"
                               : "missing Authorization: Bearer token")
            }
        }
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            let allowed = methods(for: request.uri.path)
            if error.status == .notFound, !allowed.isEmpty, !allowed.contains(request.method.rawValue) {
                throw MethodNotAllowed(method: request.method.rawValue, path: request.uri.path, allowed: allowed)
            }
            throw APIError(error.status, error.status.reasonPhrase.lowercased(),
                           error.body ?? (error.status == .notFound ? "no route \(request.method) \(request.uri.path)" : ""))
        } catch let error as WireError {
            throw APIError(.badRequest, "bad request", error.description)
        } catch {
            throw APIError(.internalServerError, "internal error", "\(error)")
        }
    }
}
