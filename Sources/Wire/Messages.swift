import Foundation
import Search

/// The JSON error body of every 4xx/5xx: `{"error": "...", "detail": "..."}`.
public struct ErrorBody: Codable, Sendable, Equatable {
    public var error: String
    public var detail: String
    public init(error: String, detail: String) { self.error = error; self.detail = detail }
}

/// A worker announcing itself to the coordinator (POST /v1/workers).
public struct WorkerRegistration: Codable, Sendable, Equatable, StrictDecodable {
    public var name: String
    /// Where the coordinator reaches the worker, e.g. `http://10.0.0.5:8081`.
    public var address: String
    public var modelSHA256: String
    public var textSHA256: String
    public var architecture: String
    public var threads: Int
    public var pairs: Int
    public var ropeBase: Double
    public var contextLength: Int
    /// The size of the worker's text in bytes, so a search's text_offset can be checked when it
    /// is created (nil from workers of earlier versions).
    public var textBytes: Int?
    /// The CPU level the worker's kernels run at (`avx2`, `avx512`; nil from workers of earlier
    /// versions), shown by `longrope status`.
    public var kernels: String?
    /// The attention precisions the worker's model can run (`f32`, and `bf16` where its head
    /// dimension allows; nil from workers of earlier versions): a search asking another is
    /// refused when it is created.
    public var attentionPrecisions: [String]?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case name, address, architecture, threads, pairs, kernels
        case modelSHA256 = "model_sha256", textSHA256 = "text_sha256", ropeBase = "rope_base", contextLength = "context_length"
        case textBytes = "text_bytes", attentionPrecisions = "attention_precisions"
    }

    public init(name: String, address: String, modelSHA256: String, textSHA256: String, architecture: String,
                threads: Int, pairs: Int, ropeBase: Double, contextLength: Int) {
        self.name = name; self.address = address; self.modelSHA256 = modelSHA256; self.textSHA256 = textSHA256
        self.architecture = architecture; self.threads = threads; self.pairs = pairs; self.ropeBase = ropeBase
        self.contextLength = contextLength
    }
}

extension WorkerRegistration {
    /// The longest address a worker may register with (its name: `maxNameLength`).
    public static let maxAddressLength = 2048

    /// Why the coordinator cannot take this registration (nil: it can). `tls`: the coordinator
    /// serves HTTPS, so its token must not go to a plain-HTTP worker unless `allowPlainHTTP`.
    public func problem(tls: Bool, allowPlainHTTP: Bool) -> String? {
        func isSHA256(_ text: String) -> Bool { text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } }
        if let problem = nameProblem(name, label: "field \"name\"") { return problem }
        guard address.count <= Self.maxAddressLength, ServiceURL.isValid(address) else {
            return "field \"address\" must be an http(s) URL, not \"\(address.prefix(200))\""
        }
        if tls && address.lowercased().hasPrefix("http:") && !allowPlainHTTP {
            return "field \"address\" is plain http, but this coordinator serves HTTPS and would send its token in clear: give the worker --tls-cert and --tls-key, or start the coordinator with --allow-plain-http-workers"
        }
        if !isSHA256(modelSHA256) { return "field \"model_sha256\" must be 64 lowercase hex digits" }
        if !isSHA256(textSHA256) { return "field \"text_sha256\" must be 64 lowercase hex digits" }
        if !(1...4096).contains(threads) { return "field \"threads\" must be between 1 and 4096" }
        if !(1...SearchConfig.maxPairs).contains(pairs) { return "field \"pairs\" must be between 1 and \(SearchConfig.maxPairs)" }
        if !(ropeBase > 1 && ropeBase.isFinite) { return "field \"rope_base\" must be a finite number > 1" }
        if !(1...SearchConfig.maxContext).contains(contextLength) { return "field \"context_length\" must be between 1 and \(SearchConfig.maxContext)" }
        if architecture.isEmpty || architecture.count > 64 { return "field \"architecture\" must be 1 to 64 characters" }
        if let textBytes, textBytes < 1 { return "field \"text_bytes\" must be at least 1" }
        if let kernels, kernels.isEmpty || kernels.count > 32 { return "field \"kernels\" must be 1 to 32 characters" }
        if let precisions = attentionPrecisions, precisions.count > SearchConfig.attentionPrecisions.count
            || !precisions.allSatisfy(SearchConfig.attentionPrecisions.contains) {
            return "field \"attention_precisions\" may list only \(SearchConfig.attentionPrecisions.joined(separator: ", "))"
        }
        return nil
    }
}

