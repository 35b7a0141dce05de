import Foundation
import Testing
@testable import DICOM

@Suite struct ValueParsingTests {
    // MARK: DA

    @Test func parsesDate() throws {
        let date = try #require(DICOMDate("20240115"))
        #expect(date.year == 2024)
        #expect(date.month == 1)
        #expect(date.day == 15)
        #expect(date.description == "20240115")
    }

    @Test func acceptsLeapDayOnlyInLeapYears() {
        #expect(DICOMDate("20240229") != nil)
        #expect(DICOMDate("20000229") != nil)   // divisible by 400
        #expect(DICOMDate("20230229") == nil)
        #expect(DICOMDate("19000229") == nil)   // divisible by 100, not 400
        #expect(DICOMDate("21000229") == nil)
    }

    @Test func rejectsImpossibleDates() {
        #expect(DICOMDate("20241301") == nil)
        #expect(DICOMDate("20240001") == nil)
        #expect(DICOMDate("20240100") == nil)
        #expect(DICOMDate("20240431") == nil)
        #expect(DICOMDate("20240132") == nil)
        #expect(DICOMDate("20241231") != nil)
    }

    @Test func rejectsMalformedDateText() {
        #expect(DICOMDate("") == nil)
        #expect(DICOMDate("2024011") == nil)
        #expect(DICOMDate("202401150") == nil)
        #expect(DICOMDate("2024-01-15") == nil)
        #expect(DICOMDate("2024011A") == nil)
        #expect(DICOMDate(" 20240115") == nil)
    }

    @Test func acceptsACRNEMADottedDate() {
        #expect(DICOMDate("2024.01.15") == DICOMDate("20240115"))
        #expect(DICOMDate("2023.02.29") == nil)
    }

    @Test func ordersDatesChronologically() throws {
        let a = try #require(DICOMDate("20231231"))
        let b = try #require(DICOMDate("20240101"))
        let c = try #require(DICOMDate("20240102"))
        #expect(a < b && b < c)
        #expect(!(c < a))
    }

    // MARK: TM

    @Test func parsesTimeWithOmittedComponentsAsNil() throws {
        let hour = try #require(DICOMTime("07"))
        #expect(hour.hour == 7 && hour.minute == nil && hour.second == nil && hour.microsecond == nil)
        let minute = try #require(DICOMTime("0730"))
        #expect(minute.minute == 30 && minute.second == nil)
        let second = try #require(DICOMTime("073045"))
        #expect(second.second == 45 && second.microsecond == nil)
    }

    @Test func scalesFractionalSecondsToMicroseconds() throws {
        #expect(try #require(DICOMTime("123045.5")).microsecond == 500_000)
        #expect(try #require(DICOMTime("123045.05")).microsecond == 50_000)
        #expect(try #require(DICOMTime("123045.123456")).microsecond == 123_456)
        #expect(try #require(DICOMTime("123045.000001")).microsecond == 1)
        #expect(try #require(DICOMTime("123045.5")).description == "123045.500000")
    }

    @Test func rejectsMalformedFractions() {
        #expect(DICOMTime("123045.1234567") == nil)   // more than 6 digits
        #expect(DICOMTime("123045.") == nil)
        #expect(DICOMTime("1230.5") == nil)           // fraction needs seconds
        #expect(DICOMTime("123045.5a") == nil)
    }

    @Test func rejectsOutOfRangeTimes() {
        #expect(DICOMTime("240000") == nil)
        #expect(DICOMTime("236000") == nil)
        #expect(DICOMTime("235961") == nil)
        #expect(DICOMTime("235960") != nil)   // leap second
        #expect(DICOMTime("235959") != nil)
        #expect(DICOMTime("000000") != nil)
    }

    @Test func rejectsMalformedTimeText() {
        #expect(DICOMTime("") == nil)
        #expect(DICOMTime("7") == nil)
        #expect(DICOMTime("073") == nil)
        #expect(DICOMTime("07304") == nil)
        #expect(DICOMTime("0730450") == nil)
        #expect(DICOMTime("ab") == nil)
        #expect(DICOMTime("-1") == nil)
    }

    @Test func acceptsACRNEMAColonTime() throws {
        let time = try #require(DICOMTime("12:30:45"))
        #expect(time.hour == 12 && time.minute == 30 && time.second == 45)
    }

    // MARK: DT

    @Test func parsesDateTimeAtEveryPrecision() throws {
        let year = try #require(DICOMDateTime("2024"))
        #expect(year.year == 2024 && year.month == nil && year.day == nil && year.time == nil)
        let month = try #require(DICOMDateTime("202402"))
        #expect(month.month == 2 && month.day == nil)
        let day = try #require(DICOMDateTime("20240229"))
        #expect(day.day == 29 && day.time == nil)
        let full = try #require(DICOMDateTime("20240115123045.123456"))
        #expect(full.time?.hour == 12 && full.time?.minute == 30 && full.time?.second == 45)
        #expect(full.time?.microsecond == 123_456)
        #expect(full.utcOffsetMinutes == nil)
        let hourOnly = try #require(DICOMDateTime("2024011512"))
        #expect(hourOnly.time?.hour == 12 && hourOnly.time?.minute == nil)
    }

