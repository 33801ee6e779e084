import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Wire

/// An error answered as JSON `{"error": "...", "detail": "..."}` with its status code.
public struct APIError: Error, HTTPResponseError, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var error: String
    public var detail: String

    public init(_ status: HTTPResponse.Status, _ error: String, _ detail: String = "") {
        self.status = status
        self.error = error
        self.detail = detail
    }

    public static func badRequest(_ error: String, _ detail: String = "") -> APIError { APIError(.badRequest, error, detail) }
    public static func notFound(_ what: String) -> APIError { APIError(.notFound, "not found", "\(what) does not exist") }
    public static func conflict(_ detail: String) -> APIError { APIError(.conflict, "conflict", detail) }

    public var description: String { "\(status.code) \(error): \(detail)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        jsonResponse(ErrorBody(error: error, detail: detail), status: status)
    }
}

/// 405 with the Allow header and a JSON body.
struct MethodNotAllowed: Error, HTTPResponseError {
    let method: String, path: String, allowed: [String]
    var status: HTTPResponse.Status { .methodNotAllowed }
    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = jsonResponse(ErrorBody(error: "method not allowed",
                                              detail: "\(path) takes \(allowed.joined(separator: ", ")), not \(method)"),
                                    status: .methodNotAllowed)
        response.headers[.allow] = allowed.joined(separator: ", ")
        return response
    }
}

/// A JSON response.
public func jsonResponse<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "application/json"],
             body: ResponseBody(byteBuffer: ByteBuffer(bytes: StrictJSON.encode(value))))
}

/// A plain-text response.
public func textResponse(_ text: String, contentType: String = "text/plain; charset=utf-8", status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: contentType], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
}

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

func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    guard x.count == y.count else { return false }
    var difference: UInt8 = 0
    for i in x.indices { difference |= x[i] ^ y[i] }
    return difference == 0
}

/// Largest request body accepted (bytes).
public let maximumBodyBytes = 1 << 20

/// Reads a request body, refusing more than `maximumBodyBytes` with 413.
public func readBody(_ request: Request) async throws -> Data {
    do {
        let buffer = try await request.body.collect(upTo: maximumBodyBytes)
        return Data(buffer: buffer)
    } catch {
        throw APIError(.contentTooLarge, "payload too large", "request bodies are limited to \(maximumBodyBytes) bytes")
    }
}

/// Reads a strictly-typed JSON body.
public func decodeBody<T: StrictDecodable>(_ type: T.Type, _ request: Request) async throws -> T {
    let data = try await readBody(request)
    do { return try StrictJSON.decode(type, from: data) }
    catch let error as WireError { throw APIError(.badRequest, "bad request", error.description) }
}
