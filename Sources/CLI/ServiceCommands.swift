import ArgumentParser
import AsyncHTTPClient
import Coordinator
import Foundation
import HTTPService
import NIOCore
import Runner
import Store
import Wire
import Worker

/// Reads a bearer token from a file (first line, trimmed); refuses an empty one.
func readToken(_ path: String?) throws -> String? {
    guard let path else { return nil }
    // A token other users can read is no secret: refuse it, and say how to fix it.
    if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
       let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, mode & 0o004 != 0 {
        throw CLIError("token file \(path) is readable by every user (mode \(String(mode & 0o777, radix: 8))): run chmod 600 \(path)")
    }
    guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read token file \(path)") }
    let token = String(decoding: data, as: UTF8.self).split(separator: "\n").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
    guard !token.isEmpty else { throw CLIError("token file \(path) is empty") }
    return token
}

/// Splits `host:port`.
func parseListen(_ text: String) throws -> (String, Int) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
        throw CLIError("--listen must be HOST:PORT, got \(text)")
    }
    return (String(text[..<colon]), port)
}

/// TLS and exposure flags shared by `coordinator` and `worker`.
struct ExposureOptions: ParsableArguments {
    @Option(help: "Serve HTTPS with this certificate (PEM; scripts/make-ca.sh makes one for a lab cluster).")
    var tlsCert: String?
    @Option(help: "The certificate's private key (PEM).") var tlsKey: String?
    @Option(help: "Trust peers' certificates signed by this CA (PEM) and check their host names.") var caFile: String?
    @Flag(help: "Listen beyond loopback without a token (anyone who can connect may use the API).") var allowNoToken = false
    @Flag(help: "Listen beyond loopback over plain HTTP (the token and units cross the network readable).")
    var allowPlainHttp = false

    /// Refuses what would expose the service by accident; returns the TLS files, checked.
    func check(host: String, token: String?) throws -> (certificate: String, key: String)? {
        guard (tlsCert == nil) == (tlsKey == nil) else { throw CLIError("--tls-cert and --tls-key go together") }
        for path in [tlsCert, tlsKey, caFile].compactMap({ $0 }) where !FileManager.default.isReadableFile(atPath: path) {
            throw CLIError("cannot read \(path)")
        }
        if !isLoopback(host) {
            if token == nil && !allowNoToken {
                throw CLIError("refusing to listen on \(host) without a token: anyone who can reach it could use the API. "
                               + "Give --token-file (head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > token; chmod 600 token), "
                               + "or --allow-no-token to do it on purpose")
            }
            if tlsCert == nil && !allowPlainHttp {
                throw CLIError("refusing to listen on \(host) over plain HTTP: the token and every unit would cross the network readable. "
                               + "Give --tls-cert and --tls-key (scripts/make-ca.sh makes a private CA and certificates), "
                               + "or --allow-plain-http on a network you trust")
            }
        }
        return tlsCert.flatMap { cert in tlsKey.map { (cert, $0) } }
    }
}

