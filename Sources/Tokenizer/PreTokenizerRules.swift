/// The regex pre-tokenizers of byte-level BPE, written as scanners that follow llama.cpp's
/// hand-written versions (`unicode_regex_split_custom_gpt2` / `_llama3`), so words are cut
/// exactly where llama.cpp cuts them.
enum PreTokenizerRules {
    typealias Scalars = [Unicode.Scalar]

    static func split(_ text: Scalars, rules: ByteLevelBPE.PreTokenizer) -> [ArraySlice<Unicode.Scalar>] {
        var words: [ArraySlice<Unicode.Scalar>] = []
        switch rules {
        case .gpt2, .defaultGPT2:
            gpt2(text, 0, text.count, into: &words)
        case .smollm:
            // First `\p{N}`: every number character is a piece of its own; then GPT-2's regex
            // inside each piece.
            var start = 0
            for i in 0..<text.count where isNumber(text[i]) {
                if start < i { gpt2(text, start, i, into: &words) }
                words.append(text[i..<i + 1])
                start = i + 1
            }
            if start < text.count { gpt2(text, start, text.count, into: &words) }
        case .llamaBPE, .llama3:
            llama3(text, 0, text.count, digitGroup: 3, into: &words)
        case .qwen2:
            llama3(text, 0, text.count, digitGroup: 1, into: &words)
        }
        return words
    }

    // MARK: Character classes (Unicode general categories, as llama.cpp's flag tables)

    static func isLetter(_ c: Unicode.Scalar) -> Bool {
        if c.value < 128 { return (c.value | 0x20) >= 97 && (c.value | 0x20) <= 122 }
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    static func isNumber(_ c: Unicode.Scalar) -> Bool {
        if c.value < 128 { return c.value >= 48 && c.value <= 57 }
        switch c.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    static func isWhitespace(_ c: Unicode.Scalar) -> Bool {
        if c.value < 128 { return c.value == 32 || (c.value >= 9 && c.value <= 13) }
        return c.properties.isWhitespace
    }

    /// A code point with any category (llama.cpp's `flags.as_uint() != 0`): not unassigned.
    static func isDefined(_ c: Unicode.Scalar) -> Bool {
        c.value < 128 || c.properties.generalCategory != .unassigned
    }

    static func isOther(_ c: Unicode.Scalar) -> Bool {
        !isWhitespace(c) && !isLetter(c) && !isNumber(c) && isDefined(c)
    }

    // MARK: Contractions: 's|'t|'re|'ve|'m|'ll|'d (GPT-2: as written; Llama 3: (?i:…))

    /// Where the contraction that starts at `pos` ends, or nil when none starts there.
    static func contractionEnd(_ t: Scalars, _ pos: Int, _ end: Int, ignoringCase: Bool) -> Int? {
        guard t[pos] == "'", pos + 1 < end else { return nil }
        func letter(_ i: Int) -> Unicode.Scalar {
            let c = t[i]
            return ignoringCase && c.value >= 65 && c.value <= 90 ? Unicode.Scalar(UInt8(c.value + 32)) : c
        }
        let c1 = letter(pos + 1)
        if c1 == "s" || c1 == "t" || c1 == "m" || c1 == "d" { return pos + 2 }
        guard pos + 2 < end else { return nil }
        let c2 = letter(pos + 2)
        if (c1 == "r" && c2 == "e") || (c1 == "v" && c2 == "e") || (c1 == "l" && c2 == "l") { return pos + 3 }
        return nil
    }

    // MARK: GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+

    static func gpt2(_ t: Scalars, _ start: Int, _ end: Int, into words: inout [ArraySlice<Unicode.Scalar>]) {
        func at(_ i: Int) -> Unicode.Scalar? { i >= start && i < end ? t[i] : nil }
        var pos = start
        var tokenStart = start
        func emit(_ until: Int) {
            if until > tokenStart { words.append(t[tokenStart..<until]) }
            tokenStart = until
            pos = until
        }
        while pos < end {
            let c = t[pos]
            if let e = contractionEnd(t, pos, end, ignoringCase: false) { emit(e); continue }
            let c2 = c == " " ? at(pos + 1) : c
            if let c2, isLetter(c2) {
                var p = pos + (c == " " ? 1 : 0)
                while let x = at(p), isLetter(x) { p += 1 }
                emit(p); continue
            }
            if let c2, isNumber(c2) {
                var p = pos + (c == " " ? 1 : 0)
                while let x = at(p), isNumber(x) { p += 1 }
                emit(p); continue
            }
            if let c2, isOther(c2) {
                var p = pos + (c == " " ? 1 : 0)
                while let x = at(p), isOther(x) { p += 1 }
                emit(p); continue
            }
            var spaces = 0
            while let x = at(pos + spaces), isWhitespace(x) { spaces += 1 }
            if spaces > 1, at(pos + spaces) != nil { emit(pos + spaces - 1); continue }
            if spaces > 0 { emit(pos + spaces); continue }
            emit(pos + 1)
        }
    }

    // MARK: Llama 3 / Qwen2:
    // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+

    static func llama3(_ t: Scalars, _ start: Int, _ end: Int, digitGroup: Int,
                       into words: inout [ArraySlice<Unicode.Scalar>]) {
        func at(_ i: Int) -> Unicode.Scalar? { i >= start && i < end ? t[i] : nil }
        func isNewline(_ c: Unicode.Scalar?) -> Bool { c == "\r" || c == "\n" }
        var pos = start
        var tokenStart = start
        func emit(_ until: Int) {
            if until > tokenStart { words.append(t[tokenStart..<until]) }
            tokenStart = until
            pos = until
        }
        while pos < end {
            let c = t[pos]
            if let e = contractionEnd(t, pos, end, ignoringCase: true) { emit(e); continue }
            if !(isNewline(c) || isNumber(c)) {
                if isLetter(c) || (at(pos + 1).map(isLetter) ?? false) {
                    var p = pos + 1
                    while let x = at(p), isLetter(x) { p += 1 }
                    emit(p); continue
                }
            }
            if isNumber(c) {
                var p = pos
                var groupStart = pos
                while let x = at(p), isNumber(x) {
                    p += 1
                    if p - groupStart >= digitGroup { emit(p); groupStart = p }
                }
                emit(p); continue
            }
            let c2 = c == " " ? at(pos + 1) : c
            if let c2, isOther(c2), isDefined(c) {
                var p = pos + (c == " " ? 1 : 0)
                while let x = at(p), isOther(x) { p += 1 }
                while isNewline(at(p)) { p += 1 }
                emit(p); continue
            }
            var spaces = 0
            var lastNewlineEnd = 0
            while let x = at(pos + spaces), isWhitespace(x) {
                if isNewline(x) { lastNewlineEnd = pos + spaces + 1 }
                spaces += 1
            }
            if lastNewlineEnd > 0 { emit(lastNewlineEnd); continue }
            if spaces > 1, at(pos + spaces) != nil { emit(pos + spaces - 1); continue }
            if spaces > 0 { emit(pos + spaces); continue }
            emit(pos + 1)
        }
    }
}
