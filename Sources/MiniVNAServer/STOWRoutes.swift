import Archive
import DICOM
import Foundation
import HTTPTypes
import Hummingbird
import Metrics

/// STOW-RS (PS3.18 §10.5): `POST /studies` and `POST /studies/{study}` with
/// `multipart/related; type="application/dicom"`, streamed to disk part by part.
struct STOWRoutes: Sendable {
    let archive: Archive
    let configuration: ServerConfiguration

    /// - Parameter group: the `/dicom-web` group.
    func register(on group: RouterGroup<AppRequestContext>) {
        group.post("studies") { request, context in
            try await store(request, context: context, study: nil)
        }
        group.post("studies/:study") { request, context in
            let study = try context.parameters.require("study")
            guard UID.isValid(study) else { throw DICOMwebError(.badRequest, "\"\(study)\" in the path is not a valid Study Instance UID") }
            return try await store(request, context: context, study: study)
        }
    }

    /// One stored or failed instance, for the response.
    private struct Item {
        var sopClassUID: String
        var sopInstanceUID: String
        var failureReason: UInt16?
        var reason: String?
        var studyInstanceUID: String?
        var seriesInstanceUID: String?
    }

    func store(_ request: Request, context: AppRequestContext, study: String?) async throws -> Response {
        let (mediaType, boundary) = try Self.checkContentType(request.headers[.contentType])
        _ = mediaType
        if let length = request.headers[.contentLength].flatMap(Int.init), length > configuration.maximumRequestSize {
            throw DICOMwebError(.payloadTooLarge, "request body of \(length) bytes exceeds the limit of \(configuration.maximumRequestSize) bytes")
        }
        // Accepted: only now may a client waiting on Expect: 100-continue send the body.
        await context.continueIfExpected(request)
        let stream = MultipartRelatedStream(boundary: boundary, store: archive.store)
        defer { stream.discardParts() }
        var received = 0
        for try await chunk in request.body {
            received += chunk.readableBytes
            guard received <= configuration.maximumRequestSize else {
                throw DICOMwebError(.payloadTooLarge, "request body exceeds the limit of \(configuration.maximumRequestSize) bytes")
            }
            try stream.feed(chunk)
        }
        try stream.finish(boundary: boundary)

        var items: [Item?] = Array(repeating: nil, count: stream.parts.count)
        var dicomParts: [(index: Int, file: StagedFile)] = []
        for (index, part) in stream.parts.enumerated() {
            if let type = part.contentType.flatMap(MediaType.init), type.essence != "application/dicom" {
                unlink(part.file.path)
                items[index] = Item(sopClassUID: "", sopInstanceUID: "", failureReason: 0xC000,
                                    reason: "part \(index + 1) is \(type.essence), not application/dicom")
            } else {
                dicomParts.append((index, StagedFile(url: part.file, sizeAndCRC32: (part.size, part.crc32))))
            }
        }
        // One index transaction for the whole request; each instance succeeds or fails alone.
        let results = await archive.ingest(stagedFiles: dicomParts.map(\.file), context: IngestContext(origin: .stow, principal: context.principal),
                                           expectedStudyInstanceUID: study)
        var storageFailure: DICOMwebError?
        for ((index, _), result) in zip(dicomParts, results) {
            switch result {
            case .success(let stored):
                items[index] = Item(sopClassUID: stored.sopClassUID, sopInstanceUID: stored.sopInstanceUID,
                                    studyInstanceUID: stored.studyInstanceUID, seriesInstanceUID: stored.seriesInstanceUID)
            case .failure(let error):
                // FailedSOPSequence items name the instance whenever its header was readable; a
                // storage failure says what the volume does, not the archive's text (it names paths).
                var reason = error.reason
                if error.code == .storage {
                    context.logger.error("STOW part \(index + 1): storage failed: \(error)")
                    storageFailure = storageFailure ?? DICOMwebError.storage(archive.storageCondition())
                    reason = storageFailure!.reason
                }
                items[index] = Item(sopClassUID: error.sopClassUID ?? "", sopInstanceUID: error.sopInstanceUID ?? "",
                                    failureReason: Self.failureReason(error), reason: "part \(index + 1): \(reason)")
            }
        }
        context.accessNote.touched(studies: Set(items.compactMap { $0?.studyInstanceUID }))
        let storedCount = items.filter { $0?.failureReason == nil }.count
        Counter(label: "minivna_stow_instances", dimensions: [("outcome", "stored")]).increment(by: storedCount)
        Counter(label: "minivna_stow_instances", dimensions: [("outcome", "failed")]).increment(by: items.count - storedCount)
        Counter(label: "minivna_stow_bytes").increment(by: received)
        // Nothing stored because the storage failed: the volume's state (503/507), not a conflict.
        let unavailable = storageFailure.flatMap { failure in items.allSatisfy { $0?.failureReason == 0xA700 } ? failure.status : nil }
        return try response(items.compactMap { $0 }, request: request, study: study, status: unavailable)
    }

