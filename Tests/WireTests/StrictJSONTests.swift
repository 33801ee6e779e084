import Foundation
import Search
import Testing
import Wire

/// Request bodies are decoded strictly, and the known fields come from the types' CodingKeys.
@Suite struct StrictJSONTests {
    nonisolated(unsafe) static let minimal: [String: Any] = ["model_sha256": "abc", "text_sha256": "def",
                                         "original_context": 256, "target_context": 2048]

    func decode(_ object: [String: Any]) throws -> CreateSearchRequest {
        try StrictJSON.decode(CreateSearchRequest.self, from: JSONSerialization.data(withJSONObject: object))
    }

    func refusal(_ object: [String: Any]) -> WireError? {
        do { _ = try decode(object); return nil } catch { return error as? WireError }
    }

    @Test func everyOptionTheRequestEncodesIsAcceptedBackAndMeansTheSame() throws {
        var request = CreateSearchRequest(modelSHA256: "abc", textSHA256: "def", originalContext: 256, targetContext: 2048)
        request.name = "n"; request.textOffset = 7; request.pairs = 32; request.ropeBase = 10_000
        var o = SearchOptions()
        o.seed = 3; o.windowCount = 2; o.population = 16; o.iterations = 4; o.budget = 40; o.lambdaMax = 9
        o.attentionFactor = 1.1; o.searchAttentionFactor = false; o.attentionRange = [1, 1.2]; o.space = .criticalDimension
        o.fitness = .keyTokens; o.keyTokenThreshold = 1.5; o.nHat = [0, 4]; o.earlyRejection = false
        o.overlapSteps = true; o.extraSeeds = [[1, 2]]; o.refineIterations = 2; o.needles = 4
        o.pipelineDepth = 2; o.islands = 3; o.migrationInterval = 1; o.attentionPrecision = "bf16"
        request.options = o
        let data = StrictJSON.encode(request)
        let keys = Set((try JSONSerialization.jsonObject(with: data) as! [String: Any]).keys)
        #expect(keys == CreateSearchRequest.fields, "every field is written, and only known ones")
        #expect(try StrictJSON.decode(CreateSearchRequest.self, from: data) == request)
    }

    @Test func theOptionsSitAtTheTopLevelUnderTheirSnakeCaseNames() throws {
        var body = Self.minimal
        body["n_hat"] = [0, 8]; body["fitness"] = "needle"; body["seeds"] = [[1.0, 2.0]]
        let request = try decode(body)
        #expect(request.options.nHat == [0, 8] && request.options.fitness == .needle && request.options.extraSeeds == [[1, 2]])
        #expect(request.options.population == nil, "absent means the default")
    }

    @Test func unknownMissingAndWrongFieldsAreNamed() {
        var unknown = Self.minimal; unknown["populaton"] = 3
        #expect(refusal(unknown) == .unknownField("populaton"))
        var renamed = Self.minimal; renamed["samples"] = 3
        #expect(refusal(renamed) == .renamedField(old: "samples", new: "windows"))
        #expect(WireError.renamedField(old: "samples", new: "windows").description.contains("\"windows\""))
        var missing = Self.minimal; missing["target_context"] = nil
        #expect(refusal(missing) == .missingField("target_context"))
        var fractional = Self.minimal; fractional["population"] = 12.5
        guard case let .invalidValue(field, _)? = refusal(fractional) else { Issue.record("12.5 accepted as a population"); return }
        #expect(field == "population")
        var choice = Self.minimal; choice["space"] = "diagonal"
        guard case let .invalidValue(field, detail)? = refusal(choice) else { Issue.record("unknown space accepted"); return }
        #expect(field == "space" && detail.contains("all-pairs") && detail.contains("critical-dimension"))
    }

    /// Foundation reports a number that does not fit its field (a fraction for an integer, −1
    /// for an unsigned one, 1e30) with no coding path: the field is still the one named, whether
    /// it is required or optional, decoded first or after other required fields.
    @Test func aNumberThatDoesNotFitItsFieldIsNamed() {
        let cases: [(field: String, value: Any)] = [
            ("original_context", 8192.5), ("target_context", 2048.5), ("text_offset", 7.5), ("pairs", 1e30),
            ("population", 12.5), ("seed", -1), ("n_hat", [0, 2.5]),
        ]
        for (field, value) in cases {
            var body = Self.minimal
            body[field] = value
            let refused = refusal(body)
            guard case let .invalidValue(named, detail)? = refused else {
                Issue.record("\(field) = \(value): \(String(describing: refused))"); continue
            }
            #expect(named == field && detail.contains("out of range"), "\(field) = \(value): \(named): \(detail)")
        }
        // Two such fields: one of them is named, not a good one.
        var two = Self.minimal
        two["original_context"] = 256.5; two["target_context"] = 2048.5
        guard case let .invalidValue(named, _)? = refusal(two) else { Issue.record("two bad contexts accepted"); return }
        #expect(named == "original_context" || named == "target_context", "\(named)")
        // The value quoted is the culprit's, a long one cut with an ellipsis.
        var long = Self.minimal
        long["model_sha256"] = String(repeating: "a", count: 64); long["n_hat"] = Array(0..<40) + [2.5]
        guard case let .invalidValue(named, detail)? = refusal(long) else { Issue.record("n_hat 2.5 accepted"); return }
        #expect(named == "n_hat" && !detail.contains("aaaa") && detail.hasPrefix("[0,1,2,") && detail.contains("…"), "\(detail)")
    }

    /// A unit's fitness is the search's `Fitness`: a worker refuses a name it does not know,
    /// saying which it knows; a probe is its own flag.
    @Test func aUnitsFitnessIsTheEnum() throws {
        var unit = WorkUnit(searchID: 1, candidateRowID: 2, window: 0, lambda: [1, 2], nHat: 0, attentionFactor: 1,
                            targetContext: 512, windowCount: 1, modelSHA256: "m", textSHA256: "t", textOffset: 0)
        unit.fitness = .mixed
        unit.probe = true
        let data = StrictJSON.encode(unit)
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        #expect(object["fitness"] as? String == "mixed" && object["probe"] as? Bool == true)
        #expect(try StrictJSON.decode(WorkUnit.self, from: data) == unit)
        var wrong = object
        wrong["fitness"] = "probe"
        do {
            _ = try StrictJSON.decode(WorkUnit.self, from: JSONSerialization.data(withJSONObject: wrong))
            Issue.record("fitness \"probe\" accepted")
        } catch let WireError.invalidValue(field, detail) {
            #expect(field == "fitness" && detail.contains("key-tokens") && detail.contains("mixed"), "\(detail)")
        }
    }

    @Test func fieldsAreTheCodingKeys() {
        #expect(Heartbeat.fields == ["secret"])
        #expect(WorkUnit.fields.contains("n_hat") && WorkUnit.fields.contains("candidate_row"))
        #expect(SearchOptions.fields.isSubset(of: CreateSearchRequest.fields))
        #expect(!SearchOptions.fields.contains("extraSeeds") && SearchOptions.fields.contains("seeds"))
    }
}
