import ArgumentParser
import AsyncHTTPClient
import Coordinator
import Digest
import Foundation
import HTTPService
import Hummingbird
import NIOCore
import Wire

/// A worker that answers at once with a loss derived from λ (so the search still has a
/// landscape), to measure what the coordinator itself can dispatch.
func startInstantWorker(coordinator: String) async throws -> Int {
    let router = Router(context: BasicRequestContext.self)
    router.post("/v1/evaluate") { request, _ in
        let unit = try await decodeBody(WorkUnit.self, request)
        let target = (0..<unit.lambda.count).map { 1 + 7 * Double($0) / Double(max(1, unit.lambda.count - 1)) }
        let loss = zip(unit.lambda, target).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) + Double(unit.window)
        return jsonResponse(UnitResult(nllSum: 100 + loss, tokens: 100, seconds: 0, worker: "instant"))
    }
    let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                          onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) })
    Task { try await app.run() }
    var iterator = stream.makeAsyncIterator()
    let port = await iterator.next()!
    let registration = WorkerRegistration(name: "instant-\(port)", address: "http://127.0.0.1:\(port)", modelSHA256: benchModel,
                                          textSHA256: benchText, architecture: "llama", threads: 1, pairs: 32,
                                          ropeBase: 10000, contextLength: 256)
    _ = try await post(coordinator + "/v1/workers", StrictJSON.encode(registration))
    return port
}

/// The hashes the instant workers claim (the coordinator takes only sha256-shaped ones).
let benchModel = String(repeating: "b", count: 64), benchText = String(repeating: "c", count: 64)

func post(_ url: String, _ body: Data) async throws -> Data {
    try await APIClient(base: "", token: nil, client: benchClient).send(.POST, url, json: body, timeout: .seconds(30)).body
}

/// The client the benches talk to their services with (one trusting `--tls-dir`'s CA when given);
/// set once at start, before any request.
nonisolated(unsafe) var benchClient = TLSFiles.plainClient

func get(_ url: String) async throws -> Data {
    try await APIClient(base: "", token: nil, client: benchClient).send(.GET, url, timeout: .seconds(30)).body
}

/// Starts an in-process coordinator on a free port (HTTPS with `tlsDirectory`'s files from
/// scripts/make-ca.sh, which must name localhost).
func startCoordinator(_ directory: URL, tlsDirectory: String? = nil) async throws -> (Coordinator, String) {
    var settings = CoordinatorSettings(databasePath: directory.appendingPathComponent("bench.sqlite").path)
    settings.port = 0
    if let tls = tlsDirectory {
        settings.tlsCertificate = tls + "/server.pem"
        settings.tlsKey = tls + "/server.key"
        settings.caFile = tls + "/ca.pem"
    }
    let coordinator = try Coordinator(settings: settings)
    let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
    let app = try coordinator.application { continuation.yield($0) }
    Task { try await app.run() }
    var iterator = stream.makeAsyncIterator()
    let port = await iterator.next()!
    return (coordinator, tlsDirectory == nil ? "http://127.0.0.1:\(port)" : "https://localhost:\(port)")
}

/// Runs one search against the coordinator and returns (units, seconds).
func timedSearch(_ base: String, population: Int, iterations: Int, model: String = benchModel, text: String = benchText,
                 target: Int = 512, windowCount: Int = 1, readers: Int = 0, readerInterval: Double = 0) async throws -> (units: Int, seconds: Double, reads: Int) {
    let request = ["model_sha256": model, "text_sha256": text, "original_context": 256, "target_context": target,
                   "population": population, "iterations": iterations, "windows": windowCount, "early_rejection": false] as [String: Any]
    let created = try JSONSerialization.jsonObject(with: try await post(base + "/v1/searches",
                                                                          JSONSerialization.data(withJSONObject: request))) as! [String: Any]
    let id = created["id"] as! Int
    let start = Date()
    let reads = ReadCounter()
    let readerTasks = (0..<readers).map { _ in
        Task {
            while !Task.isCancelled {
                if (try? await get(base + "/v1/searches/\(id)")) != nil { reads.add() }
                if readerInterval > 0 { try? await Task.sleep(nanoseconds: UInt64(readerInterval * 1e9)) }
            }
        }
    }
    var view: [String: Any] = [:]
    while view["status"] as? String != "done" {
        try await Task.sleep(nanoseconds: 20_000_000)
        view = (try? JSONSerialization.jsonObject(with: try await get(base + "/v1/searches/\(id)")) as? [String: Any]) ?? [:]
        if view["status"] as? String == "failed" { throw CLIFailure("search failed: \(view)") }
    }
    let seconds = Date().timeIntervalSince(start)
    readerTasks.forEach { $0.cancel() }
    return (view["units_done"] as? Int ?? 0, seconds, reads.count)
}