    @Test func parsesUTCOffsets() throws {
        #expect(try #require(DICOMDateTime("20240115123045+0100")).utcOffsetMinutes == 60)
        #expect(try #require(DICOMDateTime("20240115123045.5-0530")).utcOffsetMinutes == -330)
        #expect(try #require(DICOMDateTime("20240115123045.5-0530")).time?.microsecond == 500_000)
        #expect(try #require(DICOMDateTime("2024+0000")).utcOffsetMinutes == 0)
        #expect(try #require(DICOMDateTime("20240115+1400")).utcOffsetMinutes == 840)
        #expect(try #require(DICOMDateTime("20240115-1200")).utcOffsetMinutes == -720)
    }

    @Test func rejectsMalformedUTCOffsets() {
        #expect(DICOMDateTime("20240115+1500") == nil)
        #expect(DICOMDateTime("20240115+0160") == nil)
        #expect(DICOMDateTime("20240115+01") == nil)
        #expect(DICOMDateTime("20240115+010") == nil)
        #expect(DICOMDateTime("20240115+01000") == nil)
    }

    /// PS3.5 Table 6.2-1: the offset from UTC ranges from -1200 to +1400.
    @Test func rejectsUTCOffsetsOutsideMinus1200ToPlus1400() {
        #expect(DICOMDateTime("20240115-1300") == nil)
        #expect(DICOMDateTime("20240115-1400") == nil)
        #expect(DICOMDateTime("20240115+1400") != nil)
    }

    @Test func rejectsInvalidDateTimes() {
        #expect(DICOMDateTime("") == nil)
        #expect(DICOMDateTime("202") == nil)
        #expect(DICOMDateTime("20241") == nil)
        #expect(DICOMDateTime("2024011") == nil)
        #expect(DICOMDateTime("202413") == nil)
        #expect(DICOMDateTime("20230229") == nil)
        #expect(DICOMDateTime("20240230") == nil)
        #expect(DICOMDateTime("2024011525") == nil)
        #expect(DICOMDateTime("20240115123045.1234567") == nil)
        #expect(DICOMDateTime("2024.5") == nil)
        #expect(DICOMDateTime("20240115T1230") == nil)
    }

    // MARK: DS / IS

    @Test func parsesDecimalStrings() {
        #expect(ValueParsing.decimalString("1.5") == 1.5)
        #expect(ValueParsing.decimalString("+1.50") == 1.5)
        #expect(ValueParsing.decimalString(".5") == 0.5)
        #expect(ValueParsing.decimalString("-.5") == -0.5)
        #expect(ValueParsing.decimalString("1e3") == 1000)
        #expect(ValueParsing.decimalString("1E-3") == 0.001)
        #expect(ValueParsing.decimalString("-2.5e+2") == -250)
        #expect(ValueParsing.decimalString(" 42 ") == 42)
        #expect(ValueParsing.decimalString("007") == 7)
    }

    @Test func rejectsNonDecimalStrings() {
        #expect(ValueParsing.decimalString("") == nil)
        #expect(ValueParsing.decimalString("   ") == nil)
        #expect(ValueParsing.decimalString("abc") == nil)
        #expect(ValueParsing.decimalString("1,5") == nil)
        #expect(ValueParsing.decimalString("NaN") == nil)
        #expect(ValueParsing.decimalString("inf") == nil)
        #expect(ValueParsing.decimalString("1e400") == nil)   // overflows to infinity
        #expect(ValueParsing.decimalString("0x10") == nil)
        #expect(ValueParsing.decimalString("1.2.3") == nil)
    }

    @Test func parsesIntegerStrings() {
        #expect(ValueParsing.integerString("42") == 42)
        #expect(ValueParsing.integerString("+42") == 42)
        #expect(ValueParsing.integerString("-7") == -7)
        #expect(ValueParsing.integerString(" 12 ") == 12)
        #expect(ValueParsing.integerString("-2147483648") == -2_147_483_648)
    }

    @Test func rejectsNonIntegerStrings() {
        #expect(ValueParsing.integerString("") == nil)
        #expect(ValueParsing.integerString("1.5") == nil)
        #expect(ValueParsing.integerString("1e3") == nil)
        #expect(ValueParsing.integerString("abc") == nil)
        #expect(ValueParsing.integerString("++1") == nil)
        #expect(ValueParsing.integerString("1 2") == nil)
    }

