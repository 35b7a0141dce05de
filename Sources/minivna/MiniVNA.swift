import ArgumentParser
import Foundation

/// The `minivna` command line: a thin shell over the library modules.
@main
struct MiniVNA: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "minivna",
        abstract: "MiniVNA: a standalone DICOMweb + FHIR mini vendor-neutral archive.",
        subcommands: [ServeCommand.self, DumpCommand.self, ScanCommand.self, ImportCommand.self, ReindexCommand.self,
                      VerifyCommand.self, BackupCommand.self, EventsCommand.self, HashSecretCommand.self, DemoDataCommand.self,
                      ConfigCommand.self]
    )

    /// `serve` and `config` read `--config FILE` first (its settings go before the command
    /// line's own arguments); everything else is ArgumentParser's usual way.
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if let first = arguments.first, first == "serve" || first == "config" {
            do {
                arguments = [first] + (try ConfigurationFile.arguments(Array(arguments.dropFirst()),
                                                                      environment: ProcessInfo.processInfo.environment))
            } catch {
                FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
                Foundation.exit(64)
            }
        }
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
