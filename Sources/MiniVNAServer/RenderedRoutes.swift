import Archive
import DICOM
import Foundation
import HTTPTypes
import Hummingbird
import Imaging
import NIOCore

/// WADO-RS rendered resources (PS3.18 §10.4.1.1.3) and thumbnails (§10.4.1.1.6): one frame
/// rendered for display (Imaging.Renderer) as JPEG or PNG. Series and study resources render one
/// representative instance (the middle one of the first series that renders).
struct RenderedRoutes: Sendable {
    let archive: Archive
    let configuration: ServerConfiguration
    /// Encoded images already rendered, keyed by the study's validator (see `RenderedImageCache`).
    let cache: RenderedImageCache
    static let thumbnailSize = 128

    /// - Parameter group: the `/dicom-web` group.
    func register(on group: RouterGroup<AppRequestContext>) {
        let study = "studies/:study"
        let instance = "\(study)/series/:series/instances/:instance"
        group.get("\(instance)/rendered") { request, context in
            try await render(request, try WADORoutes.selector(context), frame: 1, thumbnail: false, representativesOnly: false)
        }
        group.get("\(instance)/frames/:frames/rendered") { request, context in
            let numbers = try FrameRoutes.frameNumbers(try context.parameters.require("frames"))
            guard numbers.count == 1 else {
                throw DICOMwebError(.badRequest, "rendered frames are rendered one at a time: ask for a single frame number")
            }
            return try await render(request, try WADORoutes.selector(context), frame: numbers[0], thumbnail: false,
                                    representativesOnly: false)
        }
        group.get("\(instance)/thumbnail") { request, context in
            try await render(request, try WADORoutes.selector(context), frame: 1, thumbnail: true, representativesOnly: false)
        }
        // Series and study rendered: one image, of the same representative instance a thumbnail
        // uses (as Orthanc and dicomweb-client expect: a single image, not one per instance).
        group.get("\(study)/series/:series/rendered") { request, context in
            try await render(request, try WADORoutes.selector(context), frame: 1, thumbnail: false, representativesOnly: true)
        }
        group.get("\(study)/rendered") { request, context in
            try await render(request, try WADORoutes.selector(context), frame: 1, thumbnail: false, representativesOnly: true)
        }
        group.get("\(study)/series/:series/thumbnail") { request, context in
            try await render(request, try WADORoutes.selector(context), frame: 1, thumbnail: true, representativesOnly: true)
        }
        group.get("\(study)/thumbnail") { request, context in
            try await render(request, try WADORoutes.selector(context), frame: 1, thumbnail: true, representativesOnly: true)
        }
    }

    /// `window=c,w[,function]`, `viewport=vw,vh`, `quality=1..100`; anything else is a 400.
    static func options(_ request: Request, thumbnail: Bool) throws -> (RenderOptions, quality: Int) {
        var options = RenderOptions()
        var quality = 90
        for (name, value) in try QueryString.parameters(request.uri.query) {
            switch name {
            case "window":
                let parts = value.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                guard parts.count == 2 || parts.count == 3, let center = Double(parts[0]), let width = Double(parts[1]), width >= 1,
                      let function = parts.count == 3 ? VOIFunction(rawValue: parts[2].lowercased()) : .linear else {
                    throw DICOMwebError(.badRequest,
                        "window=\(value) is not center,width[,function] with width >= 1 and function linear, linear_exact or sigmoid")
                }
                options.window = (center, width, function)
            case "viewport":
                let parts = value.split(separator: ",").map(String.init)
                guard parts.count == 2, let width = Int(parts[0]), let height = Int(parts[1]), (1...4096).contains(width),
                      (1...4096).contains(height) else {
                    throw DICOMwebError(.badRequest,
                        "viewport=\(value) is not width,height (1-4096); cropping (sx,sy,sw,sh) is not supported")
                }
                options.viewport = (width, height)
            case "quality":
                guard let number = Int(value), (1...100).contains(number) else {
                    throw DICOMwebError(.badRequest, "quality=\(value) is not an integer from 1 to 100")
                }
                quality = number
            case "annotation", "iccprofile", "charset":
                throw DICOMwebError(.badRequest, "the \(name) parameter is not supported (see CONFORMANCE.md)")
            default:
                throw DICOMwebError(.badRequest, "\(name) is not a rendered-resource parameter (window, viewport, quality)")
            }
        }
        if thumbnail, options.viewport == nil {
            options.viewport = (thumbnailSize, thumbnailSize)
            options.enlargesToViewport = false
        }
        return (options, quality)
    }

    enum Format { case jpeg, png }

    static func negotiate(_ accept: String?) throws(DICOMwebError) -> Format {
        for entry in AcceptEntry.parse(accept) {
            if entry.mediaType.covers(MediaType(type: "image", subtype: "jpeg")) { return .jpeg }
            if entry.mediaType.covers(MediaType(type: "image", subtype: "png")) { return .png }
        }
        var error = DICOMwebError(.notAcceptable, "cannot answer with \(accept ?? ""): rendered images are image/jpeg or image/png")
        error.headers[.availableMediaTypes] = "image/jpeg, image/png"
        throw error
    }

