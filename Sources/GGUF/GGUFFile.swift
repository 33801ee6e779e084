#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// One tensor of a GGUF file: its name, type, shape and bytes (memory-mapped).
public struct GGUFTensor: @unchecked Sendable {
    public let name: String
    public let type: GGMLType
    /// ggml's `ne`: `shape[0]` is the contiguous row length.
    public let shape: [Int]
    /// Offset relative to the start of the data section.
    public let offset: UInt64
    public let byteCount: Int
    /// The tensor's bytes inside the mapping; valid while the file's `GGUFMapping` lives.
    public let data: UnsafeRawPointer

    public var elementCount: Int { shape.reduce(1, *) }
    /// Length of one row (`ne[0]`) and number of rows (product of the other dimensions).
    public var rowLength: Int { shape.first ?? 1 }
    public var rowCount: Int { shape.dropFirst().reduce(1, *) }
}

/// A file mapped read-only into memory, unmapped when its last owner goes. A model that keeps
/// this (and not the `GGUFFile`, with its parsed metadata) keeps its tensors' bytes valid.
public final class GGUFMapping: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let size: Int

    fileprivate init(base: UnsafeMutableRawPointer, size: Int) {
        self.base = UnsafeRawPointer(base)
        self.size = size
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), size) }

    /// Lets the kernel take back the resident pages of the first `offset` bytes (a header already
    /// parsed): they count in the process's memory no more, and are read from the file again if
    /// touched. Whole pages only; nothing past `offset` is affected.
    public func releasePages(before offset: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let length = min(offset, size) / page * page
        if length > 0 { madvise(UnsafeMutableRawPointer(mutating: base), length, Int32(MADV_DONTNEED)) }
    }
}

