import Testing
import RoPE

@Suite struct ValidationTests {
    func candidate(_ lambda: [Double], nHat: Int = 0, m: Double = 1) -> RoPEScaling {
        RoPEScaling(method: "search", lambda: lambda, nHat: nHat, attentionFactor: m)
    }

    @Test func aValidCandidatePasses() throws {
        try candidate([1, 1, 2.5, 9]).validate(pairs: 4, lambdaMax: 9)
        try RoPEScaling.yarn(geometry: .init(rotaryDimension: 128, base: 1e4), scale: 8,
                             originalContext: 4096).validate(pairs: 64, lambdaMax: 9)
    }

    @Test func wrongCount() {
        #expect(throws: RoPEValidationError.wrongPairCount(expected: 4, got: 3)) {
            try candidate([1, 2, 3]).validate(pairs: 4)
        }
    }

    @Test func nonFinite() {
        #expect(throws: RoPEValidationError.self) { try candidate([1, .nan, 3, 4]).validate(pairs: 4) }
        #expect(throws: RoPEValidationError.nonFinite(index: 3, value: .infinity)) {
            try candidate([1, 2, 3, .infinity]).validate(pairs: 4)
        }
    }

    @Test func belowOne() {
        #expect(throws: RoPEValidationError.belowOne(index: 0, value: 0.5)) {
            try candidate([0.5, 2, 3, 4]).validate(pairs: 4)
        }
    }

    @Test func notMonotone() {
        #expect(throws: RoPEValidationError.notMonotone(index: 2, previous: 3, value: 2)) {
            try candidate([1, 3, 2, 4]).validate(pairs: 4)
        }
    }

    @Test func aboveMaximum() {
        #expect(throws: RoPEValidationError.aboveMaximum(index: 3, value: 10, maximum: 9)) {
            try candidate([1, 2, 3, 10]).validate(pairs: 4, lambdaMax: 9)
        }
        // Without a bound the same candidate is fine.
        #expect(throws: Never.self) { try candidate([1, 2, 3, 10]).validate(pairs: 4) }
    }

    @Test func negativeStartTokens() {
        #expect(throws: RoPEValidationError.negativeStartTokens(-1)) {
            try candidate([1, 2], nHat: -1).validate(pairs: 2)
        }
    }

    @Test func invalidAttentionFactor() {
        #expect(throws: RoPEValidationError.invalidAttentionFactor(0)) {
            try candidate([1, 2], m: 0).validate(pairs: 2)
        }
        #expect(throws: RoPEValidationError.self) { try candidate([1, 2], m: .nan).validate(pairs: 2) }
        #expect(throws: RoPEValidationError.self) { try candidate([1, 2], m: -1).validate(pairs: 2) }
        // Finite as a Double but not as a Float (the rotation tables' type): once a finite loss of nonsense.
        #expect(throws: RoPEValidationError.invalidAttentionFactor(1e39)) { try candidate([1, 2], m: 1e39).validate(pairs: 2) }
        #expect(throws: RoPEApplicabilityError.invalidAttentionFactor(1e300)) {
            try candidate([1, 2], m: 1e300).checkApplicable(pairs: 2)
        }
        #expect(throws: Never.self) { try candidate([1, 2], m: 1e30).checkApplicable(pairs: 2) }
    }

    @Test func errorsNameTheProblem() {
        let error = RoPEValidationError.notMonotone(index: 2, previous: 3, value: 2)
        #expect(error.description.contains("lambda[2]"))
        #expect(error.description.contains("non-decreasing"))
    }

    @Test func applicabilityIsLooserButStillChecks() throws {
        try candidate([2, 1]).checkApplicable(pairs: 2)   // non-monotone is applicable
        #expect(throws: RoPEApplicabilityError.notPositive(index: 1, value: 0)) {
            try candidate([2, 0]).checkApplicable(pairs: 2)
        }
        #expect(throws: RoPEApplicabilityError.wrongPairCount(expected: 3, got: 2)) {
            try candidate([2, 1]).checkApplicable(pairs: 3)
        }
    }
}
