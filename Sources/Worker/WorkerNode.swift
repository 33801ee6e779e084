import AsyncHTTPClient
import Digest
import Evaluator
import Foundation
import HTTPService
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import Scoring
import ServiceLifecycle
import Wire

/// A worker: one model and one text loaded from its own command line, served at
/// POST /v1/evaluate, attached to a coordinator by registration and heartbeats.
public final class WorkerNode: Sendable {
    public struct Settings: Sendable {
        public var coordinator: String
        public var modelPath: String
        public var textPath: String
        public var host = "127.0.0.1"
        public var port = 0
        /// The address announced to the coordinator (default http://host:port).
        public var advertise: String?
        public var threads = ProcessInfo.processInfo.activeProcessorCount
        public var token: String?
        public var name: String?
        /// Serve HTTPS with this certificate and key (PEM files).
        public var tlsCertificate: String?
        public var tlsKey: String?
        /// Trust the coordinator's certificate if signed by this CA (PEM); nil: the system's roots.
        public var caFile: String?

        public init(coordinator: String, modelPath: String, textPath: String) {
            self.coordinator = coordinator.hasSuffix("/") ? String(coordinator.dropLast()) : coordinator
            self.modelPath = modelPath
            self.textPath = textPath
        }
    }

    public let settings: Settings
    public let model: LlamaModel
    let textData: Data
    public let modelSHA256: String
    public let textSHA256: String
    let scorer: UnitScorer
    let queue = DispatchQueue(label: "longrope.worker.evaluate")
    /// A unit leased again while its first lease is still being scored joins that pass; a pass
    /// whose every request was closed goes on 10 s for a new lease of it (five heartbeats: a
    /// worker whose lease went back while it was paused gets the unit again when it resumes).
    let inFlight = InFlight<Data, UnitResult>(linger: 10)
    let client: HTTPClient
    let tls: TLSConfiguration?

    public init(settings: Settings) throws {
        self.settings = settings
        model = try LlamaModel(path: settings.modelPath, threads: settings.threads)
        guard let data = FileManager.default.contents(atPath: settings.textPath) else {
            throw EvaluatorError.invalidRequest("cannot read text file \(settings.textPath)")
        }
        textData = data
        scorer = UnitScorer(model: model, text: data)
        modelSHA256 = try SHA256.hex(fileAt: settings.modelPath)
        textSHA256 = SHA256.hex(data)
        client = try TLSFiles.client(caFile: settings.caFile)
        if let certificate = settings.tlsCertificate, let key = settings.tlsKey {
            tls = try TLSFiles.server(certificate: certificate, key: key)
        } else {
            tls = nil
        }
    }