/// A GGUF file (versions 2 and 3), memory-mapped read-only.
///
/// Opening validates the whole header: magic, version, every metadata entry, every tensor
/// info (name, dimensions, type, alignment, bounds). A truncated or corrupt file throws a
/// `GGUFError` naming the problem; nothing reads past the mapping.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensors in file order.
    public let tensors: [GGUFTensor]
    public let alignment: Int
    /// Where the data section starts in the file.
    public let dataStart: Int
    public var fileSize: Int { mapping.size }

    /// The file's bytes: tensors point into it.
    public let mapping: GGUFMapping
    private let tensorIndex: [String: Int]

    public init(path: String) throws(GGUFError) {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .cannotOpen(path: path, reason: "not a regular file") }
        let fileSize = Int(info.st_size)
        guard fileSize > 0 else { throw .truncated(offset: 0, reading: "the magic number (empty file)") }
        guard let map = mmap(nil, fileSize, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
            throw .cannotOpen(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        mapping = GGUFMapping(base: map, size: fileSize)   // unmapped when the last owner goes, a throw included
        let parsed = try GGUFFile.parse(UnsafeRawPointer(map), count: fileSize)
        version = parsed.version
        metadata = parsed.metadata
        metadataKeys = parsed.keys
        tensors = parsed.tensors
        alignment = parsed.alignment
        dataStart = parsed.dataStart
        var index: [String: Int] = [:]
        for (i, tensor) in tensors.enumerated() { index[tensor.name] = i }
        tensorIndex = index
    }

    /// The tensor named `name`, if the file has it.
    public func tensor(_ name: String) -> GGUFTensor? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The tensor named `name`, or `GGUFError.missingTensor`.
    public func requireTensor(_ name: String) throws(GGUFError) -> GGUFTensor {
        guard let tensor = tensor(name) else { throw .missingTensor(name) }
        return tensor
    }

    /// The file's bytes (for copying).
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: mapping.base, count: fileSize)
    }

    // MARK: Parsing

    private struct Parsed {
        var version: UInt32
        var metadata: [String: GGUFValue]
        var keys: [String]
        var tensors: [GGUFTensor]
        var alignment: Int
        var dataStart: Int
    }

    private static func parse(_ base: UnsafeRawPointer, count: Int) throws(GGUFError) -> Parsed {
        var reader = ByteReader(base: base, count: count)
        try reader.need(4, "the magic number")
        let magic = (0..<4).map { base.load(fromByteOffset: $0, as: UInt8.self) }
        guard magic == Array("GGUF".utf8) else {
            throw .notGGUF(magic: magic.map { $0 >= 32 && $0 < 127 ? String(UnicodeScalar($0)) : "\\x\(String($0, radix: 16))" }.joined())
        }
        reader.offset = 4
        let version = try reader.read(UInt32.self, "the version")
        if version & 0xFFFF == 0, version != 0 { throw .bigEndian }
        guard version == 2 || version == 3 else { throw .unsupportedVersion(version) }
        let tensorCount = try reader.read(Int64.self, "the tensor count")
        let kvCount = try reader.read(Int64.self, "the metadata count")
        // Every tensor info takes at least 8+4+4+8 bytes, every KV at least 8+4 bytes.
        // A plausible count that does not fit in what is left means a cut file, not a corrupt one.
        guard tensorCount >= 0 else { throw .invalidCount(what: "tensor", count: tensorCount) }
        guard kvCount >= 0 else { throw .invalidCount(what: "metadata", count: kvCount) }
        guard tensorCount <= Int64(reader.remaining / 24), kvCount <= Int64(reader.remaining / 12) else {
            if tensorCount < 1 << 20, kvCount < 1 << 20 {
                throw .truncated(offset: count, reading: "the header of \(kvCount) metadata entries and \(tensorCount) tensors (the file has only \(count) bytes)")
            }
            throw .invalidCount(what: tensorCount > Int64(reader.remaining / 24) ? "tensor" : "metadata",
                                count: tensorCount > Int64(reader.remaining / 24) ? tensorCount : kvCount)
        }

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for k in 0..<Int(kvCount) {
            let key = try reader.readString("metadata key #\(k)")
            let rawType = try reader.read(Int32.self, "the type of \(key)")
            let value = try readValue(&reader, rawType: rawType, key: key, allowArray: true)
            guard metadata[key] == nil else { throw .duplicateKey(key) }
            metadata[key] = value
            keys.append(key)
        }

        var alignment = 32
        if let value = metadata["general.alignment"] {
            guard let a = value.int, a > 0, a & (a - 1) == 0 else { throw .invalidAlignment(value.int ?? -1) }
            alignment = a
        }

        struct Info { var name: String; var type: GGMLType; var shape: [Int]; var offset: UInt64; var bytes: Int }
        var infos: [Info] = []
        var names = Set<String>()
        for t in 0..<Int(tensorCount) {
            let name = try reader.readString("the name of tensor #\(t)")
            guard !name.isEmpty, name.utf8.count < 64 else { throw .invalidTensorName(name) }
            guard names.insert(name).inserted else { throw .duplicateTensor(name) }
            let dims = try reader.read(UInt32.self, "the dimension count of \(name)")
            guard dims >= 1, dims <= 4 else {
                throw .invalidDimensions(tensor: name, detail: "\(dims) dimensions (1 to 4 allowed)")
            }
            var shape: [Int] = []
            var elements = 1
            for _ in 0..<dims {
                let n = try reader.read(Int64.self, "the shape of \(name)")
                guard n > 0, n < 1 << 40 else {
                    throw .invalidDimensions(tensor: name, detail: "dimension \(n) out of range")
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: Int(n))
                guard !overflow, product < 1 << 42 else {
                    throw .invalidDimensions(tensor: name, detail: "too many elements")
                }
                elements = product
                shape.append(Int(n))
            }
            let rawType = try reader.read(UInt32.self, "the type of \(name)")
            guard let type = GGMLType(rawValue: rawType) else {
                throw .unsupportedTensorType(tensor: name, type: rawType)
            }
            guard shape[0] % type.blockSize == 0 else {
                throw .invalidDimensions(tensor: name, detail: "row length \(shape[0]) is not a multiple of \(type.name)'s block size \(type.blockSize)")
            }
            let offset = try reader.read(UInt64.self, "the offset of \(name)")
            guard offset % UInt64(alignment) == 0 else {
                throw .misalignedTensor(tensor: name, offset: offset, alignment: alignment)
            }
            infos.append(Info(name: name, type: type, shape: shape, offset: offset,
                              bytes: elements / type.blockSize * type.bytesPerBlock))
        }

        let dataStart = (reader.offset + alignment - 1) / alignment * alignment
        let dataSize = UInt64(max(0, count - dataStart))
        var tensors: [GGUFTensor] = []
        for info in infos {
            let (end, overflow) = info.offset.addingReportingOverflow(UInt64(info.bytes))
            guard !overflow, end <= dataSize else {
                throw .tensorOutOfBounds(tensor: info.name, end: overflow ? .max : end, dataSize: dataSize)
            }
            tensors.append(GGUFTensor(name: info.name, type: info.type, shape: info.shape, offset: info.offset,
                                      byteCount: info.bytes, data: base + dataStart + Int(info.offset)))
        }
        return Parsed(version: version, metadata: metadata, keys: keys, tensors: tensors,
                      alignment: alignment, dataStart: dataStart)
    }

    private static func readValue(_ reader: inout ByteReader, rawType: Int32, key: String,
                                  allowArray: Bool) throws(GGUFError) -> GGUFValue {
        guard let kind = GGUFValue.Kind(rawValue: rawType) else { throw .invalidValueType(key: key, type: rawType) }
        switch kind {
        case .uint8: return .uint8(try reader.read(UInt8.self, key))
        case .int8: return .int8(try reader.read(Int8.self, key))
        case .uint16: return .uint16(try reader.read(UInt16.self, key))
        case .int16: return .int16(try reader.read(Int16.self, key))
        case .uint32: return .uint32(try reader.read(UInt32.self, key))
        case .int32: return .int32(try reader.read(Int32.self, key))
        case .float32: return .float32(try reader.readFloat(key))
        case .bool: return .bool(try reader.read(UInt8.self, key) != 0)
        case .string: return .string(try reader.readString(key))
        case .uint64: return .uint64(try reader.read(UInt64.self, key))
        case .int64: return .int64(try reader.read(Int64.self, key))
        case .float64: return .float64(try reader.readDouble(key))
        case .array:
            guard allowArray else { throw .nestedArray(key: key) }
            let elementType = try reader.read(Int32.self, "the element type of \(key)")
            guard elementType != GGUFValue.Kind.array.rawValue else { throw .nestedArray(key: key) }
            let count = try reader.read(UInt64.self, "the length of \(key)")
            // Each element takes at least one byte (strings at least 8).
            let minimum: UInt64 = elementType == GGUFValue.Kind.string.rawValue ? 8 : 1
            guard count <= UInt64(reader.remaining) / minimum else {
                throw .truncated(offset: reader.offset, reading: "the \(count) elements of \(key)")
            }
            var values: [GGUFValue] = []
            values.reserveCapacity(Int(count))
            for _ in 0..<Int(count) {
                values.append(try readValue(&reader, rawType: elementType, key: key, allowArray: false))
            }
            return .array(values)
        }
    }
}

