import DICOM

/// Why a stored file is read: each purpose has one set of `ReadOptions`, made here with the
/// archive's inflater, so no reader of stored files can forget the Deflated transfer syntax.
public enum InstanceReadPurpose: Sendable {
    /// Ingest, reindex and metadata (JSON, XML): the whole structure, binary values over the
    /// metadata threshold left in the file.
    case indexing
    /// Attributes only (QIDO includefield): stop before Pixel Data, large values left in the file.
    case header
    /// Pixels (frames, rendering, transcoding): every binary value left in the file and read on
    /// demand (or held in memory when the file had to be inflated).
    case pixels
}

extension Archive {
    /// The options to read a stored (or staged) file for `purpose`.
    public func readOptions(_ purpose: InstanceReadPurpose) -> ReadOptions {
        Self.readOptions(purpose, inflater: configuration.inflater)
    }

    static func readOptions(_ purpose: InstanceReadPurpose, inflater: (any DeflateDecoding)?) -> ReadOptions {
        switch purpose {
        case .indexing:
            ReadOptions(stopBeforePixelData: false, deferValuesLongerThan: InstanceMetadata.bulkDataThreshold, inflater: inflater)
        case .header:
            ReadOptions.headerOnly(inflater: inflater)
        case .pixels:
            ReadOptions(deferValuesLongerThan: 0, inflater: inflater)
        }
    }
}