/// The coordinator's answer to a registration.
public struct WorkerRegistered: Codable, Sendable, Equatable {
    public var id: String
    /// How often the worker must heartbeat.
    public var heartbeatSeconds: Double
    /// Sent back with every heartbeat (`{"secret": …}`) to prove it comes from this worker.
    public var secret: String?
    enum CodingKeys: String, CodingKey { case id, heartbeatSeconds = "heartbeat_seconds", secret }
    public init(id: String, heartbeatSeconds: Double, secret: String? = nil) {
        self.id = id; self.heartbeatSeconds = heartbeatSeconds; self.secret = secret
    }

    /// The period a worker heartbeats at: `heartbeatSeconds` kept between 0.05 s (not a busy
    /// loop) and 60 s (more often than asked is harmless); 2 s when it is not a positive number.
    /// Whatever a coordinator (or a proxy before it) sends, the worker's sleep can hold it.
    public var heartbeatInterval: Double {
        heartbeatSeconds > 0 && heartbeatSeconds.isFinite ? min(max(heartbeatSeconds, 0.05), 60) : 2
    }
}

/// POST /v1/workers/{id}/heartbeat.
public struct Heartbeat: Codable, Sendable, Equatable, StrictDecodable {
    public var secret: String?
    public enum CodingKeys: String, CodingKey, CaseIterable { case secret }
    public init(secret: String?) { self.secret = secret }
}

/// POST /v1/searches: a search to run. Only the hashes name the model and text: workers hold
/// the files, and a search runs on the workers that announced those hashes. The search's
/// options sit beside these fields at the top level of the body (`SearchOptions`' names).
public struct CreateSearchRequest: Codable, Sendable, Equatable, StrictDecodable {
    public var name: String?
    public var modelSHA256: String
    public var textSHA256: String
    public var textOffset: Int?
    public var originalContext: Int
    public var targetContext: Int
    /// Rotary pairs and RoPE base; taken from a registered worker with the model when absent.
    public var pairs: Int?
    public var ropeBase: Double?
    /// Everything else: seed, population, fitness, … (the fields of `SearchOptions`).
    public var options = SearchOptions()

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case name, pairs, modelSHA256 = "model_sha256", textSHA256 = "text_sha256", textOffset = "text_offset"
        case originalContext = "original_context", targetContext = "target_context", ropeBase = "rope_base"
    }
    public static var fields: Set<String> {
        Set(CodingKeys.allCases.map(\.stringValue)).union(SearchOptions.fields)
    }
    public static var renamedFields: [String: String] { ["samples": "windows"] }

    public init(modelSHA256: String, textSHA256: String, originalContext: Int, targetContext: Int) {
        self.modelSHA256 = modelSHA256; self.textSHA256 = textSHA256
        self.originalContext = originalContext; self.targetContext = targetContext
    }

    public init(from decoder: Decoder) throws {
        // The options first: a number out of range there comes without a coding path, and
        // StrictJSON finds the field by leaving each out, which needs the required ones after.
        options = try SearchOptions(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        modelSHA256 = try c.decode(String.self, forKey: .modelSHA256)
        textSHA256 = try c.decode(String.self, forKey: .textSHA256)
        textOffset = try c.decodeIfPresent(Int.self, forKey: .textOffset)
        originalContext = try c.decode(Int.self, forKey: .originalContext)
        targetContext = try c.decode(Int.self, forKey: .targetContext)
        pairs = try c.decodeIfPresent(Int.self, forKey: .pairs)
        ropeBase = try c.decodeIfPresent(Double.self, forKey: .ropeBase)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(name, forKey: .name)
        try c.encode(modelSHA256, forKey: .modelSHA256)
        try c.encode(textSHA256, forKey: .textSHA256)
        try c.encodeIfPresent(textOffset, forKey: .textOffset)
        try c.encode(originalContext, forKey: .originalContext)
        try c.encode(targetContext, forKey: .targetContext)
        try c.encodeIfPresent(pairs, forKey: .pairs)
        try c.encodeIfPresent(ropeBase, forKey: .ropeBase)
        try options.encode(to: encoder)
    }
}

