import Foundation
import GGUF
import Kernels
import RoPE
import Tokenizer

/// The loss of one window: the sum of −log p(next token) over its scored positions.
public struct WindowLoss: Sendable, Equatable {
    public var nllSum: Double
    public var tokens: Int
    /// Σ nll² over the scored tokens (for the perplexity's standard error).
    public var nllSquaredSum: Double = 0
    public var perplexity: Double { exp(nllSum / Double(tokens)) }
}

/// A Llama-family model (llama, qwen2) loaded from a GGUF file, evaluated on the CPU.
///
/// The forward pass is layer-major over a whole window: every position goes through layer 1,
/// then layer 2, …, so each weight matrix is read once per window and used as a matrix product,
/// and memory grows with n·d_model (one layer's K/V at a time, never an n×n matrix).
/// One window is evaluated at a time (calls are serialised); `threads` threads share each
/// step, and results are bit-identical whatever their number.
public final class LlamaModel: @unchecked Sendable {
    public let config: ModelConfig
    public let tokenizer: Tokenizer
    /// The file's bytes, which the weights point into (the parsed metadata is not kept: once the
    /// config and tokenizer are read from it, the model needs only this).
    let mapping: GGUFMapping
    public let threads: Int
    /// The precision of attention's inputs (`.f32` unless asked).
    public let attentionPrecision: AttentionPrecision
    /// Tokens per chunk of each layer's work, attention included (ForwardBuffers); any value
    /// gives the same bits, it only trades peak memory against the reuse of weight panels.
    public let chunkRows: Int
    let weights: ModelWeights
    private let lock = NSLock()
    private var buffers: ForwardBuffers?

    public convenience init(path: String, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                            attentionPrecision: AttentionPrecision = .f32) throws {
        try self.init(gguf: GGUFFile(path: path), threads: threads, attentionPrecision: attentionPrecision)
    }

    public init(gguf: GGUFFile, threads: Int, attentionPrecision: AttentionPrecision = .f32) throws {
        mapping = gguf.mapping
        config = try ModelConfig(gguf: gguf)
        tokenizer = try Tokenizer(gguf: gguf)
        guard tokenizer.vocabularySize == config.vocabularySize else {
            throw EvaluatorError.invalidHyperparameter("vocabulary of \(tokenizer.vocabularySize) tokens but the model has \(config.vocabularySize) rows")
        }
        try Self.check(attentionPrecision, headDim: config.headDim)
        weights = try ModelWeights(gguf: gguf, config: config)
        self.threads = max(1, threads)
        self.attentionPrecision = attentionPrecision
        chunkRows = ForwardBuffers.defaultChunkRows
        mapping.releasePages(before: gguf.dataStart)   // the header, read: its pages can go
    }

    /// This model (weights and tokenizer shared, not loaded again) with attention's inputs at
    /// `precision`, and buffers of its own; `self` when it already is.
    public func withAttentionPrecision(_ precision: AttentionPrecision) throws -> LlamaModel {
        if precision == attentionPrecision { return self }
        return try LlamaModel(sharing: self, attentionPrecision: precision, chunkRows: chunkRows)
    }

    /// This model (weights and tokenizer shared) running the products around attention `rows`
    /// tokens at a time (at least 1), with buffers of its own: the same results, another peak
    /// memory (tests use it to cross chunk boundaries in short windows).
    public func withChunkRows(_ rows: Int) throws -> LlamaModel {
        try LlamaModel(sharing: self, attentionPrecision: attentionPrecision, chunkRows: max(1, rows))
    }

    private init(sharing other: LlamaModel, attentionPrecision: AttentionPrecision, chunkRows: Int) throws {
        try Self.check(attentionPrecision, headDim: other.config.headDim)
        mapping = other.mapping
        config = other.config
        tokenizer = other.tokenizer
        weights = other.weights
        threads = other.threads
        self.attentionPrecision = attentionPrecision
        self.chunkRows = chunkRows
    }

    private static func check(_ precision: AttentionPrecision, headDim: Int) throws {
        if let problem = precision.problem(headDim: headDim) { throw EvaluatorError.invalidRequest(problem) }
    }

    /// Number of rotary pairs (d/2).
    public var pairs: Int { config.rotaryDimension / 2 }

    /// RoPE geometry of this model.
    public var geometry: RoPEGeometry { RoPEGeometry(rotaryDimension: config.rotaryDimension, base: config.ropeBase) }

