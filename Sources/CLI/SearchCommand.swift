import ArgumentParser
import Digest
import Coordinator
import Evaluator
import Foundation
import RoPE
import Runner
import Scoring
import Search
import Store
import Wire

extension SearchSpace: ExpressibleByArgument {}
extension Fitness: ExpressibleByArgument {}

/// `longrope search`: a LongRoPE search on this machine, stored in SQLite, resumable.
struct SearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Search per-pair RoPE factors that beat PI, NTK and YaRN at a target context.",
        discussion: """
            Baselines are scored first, then the evolutionary search runs with in-process evaluation. \
            Every result is stored in --db as it is made: run the same command again to resume \
            (also after a crash or kill); it ends with the same result as an uninterrupted run. \
            A config file (--config, see configs/) can replace the flags; flags given override it.
            """)

    @Option(help: "Config file (TOML, see configs/): the search options under the API's names, and model, text, db, out, name, text_offset, original_context, target_context, seed_from, threads.") var config: String?
    @Option(help: "GGUF model.") var model: String?
    @Option(help: "UTF-8 text whose windows are the fitness.") var text: String?
    @Option(help: "Bytes of the text to skip (for text the model never saw).") var textOffset: Int?
    @Option(help: "The context the model was trained at.") var originalContext: Int?
    @Option(help: "The context to extend to.") var targetContext: Int?
    @Option(help: "SQLite database (created if missing).") var db: String?
    @Option(help: "Random seed (default 0).") var seed: UInt64?
    @Option(name: .customLong("windows"), help: "Windows of the target length per candidate (default 5).") var windowCount: Int?
    @Option(name: .customLong("samples"), help: .hidden) var samplesAlias: Int?   // the name before 2026-11-28
    @Option(help: "Initial population P (default 64); parents P/2, mutants and crossovers P/4.") var population: Int?
    @Option(help: "Iterations T (default 40).") var iterations: Int?
    @Option(help: "How many of the last iterations refine the best candidate (score its neighbours: one λ, m or d_rcd moved a little) instead of breeding (default 0.6·T, rounded).")
    var refineIterations: Int?
    @Option(help: "Stop after this many candidates.") var budget: Int?
    @Option(help: "Upper bound of λ (default 1 + s).") var lambdaMax: Double?
    @Option(help: "A fixed attention factor m for every candidate (turns the m search off).") var attentionFactor: Double?
    @Flag(inversion: .prefixedNo, help: "Search m on a 0.01 grid as a gene (default on; off: m = sqrt(1 + ln s / ln L)).")
    var searchAttentionFactor: Bool?
    @Option(help: "Range of a searched m as MIN,MAX (default 1 to 0.1·ln s + 1.1).") var attentionRange: String?
    @Option(help: "Search space: all-pairs (LongRoPE) or critical-dimension (LongRoPE2: d_rcd searched, λ ≥ s above it, a ramp below).")
    var space: SearchSpace?
    @Option(help: "Fitness: ppl (every token), key-tokens (tokens the long context helps, LongPPL), needle (LongRoPE2's planted numbers' answers) or mixed (the needle windows' ppl times their answers' ppl).")
    var fitness: Fitness?
    @Option(help: "needle and mixed fitness: needles hidden at spread depths of each window, each asked at its end (default 1).")
    var needles: Int?
    @Option(help: "key-tokens: NLL drop in nats with the long context that makes a key token (default 2).")
    var keyTokenThreshold: Double?
    @Option(help: "Allowed n̂ values, comma-separated (default 0: off).") var nHat: String?
    @Option(help: "Seed the population with another search's best, rescaled to this target.") var seedFrom: Int64?
    @Option(help: "Seed the population with a factors file found at a shorter target (factors.json of results/ or `longrope export --format json`), rescaled to this target.")
    var seedFactors: String?
    @Flag(inversion: .prefixedNo, help: "Stop scoring candidates whose partial perplexity is out of the top k.")
    var earlyRejection: Bool?
    @Flag(help: "Breed the next step while workers would idle: keeps many workers busy, but the result depends on timing (not reproducible).")
    var overlapSteps = false
    @Option(help: "Steps scored at once, reproducibly: step t is bred from the results of steps 0…t−L only (default 1: one step at a time).")
    var pipelineDepth: Int?
    @Option(help: "Populations evolving side by side from the shared initial population, each with its own random stream (default 1).")
    var islands: Int?
    @Option(help: "With islands: every this many iterations each island takes the best of the one before it (default 0: never).")
    var migrationInterval: Int?
    @Option(help: "Attention's inputs in every unit: f32 (default) or bf16 (BF16 inputs, FP32 sums: ~2× faster long windows with AVX512_BF16, the same bits on nodes without it). Suits the ppl fitness; with needle or mixed it reorders candidates within ~1% (a warning says so).")
    var attentionPrecision: AttentionPrecision?
    @Option(help: "Threads, 1 to four per core (default: all cores).") var threads: Int?
    @Option(help: "Write the result JSON here.") var out: String?

    /// The search options: the config file's (decoded as the API decodes them), then each flag
    /// given laid over them. Every `SearchOptions` field has a flag of the same name here
    /// (`SearchOptionsReachTests` checks that each one sets its field).
    func searchOptions(over file: SearchOptions?) throws -> SearchOptions {
        var options = file ?? SearchOptions()
        if let seed { options.seed = seed }
        if let lambdaMax { options.lambdaMax = lambdaMax }
        if let attentionFactor { options.attentionFactor = attentionFactor }
        if let searchAttentionFactor { options.searchAttentionFactor = searchAttentionFactor }
        if let population { options.population = population }
        if let iterations { options.iterations = iterations }
        if let refineIterations { options.refineIterations = refineIterations }
        if let windows = windowCount ?? samplesAlias { options.windowCount = windows }
        if let budget { options.budget = budget }
        if let earlyRejection { options.earlyRejection = earlyRejection }
        if overlapSteps { options.overlapSteps = true }
        if let pipelineDepth { options.pipelineDepth = pipelineDepth }
        if let islands { options.islands = islands }
        if let migrationInterval { options.migrationInterval = migrationInterval }
        if let keyTokenThreshold { options.keyTokenThreshold = keyTokenThreshold }
        if let needles { options.needles = needles }
        if let attentionPrecision { options.attentionPrecision = attentionPrecision.rawValue }
        if let space { options.space = space }
        if let fitness { options.fitness = fitness }
        if let text = attentionRange {
            let values = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard values.count == 2, let low = values[0], let high = values[1] else {
                throw CLIError("--attention-range takes MIN,MAX, e.g. 1.0,1.3")
            }
            options.attentionRange = [low, high]
        }
        if let list = nHat {
            let values = list.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard values.allSatisfy({ $0 != nil }) else { throw CLIError("--n-hat takes whole numbers separated by commas") }
            options.nHat = values.map { $0! }
        }
        return options
    }

    func run() async throws {
        let file: ConfigFile?
        do { file = try config.map { try ConfigFile(path: $0) } } catch { throw CLIError("\(error)") }
        func required<T>(_ flag: T?, _ key: String, _ value: T?) throws -> T {
            if let flag { return flag }
            if let value { return value }
            throw CLIError("missing --\(key.replacingOccurrences(of: "_", with: "-")) (or \(key) in a config file)")
        }
        func path(_ flag: String?, _ key: String, _ value: String?) throws -> String {
            if let flag { return flag }
            if let file, let value { return file.resolve(value) }
            throw CLIError("missing --\(key) (or \(key) in a config file)")
        }
        let modelPath = try path(model, "model", file?.model), textPath = try path(text, "text", file?.text)
        let dbPath = try path(db, "db", file?.db)
        let outPath = out ?? file?.out.map { file!.resolve($0) }
        if let outPath { try checkWritablePath(outPath) }   // now, not after the search
        try checkWritablePath(dbPath, option: "--db")
        // This process owns the database until it ends (a second search or a coordinator is refused).
        let lock: OwnerLock
        do { lock = try OwnerLock(databasePath: dbPath) } catch { throw CLIError("\(error)") }
        defer { withExtendedLifetime(lock) {} }
        let original = try required(originalContext, "original_context", file?.originalContext)
        let target = try required(targetContext, "target_context", file?.targetContext)
        let offset = textOffset ?? file?.textOffset ?? 0
        let threadCount = threads ?? file?.threads ?? ProcessInfo.processInfo.activeProcessorCount
        guard original >= 2, target >= 2 else { throw CLIError("contexts must be at least 2 tokens") }
        if let problem = ThreadLimit.problem(threadCount, threads == nil && file?.threads != nil ? "threads" : "--threads") {
            throw CLIError(problem)
        }
        guard offset >= 0 else { throw CLIError("--text-offset must be ≥ 0") }

        let model = try loadModel(modelPath, threads: threadCount)
        let options = try searchOptions(over: file?.options)
        let optionProblems = options.problems()
        let invalid = "invalid search" + (config.map { " (\($0))" } ?? "") + ": "   // the config file, when there is one
        guard optionProblems.isEmpty else { throw CLIError(invalid + optionProblems.joined(separator: "; ")) }
        var searchConfig = options.config(geometry: model.geometry, originalContext: original, targetContext: target)
        let problems = searchConfig.problems()
        guard problems.isEmpty else { throw CLIError(invalid + problems.joined(separator: "; ")) }
        if let precision = searchConfig.attentionPrecision.flatMap(AttentionPrecision.init(rawValue:)),
           let problem = precision.problem(headDim: model.config.headDim, model: URL(fileURLWithPath: modelPath).lastPathComponent) {
            throw CLIError(invalid + "attention_precision \(precision.rawValue): " + problem)
        }
        for warning in searchConfig.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }

        let store: SearchStore
        do { store = try SearchStore(path: dbPath) } catch { throw CLIError("cannot open database \(dbPath): \(error)") }
        if let from = seedFrom ?? file?.seedFrom {
            searchConfig.extraSeeds = [try rescaledBest(store: store, searchID: from, to: searchConfig)]
        }
        if let factors = seedFactors ?? file.flatMap({ file in file.seedFactors.map(file.resolve) }) {
            searchConfig.extraSeeds.append(try SeedFactors.load(factors, toScale: searchConfig.scale, lambdaMax: searchConfig.lambdaMax))
        }
        if let own = model.config.ownFactors, own.longFactors.count == searchConfig.pairs {
            // A Phi-3 file's long factors (its makers' own LongRoPE search) seed the population.
            let seed = own.longFactors.map { min(max($0, 1), searchConfig.lambdaMax) }
            if zip(seed, seed.dropFirst()).allSatisfy({ $0 <= $1 }) { searchConfig.extraSeeds.append(seed) }
        }

        // The text: checked for length before anything is stored.
        guard let textData = FileManager.default.contents(atPath: textPath) else { throw CLIError("cannot read text file \(textPath)") }
        warnIfNotUTF8(textData, path: textPath)
        guard offset < textData.count else { throw CLIError("--text-offset \(offset) is past the end of \(textPath) (\(textData.count) bytes)") }
        // Cut the windows now (cached for the units): a text too short fails here, before anything is stored.
        let evaluator = LocalEvaluator(model: model, text: textData)
        do {
            _ = try evaluator.scorer.windows(needleSeed: searchConfig.usesNeedles ? searchConfig.seed : nil,
                                             needles: searchConfig.needles ?? 1,
                                             context: target, windowCount: searchConfig.windowCount, textOffset: offset)
        } catch { throw CLIError("\(textPath): \(error)") }

        let modelHash = try SHA256.hex(fileAt: modelPath)
        let textHash = SHA256.hex(textData)
        let name = file?.name ?? "\(URL(fileURLWithPath: modelPath).lastPathComponent) \(original)→\(target)"
        let searchID = try findOrCreate(store: store, name: name, config: searchConfig, modelPath: modelPath,
                                        modelHash: modelHash, textPath: textPath, offset: offset, textHash: textHash,
                                        ropeBase: model.config.ropeBase)
        let runner = SearchRunner(store: store, searchID: searchID, geometry: model.geometry)
        let bar = SearchProgressBar(total: searchConfig.plannedCandidates) { try? runner.secondsLeft() }
        FileHandle.standardError.write(Data("search \(searchID): \(name), s = \(searchConfig.scale), \(searchConfig.windowCount) windows of \(target) tokens, seed \(searchConfig.seed), db \(dbPath)\n".utf8))
        let started = Date()
        // The same engine as the coordinator daemon: a dispatcher, here with one in-process worker.
        let dispatcher = Dispatcher(settings: .embedded)
        await dispatcher.register(WorkerRegistration(name: "in-process", address: "in-process://local", modelSHA256: modelHash,
                                                     textSHA256: textHash, architecture: model.config.architecture.rawValue,
                                                     threads: threadCount, pairs: model.pairs, ropeBase: model.config.ropeBase,
                                                     contextLength: model.config.contextLength),
                                  connection: evaluator, heartbeats: false)
        let summary = try await runner.run(evaluator: dispatcher) { bar.update($0) }
        await dispatcher.shutdown()
        bar.finish()
        let seconds = Date().timeIntervalSince(started)
        try report(summary, seconds: seconds, out: outPath)
    }

    /// The stored search with this exact config, model and text, or a new one.
    func findOrCreate(store: SearchStore, name: String, config: SearchConfig, modelPath: String, modelHash: String,
                      textPath: String, offset: Int, textHash: String, ropeBase: Double) throws -> Int64 {
        if let existing = try store.searches().last(where: {
            $0.config == config && $0.modelSHA256 == modelHash && $0.textSHA256 == textHash && $0.textOffset == offset
        }) {
            FileHandle.standardError.write(Data("resuming search \(existing.id) (\(existing.status.rawValue))\n".utf8))
            return existing.id
        }
        return try store.createSearch(name: name, config: config, modelPath: modelPath, modelSHA256: modelHash,
                                      textPath: textPath, textOffset: offset, textSHA256: textHash,
                                      ropeBase: ropeBase)
    }

    /// Another search's best λ, rescaled from its scale to this one (progressive extension).
    func rescaledBest(store: SearchStore, searchID: Int64, to config: SearchConfig) throws -> [Double] {
        guard let other = try store.search(searchID) else { throw CLIError("--seed-from \(searchID): no such search in the database") }
        let summary = try store.summary(searchID)
        guard !summary.lambda.isEmpty else { throw CLIError("--seed-from \(searchID): that search has no scored candidate yet") }
        guard summary.lambda.count == config.pairs else { throw CLIError("--seed-from \(searchID): it has \(summary.lambda.count) factors, this model \(config.pairs)") }
        guard other.config.scale > 1 else { throw CLIError("--seed-from \(searchID): its scale is 1, nothing to rescale") }
        return SeedFactors.rescale(summary.lambda, fromScale: other.config.scale, toScale: config.scale, lambdaMax: config.lambdaMax)
    }

    func report(_ summary: SearchSummary, seconds: Double, out: String?) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        var object = try JSONSerialization.jsonObject(with: encoder.encode(summary)) as! [String: Any]
        object["seconds"] = (seconds * 10).rounded() / 10
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
        if let out {
            try checkWritablePath(out)
            do { try data.write(to: URL(fileURLWithPath: out), options: .atomic) }
            catch { throw CLIError("cannot write \(out): \(error.localizedDescription)") }
        }
        // The best and the rules under the search's fitness: a needle or mixed fitness is not a
        // perplexity, and the two side by side would compare nothing.
        let measure = summary.fitness == Fitness.ppl.rawValue ? "ppl" : "\(summary.fitness) fitness"
        let baselineText = summary.baselineFitness.sorted { $0.key < $1.key }
            .map { "\($0.key) \($0.value.map { String(format: "%.4f", $0) } ?? "infeasible")" }.joined(separator: ", ")
        print(String(format: "best %@ %.4f after %d candidates (%d units, %.0f s); baselines' %@: %@", measure,
                     summary.perplexity ?? .nan, summary.evaluations, summary.units, seconds, measure, baselineText))
        if let out { print("result written to \(out)") } else { print(String(decoding: data, as: UTF8.self)) }
    }
}

