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
        // The forward pass blocks for seconds: run it off Swift's cooperative threads.
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result {
                    let start = Date()
                    let loss = try self.model.loss(tokens: window.tokens, scoredFrom: window.scoredFrom, scaling: unit.scaling)
                    return UnitResult(nllSum: loss.nllSum.isFinite ? loss.nllSum : nil, tokens: loss.tokens,
                                      seconds: Date().timeIntervalSince(start), worker: self.name)
                })
            }
        }
    }
}
