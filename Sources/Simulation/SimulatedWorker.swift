import Foundation
import Seeded
import Runner
import Search
import Wire

/// A worker that, instead of running a model, sleeps for a drawn time and answers with the
/// ``SyntheticLandscape``: the dispatcher, runner and store around it are the real ones.
///
/// Unit times are log-normal around `meanSeconds × slowness`; with `dieEvery` the worker
/// fails every that many units as a crashed process would (the unit is lost, the worker
/// answers nothing until `restartSeconds` have passed).
public final class SimulatedWorker: UnitEvaluator, @unchecked Sendable {
    public struct Profile: Sendable {
        public var meanSeconds: Double
        /// σ of ln(duration).
        public var spread: Double = 0.5
        /// This node's speed: 1 = fastest, 3 = three times slower.
        public var slowness: Double = 1
        public var dieEvery: Int?
        public var restartSeconds: Double = 1
        public init(meanSeconds: Double) { self.meanSeconds = meanSeconds }
    }

    public let profile: Profile
    let originalContext: Int
    let landscape = SyntheticLandscape()
    private let lock = NSLock()
    private var rng: SplitMix64
    private var units = 0
    private var deadUntil = Date.distantPast
    private var busy = 0.0
    private var crashed = 0
    private var ruleBusy = 0.0

    public init(profile: Profile, originalContext: Int, seed: UInt64) {
        self.profile = profile
        self.originalContext = originalContext
        self.rng = SplitMix64(seed: seed, stream: 0)
    }

    /// Seconds spent on units so far (including those whose result was not used).
    public var busySeconds: Double { lock.withLock { busy } }

    /// Seconds spent on the baselines' units (candidate row −1), always used.
    public var baselineBusySeconds: Double { lock.withLock { ruleBusy } }

    /// Units taken so far.
    public var unitsTaken: Int { lock.withLock { units } }

    /// Simulated crashes so far.
    public var crashes: Int { lock.withLock { crashed } }

    /// Whether the worker is down after a simulated crash (it must not heartbeat then).
    public var isDown: Bool { lock.withLock { Date() < deadUntil } }

    public func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
        let (seconds, dies): (Double, Bool) = lock.withLock {
            units += 1
            // Box–Muller: a standard normal from two uniforms.
            let u1 = max(rng.unit(), 1e-12), u2 = rng.unit()
            let z = (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
            let mu = log(profile.meanSeconds * profile.slowness) - profile.spread * profile.spread / 2
            let dies = profile.dieEvery.map { units % $0 == 0 } ?? false
            return (exp(mu + profile.spread * z) * (dies ? 0.5 : 1), dies)
        }
        guard !isDown else { throw WorkerUnreachable("simulated worker is down") }
        let start = Date()
        do { try await Task.sleep(nanoseconds: UInt64(seconds * 1e9)) } catch {
            lock.withLock { busy += Date().timeIntervalSince(start) }
            throw error
        }
        lock.withLock {
            busy += seconds
            if unit.candidateRowID < 0 && !dies { ruleBusy += seconds }
        }
        if dies {
            lock.withLock { deadUntil = Date().addingTimeInterval(profile.restartSeconds); crashed += 1 }
            throw WorkerUnreachable("simulated crash")
        }
        var result = landscape.score(unit, originalContext: originalContext)
        result.seconds = seconds
        return result
    }
}
