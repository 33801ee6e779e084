/// A bounds-checked little-endian cursor over the bytes of a mapped file.
struct ByteReader {
    let base: UnsafeRawPointer
    let count: Int
    var offset = 0

    var remaining: Int { count - offset }

    mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws(GGUFError) {
        guard n >= 0, n <= remaining else { throw .truncated(offset: offset, reading: what()) }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws(GGUFError) -> T {
        try need(MemoryLayout<T>.size, what())
        let value = base.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: value)
    }

    mutating func readFloat(_ what: @autoclosure () -> String) throws(GGUFError) -> Float {
        Float(bitPattern: try read(UInt32.self, what()))
    }

    mutating func readDouble(_ what: @autoclosure () -> String) throws(GGUFError) -> Double {
        Double(bitPattern: try read(UInt64.self, what()))
    }

    mutating func readString(_ what: @autoclosure () -> String) throws(GGUFError) -> String {
        let length = try read(UInt64.self, what())
        guard length <= UInt64(remaining) else { throw .truncated(offset: offset, reading: what()) }
        let bytes = UnsafeRawBufferPointer(start: base + offset, count: Int(length))
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw .invalidUTF8(offset: offset)
        }
        offset += Int(length)
        return string
    }
}
