import Foundation
import Testing
import TestSupport

@Suite struct FactorsCommandTests {
    func json(_ text: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func yarnAsJSON() throws {
        let result = try runLongrope(["factors", "--method", "yarn", "--head-dim", "128",
                                      "--rope-base", "10000", "--original-context", "4096",
                                      "--target-context", "32768", "--format", "json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try json(result.stdout)
        let lambda = try #require(object["lambda"] as? [Double])
        #expect(lambda.count == 64)
        #expect(abs(lambda[21] - 1.0348) < 5e-5)
        #expect(lambda[63] == 8)
        #expect(object["method"] as? String == "yarn")
        #expect(object["n_hat"] as? Int == 0)
        #expect(abs((object["attention_factor"] as? Double ?? 0) - 1.207944) < 1e-6)
        #expect(object["scale"] as? Double == 8)
        #expect(object["original_context"] as? Int == 4096)
        #expect(object["target_context"] as? Int == 32768)
    }

    @Test func ntkAsCSV() throws {
        let result = try runLongrope(["factors", "--method", "ntk", "--head-dim", "128",
                                      "--original-context", "4096", "--target-context", "32768",
                                      "--format", "csv"])
        #expect(result.status == 0, "\(result.stderr)")
        let values = result.stdout.split(separator: "\n").compactMap { Double($0) }
        #expect(values.count == 64)
        #expect(abs(values[31] - 2.7821) < 5e-5)
        #expect(abs(values[63] - 8) < 1e-12)
    }

    @Test func llama3AsHuggingFace() throws {
        let result = try runLongrope(["factors", "--method", "llama3", "--head-dim", "128",
                                      "--rope-base", "500000", "--original-context", "8192",
                                      "--target-context", "65536", "--format", "hf"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try json(result.stdout)
        #expect(object["rope_type"] as? String == "longrope")
        let long = try #require(object["long_factor"] as? [Double])
        let short = try #require(object["short_factor"] as? [Double])
        #expect(long.count == 64 && short.count == 64)
        #expect(abs(long[29] - 1.2075) < 5e-5)
        #expect(short.allSatisfy { $0 == 1 })
        #expect(object["original_max_position_embeddings"] as? Int == 8192)
        #expect(object["attention_factor"] as? Double == 1)
    }

    @Test(arguments: [
        (["--method", "bogus"], "method"),
        (["--head-dim", "7"], "head-dim"),
        (["--rope-base", "-3"], "rope-base"),
        (["--original-context", "0"], "original-context"),
        (["--alpha", "nan"], "alpha"),
        (["--method", "dynamic-ntk", "--alpha", "1e308"], "--alpha 1e+308 gives unusable factors: lambda[1] = inf"),
        (["--method", "dynamic-ntk", "--alpha", "1e308", "--format", "hf"], "--alpha 1e+308 gives unusable factors"),
        (["--method", "yarn", "--target-context", "256"], "--target-context (256) must be at least --original-context (512)"),
        (["--format", "xml"], "format"),
    ])
    func badArgumentsExitNonZeroWithAReason(override: [String], mentions: String) throws {
        var arguments = ["factors", "--method", "pi", "--head-dim", "8", "--original-context", "512",
                         "--target-context", "4096"]
        for pair in stride(from: 0, to: override.count, by: 2) {
            if let index = arguments.firstIndex(of: override[pair]) {
                arguments[index + 1] = override[pair + 1]
            } else {
                arguments += [override[pair], override[pair + 1]]
            }
        }
        let result = try runLongrope(arguments)
        #expect(result.status != 0)
        #expect(result.stderr.contains(mentions), "stderr: \(result.stderr)")
        #expect(result.stdout.isEmpty)
    }
}
