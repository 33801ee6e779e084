import Foundation
import Evaluator
import RoPE
import Search
import Wire

/// Scores units in this process with one loaded model and the search's text.
public final class LocalEvaluator: UnitEvaluator, @unchecked Sendable {
    public let scorer: UnitScorer
    public let name: String
    public var capacity: Int { 1 }
    private let queue = DispatchQueue(label: "longrope.local-evaluator")

    /// `text` is the whole file; each unit says which offset of it its windows start at.
    public init(model: LlamaModel, text: Data, name: String = "local") {
        scorer = UnitScorer(model: model, text: text)
        self.name = name
    }

    public var model: LlamaModel { scorer.model }

    /// Scores `unit`; a cancelled call stops its pass within a layer (the unit is no longer
    /// wanted: its candidate was rejected early, or the search stops).
    public func evaluate(_ unit: WorkUnit) async throws -> UnitResult {
        try await offCooperativeThreads(queue) { stop in
            do { return try self.scorer.score(unit, worker: self.name, stop: stop) }
            catch let error as EvaluatorError where error != .cancelled {
                throw UnitRefused(reason: error.description)   // what a worker answers with 400
            }
        }
    }
}

/// Scores one unit of any fitness against one model and text, cutting and caching the windows
/// each (fitness, context, windows, text offset) needs: the one window cutter of the local
/// evaluator and the workers. Errors are `EvaluatorError`s naming what is wrong.
public final class UnitScorer: @unchecked Sendable {
    public let model: LlamaModel
    public let text: Data
    private var cache: [String: [EvaluationWindow]] = [:]
    /// `model` at the other attention precision, made when a unit first asks for it.
    private var siblings: [AttentionPrecision: LlamaModel] = [:]
    private let lock = NSLock()

    public init(model: LlamaModel, text: Data) {
        self.model = model
        self.text = text
    }

