import Archive
import DICOM
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TestSupport
@testable import MiniVNAServer

@Suite struct RenderedImageCacheTests {
    private func key(_ validator: String = "\"1-1-a\"", instance: String = "2.25.1", frame: Int = 1, options: String = "file;full;enlarge",
                     contentType: String = "image/jpeg", quality: Int = 90) -> RenderedImageCache.Key {
        RenderedImageCache.Key(studyValidator: validator, selector: InstanceSelector(study: "2.25.100", series: "2.25.200", instance: instance),
                               frame: frame, representativesOnly: false, options: options, contentType: contentType, quality: quality)
    }

    private func image(_ size: Int, fill: UInt8 = 7) -> [UInt8] {
        [UInt8](repeating: fill, count: size)
    }

    /// What an entry counts against the budget: the array's capacity and the key's overhead.
    private func cost(_ image: [UInt8], _ key: RenderedImageCache.Key) -> Int { image.capacity + key.overhead }

    @Test func answersOnlyTheExactRenderingItKept() {
        let cache = RenderedImageCache(budget: 1 << 20)
        let pixels = image(100)
        cache.insert(pixels, for: key())
        #expect(cache.image(for: key()) == image(100))
        // Any difference in what the rendering depends on is another image; a changed study
        // (another validator) above all.
        for other in [key("\"1-2-b\""), key(instance: "2.25.2"), key(frame: 2), key(options: "40.0,400.0,linear;full;enlarge"),
                      key(contentType: "image/png"), key(quality: 50)] {
            #expect(cache.image(for: other) == nil)
        }
        #expect(cache.statistics == .init(hits: 1, misses: 6, entries: 1, bytes: cost(pixels, key())))
    }

