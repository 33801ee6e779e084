import Foundation

/// Where the repository and ../shared are, and how to run the built `longrope` binary.
public enum TestPaths {
    /// The package root (this file is Tests/TestSupport/TestSupport.swift).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// ../shared beside the checkout (override with LONGROPE_SHARED).
    public static let shared: URL = {
        if let path = ProcessInfo.processInfo.environment["LONGROPE_SHARED"] {
            return URL(fileURLWithPath: path)
        }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
    }()

    /// A file under ../shared, or nil (with a message on stderr naming it) when it is absent.
    public static func sharedFile(_ relative: String) -> URL? {
        let url = shared.appendingPathComponent(relative)
        if FileManager.default.fileExists(atPath: url.path) { return url }
        FileHandle.standardError.write(Data("SKIP: \(url.path) is absent\n".utf8))
        return nil
    }

    /// Whether a file under ../shared is there (for `.enabled(if:)`, which shows the skip).
    public static func has(_ relative: String) -> Bool {
        FileManager.default.fileExists(atPath: shared.appendingPathComponent(relative).path)
    }

    /// SmolLM2-135M Q4_1, downloaded by scripts/fetch-models.sh into models/.
    public static var smolLM2: URL? {
        let url = packageRoot.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf")
        if FileManager.default.fileExists(atPath: url.path) { return url }
        FileHandle.standardError.write(Data("SKIP: \(url.path) is absent (run scripts/fetch-models.sh)\n".utf8))
        return nil
    }

    /// The `longrope` executable built beside the test bundle.
    public static var longropeBinary: URL {
        let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var candidates = [bundleDirectory.appendingPathComponent("longrope"),
                          bundleDirectory.deletingLastPathComponent().appendingPathComponent("longrope")]
        for configuration in ["release", "debug"] {
            candidates.append(packageRoot.appendingPathComponent(".build/\(configuration)/longrope"))
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }
}

/// The result of running a command.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs the `longrope` binary with `arguments` and waits for it.
public func runLongrope(_ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
    try runProcess(TestPaths.longropeBinary, arguments, environment: environment)
}

/// Runs an executable, capturing its output.
public func runProcess(_ executable: URL, _ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env.merge(environment) { $1 }
    process.environment = env
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read both pipes concurrently so neither fills up and blocks the child.
    nonisolated(unsafe) var errData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus,
                         stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
}

/// A fresh temporary directory.
public func temporaryDirectory() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("longrope-test-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Polls until `condition` holds, giving up after `seconds` worth of polls (one every 0.1 s).
///
/// The budget counts polls, not wall-clock time: under a loaded machine the suite's synchronous
/// forward passes can hold both cooperative threads for minutes, and then neither this poll
/// nor the task it waits for runs. A wall-clock deadline failed three dispatcher tests that way
/// in a clean-clone CI run (30 s passed while nothing could run); counting polls gives the
/// awaited task the same number of chances whatever else shares the machine.
public func waitUntil(_ seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
    let polls = max(1, Int((seconds / 0.1).rounded(.up)))
    for _ in 0..<polls {
        if try await condition() { return true }
        try await Task.sleep(nanoseconds: 100_000_000)
    }
    return try await condition()
}
