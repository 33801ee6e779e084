import Kernels

/// The CPU level the evaluator's hot kernels run at in this process: `avx512` where the CPU has
/// AVX-512, else `avx2` (the build's baseline on x86-64), unless the environment variable
/// `LONGROPE_KERNELS` named a lower level at start. Every level gives the same bits.
public enum KernelLevel {
    /// The level in use, e.g. `avx2`.
    public static var current: String { String(cString: lr_kernels_name(lr_kernels_level())) }
    /// `current`, with `+bf16` where BF16 attention runs the AVX512_BF16 instruction (e.g.
    /// `avx512+bf16`): what a worker registers and `longrope workers` lists.
    public static var summary: String { current + (lr_bf16_native_available() != 0 ? "+bf16" : "") }
}
