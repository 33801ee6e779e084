import HTTPService
import Hummingbird
import Runner
import Wire

/// /v1/workers: workers register, heartbeat and are listed or removed.
struct WorkersController {
    let coordinator: Coordinator

    var routes: [Route] {
        let dispatcher = coordinator.dispatcher, client = coordinator.httpClient
        let token = coordinator.settings.token, heartbeat = coordinator.settings.heartbeatSeconds
        let usesTLS = coordinator.tls != nil, allowPlainWorkers = coordinator.settings.allowPlainHTTPWorkers
        return [
            Route(.get, "/v1/workers") { _, _ in jsonResponse(await dispatcher.workerViews()) },
            Route(.get, "/v1/workers/removed") { _, _ in jsonResponse(await dispatcher.removedWorkers()) },
            Route(.post, "/v1/workers") { request, _ in
                let registration = try await decodeBody(WorkerRegistration.self, request)
                if let problem = registration.problem(tls: usesTLS, allowPlainHTTP: allowPlainWorkers) {
                    throw APIError.badRequest("bad request", problem)
                }
                guard await !dispatcher.isBanned(address: registration.address) else {
                    throw APIError(.forbidden, "forbidden", "worker address \(registration.address) was removed from this coordinator and may not register again until it restarts")
                }
                let id = await dispatcher.register(registration, connection: HTTPWorkerConnection(
                    address: registration.address, token: token, client: client, timeout: dispatcher.settings.leaseSeconds))
                return jsonResponse(WorkerRegistered(id: id, heartbeatSeconds: heartbeat, secret: dispatcher.secret(id)),
                                    status: .created)
            },
            Route(.post, "/v1/workers/:id/heartbeat") { request, context in
                let id = context.parameters.get("id") ?? ""
                let body = try await decodeBody(Heartbeat.self, request)
                guard await dispatcher.heartbeat(id, secret: body.secret) else {
                    throw APIError(.notFound, "not found", "worker \(id) is unknown, or the heartbeat is not from the process that registered it: register again")
                }
                return Response(status: .noContent)
            },
            Route(.delete, "/v1/workers/:id") { _, context in
                let id = context.parameters.get("id") ?? ""
                guard await dispatcher.remove(id, ban: true) else { throw APIError.notFound("worker \(id)") }
                return Response(status: .noContent)
            },
        ]
    }
}
