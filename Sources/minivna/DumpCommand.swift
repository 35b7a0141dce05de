import ArgumentParser
import DICOM
import Foundation
import Imaging

/// `minivna dump FILE`: the file's dataset as DICOM JSON (PS3.18 F.2), like dcmdump.
struct DumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print a DICOM file's dataset as DICOM JSON (PS3.18 Annex F.2) or XML (Annex F.3)."
    )

    @Argument(help: "The DICOM file to print.")
    var file: String

    @Option(help: "Binary values (OB, OD, OF, OL, OV, OW, UN) longer than this many bytes are printed as BulkDataURIs.")
    var bulkDataThreshold: Int = 1024

    @Option(help: "Prefix of the BulkDataURIs; the element's path (e.g. 7FE00010) follows it.")
    var bulkDataURIPrefix: String = "bulkdata/"

    @Flag(help: "Write every binary value inline (no BulkDataURIs).")
    var inlineAll = false

    @Flag(help: "Stop before Pixel Data, like an index does.")
    var headerOnly = false

    @Flag(help: "Include the file meta information (group 0002).")
    var meta = false

    @Flag(help: "Print the Native DICOM Model (XML) instead of JSON.")
    var xml = false

    func run() throws {
        let inflater = ZlibDeflate()
        let file: Part10File
        do {
            var options = headerOnly ? ReadOptions.headerOnly(inflater: inflater) : ReadOptions(inflater: inflater)
            options.deferValuesLongerThan = inlineAll ? nil : bulkDataThreshold
            file = try Part10Reader.read(path: self.file, options: options)
        } catch let error as DICOMParseError {
            throw CommandFailure("cannot read \(self.file): \(error)")
        }
        var dataSet = file.dataSet
        if meta {
            for element in file.fileMetaInformation.elements { dataSet.set(element) }
        }
        let prefix = bulkDataURIPrefix
        let policy = inlineAll ? nil : BulkDataPolicy(threshold: bulkDataThreshold) { path in prefix + path.description }
        let source = self.file
        let load: @Sendable (BulkDataReference) throws -> [UInt8] = { try BulkDataReader.read($0, from: source) }
        let text: String
        if xml {
            text = try DICOMXMLEncoder(bulkData: policy, load: load).encode(dataSet)
        } else {
            text = try DICOMJSONEncoder(bulkData: policy, load: load).encode(dataSet)
        }
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}

/// A failure the command reports in one line on stderr, exiting 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
