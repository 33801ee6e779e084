import ArgumentParser
import Foundation
import GGUF
import Tokenizer

/// `longrope tokenize`: a text's token ids, as llama.cpp's `llama-tokenize` prints them, so
/// anyone can check the tokenizer on their own text.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids of a text (BOS added as the model's metadata says).")

    @Option(help: "GGUF model (only its tokenizer is read).") var model: String
    @Option(help: "The text to tokenize.") var text: String?
    @Option(help: "A file to tokenize instead of --text.") var file: String?
    @Flag(help: "Print only the ids, as [1, 2, …] (llama-tokenize --ids).") var ids = false
    @Flag(help: "Do not add BOS even when the model adds one.") var noBos = false

    func validate() throws {
        guard (text == nil) != (file == nil) else { throw ValidationError("give exactly one of --text and --file") }
    }

    func run() throws {
        let tokenizer: Tokenizer
        do { tokenizer = try Tokenizer(gguf: GGUFFile(path: model)) }
        catch { throw CLIError("cannot read the tokenizer of \(model): \(error)") }
        let content = try text ?? readText(file!)
        let tokens = tokenizer.encode(content, addSpecial: !noBos)
        if ids {
            print("[" + tokens.map(String.init).joined(separator: ", ") + "]")
        } else {
            for token in tokens {
                let piece = tokenizer.tokens[Int(token)]
                print(String(format: "%6d -> '%@'", token, piece))
            }
        }
    }
}