    /// Scores one unit on a thread of its own (never on the server's event loops).
    public func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
        guard unit.modelSHA256 == modelSHA256, unit.textSHA256 == textSHA256 else {
            throw APIError.conflict("this worker holds model \(modelSHA256.prefix(12))… and text \(textSHA256.prefix(12))…, not the unit's")
        }
        guard unit.window >= 0, unit.window < unit.windowCount, unit.targetContext >= 2, unit.textOffset >= 0,
              unit.textOffset < textData.count else {
            throw APIError.badRequest("bad request", "window, windows, target_context or text_offset out of range")
        }
        let name = settings.name ?? "worker"
        return try await inFlight.run(StrictJSON.encode(unit)) { [queue, scorer] in
            let start = Date()
            do {
                return try await offCooperativeThreads(queue) { stop in
                    do { return try scorer.score(unit, worker: name, stop: stop) }
                    catch let error as EvaluatorError where error != .cancelled {
                        throw APIError.badRequest("bad request", error.description)
                    }
                }
            } catch is CancellationError {
                // Every request for it was closed (the coordinator took the lease back, or the
                // candidate no longer needs it): the worker is free for the next unit.
                FileHandle.standardError.write(Data(("worker: stopped unit \(unit.candidateRowID)/\(unit.window) after "
                    + "\(String(format: "%.1f", Date().timeIntervalSince(start))) s: its request was closed\n").utf8))
                throw CancellationError()
            }
        }
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.middlewares.add(GuardMiddleware(token: settings.token))
        router.get("/healthz") { _, _ in jsonResponse(["status": "ok"]) }
        // A unit takes minutes: the handler runs under the request's connection, so a
        // coordinator that closes it (it took the lease back) stops the pass it alone waited
        // for. The connection then closes after every answer, which the answer says.
        router.post("/v1/evaluate") { request, context in
            try await request.body.consumeWithCancellationOnInboundClose { body in
                var response: Response
                do {
                    let unit = try await decodeBody(WorkUnit.self, Request(head: request.head, body: body))
                    response = jsonResponse(try await self.evaluate(unit))
                } catch let error as HTTPResponseError {
                    response = try error.response(from: request, context: context)
                }
                response.headers[.connection] = "close"
                return response
            }
        }
        return router
    }

    /// Serves and stays attached until cancelled or told to stop (SIGTERM, SIGINT). The HTTP
    /// server and the attachment (registration + heartbeats) are two services of one group,
    /// shut down in reverse order: first the server stops listening and finishes the unit it
    /// is scoring (the heartbeats go on, so its lease stays good and the result counts), then
    /// the heartbeats stop and the coordinator, hearing none, forgets this worker.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        var logger = Logger(label: "longrope.worker")
        logger.logLevel = .warning
        let (ports, listening) = AsyncStream.makeStream(of: Int.self)
        let app = Application(router: router(), server: try tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1(),
                              configuration: .init(address: .hostname(settings.host, port: settings.port),
                                                                     serverName: "longrope-worker"),
                              onServerRunning: { channel in
                                  let port = channel.localAddress?.port ?? 0
                                  await onRunning(port)
                                  listening.yield(port)
                                  listening.finish()
                              }, logger: logger)
        let attachment = Attachment(node: self, ports: ports)
        let serving = Serving(app: app, draining: draining)
        let group = ServiceGroup(configuration: .init(services: [.init(service: attachment), .init(service: serving)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// Set when the server's graceful shutdown begins: the worker finishes the unit it scores
    /// and heartbeats meanwhile, but never registers again (nothing would reach it: a
    /// coordinator that forgot it would lease it units it refuses).
    let draining = Flag()

    /// The HTTP server, which marks the worker draining when its graceful shutdown begins.
    struct Serving<Inner: Service>: Service {
        let app: Inner
        let draining: Flag

        func run() async throws {
            try await withGracefulShutdownHandler {
                try await app.run()
            } onGracefulShutdown: {
                draining.set()
            }
        }
    }

    /// Registration and heartbeats, from the moment the server listens until a graceful shutdown.
    struct Attachment: Service {
        let node: WorkerNode
        let ports: AsyncStream<Int>

        func run() async throws {
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { return }
            await cancelWhenGracefulShutdown { await node.attach(port: port) }
        }
    }

    /// Registers with the coordinator and heartbeats; registers again when the coordinator
    /// forgets this worker (a restart) unless it is draining, and retries while it is unreachable.
    func attach(port: Int) async {
        let address = settings.advertise ?? "\(tls == nil ? "http" : "https")://\(settings.host):\(port)"
        var registration = WorkerRegistration(
            name: settings.name ?? "\(ProcessInfo.processInfo.hostName):\(port)", address: address,
            modelSHA256: modelSHA256, textSHA256: textSHA256, architecture: model.config.architecture.rawValue,
            threads: settings.threads, pairs: model.pairs, ropeBase: model.config.ropeBase,
            contextLength: model.config.contextLength)
        registration.textBytes = textData.count
        registration.kernels = KernelLevel.summary
        registration.attentionPrecisions = AttentionPrecision.allCases.filter { $0.supports(headDim: model.config.headDim) }.map(\.rawValue)
        var id: String?
        var secret: String?
        var interval = 2.0
        var backoff = 1.0
        var lastProblem: String?
        /// Each distinct problem is logged once, when it starts.
        func report(_ problem: String?) {
            guard problem != lastProblem else { return }
            lastProblem = problem
            if let problem { FileHandle.standardError.write(Data("worker: \(problem); retrying\n".utf8)) }
        }
        while !Task.isCancelled {
            var wait = interval
            do {
                if let current = id {
                    let heartbeat = StrictJSON.encode(Heartbeat(secret: secret))
                    let status = try await post("/v1/workers/\(current)/heartbeat", body: heartbeat).status
                    if status == 404 {   // the coordinator restarted or forgot this worker
                        let next = draining.isSet ? "stopping, so not registering again" : "registering again"
                        FileHandle.standardError.write(Data("worker: the coordinator no longer knows \(current); \(next)\n".utf8))
                        id = nil
                        continue
                    }
                    if status == 401 { throw AttachProblem("the coordinator refused the token (401): check --token-file") }
                    report(nil)
                } else if draining.isSet {
                    // Stopping: a registration now would only draw units nothing here takes.
                } else {
                    let (status, body) = try await post("/v1/workers", body: StrictJSON.encode(registration))
                    switch status {
                    case 201:
                        let registered = try JSONDecoder().decode(WorkerRegistered.self, from: body)
                        id = registered.id
                        secret = registered.secret
                        interval = registered.heartbeatInterval
                        wait = interval
                        backoff = 1
                        report(nil)
                        FileHandle.standardError.write(Data("worker: attached to \(settings.coordinator) as \(registered.id) (\(address)), kernels \(KernelLevel.summary)\n".utf8))
                    case 401: throw AttachProblem("the coordinator refused the token (401): check --token-file")
                    default:
                        throw AttachProblem("the coordinator refused the registration (\(status)): \(String(decoding: body.prefix(300), as: UTF8.self))")
                    }
                }
            } catch let problem as AttachProblem {
                report(problem.description)
                wait = backoff
                backoff = min(backoff * 2, 30)
            } catch {
                report(describeConnectionError(error, url: settings.coordinator))
                wait = backoff
                backoff = min(backoff * 2, 30)
            }
            try? await Task.sleep(nanoseconds: UInt64(wait * 1e9))
        }
    }

    private func post(_ path: String, body: Data) async throws -> (status: UInt, body: Data) {
        let reply = try await APIClient(base: settings.coordinator, token: settings.token, client: client)
            .send(.POST, path, json: body, timeout: .seconds(5), limit: 1 << 20)
        return (reply.status, reply.body)
    }
}

/// A flag set once, read from any thread.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// Why attaching to the coordinator failed, in words for the log.
struct AttachProblem: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
