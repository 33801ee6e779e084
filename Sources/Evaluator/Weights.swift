import GGUF
import Kernels

/// A weight matrix `[rows][columns]` in its stored ggml type, used in place from the mapping.
public struct WeightMatrix: @unchecked Sendable {
    public let name: String
    public let type: GGMLType
    /// Output dimension (ggml ne[1]).
    public let rows: Int
    /// Input dimension (ggml ne[0]), contiguous.
    public let columns: Int
    public let rowBytes: Int
    public let data: UnsafeRawPointer

    init(_ tensor: GGUFTensor, rows: Int, columns: Int) throws {
        guard tensor.shape.count <= 2, tensor.rowLength == columns, tensor.rowCount == rows else {
            throw GGUFError.wrongTensorShape(tensor: tensor.name, expected: [columns, rows], got: tensor.shape)
        }
        name = tensor.name
        type = tensor.type
        self.rows = rows
        self.columns = columns
        rowBytes = tensor.type.rowBytes(columns)
        data = tensor.data
    }

    /// Rows `range` of this matrix, in place (a part of a fused tensor).
    func rows(_ range: Range<Int>, name: String) -> WeightMatrix {
        WeightMatrix(name: name, type: type, rows: range.count, columns: columns, rowBytes: rowBytes,
                     data: data + range.lowerBound * rowBytes)
    }

    /// Columns `range` of every row, in place (a part of the input dimension), rows as far
    /// apart as in this matrix. The range starts on a block of the type.
    func columns(_ range: Range<Int>) -> WeightMatrix {
        precondition(range.lowerBound % type.blockSize == 0 && range.upperBound <= columns,
                     "columns \(range) of \(name) do not start on a \(type.name) block")
        return WeightMatrix(name: name, type: type, rows: rows, columns: range.count, rowBytes: rowBytes,
                            data: data + type.rowBytes(range.lowerBound))
    }

    private init(name: String, type: GGMLType, rows: Int, columns: Int, rowBytes: Int, data: UnsafeRawPointer) {
        self.name = name
        self.type = type
        self.rows = rows
        self.columns = columns
        self.rowBytes = rowBytes
        self.data = data
    }

    /// Row `r` as floats.
    func dequantizeRow(_ r: Int, into destination: UnsafeMutablePointer<Float>) {
        lr_dequantize_row(type.rawValue, data + r * rowBytes, destination, Int64(columns))
    }
}

/// A 1-D tensor (norm weight, bias) as floats.
func vector(_ gguf: GGUFFile, _ name: String, length: Int) throws -> [Float] {
    let tensor = try gguf.requireTensor(name)
    guard tensor.elementCount == length else {
        throw GGUFError.wrongTensorShape(tensor: name, expected: [length], got: tensor.shape)
    }
    var out = [Float](repeating: 0, count: length)
    out.withUnsafeMutableBufferPointer { buffer in
        _ = lr_dequantize_row(tensor.type.rawValue, tensor.data, buffer.baseAddress!, Int64(length))
    }
    return out
}

/// The same for a tensor a file may leave out (biases, q/k norms, stored RoPE factors): nil then.
func optionalVector(_ gguf: GGUFFile, _ name: String, length: Int) throws -> [Float]? {
    gguf.tensor(name) == nil ? nil : try vector(gguf, name, length: length)
}

/// One transformer block's weights.
struct LayerWeights: @unchecked Sendable {
    let attentionNorm: [Float]
    let wq, wk, wv, wo: WeightMatrix
    let bq, bk, bv: [Float]?
    /// Per-head RMSNorm weights of q and k (qwen3), head_dim each.
    let qNorm, kNorm: [Float]?
    let ffnNorm: [Float]
    let gate, up, down: WeightMatrix
}

/// All weights of a Llama-family model.
struct ModelWeights: @unchecked Sendable {
    let tokenEmbedding: WeightMatrix
    let layers: [LayerWeights]
    let outputNorm: [Float]
    let output: WeightMatrix

    init(gguf: GGUFFile, config c: ModelConfig) throws {
        let qDim = c.headCount * c.headDim, kvDim = c.kvHeadCount * c.headDim
        tokenEmbedding = try WeightMatrix(gguf.requireTensor("token_embd.weight"), rows: c.vocabularySize, columns: c.embeddingLength)
        var layers: [LayerWeights] = []
        for i in 0..<c.layerCount {
            func matrix(_ name: String, rows: Int, columns: Int) throws -> WeightMatrix {
                try WeightMatrix(gguf.requireTensor("blk.\(i).\(name).weight"), rows: rows, columns: columns)
            }
            func bias(_ name: String, length: Int) throws -> [Float]? {
                try optionalVector(gguf, "blk.\(i).\(name).bias", length: length)
            }
            // qwen3 normalises each head's q and k: required there, absent elsewhere.
            func headNorm(_ name: String) throws -> [Float]? {
                c.architecture == .qwen3 ? try vector(gguf, "blk.\(i).\(name).weight", length: c.headDim)
                    : try optionalVector(gguf, "blk.\(i).\(name).weight", length: c.headDim)
            }
            let d = c.embeddingLength, ff = c.feedForwardLength
            let wq, wk, wv, gate, up: WeightMatrix
            if c.architecture == .phi3 {
                // attn_qkv rows: [Q (H·hd) | K (Hkv·hd) | V (Hkv·hd)]; ffn_up rows: [gate (ff) | up (ff)].
                let qkv = try matrix("attn_qkv", rows: qDim + 2 * kvDim, columns: d)
                wq = qkv.rows(0..<qDim, name: qkv.name + "[q]")
                wk = qkv.rows(qDim..<(qDim + kvDim), name: qkv.name + "[k]")
                wv = qkv.rows((qDim + kvDim)..<(qDim + 2 * kvDim), name: qkv.name + "[v]")
                let gateUp = try matrix("ffn_up", rows: 2 * ff, columns: d)
                gate = gateUp.rows(0..<ff, name: gateUp.name + "[gate]")
                up = gateUp.rows(ff..<(2 * ff), name: gateUp.name + "[up]")
            } else {
                wq = try matrix("attn_q", rows: qDim, columns: d)
                wk = try matrix("attn_k", rows: kvDim, columns: d)
                wv = try matrix("attn_v", rows: kvDim, columns: d)
                gate = try matrix("ffn_gate", rows: ff, columns: d)
                up = try matrix("ffn_up", rows: ff, columns: d)
            }
            layers.append(LayerWeights(
                attentionNorm: try vector(gguf, "blk.\(i).attn_norm.weight", length: d),
                wq: wq, wk: wk, wv: wv,
                wo: try matrix("attn_output", rows: d, columns: qDim),
                bq: try bias("attn_q", length: qDim), bk: try bias("attn_k", length: kvDim),
                bv: try bias("attn_v", length: kvDim),
                qNorm: try headNorm("attn_q_norm"), kNorm: try headNorm("attn_k_norm"),
                ffnNorm: try vector(gguf, "blk.\(i).ffn_norm.weight", length: d),
                gate: gate, up: up,
                down: try matrix("ffn_down", rows: d, columns: ff)))
        }
        self.layers = layers
        outputNorm = try vector(gguf, "output_norm.weight", length: c.embeddingLength)
        if let output = gguf.tensor("output.weight") {
            self.output = try WeightMatrix(output, rows: c.vocabularySize, columns: c.embeddingLength)
        } else {
            output = tokenEmbedding   // tied embeddings (SmolLM2, Llama-3.2-1B)
        }
    }
}