    /// The model at the unit's attention precision (nil: f32). An unknown name is the unit's error.
    public func model(for unit: WorkUnit) throws -> LlamaModel {
        let name = unit.attentionPrecision ?? AttentionPrecision.f32.rawValue
        guard let precision = AttentionPrecision(rawValue: name) else {
            throw EvaluatorError.invalidRequest("attention_precision '\(name)' is not one of \(AttentionPrecision.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if precision == model.attentionPrecision { return model }
        lock.lock(); defer { lock.unlock() }
        if let sibling = siblings[precision] { return sibling }
        let sibling = try model.withAttentionPrecision(precision)
        siblings[precision] = sibling
        return sibling
    }

    /// The windows a unit refers to: plain windows of the text, or needle windows (`needle` and
    /// `mixed` fitness).
    public func windows(for unit: WorkUnit) throws -> [EvaluationWindow] {
        let needled = unit.probe != true && (unit.fitness == .needle || unit.fitness == .mixed)
        return try windows(needleSeed: needled ? unit.needleSeed ?? 0 : nil, needles: unit.needles ?? 1,
                           context: unit.targetContext, windowCount: unit.windowCount, textOffset: unit.textOffset)
    }

    /// `windows` windows of `context` tokens from `textOffset` on: needle windows with `needles`
    /// needles each when a needle seed is given, else plain ones. Cut once, then cached (a search
    /// can call it up front to check the text is long enough).
    public func windows(needleSeed: UInt64?, needles: Int = 1, context: Int, windowCount: Int,
                        textOffset: Int) throws -> [EvaluationWindow] {
        let key = "\(needleSeed.map { "needle-\($0)-\(needles)" } ?? "plain")/\(context)/\(windowCount)/\(textOffset)"
        lock.lock(); defer { lock.unlock() }
        if let windows = cache[key] { return windows }
        guard textOffset >= 0, textOffset < text.count else {
            throw EvaluatorError.invalidRequest("text_offset \(textOffset) is outside the text's \(text.count) bytes")
        }
        let content = String(decoding: text.dropFirst(textOffset), as: UTF8.self)
        let windows = try needleSeed.map {
            try NeedleWindows.windows(text: content, model: model, context: context, windowCount: windowCount, seed: $0,
                                      needles: needles)
        } ?? TextWindows(text: content, model: model, context: context, protocol: .full, windowCount: windowCount).windows
        cache[key] = windows
        return windows
    }

    /// Scores the unit (blocking: call it off the cooperative threads). A NaN or infinite loss
    /// comes back as `nllSum == nil`. `stop` ends the pass early (`EvaluatorError.cancelled`).
    public func score(_ unit: WorkUnit, worker: String, stop: StopSignal? = nil) throws -> UnitResult {
        guard unit.window >= 0, unit.window < unit.windowCount else {
            throw EvaluatorError.invalidRequest("window \(unit.window) is outside the \(unit.windowCount) windows")
        }
        let start = Date()
        let window = try windows(for: unit)[unit.window]
        let model = try model(for: unit)
        if unit.probe == true {
            guard let short = unit.originalContext, let threshold = unit.keyTokenThreshold else {
                throw EvaluatorError.invalidRequest("a probe unit needs original_context and key_token_threshold")
            }
            let keys = try KeyTokens.positions(model: model, window: window, scaling: unit.scaling,
                                               shortContext: short, threshold: threshold, stop: stop)
            return UnitResult(nllSum: 0, tokens: keys.count, seconds: Date().timeIntervalSince(start), worker: worker,
                              positions: keys)
        }
        switch unit.fitness ?? .ppl {
        case .ppl, .needle:
            let loss = try model.loss(tokens: window.tokens, positions: window.positions, scaling: unit.scaling, stop: stop)
            return result(loss, start: start, worker: worker)
        case .mixed:
            // Every token of the needle window, plus the answers' tokens weighted so that they
            // count as much as all the others: exp(nll_sum / tokens) is then the window's
            // perplexity times the answers' perplexity.
            let scores = try model.tokenScores(tokens: window.tokens, positions: Array(0..<(window.tokens.count - 1)),
                                               scaling: unit.scaling, stop: stop)
            let answers = Set(window.positions)
            let all = scores.map(\.nll).reduce(0, +)
            let answer = scores.filter { answers.contains($0.position) }.map(\.nll).reduce(0, +)
            let nll = all + answer * Double(scores.count) / Double(max(answers.count, 1))
            return UnitResult(nllSum: nll.isFinite ? nll : nil, tokens: scores.count,
                              seconds: Date().timeIntervalSince(start), worker: worker)
        case .keyTokens:
            guard let positions = unit.positions, !positions.isEmpty else {
                throw EvaluatorError.invalidRequest("a key-tokens unit needs its positions")
            }
            let loss = try model.loss(tokens: window.tokens, positions: positions, scaling: unit.scaling, stop: stop)
            return result(loss, start: start, worker: worker)
        }
    }

    private func result(_ loss: WindowLoss, start: Date, worker: String) -> UnitResult {
        UnitResult(nllSum: loss.nllSum.isFinite ? loss.nllSum : nil, tokens: loss.tokens,
                   seconds: Date().timeIntervalSince(start), worker: worker)
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

/// `offCooperativeThreads` for a pass that can stop: cancelling the calling task stops `body`'s
/// signal, and a body still waiting on `queue` when that happens never starts (a unit queued
/// behind another whose request is gone). A pass stopped so throws `CancellationError`, as
/// any cancelled task does (a search being paused must not read it as a unit that failed).
public func offCooperativeThreads<T: Sendable>(_ queue: DispatchQueue,
                                               _ body: @escaping @Sendable (StopSignal) throws -> T) async throws -> T {
    let signal = StopSignal()
    do {
        return try await withTaskCancellationHandler {
            try await offCooperativeThreads(queue) {
                try signal.check()
                return try body(signal)
            }
        } onCancel: {
            signal.stop()
        }
    } catch EvaluatorError.cancelled {
        throw CancellationError()
    }
}
