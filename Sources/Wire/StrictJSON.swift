import Foundation

/// Why a request body was refused; each case names the field.
public enum WireError: Error, Equatable, CustomStringConvertible {
    case malformedJSON(String)
    case notAnObject
    case unknownField(String)
    case renamedField(old: String, new: String)
    case missingField(String)
    case wrongType(field: String, expected: String)
    case invalidValue(field: String, detail: String)

    public var description: String {
        switch self {
        case let .malformedJSON(detail): return "malformed JSON: \(detail)"
        case .notAnObject: return "the body must be a JSON object"
        case let .unknownField(name): return "unknown field \"\(name)\""
        case let .renamedField(old, new): return "field \"\(old)\" is now called \"\(new)\""
        case let .missingField(name): return "missing field \"\(name)\""
        case let .wrongType(field, expected): return "field \"\(field)\" must be \(expected)"
        case let .invalidValue(field, detail): return "field \"\(field)\": \(detail)"
        }
    }
}

/// A request type whose top-level fields are known, so unknown ones can be refused: by
/// default the names of its `CodingKeys`, so the list is never written twice.
public protocol StrictDecodable: Decodable {
    associatedtype CodingKeys: CodingKey & CaseIterable
    static var fields: Set<String> { get }
    /// Old names of fields, refused with a message naming the new one.
    static var renamedFields: [String: String] { get }
}

extension StrictDecodable {
    public static var fields: Set<String> { Set(CodingKeys.allCases.map(\.stringValue)) }
    public static var renamedFields: [String: String] { [:] }
}

/// Decodes JSON strictly: malformed JSON, a non-object, an unknown field, a missing field or a
/// wrong type each throw a `WireError` naming what is wrong.
public enum StrictJSON {
    public static func decode<T: StrictDecodable>(_ type: T.Type, from data: Data) throws -> T {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) }
        catch { throw WireError.malformedJSON((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "cannot parse") }
        guard let dictionary = object as? [String: Any] else { throw WireError.notAnObject }
        if let unknown = dictionary.keys.sorted().first(where: { !T.fields.contains($0) }) {
            if let new = T.renamedFields[unknown] { throw WireError.renamedField(old: unknown, new: new) }
            throw WireError.unknownField(unknown)
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            switch error {
            case let .keyNotFound(key, context):
                throw WireError.missingField((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))
            case let .typeMismatch(expected, context), let .valueNotFound(expected, context):
                throw WireError.wrongType(field: context.codingPath.map(\.stringValue).joined(separator: "."),
                                          expected: describe(expected))
            case let .dataCorrupted(context):
                // Foundation reports a number that does not fit its field (512.5 or −1 for an
                // unsigned integer) with no coding path: find the field by leaving each out.
                if context.codingPath.isEmpty, let field = culprit(T.self, in: dictionary) {
                    throw WireError.invalidValue(field: field, detail: "\(render(dictionary[field]!)) has the wrong type or is out of range")
                }
                throw WireError.invalidValue(field: context.codingPath.map(\.stringValue).joined(separator: "."),
                                             detail: context.debugDescription)
            @unknown default:
                throw WireError.malformedJSON("\(error)")
            }
        }
    }

    /// The field whose value the decoder could not take. Every number in the body is first
    /// made to fit any numeric field (`fitting`); if that cures the error, the culprit is the
    /// first field (by name) whose own value alone brings it back. (Leaving a field out is no
    /// test: decoding stops at the first required field missing, which may come before the
    /// culprit.) Failing that, the first field whose removal cures it (an optional one).
    static func culprit<T: Decodable>(_ type: T.Type, in dictionary: [String: Any]) -> String? {
        func corrupt(_ object: [String: Any]) -> Bool {
            guard let data = try? JSONSerialization.data(withJSONObject: object) else { return true }
            do { _ = try JSONDecoder().decode(T.self, from: data); return false }
            catch let DecodingError.dataCorrupted(context) where context.codingPath.isEmpty { return true }
            catch { return false }
        }
        let fitted = dictionary.mapValues(fitting)
        if !corrupt(fitted) {
            return dictionary.keys.sorted().first { key in
                var test = fitted
                test[key] = dictionary[key]
                return corrupt(test)
            }
        }
        return dictionary.keys.sorted().first { key in
            var rest = dictionary
            rest[key] = nil
            guard let data = try? JSONSerialization.data(withJSONObject: rest) else { return false }
            return (try? JSONDecoder().decode(T.self, from: data)) != nil
        }
    }

    /// `value` with every number in it made to fit any numeric field, signed or not: 512.5 → 512,
    /// −3 → 3, 1e30 → 1. Whole numbers from 0 to 2³¹ − 1, strings and the rest are kept as they are.
    static func fitting(_ value: Any) -> Any {
        switch value {
        case let array as [Any]: return array.map(fitting)
        case let object as [String: Any]: return object.mapValues(fitting)
        case is String, is NSNull: return value
        case let number as NSNumber:
            let whole = number.doubleValue.rounded(.towardZero).magnitude
            if whole == number.doubleValue, whole < 2_147_483_648 { return value }
            return whole < 2_147_483_648 ? Int(whole) : 1
        default: return value
        }
    }

    static func render(_ value: Any) -> String {
        guard JSONSerialization.isValidJSONObject([value]),
              let data = try? JSONSerialization.data(withJSONObject: [value]) else { return "\(value)" }
        let text = String(decoding: data, as: UTF8.self).dropFirst().dropLast()
        return text.count > 60 ? text.prefix(60) + "…" : String(text)
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type, is UInt64.Type: return "an integer"
        case is Double.Type: return "a number"
        case is Bool.Type: return "true or false"
        case is [Double].Type: return "an array of numbers"
        case is [Int].Type: return "an array of integers"
        default: return "\(type)"
        }
    }

    /// Compact, key-sorted JSON.
    public static func encode<T: Encodable>(_ value: T) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try! encoder.encode(value)
    }
}
