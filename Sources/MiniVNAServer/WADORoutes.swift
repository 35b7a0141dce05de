import Archive
import DICOM
import Foundation
import HTTPTypes
import Hummingbird
import Imaging
import NIOCore

/// WADO-RS (PS3.18 §10.4): instances as `application/dicom`, and metadata. Frames and bulk
/// data are in `FrameRoutes`, DELETE in `DeleteRoutes`.
struct WADORoutes: Sendable {
    let archive: Archive
    let configuration: ServerConfiguration

    /// - Parameter group: the `/dicom-web` group.
    func register(on group: RouterGroup<AppRequestContext>) {
        let base = "studies/:study"
        group.get("\(base)") { request, context in try await retrieve(request, try Self.selector(context)) }
        group.get("\(base)/series/:series") { request, context in try await retrieve(request, try Self.selector(context)) }
        group.get("\(base)/series/:series/instances/:instance") { request, context in
            try await retrieve(request, try Self.selector(context))
        }
        group.get("\(base)/metadata") { request, context in try await metadata(request, try Self.selector(context)) }
        group.get("\(base)/series/:series/metadata") { request, context in try await metadata(request, try Self.selector(context)) }
        group.get("\(base)/series/:series/instances/:instance/metadata") { request, context in
            try await metadata(request, try Self.selector(context))
        }
    }

    /// The study, series and instance UIDs of the path, each checked.
    static func selector(_ context: AppRequestContext) throws -> InstanceSelector {
        func uid(_ name: String) throws -> String? {
            guard let value = context.parameters.get(name) else { return nil }
            guard UID.isValid(value) else { throw DICOMwebError(.badRequest, "\"\(value)\" in the path is not a valid UID") }
            return value
        }
        return InstanceSelector(study: try uid("study")!, series: try uid("series"), instance: try uid("instance"))
    }

    // MARK: Instances