    /// `multipart/related; type="application/dicom"; boundary=...` (type optional, parameters
    /// quoted or not). Anything else is 415; a missing boundary is 400.
    static func checkContentType(_ header: String?) throws(DICOMwebError) -> (MediaType, String) {
        guard let header, let mediaType = MediaType(header) else {
            throw DICOMwebError(.unsupportedMediaType, "STOW-RS needs Content-Type: multipart/related; type=\"application/dicom\"")
        }
        guard mediaType.essence == "multipart/related" else {
            throw DICOMwebError(.unsupportedMediaType,
                "Content-Type \(mediaType.essence) is not supported: STOW-RS needs multipart/related; type=\"application/dicom\"")
        }
        if let type = mediaType.parameters["type"], type.lowercased() != "application/dicom" {
            throw DICOMwebError(.unsupportedMediaType,
                "multipart/related with type=\"\(type)\" is not supported (only application/dicom; see CONFORMANCE.md)")
        }
        guard let boundary = mediaType.parameters["boundary"], !boundary.isEmpty, boundary.count <= 200 else {
            throw DICOMwebError(.badRequest, "multipart/related Content-Type has no boundary parameter")
        }
        return (mediaType, boundary)
    }

    /// PS3.18 Table 10.5.3-3 / PS3.4 failure reasons.
    static func failureReason(_ error: ArchiveError) -> UInt16 {
        switch error.code {
        case .studyMismatch: return 0xA900       // does not match the study in the request path
        case .conflict: return 0x0111            // duplicate SOP Instance with other content
        case .storage: return 0xA700             // out of resources
        case .invalidInstance:
            return error.reason.hasPrefix("unknown transfer syntax") ? 0xC122 : 0xC000
        case .cannotUnderstand, .invalidQuery, .notFound: return 0xC000
        }
    }

    private func response(_ items: [Item], request: Request, study: String?, status override: HTTPResponse.Status? = nil) throws -> Response {
        let base = configuration.baseURL(for: request)
        var ds = DataSet(characterSet: .utf8)
        let stored = items.filter { $0.failureReason == nil }
        let failed = items.filter { $0.failureReason != nil }
        let studies = Set(stored.compactMap(\.studyInstanceUID))
        if let only = study ?? (studies.count == 1 ? studies.first : nil) {
            ds.setString(.retrieveURL, vr: .UR, "\(base)/studies/\(only)")
        }
        if !stored.isEmpty {
            ds.set(DataElement(tag: .referencedSOPSequence, vr: .SQ, value: .sequence(stored.map { item in
                var entry = DataSet(characterSet: .utf8)
                entry.setString(.referencedSOPClassUID, vr: .UI, item.sopClassUID)
                entry.setString(.referencedSOPInstanceUID, vr: .UI, item.sopInstanceUID)
                entry.setString(.retrieveURL, vr: .UR,
                    "\(base)/studies/\(item.studyInstanceUID ?? "")/series/\(item.seriesInstanceUID ?? "")/instances/\(item.sopInstanceUID)")
                return entry
            })))
        }
        if !failed.isEmpty {
            ds.set(DataElement(tag: .failedSOPSequence, vr: .SQ, value: .sequence(failed.map { item in
                var entry = DataSet(characterSet: .utf8)
                entry.setString(.referencedSOPClassUID, vr: .UI, item.sopClassUID)
                entry.setString(.referencedSOPInstanceUID, vr: .UI, item.sopInstanceUID)
                entry.set(DataElement(tag: .failureReason, vr: .US, bytes: NumericValue.encode([UInt64(item.failureReason!)], size: 2)))
                return entry
            })))
        }
        let status: HTTPResponse.Status = override ?? (failed.isEmpty ? .ok : stored.isEmpty ? .conflict : .accepted)
        var headers: HTTPFields = [.contentType: "application/dicom+json"]
        // Why each instance failed, for people reading the exchange (FailureReason is only a code).
        for item in failed.prefix(20) {
            headers.append(HTTPField(name: .warning, value: "299 MiniVNA \(JSONString.quote(item.reason ?? "failed"))"))
        }
        let body = try DICOMJSONEncoder().encode(ds)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}
