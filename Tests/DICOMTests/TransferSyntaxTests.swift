import Testing
@testable import DICOM

@Suite struct TransferSyntaxTests {
    @Test func implicitVRLittleEndianIsNative() {
        let syntax = TransferSyntax.implicitVRLittleEndian
        #expect(syntax.uid == "1.2.840.10008.1.2")
        #expect(!syntax.isExplicitVR)
        #expect(!syntax.isBigEndian)
        #expect(!syntax.isEncapsulated)
        #expect(!syntax.isDeflated)
        #expect(!syntax.isLossy)
        #expect(!syntax.isRetired)
    }

    @Test func explicitVRLittleEndianIsNative() {
        let syntax = TransferSyntax.explicitVRLittleEndian
        #expect(syntax.uid == "1.2.840.10008.1.2.1")
        #expect(syntax.isExplicitVR)
        #expect(!syntax.isBigEndian)
        #expect(!syntax.isEncapsulated)
    }

    @Test func explicitVRBigEndianIsRetiredAndBigEndian() {
        let syntax = TransferSyntax.explicitVRBigEndian
        #expect(syntax.uid == "1.2.840.10008.1.2.2")
        #expect(syntax.isExplicitVR)
        #expect(syntax.isBigEndian)
        #expect(syntax.isRetired)
        #expect(!syntax.isEncapsulated)
    }

    @Test func deflatedIsExplicitLittleEndianAndNotEncapsulated() {
        let syntax = TransferSyntax.deflatedExplicitVRLittleEndian
        #expect(syntax.uid == "1.2.840.10008.1.2.1.99")
        #expect(syntax.isDeflated)
        #expect(syntax.isExplicitVR)
        #expect(!syntax.isBigEndian)
        #expect(!syntax.isEncapsulated)
    }

    @Test func compressedSyntaxesAreEncapsulatedAndFlagLossiness() {
        #expect(TransferSyntax.jpegBaseline.isEncapsulated)
        #expect(TransferSyntax.jpegBaseline.isLossy)
        #expect(TransferSyntax.jpegBaseline.uid == "1.2.840.10008.1.2.4.50")
        #expect(TransferSyntax.jpegLosslessSV1.isEncapsulated)
        #expect(!TransferSyntax.jpegLosslessSV1.isLossy)
        #expect(TransferSyntax.jpeg2000Lossless.uid == "1.2.840.10008.1.2.4.90")
        #expect(!TransferSyntax.jpeg2000Lossless.isLossy)
        #expect(TransferSyntax.jpeg2000.isLossy)
        #expect(TransferSyntax.jpegLSNearLossless.isLossy)
        #expect(TransferSyntax.rleLossless.uid == "1.2.840.10008.1.2.5")
        #expect(TransferSyntax.rleLossless.isEncapsulated)
        #expect(!TransferSyntax.rleLossless.isLossy)
        #expect(TransferSyntax.htj2k.isLossy)
        #expect(!TransferSyntax.htj2kLossless.isLossy)
        #expect(TransferSyntax.encapsulatedUncompressedExplicitVRLittleEndian.isEncapsulated)
        #expect(!TransferSyntax.encapsulatedUncompressedExplicitVRLittleEndian.isLossy)
        // JPIP references pixel data elsewhere: nothing is encapsulated.
        #expect(!TransferSyntax.jpipReferenced.isEncapsulated)
    }

    @Test func everyKnownSyntaxHasAUniqueValidUID() {
        let uids = TransferSyntax.all.map(\.uid)
        #expect(Set(uids).count == uids.count)
        #expect(uids.count >= 30)
        for syntax in TransferSyntax.all {
            #expect(UID.isValid(syntax.uid), "\(syntax.uid)")
            #expect(syntax.uid.hasPrefix("1.2.840.10008.1.2"))
            #expect(TransferSyntax(uid: syntax.uid) == syntax)
            // Every dataset encoding but two is explicit VR little endian.
            if syntax != .implicitVRLittleEndian && syntax != .explicitVRBigEndian {
                #expect(syntax.isExplicitVR && !syntax.isBigEndian, "\(syntax.name)")
            }
        }
    }

    @Test func lookupIgnoresTrailingNULAndSpacePadding() {
        #expect(TransferSyntax(uid: "1.2.840.10008.1.2.1\0") == .explicitVRLittleEndian)
        #expect(TransferSyntax(uid: "1.2.840.10008.1.2\0") == .implicitVRLittleEndian)
        #expect(TransferSyntax(uid: "1.2.840.10008.1.2.4.50 ") == .jpegBaseline)
        #expect(TransferSyntax(uid: "1.2.840.10008.1.2.1.99\0\0") == .deflatedExplicitVRLittleEndian)
    }

    @Test func lookupRejectsUnknownAndNearMissUIDs() {
        #expect(TransferSyntax(uid: "") == nil)
        #expect(TransferSyntax(uid: "1.2.840.10008.1.2.9") == nil)
        #expect(TransferSyntax(uid: "1.2.840.10008.1.2.1.") == nil)
        #expect(TransferSyntax(uid: "1.2.840.10008.1.2.1\01") == nil)
        #expect(TransferSyntax(uid: "1.2.840.10008.5.1.4.1.1.2") == nil)
    }

    @Test func descriptionNamesTheSyntaxAndItsUID() {
        #expect(TransferSyntax.explicitVRLittleEndian.description == "Explicit VR Little Endian (1.2.840.10008.1.2.1)")
        #expect(TransferSyntax.implicitVRLittleEndian.name == "Implicit VR Little Endian")
    }
}