/// The search's progress on stderr: a bar with step, candidates/s, time left and the best
/// against the best baseline. Time left is the coordinator's estimate (`SearchRunner.secondsLeft`,
/// what `longrope status` shows for the same database), read from the store when the line is drawn.
final class SearchProgressBar: @unchecked Sendable {
    let total: Int
    let line = ProgressLine()
    private let timeLeft: @Sendable () -> Double?
    private var firstDone: Int?
    private let lock = NSLock()

    init(total: Int, timeLeft: @escaping @Sendable () -> Double?) {
        self.total = max(1, total)
        self.timeLeft = timeLeft
    }

    func update(_ p: SearchProgress) {
        lock.lock(); defer { lock.unlock() }
        if p.rules == nil, firstDone == nil { firstDone = p.candidatesDone - 1 }
        line.show(message(p))   // built (and the store read) only when the line is drawn
    }

    private func message(_ p: SearchProgress) -> String {
        let left = timeLeft().map(TimeLeft.describe) ?? "?"
        if let rules = p.rules {
            return String(format: "%@ %d/%d units of the rules' %@  %@ left",
                          progressBar(Double(rules.unitsDone) / Double(max(1, rules.units)), width: 24),
                          rules.unitsDone, rules.units, rules.pass == .ppl ? "perplexity" : rules.pass.rawValue + " fitness", left)
        }
        let elapsed = line.elapsed
        let doneHere = max(0, p.candidatesDone - (firstDone ?? 0))
        let rate = elapsed > 0 ? Double(doneHere) / elapsed : 0
        let best = p.best.map { String(format: "%.4f", $0) } ?? "—"
        let baseline = p.bestBaseline.map { String(format: "%@ %.4f", p.bestBaselineMethod ?? "", $0) } ?? "—"
        return String(format: "%@ %d/%d  step %d/%d  %.2f cand/s  %@ left  best %@ vs %@",
                      progressBar(Double(p.candidatesDone) / Double(total), width: 24), p.candidatesDone, total,
                      p.step + 1, p.stepCount, rate, left, best, baseline)
    }

    func finish() { line.finish() }
}
