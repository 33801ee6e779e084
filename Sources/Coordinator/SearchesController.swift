import HTTPService
import Hummingbird
import Runner
import Wire

/// /v1/searches: create, list, follow, export, pause, resume and cancel searches.
struct SearchesController {
    let searches: SearchManager

    var routes: [Route] {
        let searches = self.searches
        return [
            Route(.post, "/v1/searches") { request, _ in
                let body = try await decodeBody(CreateSearchRequest.self, request)
                let id = try await searches.create(body)
                return jsonResponse(try await searches.view(id), status: .created)
            },
            Route(.get, "/v1/searches") { _, _ in jsonResponse(try await searches.views()) },
            Route(.get, "/v1/searches/:id") { _, context in jsonResponse(try await searches.view(try searchID(context))) },
            Route(.get, "/v1/searches/:id/best") { request, context in
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
            },
            Route(.get, "/v1/searches/:id/top") { request, context in
                let text = request.uri.queryParameters.get("n") ?? "10"
                guard let n = Int(text), n >= 1, n <= 10_000 else {
                    throw APIError.badRequest("bad request", "n must be a whole number from 1 to 10000, not \"\(text)\"")
                }
                return jsonResponse(try await searches.top(try searchID(context), count: n))
            },
            Route(.get, "/v1/searches/:id/history") { _, context in jsonResponse(try await searches.history(try searchID(context))) },
            Route(.post, "/v1/searches/:id/pause") { _, context in
                let id = try searchID(context)
                try await searches.pause(id)
                return jsonResponse(try await searches.view(id))
            },
            Route(.post, "/v1/searches/:id/resume") { _, context in
                let id = try searchID(context)
                try await searches.resume(id)
                return jsonResponse(try await searches.view(id))
            },
            Route(.post, "/v1/searches/:id/cancel") { _, context in
                let id = try searchID(context)
                try await searches.cancel(id)
                return jsonResponse(try await searches.view(id))
            },
        ]
    }
}
