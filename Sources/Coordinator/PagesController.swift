import Foundation
import HTTPService
import Hummingbird
import Wire

/// What is not the /v1 API: the health check, the dashboard and its login, the OpenAPI
/// document and the Prometheus metrics.
struct PagesController {
    let coordinator: Coordinator

    var routes: [Route] {
        let searches = coordinator.searches, dispatcher = coordinator.dispatcher, store = coordinator.store
        let sessions = coordinator.sessions, metrics = coordinator.metrics, token = coordinator.settings.token
        let html = "text/html; charset=utf-8"
        return [
            Route(.get, "/healthz") { _, _ in jsonResponse(["status": "ok"]) },
            Route(.get, "/login") { _, _ in textResponse(Sessions.loginPage(), contentType: html) },
            Route(.post, "/login") { request, _ in
                // The login page's form: token=… (application/x-www-form-urlencoded); anything
                // unreadable is a wrong token.
                struct LoginForm: Decodable { var token: String? }
                let form = String(decoding: try await readBody(request), as: UTF8.self)
                let typed = (try? URLEncodedFormDecoder().decode(LoginForm.self, from: form))?.token ?? ""
                guard let token, constantTimeEqual(typed, token) else {
                    return textResponse(Sessions.loginPage(error: token == nil ? "This coordinator has no token: open / directly."
                                                                              : "Wrong token."),
                                        contentType: html, status: token == nil ? .ok : .unauthorized)
                }
                return Response(status: .seeOther, headers: [.location: "/", .setCookie: sessions.setCookie(sessions.open())])
            },
            Route(.post, "/logout") { request, _ in
                if let id = Sessions.id(fromCookieHeader: request.headers[.cookie]) { sessions.close(id) }
                return Response(status: .seeOther, headers: [.location: "/login", .setCookie: sessions.clearCookie])
            },
            Route(.get, "/") { _, _ in
                textResponse(Dashboard.index(searches: try await searches.views(), workers: await dispatcher.workerViews()),
                             contentType: html)
            },
            Route(.get, "/searches/:id") { _, context in
                let id = try searchID(context)
                let view = try await searches.view(id)
                return textResponse(Dashboard.search(view, history: try await searches.history(id), baselines: try store.baselines(id),
                                                     workers: await dispatcher.workerViews()),
                                    contentType: html)
            },
            Route(.get, "/openapi.yaml") { _, _ in
                textResponse(String(decoding: PackageResources.openapi_yaml, as: UTF8.self), contentType: "application/yaml")
            },
            Route(.get, "/metrics") { _, _ in
                let totals = await dispatcher.totals()
                metrics.set(.workers, Double(totals.workers))
                metrics.set(.workersHealthy, Double(totals.healthy))
                metrics.set(.unitsWaiting, Double(totals.queued))
                metrics.set(.unitsInFlight, Double(totals.inFlight))
                return textResponse(metrics.exposition(), contentType: "text/plain; version=0.0.4")
            },
        ]
    }
}
