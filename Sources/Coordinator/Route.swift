import HTTPService
import Hummingbird

/// One route the coordinator serves: its method, its path pattern (`:name` segments) and the
/// handler. Controllers list theirs; the router and the 405 answers are built from the list.
struct Route: Sendable {
    var method: HTTPRequest.Method
    var path: String
    var handler: @Sendable (Request, BasicRequestContext) async throws -> Response

    init(_ method: HTTPRequest.Method, _ path: String,
         _ handler: @escaping @Sendable (Request, BasicRequestContext) async throws -> Response) {
        self.method = method
        self.path = path
        self.handler = handler
    }
}

/// The `:id` of a search route.
func searchID(_ context: BasicRequestContext) throws -> Int64 {
    let text = context.parameters.get("id") ?? ""
    guard let id = Int64(text) else { throw APIError.badRequest("bad request", "search id must be an integer, not \"\(text)\"") }
    return id
}
