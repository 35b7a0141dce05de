import Archive
import DICOM
import Foundation
import HTTPTypes
import Hummingbird
import Imaging
import NIOCore

/// WADO-RS frames (PS3.18 §10.4.1.1.4) and bulk data (§10.4.1.1.5): byte ranges of stored files,
/// located through the Part 10 structure, never the whole file in memory.
struct FrameRoutes: Sendable {
    let archive: Archive
    let configuration: ServerConfiguration

    /// - Parameter group: the `/dicom-web` group.
    func register(on group: RouterGroup<AppRequestContext>) {
        let base = "studies/:study/series/:series/instances/:instance"
        group.get("\(base)/frames/:frames") { request, context in
            try await frames(request, try WADORoutes.selector(context), list: try context.parameters.require("frames"))
        }
        group.get("\(base)/bulkdata/**") { request, context in
            try await bulkData(request, try WADORoutes.selector(context), path: context.parameters.getCatchAll().joined(separator: "/"))
        }
    }

    /// `1`, `1,3,5`: 1-based frame numbers.
    static func frameNumbers(_ list: String) throws(DICOMwebError) -> [Int] {
        var numbers: [Int] = []
        for item in list.split(separator: ",", omittingEmptySubsequences: false) {
            guard let number = Int(item.trimmingOptionalWhitespace()), number >= 1 else {
                throw DICOMwebError(.badRequest, "\"\(list)\" is not a list of frame numbers (1-based, comma-separated, e.g. 1,3,5)")
            }
            numbers.append(number)
        }
        return numbers
    }

    /// The stored file of one instance, opened (see `OpenFile`) and read with the archive's
    /// options for pixels: every binary value left in the file (or, for a Deflated file, held in
    /// memory once inflated).
    private func open(_ selector: InstanceSelector) async throws -> (StoredInstanceFile, InstancePixels, OpenFile) {
        // Opened under a lease taken before the row is read, so a replacement or delete meanwhile
        // cannot remove the file between the two (see `ReadLeases`).
        let (file, opened) = try await archive.withReadLease(study: selector.study) {
            guard let file = try await archive.storedFiles(selector).first else { throw DICOMwebError(.notFound, "\(selector) not found") }
            return (file, try OpenFile(file.url))
        }
        return (file, try InstancePixels(path: opened.path, options: archive.readOptions(.pixels)), opened)
    }

    func frames(_ request: Request, _ selector: InstanceSelector, list: String) async throws -> Response {
        let numbers = try Self.frameNumbers(list)
        let (file, pixels, opened) = try await open(selector)
        let index: FrameIndex
        do {
            index = try pixels.frames()
        } catch let error as DICOMParseError {
            throw DICOMwebError(.badRequest, "instance \(file.sopInstanceUID) has no frames to serve: \(error.reason)")
        }
        if let outside = numbers.first(where: { $0 > index.numberOfFrames }) {
            throw DICOMwebError(.notFound,
                "frame \(outside) is out of range: instance \(file.sopInstanceUID) has \(index.numberOfFrames) frame\(index.numberOfFrames == 1 ? "" : "s")")
        }
        let encoding = try RetrieveNegotiation.frames(accept: request.headers[.accept], storedSyntax: file.transferSyntaxUID,
                                                      encapsulated: index.isEncapsulated, frameCount: numbers.count)
        return try response(frames: numbers.map { $0 - 1 }, of: index, encoding: encoding, file: file, opened: opened,
                            pixels: pixels, location: { "\(configuration.baseURL(for: request))/studies/\(file.studyInstanceUID)/series/\(file.seriesInstanceUID)/instances/\(file.sopInstanceUID)/frames/\(numbers[$0])" })
    }

    func bulkData(_ request: Request, _ selector: InstanceSelector, path: String) async throws -> Response {
        let (file, pixels, opened) = try await open(selector)
        guard let element = try Self.element(at: path, in: pixels.file.dataSet) else {
            throw DICOMwebError(.notFound, "instance \(file.sopInstanceUID) has no element at \(path)")
        }
        let range = try ByteRange(request.headers[.range])
        switch element.value {
        case .encapsulated:
            // Compressed Pixel Data: its frames, each in its own part (PS3.18 §8.7.3.3.2).
            let index = try pixels.frames()
            let encoding = try RetrieveNegotiation.frames(accept: request.headers[.accept], storedSyntax: file.transferSyntaxUID,
                                                          encapsulated: true, frameCount: index.numberOfFrames)
            return try response(frames: Array(0..<index.numberOfFrames), of: index, encoding: encoding, file: file, opened: opened,
                                pixels: pixels, location: { _ in nil })
        case .bytes(let value):
            let encoding = try RetrieveNegotiation.frames(accept: request.headers[.accept],
                                                          storedSyntax: TransferSyntax.explicitVRLittleEndian.uid,
                                                          encapsulated: false, frameCount: 1, encodable: false)
            let piece: FrameIndex.Piece
            switch value {
            case .deferred(let reference): piece = .file(reference)
            case .loaded(let bytes): piece = .memory(bytes)
            }
            return try response(value: [piece], encoding: encoding, file: file, opened: opened, range: range)
        case .sequence:
            throw DICOMwebError(.badRequest, "\(path) is a sequence, not bulk data")
        }
    }