    func retrieve(_ request: Request, _ selector: InstanceSelector) async throws -> Response {
        // One instance is opened under a lease taken before its row is read, so a replacement or
        // delete meanwhile cannot remove the file between the two (see `ReadLeases`).
        let (files, openedInstance): ([StoredInstanceFile], OpenFile?) = try await archive.withReadLease(study: selector.study) {
            let files = try await self.archive.storedFiles(selector)
            return (files, selector.instance == nil ? nil : try OpenFile(files[0].url))
        }
        let (multipart, encodings) = try RetrieveNegotiation.instances(
            accept: request.headers[.accept], storedSyntaxes: files.map(\.transferSyntaxUID),
            singlePartAllowed: selector.instance != nil)
        let plan = Dictionary(uniqueKeysWithValues: zip(files.map(\.sopInstanceUID), encodings))
        let archive = self.archive
        var headers: HTTPFields = [.crossOriginResourcePolicy: "cross-origin"]

        if !multipart, let file = files.first, let encoding = encodings.first {
            headers[.contentType] = "application/dicom; transfer-syntax=\(encoding.transferSyntaxUID(stored: file.transferSyntaxUID))"
            let opened = try openedInstance ?? OpenFile(file.url)   // what a DELETE or replacement meanwhile cannot change
            if encoding == .asStored {
                headers[.contentLength] = String(file.size)
                return Response(status: .ok, headers: headers, body: ResponseBody(contentLength: file.size) { writer in
                    try await FileStreamer.stream(opened.url, range: 0..<file.size, to: &writer)
                    try await writer.finish(nil)
                })
            }
            let transcoding = try Self.transcoding(file, path: opened.path, to: encoding.transferSyntaxUID(stored: file.transferSyntaxUID),
                                                   options: archive.readOptions(.pixels))
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                try await Self.stream(transcoding, sopInstanceUID: file.sopInstanceUID, to: &writer)
                // `opened` (captured by this closure) is held until the last frame is read: its
                // descriptor is the file the transcoding's path names.
                withExtendedLifetime(opened) {}
                try await writer.finish(nil)
            })
        }

        let output = MultipartResponse()
        let syntaxes = Set(zip(files, encodings).map { $1.transferSyntaxUID(stored: $0.transferSyntaxUID) })
        headers[.contentType] = output.contentType(type: "application/dicom", transferSyntax: syntaxes.count == 1 ? syntaxes.first : nil)
        // One instance to re-encode: planned (first frame converted) before answering, so a
        // failure is a 406, not a cut stream.
        if files.count == 1, let file = files.first, let encoding = encodings.first, encoding != .asStored {
            let syntax = encoding.transferSyntaxUID(stored: file.transferSyntaxUID)
            let opened = try openedInstance ?? OpenFile(file.url)
            let transcoding = try Self.transcoding(file, path: opened.path, to: syntax, options: archive.readOptions(.pixels))
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                try await writer.write(output.partHeader(contentType: "application/dicom; transfer-syntax=\(syntax)", length: nil))
                try await Self.stream(transcoding, sopInstanceUID: file.sopInstanceUID, to: &writer)
                // `opened` (captured by this closure) is held until the last frame is read: its
                // descriptor is the file the transcoding's path names.
                withExtendedLifetime(opened) {}
                try await writer.write(MultipartResponse.partEnd)
                try await writer.write(output.closeDelimiter)
                try await writer.finish(nil)
            })
        }
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            try await archive.withReadLease(study: selector.study) {
                // The rows again, under the lease: instances deleted since the request began are left out.
                let current = (try? await archive.storedFiles(selector)) ?? []
                for file in current {
                    guard let encoding = plan[file.sopInstanceUID] else { continue }
                    let syntax = encoding.transferSyntaxUID(stored: file.transferSyntaxUID)
                    switch encoding {
                    case .asStored:
                        try await writer.write(output.partHeader(contentType: "application/dicom; transfer-syntax=\(syntax)",
                                                                 length: file.size))
                        try await FileStreamer.stream(file.url, to: &writer)
                    case .reencoded(let target):
                        let transcoding = try Self.transcoding(file, path: file.path, to: target, options: archive.readOptions(.pixels))
                        try await writer.write(output.partHeader(contentType: "application/dicom; transfer-syntax=\(syntax)",
                                                                 length: nil))
                        try await Self.stream(transcoding, sopInstanceUID: file.sopInstanceUID, to: &writer)
                    }
                    try await writer.write(MultipartResponse.partEnd)
                }
                try await writer.write(output.closeDelimiter)
            }
            try await writer.finish(nil)
        })
    }

    /// An instance re-encoded for sending (PS3.18 §8.7.3.5.2: Explicit VR Little Endian is the
    /// default for application/dicom; Implicit VR LE, RLE, JPEG 2000 and JPEG baseline on
    /// request): compressed instances are decoded and native ones encoded frame by frame while
    /// the part is written (Imaging.InstanceTranscoding), so memory is bounded by a frame.
    /// - Parameters:
    ///   - path: a path that names the same file for as long as the stream is written.
    ///   - options: the archive's read options for pixels.
    static func transcoding(_ file: StoredInstanceFile, path: String, to syntax: String,
                            options: ReadOptions) throws -> InstanceTranscoding {
        do {
            return try InstancePixels(path: path, options: options).transcoding(to: syntax)
        } catch let error as CodecError {
            throw DICOMwebError(.notAcceptable, "instance \(file.sopInstanceUID) cannot be sent as \(syntax): \(error.reason)")
        } catch let error as DICOMParseError {
            throw DICOMwebError(.notAcceptable, "instance \(file.sopInstanceUID) cannot be sent as \(syntax): \(error.reason)")
        }
    }

    /// Writes a planned transcoding: header, each frame as it is converted, trailer.
    static func stream(_ transcoding: InstanceTranscoding, sopInstanceUID: String, to writer: inout any ResponseBodyWriter) async throws {
        try await writer.write(ByteBuffer(bytes: transcoding.header))
        for frame in 0..<transcoding.numberOfFrames {
            for chunk in try transcoding.chunks(ofFrame: frame) {
                try await writer.write(ByteBuffer(bytes: try transcoding.bytes(of: chunk)))
            }
        }
        try await writer.write(ByteBuffer(bytes: transcoding.trailer))
    }

    // MARK: Metadata

    func metadata(_ request: Request, _ selector: InstanceSelector) async throws -> Response {
        let representation = try QIDORoutes.negotiate(request.headers[.accept])
        let base = configuration.baseURL(for: request)
        switch representation {
        case .json:
            if let tags = request.headers[.ifNoneMatch], let etag = try await archive.metadataETag(selector),
               Self.matches(tags, etag) {
                return Response(status: .notModified, headers: [.eTag: etag, .cacheControl: "no-cache"])
            }
            let document = try await archive.metadata(selector, baseURL: base)
            return Response(status: .ok,
                            headers: [.contentType: "application/dicom+json", .eTag: document.etag, .cacheControl: "no-cache"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: document.json)))
        case .xml:
            let output = MultipartResponse()
            // Under a lease taken before the rows are read (see `ReadLeases`).
            let parts = try await archive.withReadLease(study: selector.study) {
                var parts: [(contentType: String, bytes: [UInt8])] = []
                for file in try await archive.storedFiles(selector) {
                    let part10 = try Part10Reader.read(path: file.path, options: archive.readOptions(.indexing))
                    let policy = BulkDataPolicy(threshold: InstanceMetadata.bulkDataThreshold) { path in
                        base + InstanceMetadata.bulkDataPath(study: file.studyInstanceUID, series: file.seriesInstanceUID,
                                                             instance: file.sopInstanceUID, element: path.description)
                    }
                    parts.append(("application/dicom+xml", Array(try DICOMXMLEncoder(bulkData: policy).encode(part10.dataSet).utf8)))
                }
                return parts
            }
            return Response(status: .ok, headers: [.contentType: output.contentType(type: "application/dicom+xml")],
                            body: ResponseBody(byteBuffer: output.body(parts)))
        }
    }

    /// `If-None-Match`: `*` or a list of (possibly weak) entity tags.
    static func matches(_ header: String, _ etag: String) -> Bool {
        header.split(separator: ",").contains { item in
            let tag = item.trimmingOptionalWhitespace()
            return tag == "*" || tag == etag || tag == "W/" + etag
        }
    }
}
