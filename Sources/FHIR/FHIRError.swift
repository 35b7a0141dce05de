import DICOM
import Foundation

/// A FHIR failure: the HTTP status, the OperationOutcome issue code (R4 IssueType) and what went
/// wrong in words. The server turns it into an OperationOutcome response in one place.
public struct FHIRError: Error, Sendable, CustomStringConvertible {
    public enum Status: Int, Sendable {
        case badRequest = 400, unauthorized = 401, forbidden = 403, notFound = 404, notAcceptable = 406, conflict = 409, gone = 410,
             preconditionFailed = 412, unsupportedMediaType = 415, unprocessable = 422, serverError = 500, unavailable = 503
    }

    public let status: Status
    /// R4 IssueType code: invalid, structure, required, value, not-found, deleted, conflict, not-supported, exception...
    public let code: String
    public let diagnostics: String
    /// FHIRPath of the offending element, when there is one.
    public let expression: String?

    public init(_ status: Status, _ code: String, _ diagnostics: String, expression: String? = nil) {
        self.status = status
        self.code = code
        self.diagnostics = diagnostics
        self.expression = expression
    }

    public var description: String { diagnostics }

    public var operationOutcome: JSONValue {
        var issue: [String: JSONValue] = ["severity": .string("error"), "code": .string(code), "diagnostics": .string(diagnostics)]
        if let expression { issue["expression"] = .array([.string(expression)]) }
        return .object(["resourceType": .string("OperationOutcome"), "issue": .array([.object(issue)])])
    }
}
