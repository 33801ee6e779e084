import Foundation

/// Why a candidate breaks LongRoPE's search constraints. Each case names the offending value.
public enum RoPEValidationError: Error, Equatable, CustomStringConvertible {
    case wrongPairCount(expected: Int, got: Int)
    case nonFinite(index: Int, value: Double)
    case belowOne(index: Int, value: Double)
    case notMonotone(index: Int, previous: Double, value: Double)
    case aboveMaximum(index: Int, value: Double, maximum: Double)
    case negativeStartTokens(Int)
    case invalidAttentionFactor(Double)

    public var description: String {
        switch self {
        case let .wrongPairCount(expected, got):
            return "expected \(expected) factors (one per rotary pair, d/2), got \(got)"
        case let .nonFinite(index, value):
            return "lambda[\(index)] is \(value); every factor must be finite"
        case let .belowOne(index, value):
            return "lambda[\(index)] = \(value) is below 1"
        case let .notMonotone(index, previous, value):
            return "lambda must be non-decreasing: lambda[\(index)] = \(value) < lambda[\(index - 1)] = \(previous)"
        case let .aboveMaximum(index, value, maximum):
            return "lambda[\(index)] = \(value) is above the bound lambda_max = \(maximum)"
        case let .negativeStartTokens(n):
            return "n_hat = \(n) is negative"
        case let .invalidAttentionFactor(m):
            return "attention factor m = \(m) must be > 0 and fit a 32-bit float (at most ~3.4e38)"
        }
    }
}

extension RoPEScaling {
    /// Whether `m` can scale the rotation tables: positive and finite as a Float (the tables'
    /// type; a larger m made them infinite, and the loss finite nonsense instead of NaN).
    public static func isUsableAttentionFactor(_ m: Double) -> Bool { m > 0 && Float(m).isFinite }

    /// Checks the LongRoPE search constraints: `pairs` factors, each finite and ≥ 1,
    /// non-decreasing in i, at most `lambdaMax` (when given); n̂ ≥ 0; m > 0 and finite as a Float.
    /// Throws the first violation found.
    public func validate(pairs expectedPairs: Int, lambdaMax: Double? = nil) throws(RoPEValidationError) {
        guard lambda.count == expectedPairs else {
            throw .wrongPairCount(expected: expectedPairs, got: lambda.count)
        }
        for (i, value) in lambda.enumerated() {
            guard value.isFinite else { throw .nonFinite(index: i, value: value) }
            guard value >= 1 else { throw .belowOne(index: i, value: value) }
            if i > 0, value < lambda[i - 1] {
                throw .notMonotone(index: i, previous: lambda[i - 1], value: value)
            }
            if let lambdaMax, value > lambdaMax {
                throw .aboveMaximum(index: i, value: value, maximum: lambdaMax)
            }
        }
        guard nHat >= 0 else { throw .negativeStartTokens(nHat) }
        guard Self.isUsableAttentionFactor(attentionFactor) else {
            throw .invalidAttentionFactor(attentionFactor)
        }
    }
}

/// Why a scaling cannot be applied at all (looser than the search constraints: an evaluator
/// accepts any positive, finite factors, monotone or not).
public enum RoPEApplicabilityError: Error, Equatable, CustomStringConvertible {
    case wrongPairCount(expected: Int, got: Int)
    case notPositive(index: Int, value: Double)
    case negativeStartTokens(Int)
    case invalidAttentionFactor(Double)

    public var description: String {
        switch self {
        case let .wrongPairCount(expected, got):
            return "the scaling has \(got) factors but the model has \(expected) rotary pairs"
        case let .notPositive(index, value):
            return "lambda[\(index)] = \(value) must be finite and > 0"
        case let .negativeStartTokens(n):
            return "n_hat = \(n) is negative"
        case let .invalidAttentionFactor(m):
            return "attention factor m = \(m) must be > 0 and fit a 32-bit float (at most ~3.4e38)"
        }
    }
}

extension RoPEScaling {
    /// Checks that the scaling can be applied to a model with `pairs` rotary pairs.
    public func checkApplicable(pairs expectedPairs: Int) throws(RoPEApplicabilityError) {
        guard lambda.count == expectedPairs else {
            throw .wrongPairCount(expected: expectedPairs, got: lambda.count)
        }
        for (i, value) in lambda.enumerated() where !(value.isFinite && value > 0) {
            throw .notPositive(index: i, value: value)
        }
        guard nHat >= 0 else { throw .negativeStartTokens(nHat) }
        guard Self.isUsableAttentionFactor(attentionFactor) else {
            throw .invalidAttentionFactor(attentionFactor)
        }
    }
}
