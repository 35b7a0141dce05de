import HTTPTypes
import Hummingbird

/// The one table of what every route requires. A route that is registered without an entry
/// is refused to everyone (403) and fails `RoutePermissionTests`, which enumerates the router.
/// Keys are the method and the route's pattern as the router registered it.
struct RoutePermissions: Sendable {
    private let table: [String: Permission]

    init(dicomWebPath: String = "/dicom-web") {
        let studies = "\(dicomWebPath)/studies"
        let study = "\(studies)/:study", series = "\(study)/series/:series", instance = "\(series)/instances/:instance"
        var entries: [(HTTPRequest.Method, String, Permission)] = [
            (.get, "/", .open),
            (.get, "/health/live", .open),
            (.get, "/health/ready", .open),
            (.get, "/metrics", .open),
            // DICOMweb: search and retrieve, store, delete.
            (.get, studies, .read), (.get, "\(dicomWebPath)/series", .read), (.get, "\(dicomWebPath)/instances", .read),
            (.get, "\(study)/series", .read), (.get, "\(study)/instances", .read), (.get, "\(series)/instances", .read),
            (.post, studies, .write), (.post, study, .write),
            (.delete, study, .administer), (.delete, series, .administer), (.delete, instance, .administer),
            // FHIR: reads, Observation writes, deletes; the audit trail is the admin's.
            (.get, "/fhir/metadata", .read), (.get, "/fhir/:type", .read), (.get, "/fhir/:type/:id", .read),
            (.post, "/fhir/:type", .write), (.put, "/fhir/:type/:id", .write), (.delete, "/fhir/:type/:id", .administer),
            (.get, "/fhir/AuditEvent", .administer), (.get, "/fhir/AuditEvent/:id", .administer),
            (.get, "/audit", .administer),
            // AI: results and progress are reads; asking for analyses and cancelling them writes.
            (.post, "/ai/analyze", .write), (.get, "/ai/batches/:id", .read), (.delete, "/ai/batches/:id", .write),
            (.get, "/ai/runs", .read), (.get, "/ai/models", .read), (.get, "/ai/jobs", .read),
            (.post, "/ai/callbacks/:job", .ownToken),
        ]
        // Retrieve, metadata, frames, bulk data, rendered and thumbnails at each level.
        for base in [study, series, instance] {
            entries += [(.get, base, .read), (.get, "\(base)/metadata", .read), (.get, "\(base)/rendered", .read),
                        (.get, "\(base)/thumbnail", .read)]
        }
        entries += [(.get, "\(instance)/frames/:frames", .read), (.get, "\(instance)/frames/:frames/rendered", .read),
                    (.get, "\(instance)/bulkdata/**", .read)]
        var table: [String: Permission] = [:]
        for (method, pattern, permission) in entries {
            table[Self.key(method, RouterPath(pattern).description)] = permission
        }
        self.table = table
    }

    /// What `method` on the route registered as `endpointPath` requires; nil when the table has no entry.
    func permission(_ method: HTTPRequest.Method, endpointPath: String) -> Permission? {
        table[Self.key(method, endpointPath)]
    }

    private static func key(_ method: HTTPRequest.Method, _ path: String) -> String {
        "\(method.rawValue) \(path)"
    }
}
