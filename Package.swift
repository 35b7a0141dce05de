// swift-tools-version:6.0
// MiniVNA: a standalone DICOMweb + FHIR mini vendor-neutral archive.
// Module map and import rules: shared/DESIGN.md (DICOM imports only Foundation; only
// MiniVNAServer knows HTTP).
import PackageDescription

let package = Package(
    name: "MiniVNA",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "minivna", targets: ["minivna"]),
        .library(name: "DICOM", targets: ["DICOM"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/multipart-kit.git", from: "4.7.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // Pure Swift + Foundation: tags, VRs, dictionary, Part 10, character sets, JSON/XML models.
        .target(name: "DICOM"),
        // C libraries, wrapped as system-library targets; only Imaging imports the codecs.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "COpenJPEG", pkgConfig: "libopenjp2", providers: [.apt(["libopenjp2-7-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        // glibc's malloc.h (mallopt) for the server's allocator tuning; nothing to link.
        .systemLibrary(name: "CMalloc"),
        // syncfs(2), which the Glibc module does not export: the archive's batched durability barrier.
        .systemLibrary(name: "CFileSync"),
        // Codecs over C libraries: zlib (Deflated), OpenJPEG (JPEG 2000), libjpeg-turbo (JPEG), own RLE.
        .target(name: "Imaging", dependencies: ["DICOM", "CZlib", "COpenJPEG", "CTurboJPEG"]),
        // Blob store, SQLite index, ingest, QIDO query engine, events. No HTTP.
        .target(name: "Archive", dependencies: [
            "DICOM",
            "CFileSync",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // FHIR R4 subset: archive rows -> resources, search, Bundles, Observations (stored by the archive). No HTTP, no SQL.
        .target(name: "FHIR", dependencies: ["DICOM", "Archive"]),
        // AI enrichment: analyzers, the job pipeline, SR (TID 1500) and FHIR result builders. No HTTP:
        // external services are reached through a transport the server supplies.
        .target(name: "Enrichment", dependencies: [
            "DICOM", "Archive", "FHIR", "Imaging",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The HTTP server: DICOMweb and FHIR routes, content negotiation, multipart streaming, errors, CORS.
        .target(name: "MiniVNAServer", dependencies: [
            "DICOM", "Archive", "Imaging", "FHIR", "Enrichment",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "JWTKit", package: "jwt-kit"),
            .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "MultipartKit", package: "multipart-kit"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(
            name: "minivna",
            dependencies: [
                "DICOM", "Imaging", "Archive", "Enrichment", "MiniVNAServer", "CMalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Shared by the test targets: the instance builder, fixtures, test conveniences.
        .target(name: "TestSupport", dependencies: ["Archive", "DICOM"], path: "Tests/TestSupport"),
        .testTarget(name: "DICOMTests", dependencies: ["DICOM", "Imaging"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "DICOM"]),
        .testTarget(name: "ArchiveTests", dependencies: ["Archive", "DICOM", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "FHIRTests", dependencies: ["FHIR", "Archive", "DICOM", "TestSupport"]),
        .testTarget(name: "EnrichmentTests", dependencies: ["Enrichment", "Archive", "DICOM", "FHIR", "TestSupport",
                                                          .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "MiniVNAServerTests", dependencies: [
            "MiniVNAServer", "Archive", "DICOM", "Imaging", "Enrichment", "TestSupport",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "JWTKit", package: "jwt-kit"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
