import Testing
@testable import Tokenizer

/// The pre-tokenizers' word cuts must equal their regexes'. Expected words: Python's `regex`
/// module (`regex.findall`) with the patterns in PreTokenizerRules' MARK comments, run on these
/// strings — the contractions (case-sensitive in GPT-2's pattern, not in Llama 3's), runs of
/// whitespace and newlines, and digit groups are where the hand-written scanners could drift.
@Suite struct PreTokenizerRulesTests {
    func words(_ text: String, _ rules: ByteLevelBPE.PreTokenizer) -> [String] {
        PreTokenizerRules.split(Array(text.unicodeScalars), rules: rules).map { String(String.UnicodeScalarView($0)) }
    }

    let contractions = "I'm sure they'll say it's done; WE'LL SEE, DON'T WE'RE?"
    let spacing = "  two  spaces,\n\nnew line\r\n 12345 café—ok"
    let strayQuotes = "x'Re 'd '"

    @Test func gpt2CutsContractionsOnlyInLowerCase() {
        #expect(words(contractions, .gpt2) == ["I", "'m", " sure", " they", "'ll", " say", " it", "'s", " done", ";",
                                               " WE", "'", "LL", " SEE", ",", " DON", "'", "T", " WE", "'", "RE", "?"])
        #expect(words(strayQuotes, .gpt2) == ["x", "'", "Re", " '", "d", " '"])
    }

    @Test func gpt2CutsWhitespaceAndNumbers() {
        #expect(words(spacing, .gpt2) == [" ", " two", " ", " spaces", ",", "\n", "\n", "new", " line", "\r\n",
                                          " 12345", " café", "—", "ok"])
    }

    @Test func llama3CutsContractionsInAnyCase() {
        #expect(words(contractions, .llama3) == ["I", "'m", " sure", " they", "'ll", " say", " it", "'s", " done", ";",
                                                 " WE", "'LL", " SEE", ",", " DON", "'T", " WE", "'RE", "?"])
        #expect(words(strayQuotes, .llama3) == ["x", "'Re", " '", "d", " '"])
        #expect(words(contractions, .qwen2) == words(contractions, .llama3))
    }

    @Test func llama3GroupsDigitsByThreeAndQwen2ByOne() {
        #expect(words(spacing, .llama3) == [" ", " two", " ", " spaces", ",\n\n", "new", " line", "\r\n", " ",
                                            "123", "45", " café", "—ok"])
        #expect(words(spacing, .qwen2) == [" ", " two", " ", " spaces", ",\n\n", "new", " line", "\r\n", " ",
                                           "1", "2", "3", "4", "5", " café", "—ok"])
    }
}
