import ArgumentParser

/// The `minivna` command line: a thin shell over the library modules.
@main
struct MiniVNA: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "minivna",
        abstract: "MiniVNA: a standalone DICOMweb + FHIR mini vendor-neutral archive.",
        subcommands: [ServeCommand.self, DumpCommand.self, ScanCommand.self, ImportCommand.self, ReindexCommand.self,
                      VerifyCommand.self, BackupCommand.self, EventsCommand.self, HashSecretCommand.self, DemoDataCommand.self]
    )
}
