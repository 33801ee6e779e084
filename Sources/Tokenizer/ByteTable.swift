/// A hash table from byte strings to integers that is looked up with a slice of a buffer,
/// without allocating: the tokenizers ask it millions of times per text.
///
/// Keys are compared byte for byte (Swift `String` equality would treat canonically
/// equivalent Unicode as equal, which a tokenizer must not).
struct ByteTable: Sendable {
    // Key i is keyBytes[keyOffsets[i] ..< keyOffsets[i + 1]]; Int32 offsets, and every array
    // sized once: a vocabulary's table is ~1 MB, not the ~2.6 MB of Int offsets grown by doubling.
    private var keyBytes: [UInt8] = []
    private var keyOffsets: [Int32] = [0]
    private var values: [Int32] = []
    private var slots: [Int32]        // index into keys, −1 = empty
    private let mask: Int

    /// A table of `keys[i] → i` (UTF-8 bytes; a repeated key keeps its first index), every array
    /// sized for them up front.
    init(keys: [String]) {
        var size = 16
        while size < keys.count * 2 { size <<= 1 }
        slots = Array(repeating: -1, count: size)
        mask = size - 1
        keyBytes.reserveCapacity(keys.reduce(0) { $0 + $1.utf8.count })
        keyOffsets.reserveCapacity(keys.count + 1)
        values.reserveCapacity(keys.count)
        for (index, key) in keys.enumerated() { insert(Array(key.utf8), Int32(index)) }
    }

    private static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var h: UInt64 = 0xcbf29ce484222325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    /// Adds `key → value` unless the key is present (the first value wins, as in llama.cpp's
    /// token_to_id map built in id order).
    private mutating func insert(_ key: [UInt8], _ value: Int32) {
        key.withUnsafeBufferPointer { buffer in
            if lookup(buffer) != nil { return }
            var slot = ByteTable.hash(buffer) & mask
            while slots[slot] >= 0 { slot = (slot + 1) & mask }
            slots[slot] = Int32(values.count)
            keyBytes.append(contentsOf: key)
            keyOffsets.append(Int32(keyBytes.count))
            values.append(value)
        }
    }

    func lookup(_ bytes: UnsafeBufferPointer<UInt8>) -> Int32? {
        var slot = ByteTable.hash(bytes) & mask
        while true {
            let index = Int(slots[slot])
            if index < 0 { return nil }
            let start = Int(keyOffsets[index])
            if Int(keyOffsets[index + 1]) - start == bytes.count {
                var equal = true
                for i in 0..<bytes.count where keyBytes[start + i] != bytes[i] { equal = false; break }
                if equal { return values[index] }
            }
            slot = (slot + 1) & mask
        }
    }

    func lookup(_ bytes: [UInt8]) -> Int32? {
        bytes.withUnsafeBufferPointer { lookup($0) }
    }
}

/// A binary min-heap ordered by `less`.
struct Heap<Element> {
    private var items: [Element] = []
    private let less: (Element, Element) -> Bool

    init(less: @escaping (Element, Element) -> Bool) { self.less = less }

    var isEmpty: Bool { items.isEmpty }

    mutating func push(_ element: Element) {
        items.append(element)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(items[child], items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var best = parent
            if left < items.count, less(items[left], items[best]) { best = left }
            if right < items.count, less(items[right], items[best]) { best = right }
            if best == parent { break }
            items.swapAt(parent, best)
            parent = best
        }
        return top
    }
}

/// Length of the UTF-8 sequence that starts with `byte` (llama.cpp's unicode_len_utf8).
@inline(__always)
func utf8SequenceLength(_ byte: UInt8) -> Int {
    let lookup: [Int] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4]
    return lookup[Int(byte >> 4)]
}

/// One symbol of a BPE word: a byte range of the text, linked to its neighbours.
struct LinkedSymbol {
    var prev: Int
    var next: Int
    var start: Int
    var length: Int
}

/// The UTF-8 characters of `buffer` as a linked list of symbols (llama.cpp's llm_symbol).
func linkedSymbols(_ buffer: UnsafeBufferPointer<UInt8>) -> [LinkedSymbol] {
    var symbols: [LinkedSymbol] = []
    var offset = 0
    while offset < buffer.count {
        let length = min(utf8SequenceLength(buffer[offset]), buffer.count - offset)
        symbols.append(LinkedSymbol(prev: symbols.count - 1, next: -1, start: offset, length: length))
        offset += length
        if offset < buffer.count { symbols[symbols.count - 1].next = symbols.count }
    }
    return symbols
}
