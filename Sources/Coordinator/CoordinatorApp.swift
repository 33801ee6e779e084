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

    /// Every route the coordinator serves, from its controllers: the router is built from this
    /// table, and 405 answers (a known path asked with another method) come from it.
    var routeTable: [Route] {
        PagesController(coordinator: self).routes + SearchesController(searches: searches).routes
            + WorkersController(coordinator: self).routes
    }

    /// The routes served, as (method, path pattern with `:name` segments).
    public var routes: [(method: String, pattern: String)] { routeTable.map { ($0.method.rawValue, $0.path) } }

    /// The HTTP API (see docs/openapi.yaml): the route table behind the guard (token or session).
    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let metrics = self.metrics, table = routeTable
        router.middlewares.add(GuardMiddleware(token: settings.token, routes: table.map { ($0.method.rawValue, $0.path) },
                                               sessions: sessions) {
            metrics.increment(.httpRequests)
        })
        for route in table { router.on(RouterPath(route.path), method: route.method, use: route.handler) }
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
        try? await gracefulShutdown()   // throws only when cancelled, which also means: stop
        await searches.stopAll()
        await dispatcher.shutdown()
    }
}
