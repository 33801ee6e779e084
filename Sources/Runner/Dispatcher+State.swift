import Foundation
import Wire

// The dispatcher's settings, what it keeps per worker and per unit, and what it answers about
// a model's geometry (Dispatcher.swift holds what it does with them).
extension Dispatcher {
    public struct Settings: Sendable {
        public var leaseSeconds: Double = 900
        public var maxAttempts = 4
        /// Error answers in a row after which a worker is removed.
        public var maxConsecutiveFailures = 3
        /// Times the workers holding one unit may vanish before the unit fails (a unit that
        /// kills every worker it is sent to must not go round for ever).
        public var maxVanishes = 16
        /// Each worker's first answers checked by another worker, a seeded share of all units
        /// too, and how far two answers' NLL sums may differ (relative) and still agree. Off
        /// here; the coordinator daemon turns it on (`longrope coordinator --verify-first`,
        /// `--verify-share`).
        public var verifyFirst = 0
        public var verifyShare = 0.0
        /// Also check every answer below the lowest loss its window has had (a would-be new
        /// best, or a plausible lie too low, from a worker however trusted). Off by default:
        /// it scores ~5% more units on `longrope-bench cluster` (the search keeps finding lower
        /// losses), above the few percent the other checks cost.
        public var verifyNewLows = false
        /// Answer `confirm` (the runner asks it for every unit of a would-be new best) with a
        /// second worker's opinion; off: `confirm` returns the answer as it is.
        public var verifyNewBests = false
        public var verifyTolerance = 1e-3
        public var heartbeatTimeout: Double = 10
        /// A unit leased longer than this may be duplicated onto an idle worker.
        public var duplicateAfter: Double = 5
        /// A worker silent this long is forgotten (its counts stay in the metrics).
        public var forgetAfter: Double = 300
        public init() {}

        /// `longrope search`'s: its one in-process worker is never removed for failing answers
        /// (with none left the search would wait for ever); a unit that keeps failing fails after
        /// `maxAttempts`, and the search stops with its reason.
        public static var embedded: Settings {
            var settings = Settings()
            settings.maxConsecutiveFailures = .max
            return settings
        }
    }

    /// A registered worker. A class, as `Job` is: read on every answer, never copied.
    final class Worker {
        let registration: WorkerRegistration
        let connection: any UnitEvaluator
        let registeredAt: Date
        var lease: Int?
        var healthy = true
        /// In-process workers do not heartbeat.
        var heartbeats = true
        var unitsDone = 0
        var unitsFailed = 0
        var consecutiveFailures = 0
        /// Answers of this worker another worker confirmed: until `verifyFirst` are, every
        /// answer it gives is checked.
        var confirmed = 0
        init(registration: WorkerRegistration, connection: any UnitEvaluator, registeredAt: Date) {
            self.registration = registration
            self.connection = connection
            self.registeredAt = registeredAt
        }
    }

    /// A unit from `evaluate` or `confirm` until its caller has the answer. A class: `schedule`
    /// looks at every job on many answers, and copying a struct that holds a unit costs a retain
    /// per field each time.
    final class Job {
        var unit: WorkUnit
        var continuation: CheckedContinuation<UnitResult, Error>
        var attempts = 0
        var vanishes = 0
        var leases: Set<String> = []
        /// Workers whose lease of this unit failed: others are preferred.
        var failedOn: Set<String> = []
        /// Answers held while the unit is checked on other workers (see `verifyFirst`).
        var answers: [(worker: String, result: UnitResult)] = []
        var checked = false
        var leasedAt: Date?
        var lastError = ""
        /// Workers whose lease of this unit expired: it goes to others.
        var excluded: Set<String> = []
        /// The task of each lease (its request to the worker), numbered: a lease that ends
        /// without a result is cancelled, so its request does not stay open (a worker that went
        /// silent for a while would otherwise pile up requests, until the HTTP client has no
        /// connection left for it), and a cancelled one's end is known for what it is.
        var leaseTasks: [String: (number: Int, task: Task<Void, Never>)] = [:]
        init(unit: WorkUnit, continuation: CheckedContinuation<UnitResult, Error>) {
            self.unit = unit
            self.continuation = continuation
        }
        /// The unit is decided or no longer wanted: every lease's request is cancelled (closed),
        /// and a worker stops a pass nobody waits for.
        func cancelLeaseRequests() {
            for lease in leaseTasks.values { lease.task.cancel() }
        }
    }

    /// What the healthy workers holding a model say of its geometry: one answer, none, or the
    /// disagreeing claims with the workers making each (so an error can name them).
    public enum GeometryClaims: Sendable, Equatable {
        case known(pairs: Int, ropeBase: Double)
        case none
        case disagree([Claim])
        public struct Claim: Sendable, Equatable {
            public var pairs: Int
            public var ropeBase: Double
            public var workers: [String]
        }
    }
}