// MARK: Typed metadata access

extension GGUFFile {
    /// An integer key, or `GGUFError.missingKey` / `.wrongKeyType`.
    public func requireInt(_ key: String) throws(GGUFError) -> Int {
        guard let value = metadata[key] else { throw .missingKey(key) }
        guard let int = value.int else { throw .wrongKeyType(key: key, expected: "an integer") }
        return int
    }

    /// An integer key, or `defaultValue` when absent; a value of the wrong type throws.
    public func int(_ key: String, default defaultValue: Int) throws(GGUFError) -> Int {
        guard let value = metadata[key] else { return defaultValue }
        guard let int = value.int else { throw .wrongKeyType(key: key, expected: "an integer") }
        return int
    }

    public func double(_ key: String, default defaultValue: Double) throws(GGUFError) -> Double {
        guard let value = metadata[key] else { return defaultValue }
        guard let double = value.double else { throw .wrongKeyType(key: key, expected: "a number") }
        return double
    }

    public func requireDouble(_ key: String) throws(GGUFError) -> Double {
        guard let value = metadata[key] else { throw .missingKey(key) }
        guard let double = value.double else { throw .wrongKeyType(key: key, expected: "a number") }
        return double
    }

    public func requireString(_ key: String) throws(GGUFError) -> String {
        guard let value = metadata[key] else { throw .missingKey(key) }
        guard let string = value.string else { throw .wrongKeyType(key: key, expected: "a string") }
        return string
    }

    public func string(_ key: String) throws(GGUFError) -> String? {
        guard let value = metadata[key] else { return nil }
        guard let string = value.string else { throw .wrongKeyType(key: key, expected: "a string") }
        return string
    }

    public func bool(_ key: String) throws(GGUFError) -> Bool? {
        guard let value = metadata[key] else { return nil }
        guard let bool = value.bool else { throw .wrongKeyType(key: key, expected: "a bool") }
        return bool
    }

    public func stringArray(_ key: String) throws(GGUFError) -> [String]? {
        guard let value = metadata[key] else { return nil }
        guard let array = value.array else { throw .wrongKeyType(key: key, expected: "an array of strings") }
        var out: [String] = []
        out.reserveCapacity(array.count)
        for element in array {
            guard let s = element.string else { throw .wrongKeyType(key: key, expected: "an array of strings") }
            out.append(s)
        }
        return out
    }

    public func doubleArray(_ key: String) throws(GGUFError) -> [Double]? {
        guard let value = metadata[key] else { return nil }
        guard let array = value.array else { throw .wrongKeyType(key: key, expected: "an array of numbers") }
        var out: [Double] = []
        out.reserveCapacity(array.count)
        for element in array {
            guard let d = element.double else { throw .wrongKeyType(key: key, expected: "an array of numbers") }
            out.append(d)
        }
        return out
    }

    public func intArray(_ key: String) throws(GGUFError) -> [Int]? {
        guard let value = metadata[key] else { return nil }
        guard let array = value.array else { throw .wrongKeyType(key: key, expected: "an array of integers") }
        var out: [Int] = []
        out.reserveCapacity(array.count)
        for element in array {
            guard let i = element.int else { throw .wrongKeyType(key: key, expected: "an array of integers") }
            out.append(i)
        }
        return out
    }
}