/// `longrope coordinator`: the daemon that owns the database, runs searches and serves the API.
struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run the coordinator: owns the SQLite database, runs searches, dispatches units to workers, serves the HTTP API.")

    @Option(help: "SQLite database (created if missing); only this process may open it.") var db: String
    @Option(help: "Address to listen on (default 127.0.0.1:8080; 0.0.0.0:8080 for other hosts).") var listen = "127.0.0.1:8080"
    @Option(help: "File holding a bearer token every request but /healthz must carry (workers too).") var tokenFile: String?
    @Option(help: "Seconds a worker may stay silent before its work is handed to another.") var heartbeatTimeout: Double = 10
    @Option(help: "Seconds a unit may run on a worker before its lease expires.") var leaseSeconds: Double = 900
    @Option(help: "Failed leases after which a unit is recorded as failed.") var maxAttempts = 4
    @Flag(help: "Serving HTTPS, still accept workers registered with an http:// address (the token crosses to them in clear).")
    var allowPlainHttpWorkers = false
    @Option(help: "Each worker's first answers that another worker must confirm before they count (0: none).")
    var verifyFirst = 2
    @Option(help: "Share of all units (a seeded sample) confirmed on a second worker (0 to 1).")
    var verifyShare = 0.02
    @Flag(help: "Also confirm on a second worker every answer below the lowest loss its window has had (catches a trusted worker lying low; ~5% more units).")
    var verifyNewLows = false
    @Flag(help: "Also confirm on a second worker every unit of a candidate that would become a search's new best, before it counts (a lie can then never be the best; ~8% more units).")
    var verifyNewBests = false
    @OptionGroup var exposure: ExposureOptions

    func validate() throws {
        // At most 30 days: a lease becomes a request timeout in whole milliseconds (Int64), and
        // 1e300 s crashed the coordinator at its first unit.
        let most = 30.0 * 86_400
        guard heartbeatTimeout > 0, heartbeatTimeout <= most else {
            throw ValidationError("--heartbeat-timeout must be a number of seconds > 0 and at most \(Int(most)) (30 days), got \(heartbeatTimeout)")
        }
        guard leaseSeconds > 0, leaseSeconds <= most else {
            throw ValidationError("--lease-seconds must be a number of seconds > 0 and at most \(Int(most)) (30 days), got \(leaseSeconds)")
        }
        guard maxAttempts >= 1 else { throw ValidationError("--max-attempts must be at least 1") }
        guard verifyFirst >= 0 else { throw ValidationError("--verify-first must be ≥ 0") }
        guard (0...1).contains(verifyShare) else { throw ValidationError("--verify-share must be between 0 and 1") }
    }

    func run() async throws {
        let (host, port) = try parseListen(listen)
        try checkWritablePath(db, option: "--db")
        var settings = CoordinatorSettings(databasePath: db)
        settings.host = host
        settings.port = port
        settings.token = try readToken(tokenFile)
        let tls = try exposure.check(host: host, token: settings.token)
        settings.tlsCertificate = tls?.certificate
        settings.tlsKey = tls?.key
        settings.caFile = exposure.caFile
        settings.dispatcher.heartbeatTimeout = heartbeatTimeout
        settings.dispatcher.leaseSeconds = leaseSeconds
        settings.dispatcher.maxAttempts = maxAttempts
        settings.allowPlainHTTPWorkers = allowPlainHttpWorkers
        settings.dispatcher.verifyFirst = verifyFirst
        settings.dispatcher.verifyShare = verifyShare
        settings.dispatcher.verifyNewLows = verifyNewLows
        settings.dispatcher.verifyNewBests = verifyNewBests
        let coordinator: Coordinator
        do { coordinator = try Coordinator(settings: settings) }
        catch let held as OwnerLock.Held { throw CLIError(held.description) }
        catch let error as TLSFileError { throw CLIError(error.description) }
        catch { throw CLIError("cannot open database \(db): \(error)") }
        let scheme = coordinator.scheme
        do { try await coordinator.run { port in
            FileHandle.standardError.write(Data("coordinator: listening on \(scheme)://\(host):\(port) (db \(db))\n".utf8))
            FileHandle.standardOutput.write(Data("listening \(port)\n".utf8))
        } } catch { throw listenError(error, host: host, port: port) }
    }
}

