import Foundation

/// Reads DICOM Part 10 files (PS3.10 §7.1): preamble, "DICM", file meta information, and the
/// dataset in any of the transfer syntaxes' encodings (implicit/explicit VR, little/big endian,
/// deflated). Files are memory-mapped, so header-only reads touch only the header's pages.
public enum Part10Reader {
    /// Reads a file. With `options.deferValuesLongerThan`, large values stay in the file.
    public static func read(path: String, options: ReadOptions = ReadOptions()) throws -> Part10File {
        let mapped = try MappedFile(path: path)
        var file = try mapped.withBytes { try parse($0, fileBacked: true, options: options) }
        file.sourcePath = path
        return file
    }

    /// Reads an in-memory stream (every value is loaded).
    public static func read(bytes: [UInt8], options: ReadOptions = ReadOptions()) throws -> Part10File {
        try bytes.withUnsafeBytes { try parse($0, fileBacked: false, options: options) }
    }

    public static func read(data: Data, options: ReadOptions = ReadOptions()) throws -> Part10File {
        try data.withUnsafeBytes { try parse($0, fileBacked: false, options: options) }
    }

    static func parse(_ buffer: UnsafeRawBufferPointer, fileBacked: Bool, options: ReadOptions) throws -> Part10File {
        var warnings: [String] = []
        var pos = 0
        var hasPreamble = false
        if buffer.count >= 132, buffer[128] == 0x44, buffer[129] == 0x49, buffer[130] == 0x43, buffer[131] == 0x4D {
            pos = 132
            hasPreamble = true
        } else if buffer.count >= 4, buffer[0] == 0x44, buffer[1] == 0x49, buffer[2] == 0x43, buffer[3] == 0x4D {
            pos = 4
            warnings.append("file has \"DICM\" but no 128-byte preamble")
        } else if options.allowMissingPreamble, looksLikeDataSet(buffer, at: 0) {
            warnings.append("no preamble and \"DICM\" prefix: read as a raw dataset")
        } else {
            throw DICOMParseError(.notDICOM, "not a DICOM file: no \"DICM\" prefix at byte 128 and no dataset at byte 0", offset: 0)
        }

        // File meta information: explicit VR little endian, every element in group 0002.
        var parser = DataSetParser(buffer: buffer, fileOffset: fileBacked ? 0 : nil, options: options)
        let metaEnd = metaGroupEnd(buffer, from: pos)
        var meta = DataSet()
        if metaEnd > pos {
            let metaEncoding: DataSetEncoding = hasExplicitVR(buffer, at: pos) ? .explicitLittle : .implicitLittle
            if metaEncoding == .implicitLittle { warnings.append("file meta information is implicit VR (it must be explicit)") }
            var metaOptions = options
            metaOptions.stopBeforePixelData = false
            var metaParser = DataSetParser(buffer: buffer, fileOffset: fileBacked ? 0 : nil, options: metaOptions)
            (meta, _, _) = try metaParser.parseDataSet(
                from: pos, to: metaEnd, encoding: metaEncoding, depth: 0, inheritedCharacterSet: .default,
                inheritedPixelRepresentation: nil, inUndefinedItem: false)
            warnings += metaParser.warnings
            pos = metaEnd
        } else if hasPreamble {
            warnings.append("file has no file meta information")
        }

        // The dataset's encoding: from the transfer syntax, else detected from its first bytes.
        var transferSyntaxUID = meta.string(.transferSyntaxUID) ?? ""
        var encoding: DataSetEncoding
        var deflated = false
        if let syntax = TransferSyntax(uid: transferSyntaxUID) {
            encoding = DataSetEncoding(explicitVR: syntax.isExplicitVR, bigEndian: syntax.isBigEndian)
            deflated = syntax.isDeflated
            if !deflated, pos < buffer.count, !syntax.isBigEndian, looksBigEndian(buffer, at: pos) {
                warnings.append("transfer syntax \(transferSyntaxUID) says little endian but the dataset is big endian")
                encoding.bigEndian = true
            }
        } else {
            encoding = detectEncoding(buffer, at: pos)
            let detected = encoding.explicitVR
                ? (encoding.bigEndian ? TransferSyntax.explicitVRBigEndian : .explicitVRLittleEndian)
                : TransferSyntax.implicitVRLittleEndian
            if transferSyntaxUID.isEmpty {
                warnings.append("no Transfer Syntax UID: dataset detected as \(detected.name)")
                transferSyntaxUID = detected.uid
            } else {
                warnings.append("unknown transfer syntax \(transferSyntaxUID): dataset read as \(detected.name)")
            }
        }

        let dataSet: DataSet
        let stop: DataSetParser.Stop
        var next: Int
        if deflated {
            guard let inflater = options.inflater else {
                throw DICOMParseError(.deflate, "dataset is deflated (\(transferSyntaxUID)) and no inflater was given", offset: pos)
            }
            let inflated: [UInt8]
            do {
                inflated = try inflater.inflate(UnsafeRawBufferPointer(rebasing: buffer[pos...]))
            } catch {
                throw DICOMParseError(.deflate, "cannot inflate the dataset: \(error)", offset: pos)
            }
            let result = try inflated.withUnsafeBytes { inflatedBuffer in
                var inflatedParser = DataSetParser(buffer: inflatedBuffer, fileOffset: nil, options: options)
                let parsed = try inflatedParser.parseDataSet(
                    from: 0, to: inflatedBuffer.count, encoding: .explicitLittle, depth: 0, inheritedCharacterSet: .default,
                    inheritedPixelRepresentation: nil, inUndefinedItem: false)
                return (parsed, inflatedParser.warnings)
            }
            (dataSet, next, stop) = result.0
            warnings += result.1
            next = -1 // offsets in the inflated stream are not file offsets
        } else {
            (dataSet, next, stop) = try parser.parseDataSet(
                from: pos, to: buffer.count, encoding: encoding, depth: 0, inheritedCharacterSet: .default,
                inheritedPixelRepresentation: nil, inUndefinedItem: false)
            warnings += parser.warnings
        }
        return Part10File(
            fileMetaInformation: meta, dataSet: dataSet, transferSyntaxUID: transferSyntaxUID, hasPreamble: hasPreamble,
            stoppedBeforePixelData: stop == .pixelData, pixelDataOffset: stop == .pixelData && next >= 0 ? next : nil,
            warnings: warnings)
    }

