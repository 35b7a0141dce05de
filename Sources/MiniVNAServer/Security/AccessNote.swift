import Synchronization

/// The part of an access-audit record that only the inner layers learn: who the request's
/// principal turned out to be, and the studies a route touched beyond those its path names
/// (a STOW's stored instances). One per request, shared by reference through the context.
public final class AccessNote: Sendable {
    private struct State {
        var principal: Principal?
        var studies: [String] = []
    }

    private let state = Mutex(State())

    public init() {}

    func authenticated(as principal: Principal) {
        state.withLock { $0.principal = principal }
    }

    /// Studies a route touched (stored into, deleted, read).
    public func touched(studies: some Sequence<String>) {
        state.withLock { $0.studies.append(contentsOf: studies) }
    }

    var principal: Principal? { state.withLock { $0.principal } }
    var studies: [String] { state.withLock { $0.studies } }
}
