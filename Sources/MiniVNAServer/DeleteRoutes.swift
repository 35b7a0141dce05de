import Archive
import Foundation
import HTTPTypes
import Hummingbird

/// DELETE of a study, series or instance: an extension (as in Orthanc, dcm4chee and Microsoft's
/// DICOM service), not part of PS3.18. Index rows go in one transaction; files go once no
/// retrieve that started before is still streaming them.
struct DeleteRoutes: Sendable {
    let archive: Archive
    let configuration: ServerConfiguration

    /// - Parameter group: the `/dicom-web` group.
    func register(on group: RouterGroup<AppRequestContext>) {
        let base = "studies/:study"
        for path in [base, "\(base)/series/:series", "\(base)/series/:series/instances/:instance"] {
            group.delete(RouterPath(path)) { _, context in
                try await archive.delete(try WADORoutes.selector(context), principal: context.principal)
                return Response(status: .noContent)
            }
        }
    }
}
