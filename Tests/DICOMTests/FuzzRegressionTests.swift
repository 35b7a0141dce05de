import DICOM
import Foundation
import Testing

/// Inputs the fuzzer (Fuzz/run.sh) found, kept as tests.
@Suite struct FuzzRegressionTests {
    /// A SOP Instance UID with a non-ASCII byte made the file meta group grow on every rewrite
    /// (the UID was decoded as Latin-1 and re-encoded as UTF-8).
    @Test func rewritingKeepsTheMetaGroupByteForByte() throws {
        let path = RealFileCorpus.fixturesDirectory.deletingLastPathComponent().appendingPathComponent("Fuzz/crashes/meta-uid-nonascii-rewrite.dcm").path
        let first = try Part10Writer.write(try Part10Reader.read(path: path).dataSet)
        let second = try Part10Writer.write(try Part10Reader.read(bytes: first).dataSet)
        #expect(first == second)
    }
}