    /// Runs one window through the model and returns the loss of positions
    /// `scoredFrom ..< tokens.count − 1`, each predicting the token after it.
    public func loss(tokens: [Int32], scoredFrom: Int, scaling: RoPEScaling) throws -> WindowLoss {
        guard tokens.count >= 2 else { throw EvaluatorError.invalidRequest("a window needs at least 2 tokens") }
        guard scoredFrom >= 0, scoredFrom < tokens.count - 1 else {
            throw EvaluatorError.invalidRequest("scored range starts at \(scoredFrom), outside a window of \(tokens.count)")
        }
        return try loss(tokens: tokens, positions: Array(scoredFrom..<(tokens.count - 1)), scaling: scaling)
    }

    /// The loss of the given positions only (ascending, each < tokens.count − 1), each
    /// predicting the token after it. `stop` ends the pass early (`EvaluatorError.cancelled`).
    public func loss(tokens: [Int32], positions: [Int], scaling: RoPEScaling, stop: StopSignal? = nil) throws -> WindowLoss {
        var nllSum = 0.0, squares = 0.0
        try run(tokens: tokens, positions: positions, scaling: scaling, wantTopToken: false, stop: stop) { _, nll, _ in
            nllSum += nll
            squares += nll * nll
        }
        return WindowLoss(nllSum: nllSum, tokens: positions.count, nllSquaredSum: squares)
    }

    /// What a window of `windowLength` tokens runs with: `scaling` itself, except that the
    /// plain `none` of a Phi-3 file means its own factors (short up to its original context,
    /// long beyond). Any other scaling replaces them.
    public func effectiveScaling(_ scaling: RoPEScaling, windowLength: Int) -> RoPEScaling {
        guard scaling.method == "none", let own = config.ownFactors else { return scaling }
        return own.scaling(forWindowLength: windowLength)
    }

    /// Per position: the NLL of the next token and the model's most likely token there
    /// (greedy decoding's choice), for the given ascending positions. `stop` ends the pass early.
    public func tokenScores(tokens: [Int32], positions: [Int], scaling: RoPEScaling,
                            stop: StopSignal? = nil) throws -> [TokenScore] {
        var out: [TokenScore] = []
        out.reserveCapacity(positions.count)
        try run(tokens: tokens, positions: positions, scaling: scaling, wantTopToken: true, stop: stop) { k, nll, top in
            out.append(TokenScore(position: positions[k], nll: nll, topToken: top))
        }
        return out
    }

    private func run(tokens: [Int32], positions: [Int], scaling: RoPEScaling, wantTopToken: Bool, stop: StopSignal?,
                     visit: (Int, Double, Int32) -> Void) throws {
        guard tokens.count >= 2 else { throw EvaluatorError.invalidRequest("a window needs at least 2 tokens") }
        guard !positions.isEmpty else { throw EvaluatorError.invalidRequest("no position to score") }
        guard positions.first! >= 0, positions.last! < tokens.count - 1,
              zip(positions, positions.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw EvaluatorError.invalidRequest("scored positions must ascend inside 0..<\(tokens.count - 1)")
        }
        do { try scaling.checkApplicable(pairs: pairs) } catch { throw EvaluatorError.invalidScaling(error.description) }
        if let window = config.slidingWindow, tokens.count > window {
            throw EvaluatorError.invalidRequest("a window of \(tokens.count) tokens is longer than the model's sliding window "
                                                + "of \(window); sliding-window attention is not supported")
        }
        for token in tokens where token < 0 || Int(token) >= config.vocabularySize { throw EvaluatorError.invalidToken(token) }
        lock.lock()
        defer { lock.unlock() }
        if buffers == nil || buffers!.capacity < tokens.count {
            // A window this machine cannot hold is refused, not a crash in the allocator (a
            // worker given a unit too long for its node answers 400 and keeps serving).
            let needed = ForwardBuffers.WindowSizes(config: config, capacity: tokens.count, chunkRows: min(tokens.count, chunkRows),
                                                    bf16: attentionPrecision == .bf16).bytes
            let limit = MachineMemory.limit
            guard needed <= limit else {
                throw EvaluatorError.invalidRequest("a window of \(tokens.count) tokens needs \(MachineMemory.describe(needed)) of buffers "
                                                    + "with this model, and this machine (or its memory limit) has \(MachineMemory.describe(limit))")
            }
            buffers = nil
            lr_release_free_memory()
            buffers = ForwardBuffers(config: config, capacity: tokens.count, threads: threads, chunkRows: chunkRows,
                                     bf16: attentionPrecision == .bf16)
        }
        try forward(tokens: tokens, positions: positions, scaling: effectiveScaling(scaling, windowLength: tokens.count),
                    wantTopToken: wantTopToken, buffers: buffers!, stop: stop, visit: visit)
    }
}

/// One scored position: the NLL of the token after it and the most likely token there.
public struct TokenScore: Sendable, Equatable {
    public var position: Int
    public var nll: Double
    public var topToken: Int32
}
