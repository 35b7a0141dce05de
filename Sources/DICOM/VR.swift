/// Value Representations of PS3.5 §6.2, all 34 of the current standard.
public enum VR: String, CaseIterable, Sendable {
    case AE, AS, AT, CS, DA, DS, DT, FD, FL, IS, LO, LT, OB, OD, OF, OL, OV, OW, PN, SH, SL, SQ,
         SS, ST, SV, TM, UC, UI, UL, UN, UR, US, UT, UV

    /// Parses the two ASCII bytes of an explicit VR (a table lookup: this is the parser's hot path).
    @inline(__always)
    init?(byte0: UInt8, byte1: UInt8) {
        guard byte0 &- 0x41 < 26, byte1 &- 0x41 < 26,
              let vr = VR.byTwoLetters[Int(byte0 &- 0x41) * 26 + Int(byte1 &- 0x41)] else { return nil }
        self = vr
    }

    /// VRs indexed by (first letter - 'A') * 26 + (second letter - 'A').
    private static let byTwoLetters: [VR?] = {
        var table = [VR?](repeating: nil, count: 26 * 26)
        for vr in VR.allCases {
            let letters = Array(vr.rawValue.utf8)
            table[Int(letters[0] - 0x41) * 26 + Int(letters[1] - 0x41)] = vr
        }
        return table
    }()

    /// Explicit VR encodings of these VRs have 2 reserved bytes and a 32-bit length (PS3.5 §7.1.2).
    public var hasLongExplicitLength: Bool {
        switch self {
        case .OB, .OD, .OF, .OL, .OV, .OW, .SQ, .SV, .UC, .UN, .UR, .UT, .UV: return true
        default: return false
        }
    }

    /// Character string VRs: values are text in the dataset's character set (or ASCII).
    public var isString: Bool {
        switch self {
        case .AE, .AS, .CS, .DA, .DS, .DT, .IS, .LO, .LT, .PN, .SH, .ST, .TM, .UC, .UI, .UR, .UT: return true
        default: return false
        }
    }

    /// Text VRs whose values use the Specific Character Set (the rest are plain ASCII).
    public var usesSpecificCharacterSet: Bool {
        switch self {
        case .LO, .LT, .PN, .SH, .ST, .UC, .UT: return true
        default: return false
        }
    }

    /// VRs whose value is a single string, never split at backslashes (VM is always 1).
    public var isSingleValuedText: Bool {
        switch self {
        case .LT, .ST, .UT, .UR: return true
        default: return false
        }
    }

    /// Binary "other" VRs: opaque byte streams, candidates for bulk data.
    public var isBulkBinary: Bool {
        switch self {
        case .OB, .OD, .OF, .OL, .OV, .OW, .UN: return true
        default: return false
        }
    }

    /// Size of one binary number for numeric VRs, and the swap unit for byte-order conversion.
    public var binaryUnitSize: Int? {
        switch self {
        case .US, .SS, .OW: return 2
        case .UL, .SL, .FL, .OF, .OL: return 4
        case .AT: return 2 // two 16-bit halves
        case .FD, .OD, .SV, .UV, .OV: return 8
        default: return nil
        }
    }

    /// Padding byte for odd-length values: space for text, NUL for UI and binary VRs.
    public var paddingByte: UInt8 {
        isString && self != .UI ? 0x20 : 0x00
    }
}
