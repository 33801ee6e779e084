import Foundation
import TOMLKit
import Wire

/// A search config file (configs/*.toml): the search options under the API's names, and where
/// the files are.
///
/// Read by TOMLKit, then decoded as the API decodes a request body (`StrictJSON`): the options
/// land in `SearchOptions` whole, so an option the API gains is a config key at once, and an
/// unknown key, a wrong type or a malformed line is an error that names it — a typo never
/// falls back to a default. Integers are accepted where a number is expected (`lambda_max = 3`).
public struct ConfigFile: StrictDecodable {
    public struct Invalid: Error, CustomStringConvertible { public let description: String }

    /// The search options (every `SearchOptions` key but `seeds`, the API's alone).
    public var options: SearchOptions
    public var model: String?
    public var text: String?
    public var db: String?
    public var out: String?
    public var name: String?
    public var textOffset: Int?
    public var originalContext: Int?
    public var targetContext: Int?
    /// Seed the population from this earlier search's best (in the same database).
    public var seedFrom: Int64?
    /// Seed the population from a factors file found at a shorter target (`SeedFactors`).
    public var seedFactors: String?
    public var threads: Int?
    /// The file's path, for paths relative to it.
    public var path = ""

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case model, text, db, out, name, threads
        case textOffset = "text_offset", originalContext = "original_context", targetContext = "target_context"
        case seedFrom = "seed_from", seedFactors = "seed_factors"
    }

    public static var fields: Set<String> {
        Set(CodingKeys.allCases.map(\.stringValue)).union(SearchOptions.fields).subtracting(["seeds"])
    }

    public init(from decoder: Decoder) throws {
        options = try SearchOptions(from: decoder)
        let keys = try decoder.container(keyedBy: CodingKeys.self)
        model = try keys.decodeIfPresent(String.self, forKey: .model)
        text = try keys.decodeIfPresent(String.self, forKey: .text)
        db = try keys.decodeIfPresent(String.self, forKey: .db)
        out = try keys.decodeIfPresent(String.self, forKey: .out)
        name = try keys.decodeIfPresent(String.self, forKey: .name)
        threads = try keys.decodeIfPresent(Int.self, forKey: .threads)
        textOffset = try keys.decodeIfPresent(Int.self, forKey: .textOffset)
        originalContext = try keys.decodeIfPresent(Int.self, forKey: .originalContext)
        targetContext = try keys.decodeIfPresent(Int.self, forKey: .targetContext)
        seedFrom = try keys.decodeIfPresent(Int64.self, forKey: .seedFrom)
        seedFactors = try keys.decodeIfPresent(String.self, forKey: .seedFactors)
    }

    /// Reads and decodes the file at `path`.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Invalid(description: "cannot read config file \(path)")
        }
        let table: TOMLTable
        do { table = try TOMLTable(string: String(decoding: data, as: UTF8.self)) }
        catch { throw Invalid(description: "\(path): not TOML: \(error)") }
        // TOML has nan and inf; JSON, and every value here, does not.
        if let key = table.keys.sorted().first(where: { Self.holdsNonFinite(table[$0]) }) {
            throw Invalid(description: "\(path): \(key) must be finite (nan and inf are not values here)")
        }
        guard var object = try? JSONSerialization.jsonObject(with: Data(table.convert(to: .json).utf8)) as? [String: Any] else {
            throw Invalid(description: "\(path): cannot read the file's values")
        }
        if let section = object.keys.sorted().first(where: { object[$0] is [String: Any] }) {
            throw Invalid(description: "\(path): [\(section)] — a config's keys sit at the top level, without sections")
        }
        // `samples` was the name of `windows` before 2026-11-28; still read.
        if let samples = object.removeValue(forKey: "samples"), object["windows"] == nil { object["windows"] = samples }
        do {
            self = try StrictJSON.decode(ConfigFile.self, from: try JSONSerialization.data(withJSONObject: object))
        } catch let error as WireError {
            throw Invalid(description: "\(path): \(Self.describe(error))")
        }
        // The name goes into the database and `longrope status`'s table, as the API's does.
        if let name, let problem = nameProblem(name, label: "name", mayBeEmpty: true) {
            throw Invalid(description: "\(path): \(problem)")
        }
        self.path = path
    }

    /// Whether a TOML value is, or holds, nan or ±inf.
    static func holdsNonFinite(_ value: TOMLValueConvertible?) -> Bool {
        if let number = value?.double { return !number.isFinite }
        if let array = value?.array { return array.contains { holdsNonFinite($0) } }
        if let table = value?.table { return table.keys.contains { holdsNonFinite(table[$0]) } }
        return false
    }

    /// A decoding problem in a config file's words (keys, not fields).
    static func describe(_ error: WireError) -> String {
        switch error {
        case let .unknownField(key):
            return "unknown key \"\(key)\" (known: \(fields.sorted().joined(separator: ", ")))"
        case let .wrongType(key, expected):
            return "\(key) must be \(expected)"
        default:
            return "\(error)"
        }
    }

    /// Resolves a path relative to the config file's folder.
    public func resolve(_ relative: String) -> String {
        if relative.hasPrefix("/") { return relative }
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return URL(fileURLWithPath: absolute).deletingLastPathComponent().appendingPathComponent(relative).standardized.path
    }
}
