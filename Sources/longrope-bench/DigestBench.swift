import ArgumentParser
import Digest
import Foundation

/// `longrope-bench digest`: how fast a model file is hashed (every worker and search does it at
/// start), ours against coreutils' `sha256sum`, A B A B.
struct DigestBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "digest",
        abstract: "SHA-256 of a file: Digest against sha256sum, alternating, medians.")

    @Option(help: "The file to hash (e.g. a GGUF model).") var file: String
    @Option(help: "Rounds of (ours, sha256sum).") var rounds: Int = 3

    func run() throws {
        let size = Double((try FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.intValue ?? 0)
        var ours: [Double] = [], theirs: [Double] = []
        var hashes: Set<String> = []
        for _ in 0..<rounds {
            var start = Date()
            hashes.insert(try SHA256.hex(fileAt: file))
            ours.append(Date().timeIntervalSince(start))
            start = Date()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
            process.arguments = [file]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let output = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            theirs.append(Date().timeIntervalSince(start))
            hashes.insert(String(decoding: output.prefix(64), as: UTF8.self))
        }
        let mb = size / 1e6
        print(String(format: "%.0f MB: Digest %.3f s (%.0f MB/s), sha256sum %.3f s (%.0f MB/s), ratio %.2f×; digests %@",
                     mb, median(ours), mb / median(ours), median(theirs), mb / median(theirs), median(ours) / median(theirs),
                     hashes.count == 1 ? "agree" : "DIFFER"))
    }
}