/// `longrope worker`: loads a model and a text and attaches to a coordinator.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a worker: load a model and a text, attach to a coordinator, evaluate the units it sends.")

    @Option(help: "Coordinator URL, e.g. http://head-node:8080.") var coordinator: String
    @Option(help: "GGUF model.") var model: String
    @Option(help: "Text file (searches name it by sha256; offsets come from the search).") var text: String
    @Option(help: "Address to listen on (default 127.0.0.1:0: a free port on loopback).") var listen = "127.0.0.1:0"
    @Option(help: "URL the coordinator should use to reach this worker (default http://LISTEN-HOST:PORT).") var advertise: String?
    @Option(help: "Threads, 1 to four per core (default: all cores).") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "File holding the bearer token (the coordinator's).") var tokenFile: String?
    @Option(help: "Name shown in the worker list.") var name: String?
    @OptionGroup var exposure: ExposureOptions

    func run() async throws {
        let (host, port) = try parseListen(listen)
        if let problem = ThreadLimit.problem(threads) { throw CLIError(problem) }
        try checkServiceURL(coordinator, "--coordinator")
        if let advertise { try checkServiceURL(advertise, "--advertise") }
        if let name, let problem = nameProblem(name, label: "--name") {   // the coordinator's check, before loading
            throw CLIError(problem)
        }
        let token = try readToken(tokenFile)
        let tls = try exposure.check(host: host, token: token)
        var settings = WorkerNode.Settings(coordinator: coordinator, modelPath: model, textPath: text)
        settings.host = host
        settings.port = port
        settings.advertise = advertise
        settings.threads = threads
        settings.token = token
        settings.name = name
        settings.tlsCertificate = tls?.certificate
        settings.tlsKey = tls?.key
        settings.caFile = exposure.caFile
        let node: WorkerNode
        do { node = try WorkerNode(settings: settings) }
        catch let error as TLSFileError { throw CLIError(error.description) }
        catch { throw CLIError("cannot load \(model): \(error)") }
        FileHandle.standardError.write(Data("worker: model_sha256 \(node.modelSHA256), text_sha256 \(node.textSHA256)\n".utf8))
        do {
            try await node.run { port in FileHandle.standardOutput.write(Data("listening \(port)\n".utf8)) }
        } catch { throw listenError(error, host: host, port: port) }
    }
}

/// `longrope status`: the searches and workers of a coordinator, as tables.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show a coordinator's searches and workers.")

    @Option(help: "Coordinator URL.") var coordinator = "http://127.0.0.1:8080"
    @Option(help: "File holding the bearer token.") var tokenFile: String?
    @Flag(help: "Redraw every 2 seconds with a progress bar.") var watch = false
    @Option(help: "Trust a coordinator certificate signed by this CA (PEM).") var caFile: String?

    func run() async throws {
        try checkServiceURL(coordinator, "--coordinator")
        let token = try readToken(tokenFile)
        let client: HTTPClient
        do { client = try TLSFiles.client(caFile: caFile) } catch { throw CLIError("\(error)") }
        let api = APIClient(base: coordinator, token: token, client: client)
        func get<T: Decodable>(_ path: String, _ type: T.Type) async throws -> T {
            let reply: APIClient.Reply
            do { reply = try await api.send(.GET, path, timeout: .seconds(4)) }
            catch { throw CLIError(describeConnectionError(error, url: api.base)) }
            guard reply.status == 200 else { throw CLIError("\(api.base)\(path): \(reply.status) \(reply.errorText)") }
            return try reply.decode(T.self)
        }
        repeat {
            let searches = try await get("/v1/searches", [SearchView].self)
            let workers = try await get("/v1/workers", [WorkerView].self)
            // A coordinator older than this list answers 404: then there is nothing to show.
            let removed = (try? await get("/v1/workers/removed", [RemovedWorkerView].self)) ?? []
            let text = StatusTable.render(searches: searches, workers: workers, removed: removed, bars: watch)
            FileHandle.standardOutput.write(Data(((watch ? "\u{1B}[H\u{1B}[2J" : "") + text).utf8))
            if watch { try await Task.sleep(nanoseconds: 2_000_000_000) }
        } while watch
    }
}

/// The tables `longrope status` prints.
enum StatusTable {
    /// The tables, with any control character the coordinator sent (in a name, a worker's error)
    /// shown as "?": an ESC sequence would move the cursor, clear or retitle the terminal.
    static func render(searches: [SearchView], workers: [WorkerView], removed: [RemovedWorkerView] = [], bars: Bool) -> String {
        showingControlCharacters(unsanitized(searches: searches, workers: workers, removed: removed, bars: bars))
    }