/// The best candidate of a search.
public struct BestView: Codable, Sendable, Equatable {
    public var ppl: Double
    public var lambda: [Double]
    public var nHat: Int
    public var attentionFactor: Double
    public var candidate: Int
    /// d_rcd, in the critical-dimension space.
    public var criticalPair: Int?
    enum CodingKeys: String, CodingKey {
        case ppl, lambda, nHat = "n_hat", attentionFactor = "attention_factor", candidate, criticalPair = "critical_pair"
    }
    public init(ppl: Double, lambda: [Double], nHat: Int, attentionFactor: Double, candidate: Int, criticalPair: Int? = nil) {
        self.criticalPair = criticalPair
        self.ppl = ppl; self.lambda = lambda; self.nHat = nHat; self.attentionFactor = attentionFactor; self.candidate = candidate
    }
}

/// GET /v1/searches/{id}.
public struct SearchView: Codable, Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var status: String
    public var error: String?
    public var step: Int
    public var steps: Int
    public var candidates: Int
    public var candidatesPlanned: Int
    public var unitsDone: Int
    public var unitsInFlight: Int
    public var unitsQueued: Int
    public var unitsFailed: Int
    /// Of `unitsDone`, those answered from an identical rule unit (a seed equal to a rule): no
    /// worker time was spent on them.
    public var unitsReused: Int = 0
    public var best: BestView?
    public var baselines: [String: Double?]
    public var originalContext: Int
    public var targetContext: Int
    public var seed: UInt64
    public var modelSHA256: String
    public var textSHA256: String
    /// `ppl`, `key-tokens`, `needle` or `mixed`: what `best.ppl` and `baseline_fitness` measure.
    public var fitness: String = "ppl"
    /// Needles per window (needle and mixed fitness only).
    public var needles: Int?
    /// `all-pairs` or `critical-dimension`.
    public var space: String = "all-pairs"
    /// Attention's inputs in every unit: `f32` or `bf16`.
    public var attentionPrecision: String = "f32"
    /// Whether steps overlap (not reproducible; see `overlap_steps` of a new search).
    public var overlapSteps: Bool = false
    /// Steps scored at once (`pipeline_depth` of a new search; 1: one step at a time).
    public var pipelineDepth: Int = 1
    /// Populations evolving side by side (1: one).
    public var islands: Int = 1
    /// Iterations between the islands' migrations (0: none).
    public var migrationInterval: Int = 0
    /// How many of the last iterations refine the best candidate.
    public var refineIterations: Int = 0
    /// [min, max] when m is searched; nil when every candidate has `attention_factor`.
    public var attentionRange: [Double]?
    public var attentionFactor: Double = 1
    /// Every rule (each also a seed) under the search's fitness; for `ppl` the same as `baselines`.
    public var baselineFitness: [String: Double?] = [:]
    /// Set while the search cannot progress because no healthy worker holds its model and text.
    public var waiting: String?
    /// How far the rules are (their units can be hours of a long search before its first candidate).
    public var rules: RulesView?
    /// Worker seconds of the units stored so far (the work whose results the search used).
    public var workerSeconds: Double?
    /// About how long a queued or running search has left at the pace its units have come back
    /// (`TimeLeft`); nil while there is too little to go on, and for a search that is not running.
    public var secondsLeft: Double?
    /// Settings allowed but working against the search (`SearchConfig.warnings`); nil when none.
    public var warnings: [String]?

    enum CodingKeys: String, CodingKey {
        case id, name, status, error, step, steps, candidates, best, baselines, seed, fitness, needles, space, warnings
        case workerSeconds = "worker_seconds", secondsLeft = "seconds_left"
        case attentionRange = "attention_range", attentionFactor = "attention_factor", baselineFitness = "baseline_fitness"
        case waiting, rules, overlapSteps = "overlap_steps", refineIterations = "refine_iterations"
        case pipelineDepth = "pipeline_depth", islands, migrationInterval = "migration_interval"
        case attentionPrecision = "attention_precision"
        case candidatesPlanned = "candidates_planned", unitsDone = "units_done", unitsInFlight = "units_in_flight"
        case unitsQueued = "units_queued", unitsFailed = "units_failed", unitsReused = "units_reused"
        case originalContext = "original_context"
        case targetContext = "target_context", modelSHA256 = "model_sha256", textSHA256 = "text_sha256"
    }

    public init(id: Int64, name: String, status: String, error: String?, step: Int, steps: Int, candidates: Int,
                candidatesPlanned: Int, unitsDone: Int, unitsInFlight: Int, unitsQueued: Int, unitsFailed: Int,
                best: BestView?, baselines: [String: Double?], originalContext: Int, targetContext: Int, seed: UInt64,
                modelSHA256: String, textSHA256: String) {
        self.id = id; self.name = name; self.status = status; self.error = error; self.step = step; self.steps = steps
        self.candidates = candidates; self.candidatesPlanned = candidatesPlanned; self.unitsDone = unitsDone
        self.unitsInFlight = unitsInFlight; self.unitsQueued = unitsQueued; self.unitsFailed = unitsFailed
        self.best = best; self.baselines = baselines; self.originalContext = originalContext
        self.targetContext = targetContext; self.seed = seed; self.modelSHA256 = modelSHA256; self.textSHA256 = textSHA256
    }
}

