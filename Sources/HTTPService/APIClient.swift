import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Wire

/// The one HTTP client of the longrope API, used by the coordinator (to reach workers), the
/// worker (to attach and heartbeat), `longrope status` and the benches: a base URL, an optional
/// bearer token, JSON bodies. Transport errors (refused, reset, timed out) are thrown as
/// AsyncHTTPClient gives them; an HTTP error status is a reply like any other.
public struct APIClient: Sendable {
    public let base: String
    public let token: String?
    public let client: HTTPClient

    public init(base: String, token: String?, client: HTTPClient) {
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
        self.token = token
        self.client = client
    }

    /// A status and a body.
    public struct Reply: Sendable {
        public var status: UInt
        public var body: Data

        /// "error: detail" from the API's JSON error body, else the start of the body.
        public var errorText: String {
            (try? JSONDecoder().decode(ErrorBody.self, from: body)).map { "\($0.error): \($0.detail)" }
                ?? String(decoding: body.prefix(200), as: UTF8.self)
        }

        public func decode<T: Decodable>(_ type: T.Type) throws -> T { try JSONDecoder().decode(type, from: body) }
    }

    /// Sends `body` (JSON) to `base + path`; at most `limit` bytes of answer are read.
    public func send(_ method: HTTPMethod, _ path: String, json body: Data? = nil, timeout: TimeAmount,
                     limit: Int = 16 << 20) async throws -> Reply {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await client.execute(request, timeout: timeout)
        return Reply(status: response.status.code, body: Data(buffer: try await response.body.collect(upTo: limit)))
    }
}
