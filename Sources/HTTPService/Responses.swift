import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Wire

/// A JSON response.
public func jsonResponse<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "application/json"],
             body: ResponseBody(byteBuffer: ByteBuffer(bytes: StrictJSON.encode(value))))
}

/// A plain-text response.
public func textResponse(_ text: String, contentType: String = "text/plain; charset=utf-8", status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: contentType], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
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
