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
