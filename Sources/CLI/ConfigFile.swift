import Foundation

/// A search config file: the flat subset of TOML that configs/*.toml use —
/// `key = value` lines with strings, numbers, booleans and arrays of numbers, `#` comments,
/// and `[section]` headers (ignored: keys are global). Unknown keys are an error, so a typo
/// never silently falls back to a default.
struct ConfigFile {
    enum Value: Equatable {
        case string(String), number(Double), bool(Bool), numbers([Double])
    }

    struct Invalid: Error, CustomStringConvertible { let description: String }

    let path: String
    private(set) var values: [String: Value] = [:]

    init(path: String, allowedKeys: Set<String>) throws {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Invalid(description: "cannot read config file \(path)")
        }
        for (number, rawLine) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = Self.stripComment(String(rawLine)).trimmingCharacters(in: .whitespaces)
            if line.isEmpty || (line.hasPrefix("[") && line.hasSuffix("]")) { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw Invalid(description: "\(path):\(number + 1): expected key = value")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            let text = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard allowedKeys.contains(key) else {
                throw Invalid(description: "\(path):\(number + 1): unknown key \"\(key)\" (known: \(allowedKeys.sorted().joined(separator: ", ")))")
            }
            guard let value = Self.parse(text) else {
                throw Invalid(description: "\(path):\(number + 1): cannot read the value of \(key): \(text)")
            }
            values[key] = value
        }
    }

    static func stripComment(_ line: String) -> String {
        var inString: Character?
        for (i, c) in line.enumerated() {
            if let quote = inString { if c == quote { inString = nil } }
            else if c == "\"" || c == "'" { inString = c }
            else if c == "#" { return String(line.prefix(i)) }
        }
        return line
    }

    static func parse(_ text: String) -> Value? {
        if text.count >= 2, let first = text.first, first == "\"" || first == "'", text.last == first {
            return .string(String(text.dropFirst().dropLast()))
        }
        if text == "true" { return .bool(true) }
        if text == "false" { return .bool(false) }
        if text.hasPrefix("["), text.hasSuffix("]") {
            let inner = text.dropFirst().dropLast().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
            let numbers = inner.compactMap { Double($0.replacingOccurrences(of: "_", with: "")) }
            return numbers.count == inner.count ? .numbers(numbers) : nil
        }
        return Double(text.replacingOccurrences(of: "_", with: "")).map(Value.number)
    }

    func string(_ key: String) throws -> String? {
        guard let value = values[key] else { return nil }
        guard case let .string(s) = value else { throw Invalid(description: "\(path): \(key) must be a string") }
        return s
    }

    func int(_ key: String) throws -> Int? {
        guard let value = values[key] else { return nil }
        guard case let .number(n) = value, n == n.rounded(), abs(n) < 1e15 else {
            throw Invalid(description: "\(path): \(key) must be a whole number")
        }
        return Int(n)
    }

    func double(_ key: String) throws -> Double? {
        guard let value = values[key] else { return nil }
        guard case let .number(n) = value else { throw Invalid(description: "\(path): \(key) must be a number") }
        return n
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = values[key] else { return nil }
        guard case let .bool(b) = value else { throw Invalid(description: "\(path): \(key) must be true or false") }
        return b
    }

    func ints(_ key: String) throws -> [Int]? {
        guard let value = values[key] else { return nil }
        guard case let .numbers(list) = value, list.allSatisfy({ $0 == $0.rounded() }) else {
            throw Invalid(description: "\(path): \(key) must be an array of whole numbers")
        }
        return list.map { Int($0) }
    }

    func doubles(_ key: String) throws -> [Double]? {
        guard let value = values[key] else { return nil }
        guard case let .numbers(list) = value else { throw Invalid(description: "\(path): \(key) must be an array of numbers") }
        return list
    }

    /// Resolves a path relative to the config file's folder.
    func resolve(_ relative: String) -> String {
        if relative.hasPrefix("/") { return relative }
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return URL(fileURLWithPath: absolute).deletingLastPathComponent().appendingPathComponent(relative).standardized.path
    }
}
