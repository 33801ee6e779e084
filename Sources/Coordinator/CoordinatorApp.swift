import AsyncHTTPClient
import Foundation
import HTTPService
import Hummingbird
import HummingbirdTLS
import Logging
import Runner
import ServiceLifecycle
import Store
import Wire

/// How a coordinator runs: its database, where it listens, its token and TLS files, and the
/// dispatcher's settings.
public struct CoordinatorSettings: Sendable {
    public var databasePath: String
    public var host = "127.0.0.1"
    public var port = 8080
    public var token: String?
    public var dispatcher = Dispatcher.Settings()
    public var heartbeatSeconds: Double = 2
    /// Serve HTTPS with this certificate and key (PEM files).
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// Trust workers' HTTPS certificates signed by this CA (PEM); nil: the system's roots.
    public var caFile: String?
    /// Accept plain-HTTP workers while serving HTTPS (the token then crosses to them in clear).
    public var allowPlainHTTPWorkers = false

    public init(databasePath: String) { self.databasePath = databasePath }
}

/// Everything the coordinator daemon runs: the store, the dispatcher, the search loops and
/// the HTTP API. Tests build it with a temporary database and talk to it over loopback.
public final class Coordinator: Sendable {
    public let settings: CoordinatorSettings
    public let store: SearchStore
    public let dispatcher: Dispatcher
    public let searches: SearchManager
    public let httpClient: HTTPClient
    public let metrics: DispatcherMetrics
    /// This process owns the database while it runs (a second coordinator is refused).
    let ownerLock: OwnerLock
    /// Signed-in browsers (the dashboard's login); their cookie is `Secure` over HTTPS.
    public let sessions: Sessions

    public init(settings: CoordinatorSettings) throws {
        self.settings = settings
        ownerLock = try OwnerLock(databasePath: settings.databasePath)
        store = try SearchStore(path: settings.databasePath)
        metrics = DispatcherMetrics()
        dispatcher = Dispatcher(settings: settings.dispatcher, metrics: metrics)
        searches = SearchManager(store: store, dispatcher: dispatcher)
        httpClient = try TLSFiles.client(caFile: settings.caFile)
        if let certificate = settings.tlsCertificate, let key = settings.tlsKey {
            tls = try TLSFiles.server(certificate: certificate, key: key)
        } else {
            tls = nil
        }
        sessions = Sessions(secure: tls != nil)
    }

    /// HTTPS, when a certificate and key were given.
    let tls: TLSConfiguration?
    public var scheme: String { tls == nil ? "http" : "https" }

