import Foundation
import Testing
import RoPE

// Reference values from ../shared/docs/rope-methods.md (computed there in float64).

private func close(_ a: Double, _ b: Double, _ tolerance: Double = 5e-5) -> Bool {
    abs(a - b) <= tolerance
}

@Suite struct BaselineTests {
    let llama2 = RoPEGeometry(rotaryDimension: 128, base: 10_000)

    @Test func yarnRampBoundsMatchTheReference() {
        let bounds = RoPEScaling.yarnRampBounds(geometry: llama2, originalContext: 4096)
        #expect(bounds.low == 20)
        #expect(bounds.high == 46)
        let other = RoPEScaling.yarnRampBounds(geometry: llama2, originalContext: 2048)
        #expect(other.low == 16)
        #expect(other.high == 41)
    }

    @Test func yarnFactorsMatchTheReference() {
        let yarn = RoPEScaling.yarn(geometry: llama2, scale: 8, originalContext: 4096)
        #expect(yarn.lambda.count == 64)
        #expect(yarn.lambda[0...20].allSatisfy { $0 == 1 })
        #expect(close(yarn.lambda[21], 1.0348))
        #expect(close(yarn.lambda[33], 1.7778))
        #expect(yarn.lambda[46...63].allSatisfy { close($0, 8, 1e-12) })
        #expect(close(yarn.attentionFactor, 1.207944, 1e-6))
        #expect(yarn.method == "yarn")
        let sixteen = RoPEScaling.yarn(geometry: llama2, scale: 16, originalContext: 2048)
        #expect(close(sixteen.attentionFactor, 1.277259, 1e-6))
    }

    @Test func yarnLinearBlendIsLinearInLambda() {
        let harmonic = RoPEScaling.yarn(geometry: llama2, scale: 8, originalContext: 4096)
        let linear = RoPEScaling.yarn(geometry: llama2, scale: 8, originalContext: 4096, blend: .linear)
        #expect(linear.method == "yarn-linear")
        // Pair 33: ramp = 13/26 = 0.5, γ = 0.5: linear 8·0.5 + 0.5 = 4.5, harmonic 1/(0.0625+0.5).
        #expect(close(linear.lambda[33], 4.5, 1e-12))
        #expect(close(harmonic.lambda[33], 1 / 0.5625, 1e-12))
        // They agree where γ ∈ {0, 1}.
        #expect(linear.lambda[0] == 1 && linear.lambda[63] == 8)
        #expect(linear.attentionFactor == harmonic.attentionFactor)
    }

    @Test func ntkFactorsMatchTheReference() {
        let ntk = RoPEScaling.ntk(pairs: 64, alpha: 8)
        #expect(ntk.lambda[0] == 1)
        #expect(close(ntk.lambda[1], 1.0336))
        #expect(close(ntk.lambda[2], 1.0682))
        #expect(close(ntk.lambda[31], 2.7821))
        #expect(close(ntk.lambda[62], 7.7403))
        #expect(close(ntk.lambda[63], 8, 1e-12))
        #expect(ntk.attentionFactor == 1)
    }

    @Test func ntkEqualsABaseChange() {
        // λ_i = α^(2i/(d−2)) is the same as rotating with base b·α^(d/(d−2)).
        let d = 8.0, alpha = 4.0
        let ntk = RoPEScaling.ntk(pairs: 4, alpha: alpha)
        let newBase = 10_000 * pow(alpha, d / (d - 2))
        for i in 0..<4 {
            let expected = pow(10_000, -2 * Double(i) / d) / pow(newBase, -2 * Double(i) / d)
            #expect(close(ntk.lambda[i], expected, 1e-9))
        }
        #expect(close(newBase, 63496.0421, 1e-3))
    }

    @Test func dynamicNTKFollowsTheWindow() {
        // s = 2, L = 8192, L_train = 4096 gives α = 3 (rope-methods.md §3).
        let dynamic = RoPEScaling.dynamicNTK(pairs: 64, windowLength: 8192, trainedContext: 4096, factor: 2)
        #expect(close(dynamic.lambda[63], 3, 1e-12))
        let inside = RoPEScaling.dynamicNTK(pairs: 64, windowLength: 2048, trainedContext: 4096, factor: 2)
        #expect(inside.lambda.allSatisfy { $0 == 1 })
        let plain = RoPEScaling.dynamicNTK(pairs: 64, windowLength: 16384, trainedContext: 4096)
        #expect(close(plain.lambda[63], 4, 1e-12))
    }

    @Test func llama3FactorsMatchTheReference() {
        let geometry = RoPEGeometry(rotaryDimension: 128, base: 500_000)
        let llama3 = RoPEScaling.llama3(geometry: geometry, factor: 8, originalContext: 8192)
        #expect(llama3.lambda[0...28].allSatisfy { $0 == 1 })
        #expect(llama3.lambda[35...63].allSatisfy { $0 == 8 })
        let expected = [1.2075, 1.5534, 2.0263, 2.6945, 3.6843, 5.2573]
        for (offset, value) in expected.enumerated() {
            #expect(close(llama3.lambda[29 + offset], value), "pair \(29 + offset)")
        }
    }

    @Test func linearAndNone() {
        #expect(RoPEScaling.linear(pairs: 4, scale: 8).lambda == [8, 8, 8, 8])
        #expect(RoPEScaling.none(pairs: 3).lambda == [1, 1, 1])
        #expect(RoPEScaling.none(pairs: 3).attentionFactor == 1)
    }

    @Test func longRoPEAttentionFactorOfPhi3Mini128k() {
        let m = RoPEScaling.longRoPEAttentionFactor(scale: 131_072.0 / 4096, originalContext: 4096)
        #expect(close(m, 1.190238, 1e-6))
        #expect(RoPEScaling.longRoPEAttentionFactor(scale: 1, originalContext: 4096) == 1)
    }

    @Test func longRoPEPicksTheSetByWindowLength() {
        let factors = LongRoPEFactors(shortFactors: [1, 1], longFactors: [2, 3],
                                      originalContext: 4096, maxContext: 131_072)
        #expect(close(factors.attentionFactor, 1.190238, 1e-6))
        #expect(factors.scaling(forWindowLength: 4096).lambda == [1, 1])
        #expect(factors.scaling(forWindowLength: 4097).lambda == [2, 3])
        #expect(factors.scaling(forWindowLength: 4097).attentionFactor == factors.attentionFactor)
        let given = LongRoPEFactors(shortFactors: [1], longFactors: [2], originalContext: 4096,
                                    maxContext: 8192, attentionFactor: 1.5)
        #expect(given.attentionFactor == 1.5)
    }

    @Test func rescalingForProgressiveExtension() {
        let found = RoPEScaling(method: "search", lambda: [1, 3, 5])   // found at s = 5
        let rescaled = found.rescaled(fromScale: 5, toScale: 9)
        #expect(rescaled.lambda == [1, 5, 9])
    }

    @Test func frequenciesDivideTheta() {
        let scaling = RoPEScaling(method: "x", lambda: [1, 2])
        let f = scaling.frequencies(base: 10_000)
        #expect(f[0] == 1)
        #expect(close(f[1], 0.01 / 2, 1e-15))
    }
}
