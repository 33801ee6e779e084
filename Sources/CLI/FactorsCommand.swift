import ArgumentParser
import RoPE

/// What `longrope factors` prints.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case json, csv, hf
}

/// `longrope factors`: prints one baseline's per-pair factors.
struct FactorsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "factors",
        abstract: "Print a baseline's RoPE rescale factors (one λ per rotary pair).")

    @Option(help: "Method: \(ScalingSpec.ruleNames.joined(separator: ", ")).")
    var method: String

    @Option(help: "Rotary dimension d (head_dim for Llama); d/2 factors are printed.")
    var headDim: Int

    @Option(help: "RoPE base (rope_theta).")
    var ropeBase: Double = 10_000

    @Option(help: "The context length the model was trained at.")
    var originalContext: Int

    @Option(help: "The context length to extend to.")
    var targetContext: Int

    @Option(help: "NTK alpha (default: the scale s); for dynamic-ntk, HF's factor (default 1).")
    var alpha: Double?

    @Option(help: "Output: json, csv (one λ per line) or hf (a Hugging Face rope_scaling object).")
    var format: OutputFormat = .json

    func validate() throws {
        guard ScalingSpec.ruleNames.contains(method) else {
            throw ValidationError("--method must be one of \(ScalingSpec.ruleNames.joined(separator: ", ")), got \(method)")
        }
        guard headDim >= 2, headDim % 2 == 0 else {
            throw ValidationError("--head-dim must be an even number ≥ 2, got \(headDim)")
        }
        guard ropeBase.isFinite, ropeBase > 1 else {
            throw ValidationError("--rope-base must be a finite number > 1, got \(ropeBase)")
        }
        guard originalContext > 0 else { throw ValidationError("--original-context must be > 0") }
        guard targetContext > 0 else { throw ValidationError("--target-context must be > 0") }
        guard targetContext >= originalContext else {
            throw ValidationError("--target-context (\(targetContext)) must be at least --original-context (\(originalContext)): "
                                  + "these rules extend a context, and below it they would compress positions (λ < 1)")
        }
        if let alpha, !(alpha.isFinite && alpha > 0) {
            throw ValidationError("--alpha must be a finite number > 0, got \(alpha)")
        }
    }

    func run() throws {
        let geometry = RoPEGeometry(rotaryDimension: headDim, base: ropeBase)
        let scale = Double(targetContext) / Double(originalContext)
        // NTK's α and dynamic NTK's factor come from --alpha (defaults s and 1); the others take s.
        let value = switch method {
        case "ntk": alpha ?? scale
        case "dynamic-ntk": alpha ?? 1
        default: scale
        }
        let scaling = ScalingSpec.rule(method, value: value, geometry: geometry, originalContext: originalContext,
                                       context: targetContext)!
        // A huge --alpha overflows the rule's formula (dynamic NTK's base to a power): say so
        // rather than print inf, which no JSON reader takes.
        do { try scaling.checkApplicable(pairs: geometry.pairs) } catch {
            throw ValidationError((alpha.map { "--alpha \($0) gives" } ?? "these arguments give") + " unusable factors: \(error)")
        }
        switch format {
        case .json:
            print(ScalingDocument(scaling, originalContext: originalContext, targetContext: targetContext).json())
        case .csv:
            print(csvLines(scaling.lambda), terminator: "")
        case .hf:
            print(HuggingFaceRopeScaling(
                shortFactor: Array(repeating: 1, count: geometry.pairs), longFactor: scaling.lambda,
                originalContext: originalContext, attentionFactor: scaling.attentionFactor,
                factor: scale).json())
        }
    }
}