    /// Finds `7FE00010` or `00540016/0/00181072` (tags and item indexes, as in our BulkDataURIs).
    static func element(at path: String, in dataSet: DataSet) throws(DICOMwebError) -> DataElement? {
        let steps = path.split(separator: "/")
        var current = dataSet
        var index = 0
        while index < steps.count {
            guard steps[index].count == 8, let raw = UInt32(steps[index], radix: 16) else {
                throw DICOMwebError(.badRequest, "\"\(path)\" is not a bulk data path (tags as 8 hex digits, item indexes between)")
            }
            guard let element = current[Tag(rawValue: raw)] else { return nil }
            if index == steps.count - 1 { return element }
            guard index + 2 < steps.count, let item = Int(steps[index + 1]), case .sequence(let items) = element.value,
                  items.indices.contains(item) else { return nil }
            current = items[item]
            index += 2
        }
        return nil
    }

    /// Frames of the instance, each streamed from the file as stored, or converted (decoded and
    /// or encoded by Imaging, `InstancePixels.frame(_:in:)`) when the encoding asks for it.
    private func response(frames numbers: [Int], of index: FrameIndex, encoding: FrameEncoding, file: StoredInstanceFile,
                          opened: OpenFile, pixels: InstancePixels, location: (Int) -> String?) throws -> Response {
        let plans = numbers.map { number in
            let conversion = encoding.transforms
                ? FrameConversionPlan(pixels: pixels, frame: number, syntax: encoding.transferSyntaxUID) : nil
            return FramePlan(pieces: index.frames[number], window: nil, conversion: conversion)
        }
        return try response(plans, encoding: encoding, file: file, opened: opened, contentRange: nil, location: location)
    }

    /// One bulk data value, whole or the requested byte range of it.
    private func response(value pieces: [FrameIndex.Piece], encoding: FrameEncoding, file: StoredInstanceFile, opened: OpenFile,
                          range: ByteRange?) throws -> Response {
        guard let range else {
            return try response([FramePlan(pieces: pieces, window: nil, conversion: nil)], encoding: encoding, file: file, opened: opened,
                                contentRange: nil, location: { _ in nil })
        }
        let length = pieces.reduce(0) { $0 + $1.count }
        guard let window = range.window(length: length) else {
            var error = DICOMwebError(.rangeNotSatisfiable, "the range is outside the value's \(length) bytes")
            error.headers[.contentRange] = "bytes */\(length)"
            throw error
        }
        return try response([FramePlan(pieces: pieces, window: window, conversion: nil)], encoding: encoding, file: file, opened: opened,
                            contentRange: "bytes \(window.lowerBound)-\(window.upperBound - 1)/\(length)", location: { _ in nil })
    }

    /// Frames (or one value) as multipart or a single part, streamed from the file. A converted
    /// single part, and the first of several, is prepared before the status line so a codec
    /// failure is a 406, not a cut stream.
    private func response(_ selected: [FramePlan], encoding: FrameEncoding, file: StoredInstanceFile, opened: OpenFile,
                          contentRange: String?, location: (Int) -> String?) throws -> Response {
        let partType = "\(encoding.partType); transfer-syntax=\(encoding.transferSyntaxUID)"
        var headers: HTTPFields = [.crossOriginResourcePolicy: "cross-origin"]
        let first = try selected.first.flatMap { try $0.converted() }
        let study = file.studyInstanceUID
        let plans = selected
        let partRange = contentRange
        let archive = self.archive
        if !encoding.multipart {
            let plan = selected[0]
            let length = first?.count ?? plan.length
            headers[.contentType] = partType
            headers[.contentLength] = String(length)
            if let contentRange { headers[.contentRange] = contentRange }
            return Response(status: contentRange == nil ? .ok : .partialContent, headers: headers,
                            body: ResponseBody(contentLength: length) { writer in
                if let first {
                    try await writer.write(ByteBuffer(bytes: first))
                } else {
                    try await archive.withReadLease(study: study) { try await plan.write(path: opened.path, to: &writer) }
                }
                try await writer.finish(nil)
            })
        }
        let output = MultipartResponse()
        headers[.contentType] = output.contentType(type: encoding.partType, transferSyntax: encoding.transferSyntaxUID)
        let locations = selected.indices.map(location)
        return Response(status: contentRange == nil ? .ok : .partialContent, headers: headers, body: ResponseBody { writer in
            try await archive.withReadLease(study: study) {
                for (index, plan) in plans.enumerated() {
                    if let bytes = index == 0 ? first : try plan.converted() {
                        try await writer.write(output.partHeader(contentType: partType, length: bytes.count, location: locations[index]))
                        try await writer.write(ByteBuffer(bytes: bytes))
                    } else {
                        try await writer.write(output.partHeader(contentType: partType, length: plan.length,
                                                                 location: locations[index], contentRange: partRange))
                        try await plan.write(path: opened.path, to: &writer)
                    }
                    try await writer.write(MultipartResponse.partEnd)
                }
                try await writer.write(output.closeDelimiter)
            }
            try await writer.finish(nil)
        })
    }
}