    @Test func overBudgetTheLeastRecentlyUsedGoFirst() {
        // Sixteen entries of the same cost fill the budget exactly (instance UIDs of one length).
        // One array shared by every entry: an array's capacity is what malloc gave it, which can
        // differ between two arrays of the same count (a reused chunk), and would skew the sums.
        let pixels = image(1_000)
        let entry = cost(pixels, key(instance: "2.25.10"))
        let cache = RenderedImageCache(budget: 16 * entry)
        for i in 10..<26 { cache.insert(pixels, for: key(instance: "2.25.\(i)")) }
        #expect(cache.statistics.entries == 16 && cache.statistics.bytes == 16 * entry)
        _ = cache.image(for: key(instance: "2.25.10"))   // now the most recently used
        cache.insert(pixels, for: key(instance: "2.25.26"))
        // Over budget: the oldest go until a quarter of the budget is free (12 entries kept).
        #expect(cache.statistics.entries == 12 && cache.statistics.bytes == 12 * entry)
        #expect(cache.image(for: key(instance: "2.25.10")) != nil)
        #expect(cache.image(for: key(instance: "2.25.26")) != nil)
        for gone in 11...15 { #expect(cache.image(for: key(instance: "2.25.\(gone)")) == nil) }
        #expect(cache.image(for: key(instance: "2.25.16")) != nil)
    }

    @Test func countsWhatEntriesReallyHold() {
        let cache = RenderedImageCache(budget: 1 << 20)
        var roomy = [UInt8]()
        roomy.reserveCapacity(4_096)   // a 100-byte image in a 4 KiB array counts as 4 KiB
        roomy += image(100)
        cache.insert(roomy, for: key())
        #expect(cache.statistics.bytes == roomy.capacity + key().overhead && roomy.capacity >= 4_096)
        // Replacing an entry counts its bytes once.
        let replacement = image(300, fill: 2)
        cache.insert(replacement, for: key())
        #expect(cache.statistics.entries == 1 && cache.statistics.bytes == cost(replacement, key()))
        #expect(cache.image(for: key()) == image(300, fill: 2))
    }

    @Test func keepsNothingTooLargeOrWhenTurnedOff() {
        let hundred = image(100)
        let small = cost(hundred, key())
        let cache = RenderedImageCache(budget: 16 * small)
        cache.insert(image(200), for: key())   // over a sixteenth of the budget
        #expect(cache.image(for: key()) == nil && cache.statistics.entries == 0)
        cache.insert(hundred, for: key())
        #expect(cache.image(for: key()) != nil)
        let off = RenderedImageCache(budget: 0)
        #expect(!off.isEnabled)
        off.insert(image(1), for: key())
        #expect(off.image(for: key()) == nil && off.statistics == .init())
    }
}

/// A 2x2 8-bit MONOCHROME2 image of the four given values.
private func image(sop: String, pixels: [UInt8]) throws -> [UInt8] {
    var ds = DataSet(characterSet: .utf8)
    ds.setString(.sopClassUID, vr: .UI, "1.2.840.10008.5.1.4.1.1.7")
    ds.setString(.sopInstanceUID, vr: .UI, sop)
    ds.setString(.studyInstanceUID, vr: .UI, "2.25.100")
    ds.setString(.seriesInstanceUID, vr: .UI, "2.25.200")
    ds.setString(.photometricInterpretation, vr: .CS, "MONOCHROME2")
    for (tag, value) in [(Tag.rows, 2), (.columns, 2), (.samplesPerPixel, 1), (.bitsAllocated, 8), (.bitsStored, 8), (.highBit, 7),
                         (.pixelRepresentation, 0)] {
        ds.set(DataElement(tag: tag, vr: .US, bytes: NumericValue.encode([UInt64(value)], size: 2)))
    }
    ds.set(DataElement(tag: .pixelData, vr: .OB, bytes: pixels))
    return try Part10Writer.write(ds)
}

@Suite struct CachedRenderingRouteTests {
    @Test func aCachedRenderingNeverOutlivesTheStudyItWasRenderedFrom() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("minivna-render-cache-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = ServerConfiguration(dataDirectory: directory, duplicatePolicy: .replace)
        let archive = try Archive(configuration: ArchiveConfiguration(dataDirectory: directory, duplicatePolicy: .replace))
        let cache = RenderedImageCache(budget: 1 << 20)
        // The rendered and delete routes alone, around a cache the test can look into.
        let router = Router(context: AppRequestContext.self)
        router.add(middleware: DICOMwebErrorMiddleware(archive: archive))
        let dicomWeb = router.group("dicom-web")
        RenderedRoutes(archive: archive, configuration: configuration, cache: cache).register(on: dicomWeb)
        DeleteRoutes(archive: archive, configuration: configuration).register(on: dicomWeb)
        let app = Application(router: router)
        let instance = "/dicom-web/studies/2.25.100/series/2.25.200/instances/2.25.1"
        let rendered = "\(instance)/rendered?window=128,256"

        _ = try await archive.ingest(bytes: try image(sop: "2.25.1", pixels: [0, 60, 120, 180]))
        try await app.test(.router) { client in
            func png(_ uri: String) async throws -> (HTTPResponse.Status, [UInt8], String?) {
                try await client.execute(uri: uri, method: .get, headers: [.accept: "image/png"]) { response in
                    (response.status, Array(response.body.readableBytesView), response.headers[.eTag])
                }
            }
            let (status, first, etag) = try await png(rendered)
            #expect(status == .ok && cache.statistics.entries == 1 && cache.statistics.hits == 0)
            let (_, again, sameETag) = try await png(rendered)
            #expect(again == first && sameETag == etag && cache.statistics.hits == 1)
            // The study's thumbnail is another rendering (viewport, representative instance).
            #expect(try await png("/dicom-web/studies/2.25.100/thumbnail").0 == .ok && cache.statistics.entries == 2)

            // Replaced with other pixels: a new validator, so a new rendering, not the kept one.
            let outcome = try await archive.ingest(bytes: try image(sop: "2.25.1", pixels: [180, 120, 60, 0]))
            #expect(outcome.outcome == .replaced)
            let (_, replaced, newETag) = try await png(rendered)
            #expect(replaced != first && newETag != etag && cache.statistics.hits == 1)

            // Deleted: 404, however recently it was rendered.
            try await client.execute(uri: instance, method: .delete) { #expect($0.status == .noContent) }
            #expect(try await png(rendered).0 == .notFound)
        }
    }
}
