import Foundation
import HTTPService
import Logging
import RoPE
import Runner
import Search
import Store
import Wire

/// Runs every active search's loop against the dispatcher, and answers what the API asks
/// about them. On start it resumes the searches a previous run left queued or running.
public actor SearchManager {
    public let store: SearchStore
    public let dispatcher: Dispatcher
    private var tasks: [Int64: Task<Void, Never>] = [:]
    private let logger: Logger

    public init(store: SearchStore, dispatcher: Dispatcher, logger: Logger = Logger(label: "longrope.searches")) {
        self.store = store
        self.dispatcher = dispatcher
        self.logger = logger
    }

    /// Resumes searches left queued or running.
    public func resumeAll() throws {
        for search in try store.searches() where search.status == .queued || search.status == .running {
            start(search.id)
        }
    }

    /// Stores a new search and starts it.
    public func create(_ request: CreateSearchRequest) async throws -> Int64 {
        // The body first (400 naming the field), then the workers (409).
        let options = request.options
        let early = request.problemsBeforeGeometry()
        guard early.isEmpty else { throw APIError.badRequest("invalid search", early.joined(separator: "; ")) }
        var pairs = request.pairs, base = request.ropeBase
        if pairs == nil || base == nil {
            switch await dispatcher.geometryClaims(modelSHA256: request.modelSHA256) {
            case let .known(knownPairs, knownBase):
                pairs = pairs ?? knownPairs
                base = base ?? knownBase
            case .none:
                throw APIError.conflict("no worker holds model \(request.modelSHA256.prefix(16))… (none healthy): attach one, or give pairs and rope_base")
            case let .disagree(claims):
                throw APIError.conflict("the workers holding model \(request.modelSHA256.prefix(16))… disagree on its geometry ("
                                        + claims.map { "\($0.workers.joined(separator: ", ")): pairs \($0.pairs), rope_base \($0.ropeBase)" }.joined(separator: "; ")
                                        + "): give pairs and rope_base, or remove the wrong workers")
            }
        }
        guard let pairs, let base else { throw APIError.conflict("no geometry for model \(request.modelSHA256.prefix(16))…") }
        let config = options.config(geometry: RoPEGeometry(rotaryDimension: 2 * pairs, base: base),
                                    originalContext: request.originalContext, targetContext: request.targetContext)
        var problems = config.problems()
        for (i, seed) in config.extraSeeds.enumerated() {
            do { try RoPEScaling(method: "seed", lambda: seed).validate(pairs: pairs, lambdaMax: config.lambdaMax) }
            catch { problems.append("seeds[\(i)]: \(error.description)") }
        }
        if let precision = config.attentionPrecision {
            let unable = await dispatcher.workersWithout(attentionPrecision: precision, modelSHA256: request.modelSHA256)
            if !unable.isEmpty {
                problems.append("attention_precision \(precision): the workers holding model \(request.modelSHA256.prefix(16))… cannot run it "
                                + "(\(unable.joined(separator: ", ")); BF16 attention needs a head dimension that is a multiple of 32): use f32")
            }
        }
        if let offset = request.textOffset, let bytes = await dispatcher.textBytes(textSHA256: request.textSHA256), offset >= bytes {
            problems.append("text_offset \(offset) is past the end of the text (\(bytes) bytes)")
        }
        guard problems.isEmpty else { throw APIError.badRequest("invalid search", problems.joined(separator: "; ")) }
        let id = try store.createSearch(name: request.name ?? "search", config: config, modelPath: "",
                                        modelSHA256: request.modelSHA256, textPath: "", textOffset: request.textOffset ?? 0,
                                        textSHA256: request.textSHA256, ropeBase: base)
        for warning in config.warnings { logger.warning("search \(id): \(warning)") }
        start(id)
        return id
    }

    func start(_ id: Int64) {
        guard tasks[id] == nil else { return }
        let record: SearchRecord
        do {
            guard let found = try store.search(id) else { logger.error("search \(id) cannot start: not in the database"); return }
            record = found
        } catch {
            logger.error("search \(id) cannot start: reading it failed: \(error)")
            return
        }
        let runner = SearchRunner(store: store, searchID: id,
                                  geometry: RoPEGeometry(rotaryDimension: 2 * record.config.pairs, base: record.ropeBase))
        let dispatcher = self.dispatcher
        let logger = self.logger
        tasks[id] = Task {
            do {
                let summary = try await runner.run(evaluator: dispatcher)
                logger.info("search \(id) done: best ppl \(summary.perplexity ?? .nan)")
            } catch is CancellationError {
                logger.info("search \(id) stopped")
            } catch {
                logger.error("search \(id) failed: \(error)")
            }
            self.finished(id)
        }
    }

    private func finished(_ id: Int64) { tasks[id] = nil }

    public func pause(_ id: Int64) async throws {
        guard let record = try store.search(id) else { throw APIError.notFound("search \(id)") }
        guard record.status == .queued || record.status == .running else {
            throw APIError.conflict("search \(id) is \(record.status.rawValue), not running")
        }
        await stop(id)
        try store.setStatus(id, .paused)
        viewCache[id] = nil
    }

    public func resume(_ id: Int64) throws {
        guard let record = try store.search(id) else { throw APIError.notFound("search \(id)") }
        guard record.status == .paused || record.status == .failed else {
            throw APIError.conflict("search \(id) is \(record.status.rawValue); only paused or failed searches resume")
        }
        try store.setStatus(id, .queued)
        viewCache[id] = nil
        start(id)
    }

    public func cancel(_ id: Int64) async throws {
        guard let record = try store.search(id) else { throw APIError.notFound("search \(id)") }
        guard record.status != .done && record.status != .cancelled else {
            throw APIError.conflict("search \(id) is already \(record.status.rawValue)")
        }
        await stop(id)
        try store.setStatus(id, .cancelled)
        viewCache[id] = nil
    }

    private func stop(_ id: Int64) async {
        guard let task = tasks.removeValue(forKey: id) else { return }
        task.cancel()
        _ = await task.value
    }

    /// Stops every loop (graceful shutdown); their searches stay `running` and resume on restart.
    public func stopAll() async {
        for id in Array(tasks.keys) {
            if let task = tasks.removeValue(forKey: id) { task.cancel(); _ = await task.value }
            // Left `running` so the next start resumes it; if that cannot be written, say so
            // (the search then shows the status its loop last wrote, and is resumed only by hand).
            do { try store.setStatus(id, .running) }
            catch { logger.error("search \(id): could not mark it to resume on restart: \(error)") }
        }
    }

    // MARK: Views

    private var viewCache: [Int64: (at: Date, view: SearchView)] = [:]

    /// A search's state, at most 0.2 s old: many readers polling at once cost the search
    /// nothing more than one reader does.
    public func view(_ id: Int64) async throws -> SearchView {
        if let cached = viewCache[id], Date().timeIntervalSince(cached.at) < 0.2 { return cached.view }
        let view = try await freshView(id)
        viewCache[id] = (Date(), view)
        return view
    }

    /// A search's state from a few small queries.
    func freshView(_ id: Int64) async throws -> SearchView {
        guard let record = try store.search(id) else { throw APIError.notFound("search \(id)") }
        let progress = try store.progress(id)
        let best = try store.bestCandidate(id)
        let counts = await dispatcher.unitCounts(searchID: id)
        let config = record.config
        let baselines = try store.baselines(id)
        var view = SearchView(
            id: id, name: record.name, status: record.status.rawValue, error: try store.errorMessage(id),
            step: progress.lastStep, steps: config.stepCount, candidates: progress.evaluated,
            candidatesPlanned: config.plannedCandidates,
            unitsDone: try store.evaluationCount(id), unitsInFlight: counts.inFlight, unitsQueued: counts.queued,
            unitsFailed: try store.failedUnitCount(id),
            best: best.flatMap { b in b.outcome?.perplexity.map {
                BestView(ppl: $0, lambda: b.candidate.lambda, nHat: b.candidate.nHat,
                         attentionFactor: b.attentionFactor, candidate: b.ordinal, criticalPair: b.candidate.criticalPair) } },
            baselines: Dictionary(uniqueKeysWithValues: baselines.map { ($0.method, $0.perplexity) }),
            originalContext: config.originalContext, targetContext: config.targetContext, seed: config.seed,
            modelSHA256: record.modelSHA256, textSHA256: record.textSHA256)
        view.unitsReused = try store.evaluationCount(id, worker: UnitResult.reusedWorker)
        if record.status == .queued || record.status == .running,
           !(await dispatcher.hasWorker(modelSHA256: record.modelSHA256, textSHA256: record.textSHA256)) {
            view.waiting = "no healthy worker holds model \(record.modelSHA256) and text \(record.textSHA256): the search waits for one"
        }
        view.fitness = config.fitnessKind.rawValue
        view.needles = config.usesNeedles ? config.needles ?? 1 : nil
        view.space = config.searchSpace.rawValue
        view.attentionPrecision = config.attentionPrecision ?? "f32"
        let warnings = config.warnings
        view.warnings = warnings.isEmpty ? nil : warnings
        view.overlapSteps = config.overlapSteps ?? false
        view.pipelineDepth = config.lag
        view.islands = config.islandCount
        view.migrationInterval = config.migrationInterval ?? 0
        view.refineIterations = config.refineIterations ?? 0
        view.attentionRange = config.attentionSearch.map { [$0.min, $0.max] }
        view.attentionFactor = config.attentionFactor
        view.baselineFitness = Dictionary(uniqueKeysWithValues: baselines.map {
            ($0.method, config.fitnessKind == .ppl ? $0.perplexity : $0.fitness)
        })
        let geometry = RoPEGeometry(rotaryDimension: 2 * config.pairs, base: record.ropeBase)
        let ruleCount = Baselines.scalings(geometry: geometry, config: config).count
        let allPerplexities = baselines.count >= ruleCount
        view.rules = RulesView(
            planned: ruleCount, windows: config.windowCount, perplexityScored: baselines.count,
            fitnessScored: config.fitnessKind == .ppl ? nil : baselines.count { $0.fitnessNLL != nil },
            fitnessPlanned: config.fitnessKind == .ppl || !allPerplexities ? nil : baselines.count { $0.perplexity != nil })
        view.workerSeconds = try store.evaluationSeconds(id)
        if record.status == .queued || record.status == .running {
            view.secondsLeft = try SearchRunner(store: store, searchID: id, geometry: geometry)
                .secondsLeft(record: record, baselines: baselines)
        }
        return view
    }

    public func views() async throws -> [SearchView] {
        var out: [SearchView] = []
        for record in try store.searches() { out.append(try await view(record.id)) }
        return out
    }

    public func top(_ id: Int64, count: Int) throws -> [CandidateView] {
        guard try store.search(id) != nil else { throw APIError.notFound("search \(id)") }
        let candidates = try store.candidates(id)
        let history = candidates.compactMap { c in c.outcome.map { Evaluated(ordinal: c.ordinal, candidate: c.candidate, outcome: $0) } }
        return SearchEngine.ranked(history).prefix(count).map { e in
            let record = candidates.first { $0.ordinal == e.ordinal }!
            return CandidateView(candidate: e.ordinal, step: record.step, operation: e.candidate.operation.rawValue,
                                 parents: e.candidate.parents, status: Self.status(e.outcome),
                                 ppl: e.outcome.perplexity ?? e.outcome.partialPerplexity,
                                 lambda: e.candidate.lambda, nHat: e.candidate.nHat,
                                 attentionFactor: e.candidate.attentionFactor, criticalPair: e.candidate.criticalPair,
                                 seed: e.candidate.seedName)
        }
    }

    static func status(_ outcome: Outcome) -> String {
        switch outcome {
        case .scored: return "scored"
        case .rejected: return "rejected"
        case .infeasible: return "infeasible"
        }
    }

    public func history(_ id: Int64) throws -> [HistoryPoint] {
        guard try store.search(id) != nil else { throw APIError.notFound("search \(id)") }
        let candidates = try store.candidates(id)
        var points: [HistoryPoint] = []
        var best: Double?
        var count = 0
        for step in Set(candidates.map(\.step)).sorted() {
            for c in candidates where c.step == step {
                guard let outcome = c.outcome else { continue }
                count += 1
                if let p = outcome.perplexity { best = min(best ?? p, p) }
            }
            points.append(HistoryPoint(step: step, candidates: count, bestPPL: best))
        }
        return points
    }

    public func summary(_ id: Int64) throws -> SearchSummary {
        guard try store.search(id) != nil else { throw APIError.notFound("search \(id)") }
        return try store.summary(id)
    }
}
