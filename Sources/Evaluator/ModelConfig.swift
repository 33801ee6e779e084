import GGUF
import RoPE

/// Why a model cannot be loaded or evaluated.
public enum EvaluatorError: Error, Equatable, CustomStringConvertible {
    case unsupportedArchitecture(String)
    case invalidHyperparameter(String)
    case unsupportedWeightType(tensor: String, type: String)
    case invalidScaling(String)
    case textTooShort(tokens: Int, needed: Int, detail: String)
    case invalidToken(Int32)
    case invalidRequest(String)
    /// The pass was stopped (`StopSignal`) before it ended: nothing is wrong with the request.
    case cancelled

    public var description: String {
        switch self {
        case let .unsupportedArchitecture(name):
            return "unsupported architecture \"\(name)\" (supported: \(ModelConfig.Architecture.allCases.map(\.rawValue).joined(separator: ", ")))"
        case let .invalidHyperparameter(detail): return "invalid model hyperparameter: \(detail)"
        case let .unsupportedWeightType(tensor, type): return "tensor \(tensor) has type \(type), which cannot be used there"
        case let .invalidScaling(detail): return "invalid RoPE scaling: \(detail)"
        case let .textTooShort(tokens, needed, detail):
            return "the text is too short: it has \(tokens) tokens and needs \(needed) (\(detail))"
        case let .invalidToken(id): return "token id \(id) is outside the vocabulary"
        case let .invalidRequest(detail): return detail
        case .cancelled: return "the evaluation was stopped before it ended"
        }
    }
}

/// The hyperparameters of a Llama-family model, read from GGUF metadata.
public struct ModelConfig: Sendable, Equatable {
    public enum Architecture: String, Sendable, CaseIterable {
        /// Llama 2/3, Mistral, SmolLM, TinyLlama: adjacent-pair rotation (GGUF's permuted Q/K).
        case llama
        /// Qwen2: Q/K/V biases, half-split (NEOX) rotation.
        case qwen2
        /// Qwen3: each head's q and k RMS-normalised (`attn_q_norm`, `attn_k_norm`) before
        /// the rotation, half-split rotation.
        case qwen3
        /// Phi-3: Q, K and V in one `attn_qkv` tensor, gate and up in one `ffn_up` tensor,
        /// half-split rotation.
        case phi3
    }

    public var architecture: Architecture
    public var embeddingLength: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var feedForwardLength: Int
    public var rmsEpsilon: Float
    public var ropeBase: Double
    public var rotaryDimension: Int
    /// `{arch}.context_length`: what the file says the model was trained at.
    public var contextLength: Int
    public var vocabularySize: Int
    /// Linear scale stored in the file (`rope.scaling.factor` when the type is linear), 1 if none.
    public var storedLinearScale: Double
    /// `rope.scaling.attn_factor` stored in the file, 1 if none.
    public var storedAttentionFactor: Double
    /// What the file itself divides each pair's frequency by: `rope_freqs.weight` (llama3
    /// scaling, LongRoPE exports) times the stored linear scale; 1 for a plain model.
    public var storedPairFactors: [Double]
    /// 1/√head_dim unless `attention.scale` says otherwise.
    public var attentionScale: Float
    /// A Phi-3 file's own LongRoPE factors (`rope_factors_short/long.weight`): the short set for
    /// windows up to `originalContext` (`rope.scaling.original_context_length`), the long set
    /// beyond, as llama.cpp and transformers apply them; m = 1 (the file's attention is left
    /// as the file has it). Nil for other files.
    public var ownFactors: LongRoPEFactors?

    /// Whether the file scales RoPE itself (`rope_freqs`, a stored linear scale or attention
    /// factor, a Phi-3 file's own factors — a `longrope export --format gguf` copy does): any
    /// scaling asked for, `none` included, then runs on top of the file's.
    public var scalesRoPEItself: Bool {
        storedPairFactors.contains { $0 != 1 } || storedAttentionFactor != 1 || ownFactors != nil
    }
    /// `attention.sliding_window` (Phi-3): each position sees at most this many; nil = all.
    /// Windows longer than it are refused (sliding-window attention is not implemented).
    public var slidingWindow: Int?

    /// Whether pairs are (j, j + d/2) instead of (2j, 2j+1).
    public var halfSplitRotation: Bool { architecture != .llama }