extension SearchView {
    /// `units_done` as people read it: `24`, or `24 (8 reused)` when some were taken from a rule's
    /// identical unit (what `longrope status` and the dashboard show).
    public var unitsDoneDescription: String {
        "\(unitsDone)" + (unitsReused > 0 ? " (\(unitsReused) reused)" : "")
    }
}

/// How far a search's rules (PI, NTK, YaRN, …, each also a seed) are. Each is scored on every
/// window: its perplexity, then, when the search's fitness is not `ppl`, that fitness on the
/// fitness's own windows — all before the first candidate of such a search (a ppl search scores
/// them beside its first step).
public struct RulesView: Codable, Sendable, Equatable {
    /// Rules the search scores, each on `windows` windows (a unit each).
    public var planned: Int
    public var windows: Int
    /// Rules whose perplexity is stored (an infeasible one counts: it was scored).
    public var perplexityScored: Int
    /// With a fitness other than `ppl`: rules whose fitness is stored, of `fitnessPlanned`
    /// (those feasible by perplexity, known once every perplexity is).
    public var fitnessScored: Int?
    public var fitnessPlanned: Int?

    public init(planned: Int, windows: Int, perplexityScored: Int, fitnessScored: Int? = nil, fitnessPlanned: Int? = nil) {
        self.planned = planned; self.windows = windows; self.perplexityScored = perplexityScored
        self.fitnessScored = fitnessScored; self.fitnessPlanned = fitnessPlanned
    }

    /// Whether every rule is scored under everything the search needs.
    public var isDone: Bool {
        perplexityScored >= planned && (fitnessPlanned.map { (fitnessScored ?? 0) >= $0 } ?? true)
    }

    /// "perplexity 9 of 9, mixed fitness 2 of 9 (3 windows each)": for people following a search.
    public func describe(fitness: String) -> String {
        var parts = ["perplexity \(perplexityScored) of \(planned)"]
        if fitness != "ppl" {
            parts.append("\(fitness) fitness \(fitnessScored ?? 0) of \(fitnessPlanned.map(String.init) ?? "the feasible")")
        }
        return parts.joined(separator: ", ") + " (\(windows) window\(windows == 1 ? "" : "s") each)"
    }