    /// Every route below, for 405 answers (a test checks the list against the router).
    public static let routes: [(method: String, pattern: String)] = [
        ("GET", "/healthz"), ("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("GET", "/"), ("GET", "/searches/:id"), ("GET", "/openapi.yaml"), ("GET", "/metrics"),
        ("POST", "/v1/searches"), ("GET", "/v1/searches"), ("GET", "/v1/searches/:id"), ("GET", "/v1/searches/:id/best"),
        ("GET", "/v1/searches/:id/top"), ("GET", "/v1/searches/:id/history"), ("POST", "/v1/searches/:id/pause"),
        ("POST", "/v1/searches/:id/resume"), ("POST", "/v1/searches/:id/cancel"), ("GET", "/v1/workers"),
        ("GET", "/v1/workers/removed"), ("POST", "/v1/workers"), ("POST", "/v1/workers/:id/heartbeat"), ("DELETE", "/v1/workers/:id"),
    ]

    /// The HTTP API (see docs/openapi.yaml).
    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let metrics = self.metrics
        let sessions = self.sessions
        router.middlewares.add(GuardMiddleware(token: settings.token, routes: Self.routes, sessions: sessions) {
            metrics.increment(.httpRequests)
        })
        let searches = self.searches, dispatcher = self.dispatcher

        router.get("/healthz") { _, _ in jsonResponse(["status": "ok"]) }
        let token = settings.token
        router.get("/login") { _, _ in textResponse(Sessions.loginPage(), contentType: "text/html; charset=utf-8") }
        router.post("/login") { request, _ in
            // The login page's form: token=… (application/x-www-form-urlencoded); anything
            // unreadable is a wrong token.
            struct LoginForm: Decodable { var token: String? }
            let form = String(decoding: try await readBody(request), as: UTF8.self)
            let typed = (try? URLEncodedFormDecoder().decode(LoginForm.self, from: form))?.token ?? ""
            guard let token, constantTimeEqual(typed, token) else {
                return textResponse(Sessions.loginPage(error: token == nil ? "This coordinator has no token: open / directly."
                                                                          : "Wrong token."),
                                    contentType: "text/html; charset=utf-8", status: token == nil ? .ok : .unauthorized)
            }
            return Response(status: .seeOther, headers: [.location: "/", .setCookie: sessions.setCookie(sessions.open())])
        }
        router.post("/logout") { request, _ in
            if let id = Sessions.id(fromCookieHeader: request.headers[.cookie]) { sessions.close(id) }
            return Response(status: .seeOther, headers: [.location: "/login", .setCookie: sessions.clearCookie])
        }
        let store = self.store
        router.get("/") { _, _ in
            textResponse(Dashboard.index(searches: try await searches.views(), workers: await dispatcher.workerViews()),
                         contentType: "text/html; charset=utf-8")
        }
        router.get("/searches/:id") { _, context in
            let id = try searchID(context)
            let view = try await searches.view(id)
            return textResponse(Dashboard.search(view, history: try await searches.history(id), baselines: try store.baselines(id),
                                                 workers: await dispatcher.workerViews()),
                                contentType: "text/html; charset=utf-8")
        }
        router.get("/openapi.yaml") { _, _ in textResponse(String(decoding: PackageResources.openapi_yaml, as: UTF8.self), contentType: "application/yaml") }
        router.get("/metrics") { _, _ in
            let totals = await dispatcher.totals()
            metrics.set("longrope_workers", Double(totals.workers))
            metrics.set("longrope_workers_healthy", Double(totals.healthy))
            metrics.set("longrope_units_waiting", Double(totals.queued))
            metrics.set("longrope_units_in_flight", Double(totals.inFlight))
            return textResponse(metrics.exposition(), contentType: "text/plain; version=0.0.4")
        }

        router.post("/v1/searches") { request, _ in
            let body = try await decodeBody(CreateSearchRequest.self, request)
            let id = try await searches.create(body)
            return jsonResponse(try await searches.view(id), status: .created)
        }
        router.get("/v1/searches") { _, _ in jsonResponse(try await searches.views()) }
        router.get("/v1/searches/:id") { _, context in jsonResponse(try await searches.view(try searchID(context))) }
        router.get("/v1/searches/:id/best") { request, context in
            let id = try searchID(context)
            let summary = try await searches.summary(id)
            guard summary.perplexity != nil else { throw APIError.conflict("search \(id) has no scored candidate yet") }
            switch request.uri.queryParameters.get("format") ?? "json" {
            case "json": return textResponse(Exporter.json(summary), contentType: "application/json")
            case "hf": return textResponse(Exporter.huggingFace(Exporter.portable(summary).summary, shortFactors: nil),
                                           contentType: "application/json")
            case "csv": return textResponse(Exporter.csv(Exporter.portable(summary).summary), contentType: "text/csv")
            case let other: throw APIError.badRequest("bad request", "format must be json, hf or csv, not \"\(other)\"")
            }
        }
        router.get("/v1/searches/:id/top") { request, context in
            let text = request.uri.queryParameters.get("n") ?? "10"
            guard let n = Int(text), n >= 1, n <= 10_000 else {
                throw APIError.badRequest("bad request", "n must be a whole number from 1 to 10000, not \"\(text)\"")
            }
            return jsonResponse(try await searches.top(try searchID(context), count: n))
        }
        router.get("/v1/searches/:id/history") { _, context in jsonResponse(try await searches.history(try searchID(context))) }
        router.post("/v1/searches/:id/pause") { _, context in
            let id = try searchID(context)
            try await searches.pause(id)
            return jsonResponse(try await searches.view(id))
        }
        router.post("/v1/searches/:id/resume") { _, context in
            let id = try searchID(context)
            try await searches.resume(id)
            return jsonResponse(try await searches.view(id))
        }
        router.post("/v1/searches/:id/cancel") { _, context in
            let id = try searchID(context)
            try await searches.cancel(id)
            return jsonResponse(try await searches.view(id))
        }

        router.get("/v1/workers") { _, _ in jsonResponse(await dispatcher.workerViews()) }
        router.get("/v1/workers/removed") { _, _ in jsonResponse(await dispatcher.removedWorkers()) }
        let client = httpClient, heartbeat = settings.heartbeatSeconds
        let usesTLS = tls != nil, allowPlainWorkers = settings.allowPlainHTTPWorkers
        router.post("/v1/workers") { request, _ in
            let registration = try await decodeBody(WorkerRegistration.self, request)
            if let problem = registration.problem(tls: usesTLS, allowPlainHTTP: allowPlainWorkers) {
                throw APIError.badRequest("bad request", problem)
            }
            guard await !dispatcher.isBanned(address: registration.address) else {
                throw APIError(.forbidden, "forbidden", "worker address \(registration.address) was removed from this coordinator and may not register again until it restarts")
            }
            let id = await dispatcher.register(registration, connection: HTTPWorkerConnection(
                address: registration.address, token: token, client: client, timeout: dispatcher.settings.leaseSeconds))
            return jsonResponse(WorkerRegistered(id: id, heartbeatSeconds: heartbeat, secret: await dispatcher.secret(id)),
                                status: .created)
        }
        router.post("/v1/workers/:id/heartbeat") { request, context in
            let id = context.parameters.get("id") ?? ""
            let body = try await decodeBody(Heartbeat.self, request)
            guard await dispatcher.heartbeat(id, secret: body.secret) else {
                throw APIError(.notFound, "not found", "worker \(id) is unknown, or the heartbeat is not from the process that registered it: register again")
            }
            return Response(status: .noContent)
        }
        router.delete("/v1/workers/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard await dispatcher.remove(id, ban: true) else { throw APIError.notFound("worker \(id)") }
            return Response(status: .noContent)
        }
        return router
    }

