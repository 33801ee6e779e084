import AsyncHTTPClient
import Foundation
import HTTPService
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
        let reply: APIClient.Reply
        do {
            reply = try await APIClient(base: address, token: token, client: client)
                .send(.POST, "/v1/evaluate", json: StrictJSON.encode(unit), timeout: .milliseconds(Int64(timeout * 1000)),
                      limit: 1 << 20)
        } catch let error as HTTPClientError where error == .deadlineExceeded {
            throw UnitFailed(reason: "lease of \(Int(timeout)) s expired at \(address)")
        } catch let error as HTTPClientError where error == .readTimeout {
            throw UnitFailed(reason: "\(address) sent nothing for longer than the HTTP client's read timeout")
        } catch {
            throw WorkerUnreachable("\(address): \(error)")
        }
        if reply.status == 400 { throw UnitRefused(reason: "worker \(address): \(reply.errorText)") }
        guard reply.status == 200 else {
            throw UnitFailed(reason: "worker \(address) answered \(reply.status): \(reply.errorText)")
        }
        do { return try reply.decode(UnitResult.self) }
        catch { throw UnitFailed(reason: "worker \(address) sent an unreadable result") }
    }
}
