import Foundation
import Prometheus

/// Counters of the dispatcher, exported at GET /metrics in Prometheus' text format.
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
    }

    public let registry = PrometheusCollectorRegistry()
    private let counters: [Counter: Prometheus.Counter]

    public init() {
        var made: [Counter: Prometheus.Counter] = [:]
        for counter in Counter.allCases { made[counter] = registry.makeCounter(name: counter.rawValue) }
        counters = made
    }

    public func increment(_ counter: Counter) { counters[counter]?.increment() }

    /// Sets a gauge (made on first use).
    public func set(_ name: String, _ value: Double) {
        registry.makeGauge(name: name).set(value)
    }

    /// The text exposition of every metric.
    public func exposition() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
