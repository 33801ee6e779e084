import Foundation
import Prometheus

/// Counters and gauges of the dispatcher, exported at GET /metrics in Prometheus' text format,
/// each with its `# HELP` line.
public final class DispatcherMetrics: Sendable {
    public enum Counter: String, CaseIterable, Sendable {
        case unitsQueued = "longrope_units_queued_total"
        case unitsCompleted = "longrope_units_completed_total"
        case unitsFailed = "longrope_units_failed_total"
        case unitsRequeued = "longrope_units_requeued_total"
        case duplicates = "longrope_units_duplicated_total"
        case lateResultsDropped = "longrope_late_results_dropped_total"
        case workersLost = "longrope_workers_lost_total"
        case leasesExpired = "longrope_leases_expired_total"
        case unitsVerified = "longrope_units_verified_total"
        case httpRequests = "longrope_http_requests_total"

        var help: String {
            switch self {
            case .unitsQueued: "Units (one window of one candidate or rule) submitted to the dispatcher."
            case .unitsCompleted: "Units whose result was accepted."
            case .unitsFailed: "Units that failed after their last attempt."
            case .unitsRequeued: "Units queued again after their leases ended without a result."
            case .duplicates: "Units leased to a second worker beside a slow first one."
            case .lateResultsDropped: "Results dropped: their unit was already decided or their worker removed."
            case .workersLost: "Workers lost: silent past the heartbeat timeout, or removed for impossible, failing or outvoted answers."
            case .leasesExpired: "Leases that ran past their deadline."
            case .unitsVerified: "Units given to a second worker to check the first answer."
            case .httpRequests: "HTTP requests the coordinator answered."
            }
        }
    }

    /// Values read from the dispatcher at each scrape.
    public enum Gauge: String, CaseIterable, Sendable {
        case workers = "longrope_workers"
        case workersHealthy = "longrope_workers_healthy"
        case unitsWaiting = "longrope_units_waiting"
        case unitsInFlight = "longrope_units_in_flight"

        var help: String {
            switch self {
            case .workers: "Workers registered."
            case .workersHealthy: "Workers whose heartbeats arrive."
            case .unitsWaiting: "Units queued for a worker."
            case .unitsInFlight: "Units leased to a worker and not yet back."
            }
        }
    }

    public let registry = PrometheusCollectorRegistry()
    private let counters: [Counter: Prometheus.Counter]
    private let gauges: [Gauge: Prometheus.Gauge]

    public init() {
        let registry = self.registry
        func named(_ name: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: name, unitName: "", helpText: help)   // the whole name: no unit part added
        }
        counters = Dictionary(uniqueKeysWithValues: Counter.allCases.map { ($0, registry.makeCounter(descriptor: named($0.rawValue, $0.help))) })
        gauges = Dictionary(uniqueKeysWithValues: Gauge.allCases.map { ($0, registry.makeGauge(descriptor: named($0.rawValue, $0.help))) })
    }

    public func increment(_ counter: Counter) { counters[counter]?.increment() }

    public func set(_ gauge: Gauge, _ value: Double) { gauges[gauge]?.set(value) }

    /// The text exposition of every metric.
    public func exposition() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