    private static func unsanitized(searches: [SearchView], workers: [WorkerView], removed: [RemovedWorkerView], bars: Bool) -> String {
        var out = "SEARCHES\n"
        let header = ["ID", "NAME", "STATUS", "STEP", "CANDIDATES", "UNITS", "IN FLIGHT", "FAILED", "LEFT", "FITNESS", "BEST",
                      "M", "BEST BASELINE"]
        var rows: [[String]] = []
        for s in searches {
            let scores = s.baselineFitness.isEmpty ? s.baselines : s.baselineFitness
            let baseline = scores.compactMap { key, value in value.map { (key, $0) } }.min { $0.1 < $1.1 }
            rows.append(["\(s.id)", s.name, s.status, "\(s.step + 1)/\(s.steps)", "\(s.candidates)/\(s.candidatesPlanned)",
                         s.unitsDoneDescription, "\(s.unitsInFlight)", "\(s.unitsFailed)",
                         s.secondsLeft.map(TimeLeft.describe) ?? "—", s.fitness,
                         s.best.map { String(format: "%.4f", $0.ppl) } ?? "—",
                         s.best.map { String(format: "%.2f", $0.attentionFactor) } ?? "—",
                         baseline.map { String(format: "%@ %.4f", $0.0, $0.1) } ?? "—"])
        }
        out += table(header, rows)
        for s in searches { if let waiting = s.waiting { out += "  search \(s.id) waiting: \(waiting)\n" } }
        for s in searches where s.status == "running" || s.status == "queued" {
            if let rules = s.rules, !rules.isDone {
                out += "  search \(s.id) rules: \(rules.describe(fitness: s.fitness))\n"
            }
        }
        for s in searches where s.status == "failed" {
            out += "  search \(s.id) failed: \(s.error ?? "no reason recorded")\n"
        }
        if bars {
            for s in searches where s.status == "running" || s.status == "queued" {
                let fraction = min(1, Double(s.candidates) / Double(max(1, s.candidatesPlanned)))
                out += "  \(s.id) [\(progressBar(fraction, width: 30))] \(Int(fraction * 100))%\n"
            }
        }
        out += "\nWORKERS\n"
        out += table(["ID", "NAME", "ADDRESS", "HEALTHY", "BUSY", "THREADS", "KERNELS", "UNITS", "FAILED", "UNITS/MIN", "LAST SEEN"],
                     workers.map { w in
                         [w.id, w.name, w.address, w.healthy ? "yes" : "no", w.busy ? "yes" : "no", "\(w.threads)", w.kernels ?? "—",
                          "\(w.unitsDone)", "\(w.unitsFailed)", String(format: "%.1f", w.unitsPerMinute),
                          String(format: "%.0f s ago", w.secondsSinceHeartbeat)]
                     })
        // The full sha256s: what POST /v1/searches needs as model_sha256 and text_sha256.
        for w in workers { out += "  \(w.id): model_sha256 \(w.modelSHA256)  text_sha256 \(w.textSHA256)\n" }
        if !removed.isEmpty {
            out += "\nREMOVED WORKERS\n"
            out += table(["ID", "NAME", "ADDRESS", "WHEN", "WHY"], removed.map { [$0.id, $0.name, $0.address, $0.removedAt, $0.reason] })
        }
        return out
    }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}

/// Refuses a URL no HTTP client can reach (no scheme, not http or https, no host, a port out of
/// range) before anything is loaded: a worker would otherwise retry it forever.
func checkServiceURL(_ value: String, _ option: String) throws {
    guard ServiceURL.isValid(value) else {
        throw CLIError("\(option) must be an http:// or https:// URL with a host, e.g. http://head-node:8080; got \(value)")
    }
}
