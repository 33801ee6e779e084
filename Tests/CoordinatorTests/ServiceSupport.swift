import AsyncHTTPClient
import Coordinator
import Foundation
import HTTPService
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport

/// A small HTTP client for the service tests.
struct TestHTTP {
    static let client = TLSFiles.plainClient

    struct Reply {
        var status: Int
        var body: Data
        var json: Any? { try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) }
        var object: [String: Any] { json as? [String: Any] ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    static func request(_ method: String, _ url: String, body: Data? = nil, token: String? = nil,
                        headers: [String: String] = [:], client: HTTPClient = client,
                        timeout: Int64 = 30) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = .RAW(value: method)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await client.execute(request, timeout: .seconds(timeout))
        let data = try await response.body.collect(upTo: 64 << 20)
        return Reply(status: Int(response.status.code), body: Data(buffer: data))
    }

    static func json(_ object: Any) -> Data { try! JSONSerialization.data(withJSONObject: object) }
}

/// A `longrope` subprocess (coordinator or worker) whose first stdout line says its port.
final class ServiceProcess: @unchecked Sendable {
    let process = Process()
    let port: Int

    /// `stderr`: a file that receives the process's messages (default: discarded).
    init(_ arguments: [String], stderr: URL? = nil) throws {
        process.executableURL = TestPaths.longropeBinary
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        if let stderr {
            _ = FileManager.default.createFile(atPath: stderr.path, contents: nil)
            process.standardError = try FileHandle(forWritingTo: stderr)
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        // Read until "listening PORT\n".
        var line = Data()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let byte = out.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty { break }
            if byte == Data("\n".utf8) { break }
            line.append(byte)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("listening "), let port = Int(text.dropFirst(10)) else {
            process.terminate()
            throw NSError(domain: "ServiceProcess", code: 1, userInfo: [NSLocalizedDescriptionKey: "no port from \(arguments.first ?? ""): \(text)"])
        }
        self.port = port
    }

    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func stop() {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}


/// A coordinator's API through HummingbirdTesting's router mode: every request goes straight to
/// the router the daemon serves (the same routes, guards and error bodies) with no socket, port
/// or server task. Tests that need a real connection (workers, TLS, signals, a browser) start
/// a real server instead.
struct RouterAPI: Sendable {
    let client: any TestClientProtocol

    /// Serves `coordinator`'s router to `body`.
    static func serve<Value: Sendable>(_ coordinator: Coordinator,
                                       _ body: @escaping @Sendable (RouterAPI) async throws -> Value) async throws -> Value {
        try await Application(router: coordinator.router()).test(.router) { client in try await body(RouterAPI(client: client)) }
    }

    /// One request, answered as `TestHTTP.request` answers (status and body).
    func request(_ method: String, _ path: String, body: Data? = nil, token: String? = nil) async throws -> TestHTTP.Reply {
        var fields = HTTPFields()
        if let token { fields[.authorization] = "Bearer \(token)" }
        if body != nil { fields[.contentType] = "application/json" }
        let response = try await client.executeRequest(uri: path, method: HTTPRequest.Method(method)!, headers: fields,
                                                       body: body.map { ByteBuffer(bytes: $0) })
        return TestHTTP.Reply(status: Int(response.status.code), body: Data(buffer: response.body))
    }
}
