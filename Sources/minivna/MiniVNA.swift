import ArgumentParser

/// The `minivna` command line: a thin shell over the library modules.
@main
struct MiniVNA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "minivna",
        abstract: "MiniVNA: a standalone DICOMweb + FHIR mini vendor-neutral archive.",
        subcommands: [DumpCommand.self, ScanCommand.self]
    )
}