    public init(gguf: GGUFFile) throws {
        let name = try gguf.requireString("general.architecture")
        guard let architecture = Architecture(rawValue: name) else {
            throw EvaluatorError.unsupportedArchitecture(name)
        }
        self.architecture = architecture
        let a = name
        embeddingLength = try gguf.requireInt("\(a).embedding_length")
        layerCount = try gguf.requireInt("\(a).block_count")
        headCount = try gguf.requireInt("\(a).attention.head_count")
        kvHeadCount = try gguf.int("\(a).attention.head_count_kv", default: headCount)
        guard embeddingLength > 0, layerCount > 0, headCount > 0, kvHeadCount > 0,
              headCount % kvHeadCount == 0, embeddingLength % headCount == 0 else {
            throw EvaluatorError.invalidHyperparameter(
                "embedding \(embeddingLength), layers \(layerCount), heads \(headCount), kv heads \(kvHeadCount)")
        }
        headDim = try gguf.int("\(a).attention.key_length", default: embeddingLength / headCount)
        let valueLength = try gguf.int("\(a).attention.value_length", default: headDim)
        guard headDim > 0, headDim % 2 == 0, valueLength == headDim else {
            throw EvaluatorError.invalidHyperparameter("head dimension \(headDim) (value length \(valueLength))")
        }
        feedForwardLength = try gguf.requireInt("\(a).feed_forward_length")
        rmsEpsilon = Float(try gguf.requireDouble("\(a).attention.layer_norm_rms_epsilon"))
        ropeBase = try gguf.double("\(a).rope.freq_base", default: 10_000)
        rotaryDimension = try gguf.int("\(a).rope.dimension_count", default: headDim)
        guard rotaryDimension == headDim else {
            throw EvaluatorError.invalidHyperparameter("rope.dimension_count \(rotaryDimension) differs from head_dim \(headDim) (partial rotary is not supported)")
        }
        guard ropeBase.isFinite, ropeBase > 1 else { throw EvaluatorError.invalidHyperparameter("rope.freq_base \(ropeBase)") }
        contextLength = try gguf.requireInt("\(a).context_length")
        let tokens = gguf.metadata["tokenizer.ggml.tokens"]?.array?.count
        vocabularySize = try gguf.int("\(a).vocab_size", default: tokens ?? 0)
        let scalingType = try gguf.string("\(a).rope.scaling.type") ?? "linear"
        var factor = try gguf.double("\(a).rope.scaling.factor", default: 0)
        if factor == 0 { factor = try gguf.double("\(a).rope.scale_linear", default: 0) }
        storedLinearScale = (scalingType == "linear" && factor > 0) ? factor : 1
        storedAttentionFactor = try gguf.double("\(a).rope.scaling.attn_factor", default: 1)
        guard storedLinearScale.isFinite, storedAttentionFactor.isFinite, storedAttentionFactor > 0 else {
            throw EvaluatorError.invalidHyperparameter("rope scaling metadata (factor \(storedLinearScale), attn_factor \(storedAttentionFactor))")
        }
        let ropeFreqs = try optionalVector(gguf, "rope_freqs.weight", length: rotaryDimension / 2)
        storedPairFactors = (0..<(rotaryDimension / 2)).map { [storedLinearScale] i in
            Double(ropeFreqs?[i] ?? 1) * storedLinearScale
        }
        if let longFactors = try optionalVector(gguf, "rope_factors_long.weight", length: rotaryDimension / 2) {
            let long = longFactors.map(Double.init)
            let short = try optionalVector(gguf, "rope_factors_short.weight", length: rotaryDimension / 2)?.map(Double.init)
                ?? long.map { _ in 1.0 }
            let original = try gguf.int("\(a).rope.scaling.original_context_length", default: contextLength)
            guard (long + short).allSatisfy({ $0.isFinite && $0 > 0 }), original > 0 else {
                throw EvaluatorError.invalidHyperparameter("rope_factors_short/long must be finite and > 0")
            }
            ownFactors = LongRoPEFactors(shortFactors: short, longFactors: long, originalContext: original,
                                         maxContext: contextLength, attentionFactor: 1)
        }
        let window = try gguf.int("\(a).attention.sliding_window", default: 0)
        slidingWindow = window > 0 ? window : nil
        let scale = try gguf.double("\(a).attention.scale", default: 0)
        attentionScale = scale != 0 ? Float(scale) : 1 / Float(headDim).squareRoot()
    }
}