final class ReadCounter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    func add() { lock.lock(); value += 1; lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return value }
}

struct CLIFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// `longrope-bench dispatch`: units/s through the coordinator with instant workers, alone and
/// with 50 concurrent API readers (alternating A B A B in one run).
struct DispatchBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dispatch",
        abstract: "Coordinator dispatch rate with workers that answer at once, with and without concurrent API readers.")

    @Option var workers = 4
    @Option var population = 64
    @Option var iterations = 40
    @Option var readers = 50
    @Option(help: "Seconds each reader waits between requests (0: as fast as it can).") var readerInterval = 0.5
    @Option var rounds = 2

    func run() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("longrope-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (_, base) = try await startCoordinator(directory)
        for _ in 0..<workers { _ = try await startInstantWorker(coordinator: base) }
        var alone: [Double] = [], loaded: [Double] = [], readRates: [Double] = []
        for _ in 0..<rounds {
            let a = try await timedSearch(base, population: population, iterations: iterations)
            alone.append(Double(a.units) / a.seconds)
            let b = try await timedSearch(base, population: population, iterations: iterations, readers: readers,
                                          readerInterval: readerInterval)
            loaded.append(Double(b.units) / b.seconds)
            readRates.append(Double(b.reads) / b.seconds)
            print(String(format: "round: %d units, alone %.0f units/s; with %d readers %.0f units/s (%.0f reads/s answered)",
                         a.units, alone.last!, readers, loaded.last!, readRates.last!))
        }
        let medianAlone = median(alone), medianLoaded = median(loaded)
        print(String(format: "dispatch: %d instant workers, median %.0f units/s alone, %.0f units/s with %d readers every %.2f s (%.1f%% slower), %.0f reads/s answered; peak memory %.1f MiB",
                     workers, medianAlone, medianLoaded, readers, readerInterval, 100 * (1 - medianLoaded / medianAlone),
                     median(readRates), peakMemoryMiB()))
    }
}

/// `longrope-bench workers`: wall time of one real search with 1, 2 and 4 worker processes.
struct WorkersBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "workers",
        abstract: "Speed-up of a real search with 1, 2 and 4 worker processes (1 thread each) on loopback.")

    @Option var model: String
    @Option var text: String
    @Option var longrope = ".build/release/longrope"
    @Option var counts = "1,2,4"
    @Option var target = 2048
    @Option(help: "HTTPS everywhere with these files from scripts/make-ca.sh DIR localhost (clients trust its ca.pem).")
    var tlsDir: String?

    func run() async throws {
        if let tlsDir { benchClient = try TLSFiles.client(caFile: tlsDir + "/ca.pem") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("longrope-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let modelHash = try SHA256.hex(fileAt: model), textHash = try SHA256.hex(fileAt: text)
        var first: Double?
        for count in counts.split(separator: ",").compactMap({ Int($0) }) {
            let folder = directory.appendingPathComponent("\(count)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let (_, base) = try await startCoordinator(folder, tlsDirectory: tlsDir)
            let port = Int(base.split(separator: ":").last!)!
            var processes: [Process] = []
            for i in 0..<count {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: longrope)
                p.arguments = ["worker", "--coordinator", base, "--model", model, "--text", text, "--threads", "1", "--name", "w\(i)"]
                    + (tlsDir.map { ["--tls-cert", $0 + "/server.pem", "--tls-key", $0 + "/server.key", "--ca-file", $0 + "/ca.pem"] } ?? [])
                p.standardOutput = FileHandle.nullDevice
                p.standardError = FileHandle.nullDevice
                try p.run()
                processes.append(p)
            }
            while ((try? JSONSerialization.jsonObject(with: try await get(base + "/v1/workers")) as? [Any])?.count ?? 0) < count {
                try await Task.sleep(nanoseconds: 100_000_000)
            }
            let result = try await timedSearch(base, population: 8, iterations: 2, model: modelHash, text: textHash,
                                               target: target, windowCount: 2)
            first = first ?? result.seconds
            print(String(format: "%d worker(s): %d units in %.1f s, speed-up %.2f× (port %d)", count, result.units,
                         result.seconds, first! / result.seconds, port))
            processes.forEach { $0.terminate() }
        }
    }
}
