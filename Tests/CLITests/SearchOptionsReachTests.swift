import Foundation
import Testing
import TestSupport
import Wire
@testable import CLI

/// Issue 22: a search option is declared once, as a `SearchOptions` field (whose Codable names
/// are the config file's and the API's keys, so those two follow by construction), and this
/// suite fails, naming the field, until it also reaches `longrope search`'s flags (a flag of the
/// same name, shown in the help, that sets the field) and the OpenAPI document. `seeds` is the
/// API's alone (a config or a command line seeds from another search with `seed_from`).
@Suite struct SearchOptionsReachTests {
    static let keys = SearchOptions.CodingKeys.allCases.map(\.stringValue).filter { $0 != "seeds" }
    static func flag(_ key: String) -> String { "--" + key.replacingOccurrences(of: "_", with: "-") }

    /// A flag sets its field when some value parses and the built options then hold the key.
    /// The values tried cover every option's type: a switch, a count, a range, a list, an enum.
    static func setsItsField(_ key: String) -> Bool {
        let tries: [[String]] = [[], ["2"], ["1.0,1.2"], ["mixed"], ["critical-dimension"], ["bf16"]]
        for value in tries {
            guard let command = try? SearchCommand.parse([flag(key)] + value),
                  let options = try? command.searchOptions(over: nil),
                  let data = try? JSONEncoder().encode(options),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { continue }
            if object[key] != nil { return true }
        }
        return false
    }

    @Test(arguments: keys)
    func everySearchOptionIsAFlagThatSetsIt(_ key: String) {
        #expect(SearchCommand.helpMessage(columns: 400).contains(Self.flag(key)), "\(Self.flag(key)) is not in `longrope search --help`")
        #expect(Self.setsItsField(key), "\(Self.flag(key)) does not set SearchOptions' \(key) (add the flag and its line in searchOptions(over:))")
    }

    @Test func aFlagIsLaidOverTheConfigFilesValue() throws {
        var file = SearchOptions()
        (file.population, file.iterations) = (8, 3)
        let options = try SearchCommand.parse(["--population", "16"]).searchOptions(over: file)
        #expect(options.population == 16 && options.iterations == 3)
    }

    @Test(arguments: keys + ["seeds"])
    func everySearchOptionIsInTheOpenAPIDocumentsCreateSearch(_ key: String) throws {
        let yaml = try String(contentsOf: TestPaths.packageRoot.appendingPathComponent("Sources/Coordinator/openapi.yaml"), encoding: .utf8)
        // The CreateSearch schema: from its name to the next schema at the same indentation.
        let start = try #require(yaml.range(of: "\n    CreateSearch:\n"))
        let rest = yaml[start.upperBound...]
        let end = rest.range(of: "\n    [A-Za-z]+:\n", options: .regularExpression)?.lowerBound ?? rest.endIndex
        #expect(rest[..<end].contains("\n        \(key): "), "\(key) is not a property of CreateSearch in openapi.yaml")
    }
}