    /// Renders the first candidate that can be rendered (a single instance: only that one).
    /// Conditional: the validator is the study's (it changes whenever an instance of the study is
    /// added, replaced or removed) with the image format, so a viewer revalidating a thumbnail
    /// gets a 304 without anything being rendered. The same validator keys the cache of encoded
    /// images: a cached image (or its revalidation) costs one indexed row.
    /// - Parameter representativesOnly: series and study resources try their representative
    ///   instances (see `Archive.representativeFiles`); instance resources their one instance.
    func render(_ request: Request, _ selector: InstanceSelector, frame: Int, thumbnail: Bool,
                representativesOnly: Bool) async throws -> Response {
        let format = try Self.negotiate(request.headers[.accept])
        let (options, quality) = try Self.options(request, thumbnail: thumbnail)
        let contentType = format == .jpeg ? "image/jpeg" : "image/png"
        func cacheKey(_ validator: String) -> RenderedImageCache.Key {
            RenderedImageCache.Key(studyValidator: validator, selector: selector, frame: frame, representativesOnly: representativesOnly,
                                   options: Self.spelling(options), contentType: contentType, quality: quality)
        }
        let fields: HTTPFields = [.crossOriginResourcePolicy: "cross-origin", .cacheControl: "no-cache", .vary: "Accept"]
        func notModified(_ etag: String) -> Response? {
            guard let tags = request.headers[.ifNoneMatch], WADORoutes.matches(tags, etag) else { return nil }
            var headers = fields
            headers[.eTag] = etag
            return Response(status: .notModified, headers: headers)
        }
        func image(_ bytes: [UInt8], _ etag: String) -> Response {
            var headers = fields
            headers[.eTag] = etag
            headers[.contentType] = contentType
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        // A cached image was rendered from the study as it still is (same validator), so the
        // resource exists: a revalidation or the image needs nothing more from the index.
        if cache.isEnabled {
            let validator = try archive.studyValidator(selector)
            if let cached = cache.image(for: cacheKey(validator)) {
                let etag = Self.etag(validator, format)
                return notModified(etag) ?? image(cached, etag)
            }
        }
        // Under a lease on the study taken before the rows are read: a concurrent delete then
        // leaves the files in place until the rendering is done (see `ReadLeases`).
        return try await archive.withReadLease(study: selector.study) {
            let (validator, candidates) = try await archive.renderingCandidates(selector, representativesOnly: representativesOnly)
            let etag = Self.etag(validator, format)
            if let response = notModified(etag) { return response }
            var lastError: Error = DICOMwebError(.notFound, "nothing to render")
            for (index, file) in candidates.enumerated() {
                do {
                    let rendered = try renderedImage(file, frame: frame, options: options)
                    let bytes = format == .jpeg ? try rendered.jpeg(quality: quality) : try rendered.png()
                    // Only the first choice is kept: a later candidate answers for one that failed,
                    // maybe for a passing reason (a file that could not be opened just then).
                    if index == 0 { cache.insert(bytes, for: cacheKey(validator)) }
                    return image(bytes, etag)
                } catch {
                    lastError = error
                    if candidates.count == 1 { break }
                }
            }
            throw lastError
        }
    }

    /// The rendered resource's entity tag: the study's validator and the image format.
    static func etag(_ studyValidator: String, _ format: Format) -> String {
        "W/\"\(studyValidator.trimmingCharacters(in: ["\""]))-\(format)\""
    }

    /// Parsed rendering parameters spelled one way (`window=40,400` and `window=40.0,400.0` are
    /// the same rendering), for cache keys.
    static func spelling(_ options: RenderOptions) -> String {
        let window = options.window.map { "\($0.center),\($0.width),\($0.function.rawValue)" } ?? "file"
        let viewport = options.viewport.map { "\($0.width)x\($0.height)" } ?? "full"
        return "\(window);\(viewport);\(options.enlargesToViewport ? "enlarge" : "fit")"
    }

    /// One frame of a stored file rendered (the caller holds a read lease on its study), read
    /// with the archive's options for pixels (so Deflated instances render too).
    private func renderedImage(_ file: StoredInstanceFile, frame: Int, options: RenderOptions) throws -> RenderedImage {
        do {
            let pixels = try InstancePixels(path: file.path, options: archive.readOptions(.pixels))
            let count = try pixels.frames().numberOfFrames
            guard frame <= count else {
                throw DICOMwebError(.notFound, "frame \(frame) is out of range: the instance has \(count)")
            }
            return try pixels.render(frame: frame - 1, options: options)
        } catch let error as CodecError {
            throw DICOMwebError(.notAcceptable, "instance \(file.sopInstanceUID) cannot be rendered: \(error.reason)")
        } catch let error as DICOMParseError {
            throw DICOMwebError(.badRequest, "instance \(file.sopInstanceUID) has nothing to render: \(error.reason)")
        }
    }
}
