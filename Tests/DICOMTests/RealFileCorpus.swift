import Foundation

/// The real DICOM files the round-trip tests run over: pydicom's test and charset files and
/// pydicom-data's files (installed by pip; the README's test command installs them), plus the
/// project's Fixtures. Missing pydicom is a test failure, never a silent skip.
enum RealFileCorpus {
    static let fixturesDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    /// Folders reported by the installed Python packages.
    static func pythonDataDirectories() throws -> [String] {
        let script = """
        import os, pydicom, data_store
        base = os.path.join(os.path.dirname(pydicom.__file__), 'data')
        print(os.path.join(base, 'test_files'))
        print(os.path.join(base, 'charset_files'))
        print(os.path.join(os.path.dirname(data_store.__file__), 'data'))
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CorpusError("python3 with pydicom and pydicom-data is required (pip install pydicom pydicom-data)")
        }
        return String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// Every regular file under the folders (recursively), sorted.
    static func files(in directories: [String]) -> [String] {
        var result: [String] = []
        for directory in directories {
            guard let enumerator = FileManager.default.enumerator(atPath: directory) else { continue }
            for case let relative as String in enumerator {
                let path = (directory as NSString).appendingPathComponent(relative)
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                   !path.hasSuffix(".py"), !path.hasSuffix(".pyc") {
                    result.append(path)
                }
            }
        }
        return result.sorted()
    }

    static func allFiles() throws -> [String] {
        files(in: try pythonDataDirectories() + [fixturesDirectory.path])
    }

    struct CorpusError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
