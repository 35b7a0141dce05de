import Archive
import Foundation
import Logging
@testable import MiniVNAServer
import ServiceLifecycle
import Testing

/// `buildServiceGroup`: the front ends stop first, then the archive closes and releases its data
/// folder, so a restart (or `minivna verify`) can open it.
@Suite struct ServiceLifecycleTests {
    @Test func aGracefulShutdownStopsTheServerThenClosesTheArchive() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("minivna-lifecycle-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = ServerConfiguration(port: 0, dataDirectory: directory)
        // On a loaded machine (the whole suite at once) stopping can take longer than the default
        // 30 s grace; past it the services are cancelled and the test would see a half shutdown.
        configuration.shutdownGracePeriod = .seconds(300)
        let archive = try Archive(configuration: configuration.archiveConfiguration)
        let (urls, listening) = AsyncStream.makeStream(of: String.self)
        let group = buildServiceGroup(configuration, archive: archive, logger: Logger(label: "minivna-tests")) { url in
            listening.yield(url)
        }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = urls.makeAsyncIterator()
            let url = await iterator.next()
            #expect(url?.hasPrefix("http://127.0.0.1:") == true)
            // While the services run, the folder is the archive's.
            #expect(throws: (any Error).self) { try Archive(configuration: ArchiveConfiguration(dataDirectory: directory)) }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        let reopened = try Archive(configuration: ArchiveConfiguration(dataDirectory: directory))
        try reopened.close()
    }
}
