import HTTPTypes
import Hummingbird

/// Authentication and authorization for every route, in one place: the route's entry in
/// `RoutePermissions` says what it needs; open routes and CORS preflights pass untouched;
/// everything else needs a principal whose roles grant the permission (401 without one, 403
/// when its roles do not). With authentication off every request passes as anonymous.
struct AccessControlMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    /// nil: authentication is off.
    let authenticator: Authenticator?
    let permissions: RoutePermissions

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // Browsers send no credentials on a preflight (CORS answers it before this runs, when
        // the route has no OPTIONS handler; this keeps it true for any that does).
        if request.method == .options { return try await next(request, context) }
        let permission = context.endpointPath.flatMap { permissions.permission(request.method, endpointPath: $0) }
        if permission == .open || permission == .ownToken { return try await next(request, context) }
        guard let authenticator else { return try await next(request, context) }
        var context = context
        switch await authenticator.authenticate(request.headers) {
        case .none:
            return try deny(.unauthenticated, "authentication required", request, context)
        case .rejected(let reason):
            return try deny(.unauthenticated, reason, request, context, invalidToken: true)
        case .authenticated(let principal):
            context.identity = principal
            context.accessNote.authenticated(as: principal)
            guard let endpoint = context.endpointPath else {
                // No such route: an authenticated client learns that (404); a stranger never gets this far.
                return try await next(request, context)
            }
            guard let permission else {
                return try deny(.forbidden, "\(request.method) \(endpoint) has no entry in the permission table", request, context)
            }
            guard principal.allows(permission) else {
                let roles = principal.roleNames.joined(separator: ", ")
                return try deny(.forbidden, "\(principal.name) (\(roles)) may not \(permission.rawValue): \(request.method) \(endpoint)",
                                request, context)
            }
            if let scope = principal.studyScope, context.parameters.get("study") != scope {
                return try deny(.forbidden, "this job token reads study \(scope) only", request, context)
            }
            return try await next(request, context)
        }
    }

    private func deny(_ kind: AccessDenied.Kind, _ reason: String, _ request: Request, _ context: Context,
                      invalidToken: Bool = false) throws -> Response {
        var challenges = [invalidToken ? #"Bearer realm="MiniVNA", error="invalid_token""# : #"Bearer realm="MiniVNA""#]
        if authenticator?.offersBasic == true { challenges.append(#"Basic realm="MiniVNA", charset="UTF-8""#) }
        return try AccessDenied(kind: kind, reason: reason, challenges: kind == .unauthenticated ? challenges : [])
            .response(for: request, context: context)
    }
}
