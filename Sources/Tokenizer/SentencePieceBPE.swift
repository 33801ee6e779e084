/// llama.cpp's SentencePiece-style BPE (`llm_tokenizer_spm`): UTF-8 characters are merged
/// bigram by bigram, always the pair whose merged piece has the highest score (ties: the
/// leftmost); symbols that end up without a token fall back to byte tokens `<0xXX>`.
struct SentencePieceBPE: Sendable {
    let table: ByteTable
    let scores: [Float]
    let addSpacePrefix: Bool
    let byteTokens: [Int32]

    init(tokens: [String], scores: [Float]?, addSpacePrefix: Bool) {
        let table = ByteTable(keys: tokens)
        self.table = table
        self.scores = scores ?? Array(repeating: 0, count: tokens.count)
        self.addSpacePrefix = addSpacePrefix
        let hex = Array("0123456789ABCDEF".utf8)
        byteTokens = (0..<256).map { byte in
            let name: [UInt8] = Array("<0x".utf8) + [hex[byte >> 4], hex[byte & 15]] + Array(">".utf8)
            return table.lookup(name) ?? table.lookup([UInt8(byte)]) ?? 0
        }
    }

    private struct Bigram { var left: Int; var right: Int; var score: Float; var size: Int }

    /// Appends the ids of raw text `bytes` (one fragment, no special tokens) to `output`.
    func encode(_ raw: inout [UInt8], into output: inout [Int32]) {
        // Normalise: optional leading space, then every ' ' becomes "▁" (E2 96 81).
        var text: [UInt8] = []
        text.reserveCapacity(raw.count + raw.count / 4 + 3)
        if addSpacePrefix { text.append(contentsOf: [0xE2, 0x96, 0x81]) }
        for byte in raw {
            if byte == 0x20 { text.append(contentsOf: [0xE2, 0x96, 0x81]) } else { text.append(byte) }
        }
        if text.isEmpty { return }

        text.withUnsafeBufferPointer { buffer in
            var symbols = linkedSymbols(buffer)

            var queue = Heap<Bigram> { a, b in a.score > b.score || (a.score == b.score && a.left < b.left) }
            func tryAddBigram(_ left: Int, _ right: Int) {
                guard left >= 0, right >= 0 else { return }
                let start = symbols[left].start
                let size = symbols[left].length + symbols[right].length
                guard let token = table.lookup(UnsafeBufferPointer(rebasing: buffer[start..<start + size])) else { return }
                queue.push(Bigram(left: left, right: right, score: scores[Int(token)], size: size))
            }
            for i in 1..<max(symbols.count, 1) { tryAddBigram(i - 1, i) }

            while let bigram = queue.pop() {
                let left = symbols[bigram.left], right = symbols[bigram.right]
                if left.length == 0 || right.length == 0 || left.length + right.length != bigram.size { continue }
                symbols[bigram.left].length += right.length
                symbols[bigram.right].length = 0
                symbols[bigram.left].next = right.next
                if right.next >= 0 { symbols[right.next].prev = bigram.left }
                tryAddBigram(symbols[bigram.left].prev, bigram.left)
                tryAddBigram(bigram.left, symbols[bigram.left].next)
            }

            func resegment(_ symbol: LinkedSymbol) {
                let slice = UnsafeBufferPointer(rebasing: buffer[symbol.start..<symbol.start + symbol.length])
                // Every merged piece is a token (a bigram is only queued when it is), so only a
                // single character outside the vocabulary reaches the byte fallback.
                if let token = table.lookup(slice) {
                    output.append(token)
                    return
                }
                for byte in slice { output.append(byteTokens[Int(byte)]) }
            }
            var i = 0
            while i != -1 {
                if symbols[i].length > 0 { resegment(symbols[i]) }
                i = symbols[i].next
            }
        }
    }
}
