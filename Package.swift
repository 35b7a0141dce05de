// swift-tools-version:6.0
// MiniVNA: a standalone DICOMweb + FHIR mini vendor-neutral archive.
// Module map and import rules: shared/DESIGN.md (DICOM imports only Foundation).
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
    ],
    targets: [
        // Pure Swift + Foundation: tags, VRs, dictionary, Part 10, character sets, JSON/XML models.
        .target(name: "DICOM"),
        // C libraries, wrapped as system-library targets; only Imaging imports them.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Codecs over C libraries. For now: zlib inflate/deflate for the Deflated transfer syntax.
        .target(name: "Imaging", dependencies: ["DICOM", "CZlib"]),
        .executableTarget(
            name: "minivna",
            dependencies: [
                "DICOM", "Imaging",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "DICOMTests", dependencies: ["DICOM", "Imaging"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "DICOM"]),
    ],
    swiftLanguageModes: [.v6]
)
