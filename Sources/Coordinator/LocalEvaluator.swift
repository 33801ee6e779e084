import Foundation
import Evaluator
import RoPE

/// Scores units in this process with one loaded model and the search's windows.
public final class LocalEvaluator: UnitEvaluator, @unchecked Sendable {
    public let model: LlamaModel
    public let windows: [EvaluationWindow]
    public let name: String
    public var capacity: Int { 1 }

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
        let start = Date()
        let loss = try model.loss(tokens: window.tokens, scoredFrom: window.scoredFrom, scaling: unit.scaling)
        return UnitResult(nllSum: loss.nllSum.isFinite ? loss.nllSum : nil, tokens: loss.tokens,
                          seconds: Date().timeIntervalSince(start), worker: name)
    }
}