    /// The application, bound to the configured address (port 0 picks a free one;
    /// `onRunning` receives the port).
    public func application(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        var logger = Logger(label: "longrope.coordinator")
        logger.logLevel = .warning
        return Application(router: router(), server: try tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1(),
                           configuration: .init(address: .hostname(settings.host, port: settings.port),
                                                serverName: "longrope-coordinator"),
                           onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
                           logger: logger)
    }

    /// Serves until SIGTERM/SIGINT, then drains: search loops stop (their searches resume on
    /// the next start) and the HTTP server finishes its requests.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await searches.resumeAll()
        let app = try application(onRunning: onRunning)
        let drain = DrainService(searches: searches, dispatcher: dispatcher)
        let group = ServiceGroup(configuration: .init(services: [.init(service: app), .init(service: drain)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: Logger(label: "longrope.lifecycle")))
        try await group.run()
    }
}

/// Stops the search loops when a graceful shutdown begins.
struct DrainService: Service {
    let searches: SearchManager
    let dispatcher: Dispatcher

    func run() async throws {
        try? await gracefulShutdown()
        await searches.stopAll()
        await dispatcher.shutdown()
    }
}

private func searchID(_ context: BasicRequestContext) throws -> Int64 {
    let text = context.parameters.get("id") ?? ""
    guard let id = Int64(text) else { throw APIError.badRequest("bad request", "search id must be an integer, not \"\(text)\"") }
    return id
}