    @Test func splitsMultiValuedNumericText() {
        #expect(NumericValue.doubles(Array("1.5\\-2\\ 3e2 ".utf8), vr: .DS) == [1.5, -2, 300])
        #expect(NumericValue.integers(Array("1\\-2\\+3 ".utf8), vr: .IS) == [1, -2, 3])
        #expect(NumericValue.integers(Array("1\\x".utf8), vr: .IS) == nil)
        #expect(NumericValue.doubles(Array("1.5\\abc".utf8), vr: .DS) == nil)
        #expect(NumericValue.doubles([], vr: .DS) == [])
    }

    @Test func readsLittleEndianBinaryNumbers() {
        #expect(NumericValue.integers([0x01, 0x00, 0xFF, 0xFF], vr: .US) == [1, 65535])
        #expect(NumericValue.integers([0x01, 0x00, 0xFF, 0xFF], vr: .SS) == [1, -1])
        #expect(NumericValue.integers([0x78, 0x56, 0x34, 0x12], vr: .UL) == [0x1234_5678])
        #expect(NumericValue.integers([0xFE, 0xFF, 0xFF, 0xFF], vr: .SL) == [-2])
        #expect(NumericValue.integers([0x01, 0x00, 0x02], vr: .US) == [1])   // partial word ignored
        #expect(NumericValue.doubles(NumericValue.encode([(1.5).bitPattern], size: 8), vr: .FD) == [1.5])
        #expect(NumericValue.doubles(NumericValue.encode([UInt64(Float(-2.25).bitPattern)], size: 4), vr: .FL) == [-2.25])
        #expect(NumericValue.unsigned64([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) == [UInt64.max])
        #expect(NumericValue.integers([0x01], vr: .PN) == nil)
    }

    // MARK: AT

    @Test func readsAttributeTagsAsGroupElementPairs() {
        let bytes: [UInt8] = [0x10, 0x00, 0x10, 0x00, 0xE0, 0x7F, 0x10, 0x00]
        #expect(ValueParsing.attributeTags(bytes) == [.patientName, .pixelData])
        #expect(ValueParsing.encodeAttributeTags([.patientName, .pixelData]) == bytes)
        #expect(ValueParsing.attributeTags(bytes + [0x01, 0x02]) == [.patientName, .pixelData])
        #expect(ValueParsing.attributeTags([]) == [])
    }

    // MARK: UID

    @Test func acceptsWellFormedUIDs() {
        #expect(UID.isValid("1.2.840.10008.1.2.1"))
        #expect(UID.isValid("2.25.0"))
        #expect(UID.isValid("0"))
        #expect(UID.isValid("1.2.0.3"))
        let sixtyFour = "1." + String(repeating: "9", count: 62)
        #expect(sixtyFour.count == 64)
        #expect(UID.isValid(sixtyFour))
    }

    @Test func rejectsMalformedUIDs() {
        #expect(!UID.isValid(""))
        #expect(!UID.isValid("1..2"))
        #expect(!UID.isValid(".1.2"))
        #expect(!UID.isValid("1.2."))
        #expect(!UID.isValid("1.02"))       // leading zero
        #expect(!UID.isValid("1.2a"))
        #expect(!UID.isValid("1.2.840 "))   // padding is not part of the UID
        #expect(!UID.isValid("1.2.840\0"))
        #expect(!UID.isValid("1." + String(repeating: "9", count: 63)))   // 65 characters
    }

    @Test func generatesValidUniqueUUIDDerivedUIDs() {
        var seen = Set<String>()
        for _ in 0..<200 {
            let uid = UID.generate()
            #expect(uid.hasPrefix("2.25."))
            #expect(uid.count <= 64)
            #expect(UID.isValid(uid), "\(uid)")
            seen.insert(uid)
        }
        #expect(seen.count == 200)
    }

    /// PS3.5 §B.2's own example UUID; the expected decimal is Python's `uuid.UUID(...).int`.
    @Test func convertsUUIDToDecimalUnder2_25() throws {
        let uuid = try #require(UUID(uuidString: "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"))
        #expect(UID.fromUUID(uuid) == "2.25.329800735698586629295641978511506172918")
        let one = try #require(UUID(uuidString: "00000000-0000-0000-0000-000000000001"))
        #expect(UID.fromUUID(one) == "2.25.1")
        let zero = try #require(UUID(uuidString: "00000000-0000-0000-0000-000000000000"))
        #expect(UID.fromUUID(zero) == "2.25.0")
        let max = try #require(UUID(uuidString: "ffffffff-ffff-ffff-ffff-ffffffffffff"))
        let largest = UID.fromUUID(max)
        #expect(largest == "2.25.340282366920938463463374607431768211455")
        #expect(largest.count == 44)
        #expect(UID.isValid(largest))
    }
}
