import ArgumentParser
import Foundation

/// `serve --config FILE` (env MINIVNA_CONFIG): one JSON object whose keys are `serve`'s long
/// option names (`"port": 8080`, `"ai-service": ["lung@1=http://…"]`, `"no-ai": true`). Each
/// key may be overridden by the environment as `MINIVNA_<KEY>` (upper case, `-` as `_`), and
/// the command line overrides both. The file is checked by `serve`'s own parser, so a bad key
/// or value is reported with its name before anything starts.
enum ConfigurationFile {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// `serve`'s arguments with the file's settings first: ArgumentParser keeps the last value
    /// of an option, so the command line's own arguments, which follow, win.
    static func arguments(_ commandLine: [String], environment: [String: String]) throws -> [String] {
        var remaining: [String] = []
        var path = environment["MINIVNA_CONFIG"]
        var index = 0
        while index < commandLine.count {
            let argument = commandLine[index]
            if argument == "--config", index + 1 < commandLine.count {
                path = commandLine[index + 1]
                index += 2
                continue
            }
            if argument.hasPrefix("--config=") { path = String(argument.dropFirst("--config=".count)); index += 1; continue }
            remaining.append(argument)
            index += 1
        }
        guard let path else { return remaining }
        let fromFile = try settings(path: path, environment: environment)
        do {
            _ = try ServeCommand.parse(fromFile)
        } catch {
            throw Failure(description: "config \(path): \(ServeCommand.message(for: error))")
        }
        return fromFile + remaining
    }

    /// The file's settings as arguments, with the environment's overrides applied.
    static func settings(path: String, environment: [String: String]) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(description: "config \(path): cannot read the file")
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw Failure(description: "config \(path): not valid JSON (\(error.localizedDescription))")
        }
        guard let settings = object as? [String: Any] else {
            throw Failure(description: "config \(path): expected one JSON object of serve's options")
        }
        var arguments: [String] = []
        for key in settings.keys.sorted() {
            guard key.range(of: "^[a-z][a-z0-9-]*$", options: .regularExpression) != nil, key != "config" else {
                throw Failure(description: "config \(path): key \"\(key)\" is not an option name of serve (e.g. \"port\", \"ai-service\")")
            }
            let override = environment["MINIVNA_" + key.uppercased().replacingOccurrences(of: "-", with: "_")]
            var value = settings[key]!
            if let override { value = override }
            arguments += try self.arguments(key: key, value: value, path: path)
        }
        return arguments
    }

    /// The key decides what a value is: a flag takes true/false, every other option its value
    /// as text (JSON's 1 and true are the same NSNumber here, so the value's type cannot).
    private static func arguments(key: String, value: Any, path: String) throws -> [String] {
        if isFlag(key) {
            switch value {
            case let flag as Bool: return flag ? ["--\(key)"] : []
            case let text as String where text == "true" || text == "1": return ["--\(key)"]
            case let text as String where text == "false" || text == "0" || text.isEmpty: return []
            default: throw Failure(description: "config \(path): \(key): expected true or false")
            }
        }
        switch value {
        case let text as String: return ["--\(key)", text]
        case let number as NSNumber: return ["--\(key)", number.stringValue]
        case let list as [Any]:
            return try list.flatMap { item -> [String] in
                switch item {
                case let text as String: return ["--\(key)", text]
                case let number as NSNumber: return ["--\(key)", number.stringValue]
                default: throw Failure(description: "config \(path): \(key): a list of strings or numbers")
                }
            }
        default:
            throw Failure(description: "config \(path): \(key): expected a string, a number or a list")
        }
    }

    /// Options that take no value.
    static func isFlag(_ key: String) -> Bool {
        ["no-ai", "insecure-no-auth", "no-metrics", "compress-on-ingest"].contains(key)
    }
}
