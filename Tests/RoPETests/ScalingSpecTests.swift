import Foundation
import Testing
import RoPE

/// Rule names become scalings in one place (`ScalingSpec`), for eval, passkey, factors and the benchmarks.
@Suite struct ScalingSpecTests {
    let geometry = RoPEGeometry(rotaryDimension: 64, base: 10_000)

    @Test func everyRuleParsesWithItsNumber() throws {
        for name in ScalingSpec.ruleNames {
            let parsed = try ScalingSpec.parse("\(name):4", geometry: geometry, originalContext: 256, context: 1024)
            let direct = try #require(ScalingSpec.rule(name, value: 4, geometry: geometry, originalContext: 256, context: 1024))
            #expect(parsed.lambda == direct.lambda && parsed.attentionFactor == direct.attentionFactor, "\(name)")
            #expect(parsed.lambda.count == 32)
        }
        let pi = try ScalingSpec.parse("pi:4", geometry: geometry, originalContext: 256, context: 1024)
        #expect(pi.lambda.allSatisfy { $0 == 4 })
    }

    @Test func aMissingNumberOrAnUnknownNameIsAClearError() {
        #expect(throws: ScalingSpec.Invalid.self) { _ = try ScalingSpec.parse("yarn", geometry: geometry, originalContext: 256, context: 1024) }
        do { _ = try ScalingSpec.parse("bogus", geometry: geometry, originalContext: 256, context: 1024) } catch {
            #expect("\(error)".contains("not a method"), "\(error)")
        }
        #expect(ScalingSpec.rule("bogus", value: 2, geometry: geometry, originalContext: 256, context: 1024) == nil)
    }
}
