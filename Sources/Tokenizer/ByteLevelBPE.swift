/// GPT-2 style byte-level BPE (`tokenizer.ggml.model = gpt2`), as llama.cpp's
/// `llm_tokenizer_bpe`: the text is split into words by the pre-tokenizer's rules, each word's
/// bytes are mapped to GPT-2's printable characters, and merges are applied lowest rank first.
struct ByteLevelBPE: Sendable {
    /// The pre-tokenizers longrope implements (`tokenizer.ggml.pre`).
    enum PreTokenizer: String, Sendable, CaseIterable {
        /// `\p{N}` split first, then the GPT-2 regex (llama.cpp groups smollm with starcoder).
        case smollm
        case gpt2 = "gpt-2"
        case defaultGPT2 = "default"
        /// Llama 3's regex: letters with an optional leading non-letter, numbers in groups of 3.
        case llamaBPE = "llama-bpe"
        case llama3
        /// Qwen2's regex: like Llama 3's with single digits.
        case qwen2
    }

    let table: ByteTable        // mapped token text → id
    let mergeRanks: ByteTable   // "left right" → rank
    let preTokenizer: PreTokenizer
    let byteToMapped: [[UInt8]] // GPT-2 bytes_to_unicode, as UTF-8

    init(tokens: [String], merges: [String], preTokenizer: PreTokenizer) {
        table = ByteTable(keys: tokens)        // token text → id
        mergeRanks = ByteTable(keys: merges)   // merge → rank
        self.preTokenizer = preTokenizer
        // bytes_to_unicode: printable Latin-1 bytes map to themselves, the rest to U+0100 onwards.
        var mapping = [[UInt8]](repeating: [], count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
            let scalar = Unicode.Scalar(printable ? UInt32(byte) : next)!
            if !printable { next += 1 }
            mapping[byte] = Array(String(Character(scalar)).utf8)
        }
        byteToMapped = mapping
    }

    func encode(_ bytes: [UInt8], into output: inout [Int32]) {
        let scalars = Array(String(decoding: bytes, as: UTF8.self).unicodeScalars)
        var cache: [[UInt8]: [Int32]] = [:]
        for word in PreTokenizerRules.split(scalars, rules: preTokenizer) {
            var mapped: [UInt8] = []
            for scalar in word {
                for byte in String(Character(scalar)).utf8 { mapped.append(contentsOf: byteToMapped[Int(byte)]) }
            }
            if let cached = cache[mapped] { output.append(contentsOf: cached); continue }
            var ids: [Int32] = []
            mergeWord(mapped, into: &ids)
            cache[mapped] = ids
            output.append(contentsOf: ids)
        }
    }

    private struct Bigram { var left: Int; var right: Int; var rank: Int32; var leftLength: Int; var rightLength: Int }

    /// Applies the merges to one mapped word (llm_tokenizer_bpe_session::tokenize).
    private func mergeWord(_ word: [UInt8], into output: inout [Int32]) {
        word.withUnsafeBufferPointer { buffer in
            var symbols = linkedSymbols(buffer)
            var queue = Heap<Bigram> { a, b in a.rank < b.rank || (a.rank == b.rank && a.left < b.left) }
            var key: [UInt8] = []
            func addBigram(_ left: Int, _ right: Int) {
                guard left >= 0, right >= 0 else { return }
                let l = symbols[left], r = symbols[right]
                key.removeAll(keepingCapacity: true)
                key.append(contentsOf: buffer[l.start..<l.start + l.length])
                key.append(0x20)
                key.append(contentsOf: buffer[r.start..<r.start + r.length])
                guard let rank = mergeRanks.lookup(key) else { return }
                queue.push(Bigram(left: left, right: right, rank: rank, leftLength: l.length, rightLength: r.length))
            }
            for i in 1..<max(symbols.count, 1) { addBigram(i - 1, i) }
            while let bigram = queue.pop() {
                let left = symbols[bigram.left], right = symbols[bigram.right]
                // Skip bigrams made stale by an earlier merge.
                if left.length == 0 || right.length == 0 { continue }
                if left.length != bigram.leftLength || right.length != bigram.rightLength || left.next != bigram.right { continue }
                symbols[bigram.left].length += right.length
                symbols[bigram.right].length = 0
                symbols[bigram.left].next = right.next
                if right.next >= 0 { symbols[right.next].prev = bigram.left }
                addBigram(symbols[bigram.left].prev, bigram.left)
                addBigram(bigram.left, symbols[bigram.left].next)
            }
            var i = symbols.isEmpty ? -1 : 0
            while i != -1 {
                let symbol = symbols[i]
                if symbol.length > 0 {
                    let slice = UnsafeBufferPointer(rebasing: buffer[symbol.start..<symbol.start + symbol.length])
                    if let token = table.lookup(slice) {
                        output.append(token)
                    } else {
                        // llama.cpp falls back to the single bytes of the mapped text that are tokens.
                        for byte in slice { if let token = table.lookup([byte]) { output.append(token) } }
                    }
                }
                i = symbol.next
            }
        }
    }
}
