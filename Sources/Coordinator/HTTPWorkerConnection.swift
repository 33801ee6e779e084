import AsyncHTTPClient
import Foundation
import NIOCore
import Runner
import Wire

/// A worker reached over HTTP: POST {address}/v1/evaluate with the unit, JSON result back.
public struct HTTPWorkerConnection: UnitEvaluator {
    public let address: String
    public let token: String?
    /// The longest one request may take (the dispatcher's lease; it also expires the lease itself).
    public let timeout: Double
    let client: HTTPClient

    public init(address: String, token: String?, client: HTTPClient, timeout: Double) {
        self.timeout = timeout
        self.address = address.hasSuffix("/") ? String(address.dropLast()) : address
        self.token = token
        self.client = client
    }

    public func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
        var request = HTTPClientRequest(url: address + "/v1/evaluate")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(ByteBuffer(bytes: StrictJSON.encode(unit)))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw UnitFailed(reason: "lease of \(Int(timeout)) s expired at \(address)")
        } catch {
            throw WorkerUnreachable("\(address): \(error)")
        }
        let body = try await response.body.collect(upTo: 1 << 20)
        let data = Data(buffer: body)
        guard response.status == .ok else {
            let detail = (try? JSONDecoder().decode(ErrorBody.self, from: data)).map { "\($0.error): \($0.detail)" }
                ?? String(decoding: data.prefix(200), as: UTF8.self)
            throw UnitFailed(reason: "worker \(address) answered \(response.status.code): \(detail)")
        }
        do { return try JSONDecoder().decode(UnitResult.self, from: data) }
        catch { throw UnitFailed(reason: "worker \(address) sent an unreadable result") }
    }
}
