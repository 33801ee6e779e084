import GGUF

/// Why a tokenizer cannot be built from a GGUF file.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    case unsupportedModel(String)
    case unsupportedPreTokenizer(String)
    case missing(String)
    case inconsistent(String)

    public var description: String {
        switch self {
        case let .unsupportedModel(model):
            return "unsupported tokenizer model \"\(model)\" (supported: llama, gpt2)"
        case let .unsupportedPreTokenizer(pre):
            return "unsupported pre-tokenizer \"\(pre)\" (supported: \(ByteLevelBPE.PreTokenizer.allCases.map(\.rawValue).joined(separator: ", ")))"
        case let .missing(what): return "the GGUF file has no \(what)"
        case let .inconsistent(what): return "inconsistent tokenizer metadata: \(what)"
        }
    }
}

/// A tokenizer read from a GGUF file's `tokenizer.ggml.*` metadata, giving the same token ids
/// as llama.cpp's `common_tokenize(text, add_special: true, parse_special: false)`.
public struct Tokenizer: Sendable {
    enum Kind: Sendable {
        case sentencePiece(SentencePieceBPE)
        case byteLevel(ByteLevelBPE)
    }

    let kind: Kind
    /// The vocabulary, id → piece.
    public let tokens: [String]
    public let bosID: Int32?
    public let eosID: Int32?
    /// Whether encoding prepends BOS (`tokenizer.ggml.add_bos_token`, or the model type's default).
    public let addsBOS: Bool

    public var vocabularySize: Int { tokens.count }

    /// Builds the tokenizer the file describes.
    public init(gguf: GGUFFile) throws {
        let model = try gguf.string("tokenizer.ggml.model") ?? "llama"
        guard let tokens = try gguf.stringArray("tokenizer.ggml.tokens"), !tokens.isEmpty else {
            throw TokenizerError.missing("tokenizer.ggml.tokens")
        }
        self.tokens = tokens
        let types = try gguf.intArray("tokenizer.ggml.token_type")
        if let types, types.count != tokens.count {
            throw TokenizerError.inconsistent("\(types.count) token types for \(tokens.count) tokens")
        }
        func id(_ key: String, _ fallback: Int?) throws -> Int32? {
            let value = try gguf.int("tokenizer.ggml.\(key)", default: fallback ?? -1)
            return value >= 0 && value < tokens.count ? Int32(value) : nil
        }
        switch model {
        case "llama":
            let scores = try gguf.doubleArray("tokenizer.ggml.scores")
            if let scores, scores.count != tokens.count {
                throw TokenizerError.inconsistent("\(scores.count) scores for \(tokens.count) tokens")
            }
            let addSpacePrefix = try gguf.bool("tokenizer.ggml.add_space_prefix") ?? true
            kind = .sentencePiece(SentencePieceBPE(tokens: tokens, scores: scores.map { $0.map(Float.init) },
                                                   addSpacePrefix: addSpacePrefix))
            bosID = try id("bos_token_id", 1)
            eosID = try id("eos_token_id", 2)
            addsBOS = try gguf.bool("tokenizer.ggml.add_bos_token") ?? true
        case "gpt2":
            let preName = try gguf.string("tokenizer.ggml.pre") ?? "default"
            guard let pre = ByteLevelBPE.PreTokenizer(rawValue: preName) else {
                throw TokenizerError.unsupportedPreTokenizer(preName)
            }
            guard let merges = try gguf.stringArray("tokenizer.ggml.merges") else {
                throw TokenizerError.missing("tokenizer.ggml.merges (required for gpt2 tokenizers)")
            }
            kind = .byteLevel(ByteLevelBPE(tokens: tokens, merges: merges, preTokenizer: pre))
            bosID = try id("bos_token_id", 11)
            eosID = try id("eos_token_id", 11)
            let defaultAddBOS = ["llama3", "llama-v3", "llama-bpe", "falcon3", "tekken", "chameleon"].contains(preName)
            addsBOS = try gguf.bool("tokenizer.ggml.add_bos_token") ?? defaultAddBOS
        default:
            throw TokenizerError.unsupportedModel(model)
        }
        if addsBOS, bosID == nil { throw TokenizerError.inconsistent("add_bos_token is set but there is no BOS token") }
    }

    /// Token ids of `text`, with BOS first when the model adds it (unless `addSpecial` is false).
    public func encode(_ text: String, addSpecial: Bool = true) -> [Int32] {
        var output: [Int32] = []
        if addSpecial, addsBOS, let bosID { output.append(bosID) }
        var bytes = Array(text.utf8)
        switch kind {
        case let .sentencePiece(spm): spm.encode(&bytes, into: &output)
        case let .byteLevel(bpe): bpe.encode(bytes, into: &output)
        }
        return output
    }

    /// The ids of `text` as they read after other text (no BOS): SentencePiece's space prefix,
    /// which stands for the space before a text's first word, takes the place of `text`'s own
    /// leading space, so pieces encoded one by one join as the whole would.
    public func encodeContinuation(_ text: String) -> [Int32] {
        if case let .sentencePiece(spm) = kind, spm.addSpacePrefix, text.hasPrefix(" ") {
            return encode(String(text.dropFirst()), addSpecial: false)
        }
        return encode(text, addSpecial: false)
    }
}
