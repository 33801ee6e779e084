import ArgumentParser
import Digest
import Foundation
import Runner
import Search
import Wire

/// `longrope request`: a config file (the one `longrope search --config` reads) as the body of
/// `POST /v1/searches`, for scripts that run a search through a coordinator
/// (deploy/slurm/longrope-search.sbatch, scripts/local-cluster-search.sh). The file is decoded
/// exactly as `search --config` decodes it, so an unknown key or a wrong type is an error here
/// too, never a silently dropped setting.
struct RequestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "request",
        abstract: "Turn a search config file into a POST /v1/searches body.",
        discussion: """
            Writes the request (the config's search options, the model's and text's sha256) to \
            --out and prints the model's and the text's paths, one per line, for the workers: \
            { read -r MODEL; read -r TEXT; } < <(longrope request CONFIG --out search.json). \
            db, out and threads belong to `longrope search` alone and are left out.
            """)

    @Argument(help: "The config file (configs/*.toml); its paths are relative to it.") var config: String
    @Option(help: "Where to write the request (JSON).") var out: String
    @Option(help: "The search's name when the config has none (default: the file's name).") var name: String?

    func run() throws {
        try checkWritablePath(out)
        let file: ConfigFile
        do { file = try ConfigFile(path: config) } catch let error as ConfigFile.Invalid { throw CLIError(error.description) }
        func required<T>(_ value: T?, _ key: String) throws -> T {
            guard let value else { throw CLIError("\(config): missing \(key) (a search through a coordinator needs it)") }
            return value
        }
        let model = file.resolve(try required(file.model, "model"))
        let text = file.resolve(try required(file.text, "text"))
        for path in [model, text] {
            guard FileManager.default.isReadableFile(atPath: path) else { throw CLIError("\(config): cannot read \(path)") }
            guard !path.contains("\n") else { throw CLIError("\(config): a path with a line break: \(path)") }
        }
        if file.seedFrom != nil {
            FileHandle.standardError.write(Data("note: \(config): seed_from is left out (it names a search in a local database)\n".utf8))
        }
        var request = CreateSearchRequest(modelSHA256: try SHA256.hex(fileAt: model), textSHA256: try SHA256.hex(fileAt: text),
                                          originalContext: try required(file.originalContext, "original_context"),
                                          targetContext: try required(file.targetContext, "target_context"))
        request.name = file.name ?? name ?? URL(fileURLWithPath: config).deletingPathExtension().lastPathComponent
        request.textOffset = file.textOffset
        request.options = file.options
        if let factors = file.seedFactors {
            let scale = Double(request.targetContext) / Double(request.originalContext)
            let seed = try SeedFactors.load(file.resolve(factors), toScale: scale,
                                           lambdaMax: file.options.lambdaMax ?? SearchConfig.defaultLambdaMax(scale: scale))
            request.options.extraSeeds = (request.options.extraSeeds ?? []) + [seed]
        }
        // What the coordinator would answer 400 to, said now (a Slurm job would learn it later).
        let problems = request.problemsBeforeGeometry()
        guard problems.isEmpty else { throw CLIError("\(config): invalid search: " + problems.joined(separator: "; ")) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do { try encoder.encode(request).write(to: URL(fileURLWithPath: out)) }
        catch { throw CLIError("cannot write \(out): \(error.localizedDescription)") }
        print(model)
        print(text)
    }
}
