import Foundation
import Evaluator
import RoPE
import Wire

/// Scores units in this process with one loaded model and the search's windows.
public final class LocalEvaluator: UnitEvaluator, @unchecked Sendable {
    public let model: LlamaModel
    public let windows: [EvaluationWindow]
    public let name: String
    public var capacity: Int { 1 }
    private let queue = DispatchQueue(label: "longrope.local-evaluator")

    /// `samples` windows of `targetContext` tokens (LongRoPE's protocol) from `text`.
    public init(model: LlamaModel, text: String, targetContext: Int, samples: Int, name: String = "local") throws {
        self.model = model
        windows = try TextWindows(text: text, model: model, context: targetContext, protocol: .full, samples: samples).windows
        self.name = name
    }

    public func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
        guard windows.indices.contains(unit.sample) else {
            throw EvaluatorError.invalidRequest("sample \(unit.sample) is outside the \(windows.count) windows")
        }
        let window = windows[unit.sample]
        return try await offCooperativeThreads(queue) {
            try self.model.score(window, unit: unit, worker: self.name)
        }
    }
}

/// Runs `body` on `queue` and waits for it: a forward pass blocks for seconds, which must not
/// happen on Swift's few cooperative threads (nor on a server's event loops).
public func offCooperativeThreads<T: Sendable>(_ queue: DispatchQueue,
                                               _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        queue.async { continuation.resume(with: Result { try body() }) }
    }
}

extension LlamaModel {
    /// Scores one window for a unit; a NaN or infinite loss comes back as `nllSum == nil`.
    public func score(_ window: EvaluationWindow, unit: WorkUnit, worker: String) throws -> UnitResult {
        let start = Date()
        let loss = try loss(tokens: window.tokens, scoredFrom: window.scoredFrom, scaling: unit.scaling)
        return UnitResult(nllSum: loss.nllSum.isFinite ? loss.nllSum : nil, tokens: loss.tokens,
                          seconds: Date().timeIntervalSince(start), worker: worker)
    }
}
