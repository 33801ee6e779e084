import Kernels

/// The precision of attention's inputs. `f32`: every product in FP32 (the reference the
/// perplexity tests check against llama.cpp). `bf16`: queries, keys, values and probabilities
/// rounded to BF16, products accumulated in FP32 (softmax, sums and output stay FP32); about
/// twice as fast where the CPU has AVX512_BF16, and the same bits where it does not (emulated:
/// on AVX2 about as fast as `f32`). Both give the same bits for any number of threads.
public enum AttentionPrecision: String, Sendable, CaseIterable, Codable {
    case f32, bf16

    /// `bf16` where this CPU runs the instruction (twice `f32`'s speed), else `f32`, the
    /// reference precision (the emulation would be about as fast, and round).
    public static var fastest: AttentionPrecision { lr_bf16_native_available() != 0 ? .bf16 : .f32 }

    /// Whether a model of this head dimension can run at this precision (BF16 takes head
    /// dimensions in blocks of 32: pairs in 16 lanes).
    public func supports(headDim: Int) -> Bool { self == .f32 || headDim % 32 == 0 }

    /// Why `model` (of this head dimension) cannot run at this precision; nil when it can.
    public func problem(headDim: Int, model: String = "this model") -> String? {
        supports(headDim: headDim) ? nil
            : "\(rawValue.uppercased()) attention needs a head dimension that is a multiple of 32; \(model)'s is \(headDim) (use f32)"
    }

    /// What runs it here: the kernel level for f32; `avx512bf16` or `emulated` for bf16.
    public var kernels: String {
        switch self {
        case .f32: return KernelLevel.current
        case .bf16: return lr_bf16_native_available() != 0 ? "avx512bf16" : "bf16-emulated"
        }
    }
}
