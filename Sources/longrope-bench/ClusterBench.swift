import ArgumentParser
import Foundation
import Seeded
import RoPE
import Runner
import Search
import Simulation
import Store
import Wire

/// `longrope-bench cluster`: the real runner, dispatcher and store driving N simulated workers
/// (each sleeps a drawn time per unit and answers with a synthetic fitness), to see how busy
/// a search keeps many workers. Unit times are scaled per N so every run takes about the same
/// wall time; figures that matter are ratios (utilisation) and per-unit costs.
struct ClusterBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cluster",
        abstract: "Worker utilisation of a search with N simulated workers (real dispatcher, runner and store).")

    @Option(help: "Worker counts, comma-separated.") var workers: String = "1,4,16,64,256"
    @Option(help: "Population P.") var population: Int = 64
    @Option(help: "Iterations T.") var iterations: Int = 40
    @Option(name: .customLong("windows"), help: "Windows per candidate K.") var windowCount: Int = 5
    @Option(help: "Rotary pairs of the simulated model.") var pairs: Int = 32
    @Option(help: "Search seed.") var seed: UInt64 = 1
    @Option(help: "Aim for about this many seconds of ideal makespan per run (sets the unit time).")
    var runSeconds: Double = 20
    @Option(help: "Mean unit time in seconds (overrides --run-seconds).") var unitSeconds: Double?
    @Option(help: "σ of ln(unit time).") var spread: Double = 0.5
    @Option(help: "Slowest node's speed relative to the fastest (nodes drawn uniformly in [1, this]).")
    var heterogeneity: Double = 3
    @Option(help: "Each worker crashes every this many units (restarts after 2 mean unit times).") var dieEvery: Int?
    @Flag(help: "One worker 10× slower than the rest.") var straggler = false
    @Option(help: "How steps are scheduled: sync (one step at a time), pipeline (--pipeline-depth steps in flight), islands (--islands populations; both reproducible) or overlap (breed while workers would idle; not reproducible).")
    var mode: Mode = .sync
    @Flag(help: "The same as --mode overlap.") var overlap = false
    @Option(help: "L for --mode pipeline (and islands, when given): steps in flight.") var pipelineDepth: Int?
    @Option(help: "I for --mode islands.") var islands: Int = 4
    @Option(help: "M for --mode islands: iterations between migrations (0: none).") var migrationInterval: Int = 5
    @Option(help: "Real heartbeat period of each worker, in seconds.") var heartbeatSeconds: Double = 2
    @Option(help: "Each worker's answers checked on another until this many were confirmed (the coordinator's default).")
    var verifyFirst = 2
    @Option(help: "Seeded share of all units checked on a second worker (the coordinator's default).") var verifyShare = 0.02
    @Flag(help: "Also check every answer below its window's lowest loss (the coordinator's --verify-new-lows).") var verifyNewLows = false
    @Flag(help: "Also confirm every unit of a would-be new best on a second worker (the coordinator's --verify-new-bests).")
    var verifyNewBests = false
    @Option(help: "After each run, run the simulated workers and their heartbeats alone for this many seconds (no coordinator) and subtract their CPU per unit: the coordinator's own CPU per unit (0: not measured).")
    var simulationSeconds: Double = 0
    @Flag(help: "One JSON object per line instead of a table.") var json = false

    enum Mode: String, ExpressibleByArgument, CaseIterable { case sync, pipeline, islands, overlap }

    /// The mode after the --overlap alias.
    var chosenMode: Mode { overlap ? .overlap : mode }

    /// The mode and its setting, in words.
    var modeDescription: String {
        switch chosenMode {
        case .sync: return "one step at a time"
        case .overlap: return "overlapped steps"
        case .pipeline: return "pipelined, L = \(pipelineDepth ?? 4)"
        case .islands: return "\(islands) islands, migration every \(migrationInterval)" + (pipelineDepth.map { ", L = \($0)" } ?? "")
        }
    }

    func run() async throws {
        let counts = workers.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ $0 > 0 }) else { throw ValidationError("--workers needs positive counts") }
        let problems = config().problems()
        guard problems.isEmpty else { throw ValidationError(problems.joined(separator: "; ")) }
        if !json {
            emit("P=\(population) T=\(iterations) K=\(windowCount), \(pairs) pairs, log-normal σ=\(spread), nodes 1×–\(heterogeneity)×"
                  + (dieEvery.map { ", a crash every \($0) units" } ?? "") + (straggler ? ", one 10× straggler" : "")
                  + ", " + modeDescription)
            emit("workers  unit_s  makespan_s  ideal_s  utilisation  useful  units  wasted  checked  cpu_ms/unit  heartbeats/s  best_fitness  best_λ")
        }
        for n in counts { try await runOnce(workers: n) }
    }

    func config() -> SearchConfig {
        var config = SearchConfig(pairs: pairs, originalContext: 256, targetContext: 2048, seed: seed)
        config.setPopulation(population)
        config.parents = min(32, population)            // the paper's k
        config.mutations = 16
        config.crossovers = 16
        config.iterations = iterations
        config.windowCount = windowCount
        switch chosenMode {
        case .sync: break
        case .overlap: config.overlapSteps = true
        case .pipeline: config.pipelineDepth = pipelineDepth ?? 4
        case .islands:
            config.islands = islands
            config.migrationInterval = migrationInterval
            config.pipelineDepth = pipelineDepth
        }
        return config
    }

    func runOnce(workers n: Int) async throws {
        let config = config()
        // Units a search of this shape scores, roughly (rules, population, later steps ~80% after rejection).
        let estimate = Double(9 * windowCount + population * windowCount) + Double(iterations * 32 * config.islandCount * windowCount) * 0.8
        let unit = unitSeconds ?? max(0.002, runSeconds * Double(n) / estimate)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("longrope-cluster-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SearchStore(path: directory.appendingPathComponent("cluster.sqlite").path)
        let id = try store.createSearch(name: "cluster", config: config, modelPath: "sim", modelSHA256: "sim",
                                        textPath: "sim", textOffset: 0, textSHA256: "sim")
        var settings = Dispatcher.Settings()
        settings.heartbeatTimeout = max(10, 5 * heartbeatSeconds)
        settings.duplicateAfter = max(5, 4 * unit)
        settings.maxAttempts = 1000
        settings.verifyFirst = verifyFirst
        settings.verifyShare = verifyShare
        settings.verifyNewLows = verifyNewLows
        settings.verifyNewBests = verifyNewBests
        let dispatcher = Dispatcher(settings: settings)

        var rng = SplitMix64(seed: seed, stream: 99)
        var simulated: [(id: String, worker: SimulatedWorker)] = []
        for w in 0..<n {
            var profile = SimulatedWorker.Profile(meanSeconds: unit)
            profile.spread = spread
            profile.slowness = 1 + (heterogeneity - 1) * rng.unit()
            if straggler && w == 0 { profile.slowness = 10 }
            profile.dieEvery = dieEvery
            profile.restartSeconds = 2 * unit
            let worker = SimulatedWorker(profile: profile, originalContext: config.originalContext, seed: seed &+ UInt64(w))
            let wid = await dispatcher.register(
                WorkerRegistration(name: "sim\(w)", address: "sim://\(w)", modelSHA256: "sim", textSHA256: "sim",
                                   architecture: "llama", threads: 1, pairs: pairs, ropeBase: 10_000, contextLength: 256),
                connection: worker)
            simulated.append((wid, worker))
        }
        let beats = SharedCount()
        let heartbeats = heartbeatTasks(simulated.map { (wid, worker) in
            let secret = dispatcher.secret(wid)
            return (worker, { _ = await dispatcher.heartbeat(wid, secret: secret) })
        }, unit: unit, beats: beats)
        let cpuBefore = processCPUSeconds()
        let start = Date()
        let summary = try await SearchRunner(store: store, searchID: id,
                                             geometry: RoPEGeometry(rotaryDimension: 2 * pairs, base: 10_000))
            .run(evaluator: dispatcher)
        let makespan = Date().timeIntervalSince(start)
        let cpu = processCPUSeconds() - cpuBefore
        let checked = await dispatcher.checkedUnits
        heartbeats.cancel()
        await dispatcher.shutdown()

        let busy = simulated.map(\.worker.busySeconds).reduce(0, +)
        let useful = try store.evaluationSeconds(id) + simulated.map(\.worker.baselineBusySeconds).reduce(0, +)
        let taken = simulated.map(\.worker.unitsTaken).reduce(0, +)
        let stored = try store.evaluationCount(id) + 9 * windowCount
        // Islands count only the other islands' blocks of steps ≤ t − L as seen, so two islands
        // may breed the same candidate at nearly the same time: counted here (each costs its units).
        let candidates = try store.candidates(id)
        var keys = Set<NoveltyKey>()
        let repeated = candidates.filter { !keys.insert($0.candidate.noveltyKey).inserted }.count
        let simulationCPU = try await simulationCPUSecondsPerUnit(profiles: simulated.map(\.worker.profile), config: config, unit: unit)
        let cpuPerUnit = cpu / Double(max(1, taken))
        var row: [String: Any] = [
            "workers": n, "unit_s": unit, "makespan_s": makespan, "ideal_s": useful / Double(n),
            "utilisation": busy / (Double(n) * makespan), "useful_utilisation": useful / (Double(n) * makespan),
            "units": stored, "units_taken": taken, "coordinator_cpu_ms_per_unit": 1000 * cpuPerUnit,
            "heartbeats_per_s": Double(beats.value) / makespan, "best_fitness": summary.perplexity ?? .nan,
            "best_lambda_digest": digest(summary.lambda), "overlap": chosenMode == .overlap, "mode": chosenMode.rawValue,
            "seed": seed, "iterations": iterations, "candidates": candidates.count, "repeated_candidates": repeated,
            "pipeline_depth": config.lag, "islands": config.islandCount, "migration_interval": config.migrationInterval ?? 0,
            "crashes": simulated.map(\.worker.crashes).reduce(0, +),
            "checked_units": checked, "checked_share": Double(checked) / Double(max(1, stored)),
        ]
        if let simulationCPU {
            // What the same simulated workers cost alone, per unit, taken from the whole process's.
            row["simulation_cpu_ms_per_unit"] = 1000 * simulationCPU
            row["coordinator_only_cpu_ms_per_unit"] = 1000 * (cpuPerUnit - simulationCPU)
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys])
            emit(String(decoding: data, as: UTF8.self))
        } else {
            emit(String(format: "%7d  %6.3f  %10.1f  %7.1f  %10.1f%%  %5.1f%%  %5d  %6d  %6.1f%%  %11.2f  %12.1f  %12.6f  %@",
                         n, unit, makespan, useful / Double(n), 100 * busy / (Double(n) * makespan),
                         100 * useful / (Double(n) * makespan), stored, taken - stored, 100 * Double(checked) / Double(max(1, stored)),
                         1000 * cpuPerUnit,
                         Double(beats.value) / makespan, summary.perplexity ?? .nan, digest(summary.lambda)))
            if let simulationCPU {
                emit(String(format: "         cpu_ms/unit: the simulated workers alone %.3f, the coordinator %.3f",
                            1000 * simulationCPU, 1000 * (cpuPerUnit - simulationCPU)))
            }
        }
    }

    /// Each simulated worker's heartbeat loop at the real period (and sooner after a crash, as a
    /// restarted process registers at once); a crashed one is silent while down.
    func heartbeatTasks(_ members: [(worker: SimulatedWorker, beat: @Sendable () async -> Void)], unit: Double,
                        beats: SharedCount) -> Task<Void, Never> {
        let period = heartbeatSeconds
        return Task {
            await withTaskGroup(of: Void.self) { group in
                for (worker, beat) in members {
                    group.addTask {
                        var last = Date()
                        var crashes = 0
                        while !Task.isCancelled {
                            try? await Task.sleep(nanoseconds: UInt64(min(period, max(0.001, unit)) * 1e9))
                            let due = Date().timeIntervalSince(last) >= period
                            guard !worker.isDown else { continue }
                            // Up again after a crash: beat at once, as a restarted process would.
                            let restarted = worker.crashes != crashes
                            guard due || restarted else { continue }
                            crashes = worker.crashes
                            await beat()
                            beats.add(1)
                            last = Date()
                        }
                    }
                }
            }
        }
    }

    /// The simulation's own CPU seconds per unit: the same workers (profiles, unit time) and
    /// heartbeat loops run alone for `--simulation-seconds`, each worker taking units back to
    /// back as a busy cluster keeps it, heartbeats going nowhere. nil when not asked for.
    func simulationCPUSecondsPerUnit(profiles: [SimulatedWorker.Profile], config: SearchConfig,
                                     unit: Double) async throws -> Double? {
        guard simulationSeconds > 0 else { return nil }
        let workers = profiles.enumerated().map {
            SimulatedWorker(profile: $0.element, originalContext: config.originalContext, seed: seed &+ UInt64($0.offset))
        }
        let sample = WorkUnit(searchID: 1, candidateRowID: 1, window: 0,
                              lambda: RoPEScaling.linear(pairs: config.pairs, scale: config.scale).lambda, nHat: 0,
                              attentionFactor: 1, targetContext: config.targetContext, windowCount: config.windowCount,
                              modelSHA256: "sim", textSHA256: "sim", textOffset: 0)
        let beats = SharedCount()
        let cpuBefore = processCPUSeconds()
        let heartbeats = heartbeatTasks(workers.map { ($0, {}) }, unit: unit, beats: beats)
        let end = Date().addingTimeInterval(simulationSeconds)
        let units = await withTaskGroup(of: Int.self) { group in
            for worker in workers {
                group.addTask {
                    var done = 0
                    while Date() < end {
                        // Each unit in a task of its own, as the dispatcher leases it.
                        _ = await Task { try? await worker.evaluate(sample) }.value
                        done += 1
                    }
                    return done
                }
            }
            return await group.reduce(0, +)
        }
        heartbeats.cancel()
        _ = await heartbeats.value
        return (processCPUSeconds() - cpuBefore) / Double(max(1, units))
    }

    /// A short fingerprint of a λ vector (to see at a glance that two runs found the same).
    func digest(_ lambda: [Double]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for value in lambda {
            h ^= UInt64(bitPattern: Int64((value * 1e6).rounded()))
            h = h &* 0x1000_0000_01b3
        }
        return String(h, radix: 16)
    }
}

/// User + system CPU seconds of this process so far.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// Writes a line at once (print is buffered when stdout is a file or pipe).
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
