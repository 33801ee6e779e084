import Foundation

/// Writes GGUF version 3 files: metadata in the given order, tensors laid out in order, each
/// padded to the alignment (the layout llama.cpp's reader requires).
public struct GGUFWriter {
    public struct Tensor {
        public var name: String
        public var type: GGMLType
        public var shape: [Int]
        public var bytes: UnsafeRawBufferPointer

        public init(name: String, type: GGMLType, shape: [Int], bytes: UnsafeRawBufferPointer) {
            self.name = name; self.type = type; self.shape = shape; self.bytes = bytes
        }
    }

    public var metadata: [(String, GGUFValue)] = []
    public var tensors: [Tensor] = []
    public var alignment = 32
    /// Files whose mappings `tensors` point into, kept alive while the writer lives.
    private var sources: [GGUFFile] = []

    public init() {}

    /// A writer holding everything `file` holds (its tensors point into its mapping).
    public init(copying file: GGUFFile) {
        metadata = file.metadataKeys.map { ($0, file.metadata[$0]!) }
        tensors = file.tensors.map {
            Tensor(name: $0.name, type: $0.type, shape: $0.shape,
                   bytes: UnsafeRawBufferPointer(start: $0.data, count: $0.byteCount))
        }
        alignment = file.alignment
        sources = [file]
    }

    /// Sets `key` to `value`, replacing an existing entry in place or appending.
    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let index = metadata.firstIndex(where: { $0.0 == key }) { metadata[index].1 = value }
        else { metadata.append((key, value)) }
    }

    /// The file's bytes.
    public func serialized() -> Data {
        var out = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func i32(_ v: Int32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String) { u64(UInt64(s.utf8.count)); out.append(contentsOf: Array(s.utf8)) }
        func value(_ v: GGUFValue) {
            switch v {
            case let .uint8(x): out.append(x)
            case let .int8(x): out.append(UInt8(bitPattern: x))
            case let .uint16(x): withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) }
            case let .int16(x): withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) }
            case let .uint32(x): u32(x)
            case let .int32(x): i32(x)
            case let .float32(x): u32(x.bitPattern)
            case let .bool(x): out.append(x ? 1 : 0)
            case let .string(x): string(x)
            case let .uint64(x): u64(x)
            case let .int64(x): u64(UInt64(bitPattern: x))
            case let .float64(x): u64(x.bitPattern)
            case let .array(items):
                i32(items.first?.kind.rawValue ?? GGUFValue.Kind.uint8.rawValue)
                u64(UInt64(items.count))
                items.forEach(value)
            }
        }
        out.append(contentsOf: Array("GGUF".utf8))
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(metadata.count))
        for (key, v) in metadata {
            string(key)
            i32(v.kind.rawValue)
            value(v)
        }
        func padded(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }
        var offset = 0
        for tensor in tensors {
            string(tensor.name)
            u32(UInt32(tensor.shape.count))
            tensor.shape.forEach { u64(UInt64($0)) }
            u32(tensor.type.rawValue)
            u64(UInt64(offset))
            offset = padded(offset + tensor.bytes.count)
        }
        out.append(contentsOf: [UInt8](repeating: 0, count: padded(out.count) - out.count))
        for tensor in tensors {
            out.append(contentsOf: tensor.bytes)
            out.append(contentsOf: [UInt8](repeating: 0, count: padded(tensor.bytes.count) - tensor.bytes.count))
        }
        return out
    }

    /// Writes the file atomically (a temporary file renamed into place).
    public func write(to path: String) throws(GGUFError) {
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).part")
        do {
            try serialized().write(to: temporary)
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(at: url) }
            try FileManager.default.moveItem(at: temporary, to: url)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw .writeFailed(path: path, reason: error.localizedDescription)
        }
    }
}
