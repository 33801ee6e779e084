/// Why a GGUF file cannot be read. Every case names what was wrong and where.
public enum GGUFError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case notGGUF(magic: String)
    case bigEndian
    case unsupportedVersion(UInt32)
    case truncated(offset: Int, reading: String)
    case invalidCount(what: String, count: Int64)
    case invalidValueType(key: String, type: Int32)
    case nestedArray(key: String)
    case duplicateKey(String)
    case duplicateTensor(String)
    case invalidUTF8(offset: Int)
    case invalidAlignment(Int)
    case invalidTensorName(String)
    case invalidDimensions(tensor: String, detail: String)
    case unsupportedTensorType(tensor: String, type: UInt32)
    case misalignedTensor(tensor: String, offset: UInt64, alignment: Int)
    case tensorOutOfBounds(tensor: String, end: UInt64, dataSize: UInt64)
    case missingKey(String)
    case wrongKeyType(key: String, expected: String)
    case missingTensor(String)
    case wrongTensorShape(tensor: String, expected: [Int], got: [Int])
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "cannot open \(path): \(reason)"
        case let .notGGUF(magic): return "not a GGUF file (magic \(magic), expected \"GGUF\")"
        case .bigEndian: return "big-endian GGUF files are not supported"
        case let .unsupportedVersion(v): return "unsupported GGUF version \(v) (2 and 3 are supported)"
        case let .truncated(offset, reading): return "file truncated at byte \(offset) while reading \(reading)"
        case let .invalidCount(what, count): return "invalid \(what) count \(count)"
        case let .invalidValueType(key, type): return "metadata key \(key) has unknown value type \(type)"
        case let .nestedArray(key): return "metadata key \(key) holds a nested array"
        case let .duplicateKey(key): return "duplicate metadata key \(key)"
        case let .duplicateTensor(name): return "duplicate tensor \(name)"
        case let .invalidUTF8(offset): return "invalid UTF-8 string at byte \(offset)"
        case let .invalidAlignment(a): return "general.alignment = \(a) is not a power of two"
        case let .invalidTensorName(name): return "invalid tensor name \(name.debugDescription)"
        case let .invalidDimensions(tensor, detail): return "tensor \(tensor): \(detail)"
        case let .unsupportedTensorType(tensor, type):
            return "tensor \(tensor) has type \(GGMLType.name(of: type)), which is not supported "
                + "(supported: \(GGMLType.allCases.map(\.name).joined(separator: ", ")))"
        case let .misalignedTensor(tensor, offset, alignment):
            return "tensor \(tensor) starts at offset \(offset), not a multiple of the alignment \(alignment)"
        case let .tensorOutOfBounds(tensor, end, dataSize):
            return "tensor \(tensor) ends at byte \(end) of the data section, past its end (\(dataSize) bytes)"
        case let .missingKey(key): return "missing metadata key \(key)"
        case let .wrongKeyType(key, expected): return "metadata key \(key) is not \(expected)"
        case let .missingTensor(name): return "missing tensor \(name)"
        case let .wrongTensorShape(tensor, expected, got):
            return "tensor \(tensor) has shape \(got), expected \(expected)"
        case let .writeFailed(path, reason): return "cannot write \(path): \(reason)"
        }
    }
}