/// A frame to send converted: frame `frame` (0-based) of the instance, in `syntax`.
private struct FrameConversionPlan: Sendable {
    let pixels: InstancePixels
    let frame: Int
    let syntax: String
}

/// One frame (or value) to send: its pieces, optionally cut to a byte window, or converted.
private struct FramePlan: Sendable {
    let pieces: [FrameIndex.Piece]
    let window: Range<Int>?
    let conversion: FrameConversionPlan?

    var length: Int { window?.count ?? pieces.reduce(0) { $0 + $1.count } }

    /// The frame's bytes after conversion (nil when it has none and is streamed as stored).
    func converted() throws -> [UInt8]? {
        guard let conversion else { return nil }
        do {
            return try conversion.pixels.frame(conversion.frame, in: conversion.syntax)
        } catch let error as CodecError {
            throw DICOMwebError(.notAcceptable, "the frame cannot be sent as requested: \(error.reason)")
        }
    }

    func write(path: String, to writer: inout any ResponseBodyWriter) async throws {
        var position = 0
        let wanted = window ?? 0..<Int.max
        for piece in pieces {
            let span = position..<(position + piece.count)
            position = span.upperBound
            let overlap = span.clamped(to: wanted)
            guard !overlap.isEmpty else { continue }
            let local = (overlap.lowerBound - span.lowerBound)..<(overlap.upperBound - span.lowerBound)
            switch piece {
            case .file(let reference) where reference.swapUnit == 0:
                try await FileStreamer.stream(URL(fileURLWithPath: path),
                                              range: (reference.offset + local.lowerBound)..<(reference.offset + local.upperBound),
                                              to: &writer)
            case .file(let reference):
                // Big endian values are swapped to little endian on load.
                let bytes = try BulkDataReader.read(reference, from: path)
                try await writer.write(ByteBuffer(bytes: bytes[local]))
            case .memory(let bytes):
                let start = bytes.startIndex
                try await writer.write(ByteBuffer(bytes: bytes[(start + local.lowerBound)..<(start + local.upperBound)]))
            }
        }
    }
}

/// A single `Range: bytes=…` (RFC 9110 §14.1.2). Several ranges are not supported: the whole
/// value is sent then, as the RFC allows.
struct ByteRange: Sendable {
    let first: Int?
    let last: Int?
    let suffixLength: Int?

    init?(_ header: String?) throws(DICOMwebError) {
        guard let header else { return nil }
        let text = header.trimmingOptionalWhitespace()
        guard text.lowercased().hasPrefix("bytes=") else { return nil }
        let spec = text.dropFirst(6)
        if spec.contains(",") { return nil }
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw DICOMwebError(.badRequest, "malformed Range header \"\(header)\"") }
        let start = parts[0].trimmingOptionalWhitespace(), end = parts[1].trimmingOptionalWhitespace()
        if start.isEmpty {
            guard let n = Int(end), n > 0 else { throw DICOMwebError(.badRequest, "malformed Range header \"\(header)\"") }
            (first, last, suffixLength) = (nil, nil, n)
        } else {
            guard let a = Int(start), a >= 0 else { throw DICOMwebError(.badRequest, "malformed Range header \"\(header)\"") }
            let b = end.isEmpty ? nil : Int(end)
            if !end.isEmpty && (b == nil || b! < a) { throw DICOMwebError(.badRequest, "malformed Range header \"\(header)\"") }
            (first, last, suffixLength) = (a, b, nil)
        }
    }

    /// The byte window within a value of `length` bytes, or nil when unsatisfiable.
    func window(length: Int) -> Range<Int>? {
        if let suffixLength {
            return length == 0 ? nil : max(0, length - suffixLength)..<length
        }
        guard let first, first < length else { return nil }
        return first..<(min(last ?? (length - 1), length - 1) + 1)
    }
}