    // MARK: Detection helpers

    /// End of the run of group-0002 elements starting at `pos` (scanned, not trusted from the group length).
    static func metaGroupEnd(_ buffer: UnsafeRawBufferPointer, from start: Int) -> Int {
        var pos = start
        while pos + 8 <= buffer.count {
            let group = UInt16(buffer[pos]) | UInt16(buffer[pos + 1]) << 8
            guard group == 0x0002 else { break }
            var length: Int
            var header: Int
            if let vr = VR(byte0: buffer[pos + 4], byte1: buffer[pos + 5]) {
                if vr.hasLongExplicitLength {
                    guard pos + 12 <= buffer.count else { return pos }
                    length = Int(buffer.loadUnaligned(fromByteOffset: pos + 8, as: UInt32.self).littleEndian)
                    header = 12
                } else {
                    length = Int(UInt16(buffer[pos + 6]) | UInt16(buffer[pos + 7]) << 8)
                    header = 8
                }
            } else {
                length = Int(buffer.loadUnaligned(fromByteOffset: pos + 4, as: UInt32.self).littleEndian)
                header = 8
            }
            guard length != 0xFFFF_FFFF, pos + header + length <= buffer.count else { return pos }
            pos += header + length
        }
        return pos
    }

    static func hasExplicitVR(_ buffer: UnsafeRawBufferPointer, at pos: Int) -> Bool {
        pos + 6 <= buffer.count && VR(byte0: buffer[pos + 4], byte1: buffer[pos + 5]) != nil
    }

    /// A big endian dataset starts with a small even group (0002...0010) whose bytes, read little
    /// endian, make a group no dataset starts with (0x0200...0x1000). Groups like 2000 or 6000
    /// read little endian are real, so only this narrow pattern counts.
    static func looksBigEndian(_ buffer: UnsafeRawBufferPointer, at pos: Int) -> Bool {
        guard pos + 4 <= buffer.count else { return false }
        let groupBE = UInt16(buffer[pos]) << 8 | UInt16(buffer[pos + 1])
        return buffer[pos] == 0 && groupBE >= 0x0002 && groupBE <= 0x0010 && groupBE & 1 == 0
    }

    static func detectEncoding(_ buffer: UnsafeRawBufferPointer, at pos: Int) -> DataSetEncoding {
        DataSetEncoding(explicitVR: hasExplicitVR(buffer, at: pos), bigEndian: looksBigEndian(buffer, at: pos))
    }

    /// A raw dataset starts with a small even group number (0002, 0008, ...) and a plausible header.
    static func looksLikeDataSet(_ buffer: UnsafeRawBufferPointer, at pos: Int) -> Bool {
        guard pos + 8 <= buffer.count else { return false }
        let groupLE = UInt16(buffer[pos]) | UInt16(buffer[pos + 1]) << 8
        let groupBE = UInt16(buffer[pos]) << 8 | UInt16(buffer[pos + 1])
        let group = looksBigEndian(buffer, at: pos) ? groupBE : groupLE
        return group >= 0x0002 && group <= 0x0010 && group & 1 == 0
    }
}
