import Evaluator
import GGUF
import Runner

// The one export that needs the model file and the transformer's reading of it, kept out of
// Runner so that the runner, the dispatcher and the simulation do not link the transformer.
extension Exporter {
    /// Writes a copy of `model` with λ as `rope_freqs.weight` (multiplied into any factors the
    /// model already had) and m as `{arch}.rope.scaling.attn_factor`; the scaling type becomes
    /// `none` so llama.cpp applies exactly θ_i/λ_i, and `context_length` the target.
    public static func gguf(_ summary: SearchSummary, model: GGUFFile, to path: String) throws {
        // The evaluator's reading of the file: its pairs and the factors it already applies.
        let config = try ModelConfig(gguf: model)
        let arch = config.architecture.rawValue
        let pairs = summary.lambda.count
        guard pairs == config.storedPairFactors.count else {
            throw GGUFError.wrongTensorShape(tensor: "rope_freqs.weight", expected: [config.storedPairFactors.count], got: [pairs])
        }
        let factors = (0..<pairs).map { Float(config.storedPairFactors[$0] * summary.lambda[$0]) }
        let storedM = config.storedAttentionFactor

        var writer = GGUFWriter(copying: model)
        writer.tensors.removeAll { $0.name == "rope_freqs.weight" }
        writer.set("\(arch).rope.scaling.type", .string("none"))
        writer.metadata.removeAll { $0.0 == "\(arch).rope.scaling.factor" || $0.0 == "\(arch).rope.scale_linear" }
        writer.set("\(arch).rope.scaling.attn_factor", .float32(Float(storedM * summary.attentionFactor)))
        writer.set("\(arch).rope.scaling.original_context_length", .uint32(UInt32(summary.originalContext)))
        writer.set("\(arch).context_length", .uint32(UInt32(summary.targetContext)))
        try factors.withUnsafeBytes { bytes in
            writer.tensors.append(.init(name: "rope_freqs.weight", type: .f32, shape: [pairs], bytes: bytes))
            try writer.write(to: path)
        }
    }
}