    enum CodingKeys: String, CodingKey {
        case planned, windows, perplexityScored = "perplexity_scored", fitnessScored = "fitness_scored", fitnessPlanned = "fitness_planned"
    }
}

/// One candidate in GET /v1/searches/{id}/top.
public struct CandidateView: Codable, Sendable, Equatable {
    public var candidate: Int
    public var step: Int
    public var operation: String
    public var parents: [Int]
    public var status: String
    public var ppl: Double?
    public var lambda: [Double]
    public var nHat: Int
    public var attentionFactor: Double
    public var criticalPair: Int?
    /// For seeds: the rule they come from.
    public var seed: String?
    enum CodingKeys: String, CodingKey {
        case candidate, step, operation, parents, status, ppl, lambda, nHat = "n_hat", attentionFactor = "attention_factor"
        case criticalPair = "critical_pair", seed
    }
    public init(candidate: Int, step: Int, operation: String, parents: [Int], status: String, ppl: Double?, lambda: [Double],
                nHat: Int, attentionFactor: Double = 1, criticalPair: Int? = nil, seed: String? = nil) {
        self.candidate = candidate; self.step = step; self.operation = operation; self.parents = parents
        self.status = status; self.ppl = ppl; self.lambda = lambda; self.nHat = nHat
        self.attentionFactor = attentionFactor; self.criticalPair = criticalPair; self.seed = seed
    }
}

/// One point of GET /v1/searches/{id}/history: the best after each step.
public struct HistoryPoint: Codable, Sendable, Equatable {
    public var step: Int
    public var candidates: Int
    public var bestPPL: Double?
    enum CodingKeys: String, CodingKey { case step, candidates, bestPPL = "best_ppl" }
    public init(step: Int, candidates: Int, bestPPL: Double?) { self.step = step; self.candidates = candidates; self.bestPPL = bestPPL }
}

/// GET /v1/workers.
/// A worker the coordinator removed, and why (GET /v1/workers/removed, `longrope status`): a
/// worker that lied, kept failing, went silent or was deleted is named, not just gone.
public struct RemovedWorkerView: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var address: String
    public var reason: String
    /// When, as ISO 8601 (UTC).
    public var removedAt: String
    enum CodingKeys: String, CodingKey {
        case id, name, address, reason
        case removedAt = "removed_at"
    }
    public init(id: String, name: String, address: String, reason: String, removedAt: String) {
        self.id = id; self.name = name; self.address = address; self.reason = reason; self.removedAt = removedAt
    }
}

public struct WorkerView: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var address: String
    public var modelSHA256: String
    public var textSHA256: String
    public var threads: Int
    public var healthy: Bool
    public var busy: Bool
    public var secondsSinceHeartbeat: Double
    public var unitsDone: Int
    public var unitsFailed: Int
    public var unitsPerMinute: Double
    /// The CPU level of the worker's kernels, as it registered (nil from earlier versions).
    public var kernels: String?
    enum CodingKeys: String, CodingKey {
        case id, name, address, threads, healthy, busy, kernels
        case modelSHA256 = "model_sha256", textSHA256 = "text_sha256", secondsSinceHeartbeat = "seconds_since_heartbeat"
        case unitsDone = "units_done", unitsFailed = "units_failed", unitsPerMinute = "units_per_minute"
    }
    public init(id: String, name: String, address: String, modelSHA256: String, textSHA256: String, threads: Int,
                healthy: Bool, busy: Bool, secondsSinceHeartbeat: Double, unitsDone: Int, unitsFailed: Int, unitsPerMinute: Double,
                kernels: String? = nil) {
        self.id = id; self.name = name; self.address = address; self.modelSHA256 = modelSHA256; self.textSHA256 = textSHA256
        self.threads = threads; self.healthy = healthy; self.busy = busy; self.secondsSinceHeartbeat = secondsSinceHeartbeat
        self.unitsDone = unitsDone; self.unitsFailed = unitsFailed; self.unitsPerMinute = unitsPerMinute
        self.kernels = kernels
    }
}
