import ArgumentParser

/// The `longrope` command: extends the context window of RoPE language models the LongRoPE way.
public struct LongRoPECommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "longrope",
        abstract: "Extend the context window of a RoPE language model the LongRoPE way.",
        subcommands: [FactorsCommand.self, EvalCommand.self, TokenizeCommand.self, PasskeyCommand.self, SearchCommand.self, ExportCommand.self, RequestCommand.self,
                      CoordinatorCommand.self, WorkerCommand.self, StatusCommand.self]
    )

    public init() {}
}
