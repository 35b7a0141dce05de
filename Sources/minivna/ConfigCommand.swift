import ArgumentParser
import Foundation

/// `minivna config --print [--config FILE] [serve's options]`: the configuration `serve` would
/// run with, after the file, the environment and the command line, secrets masked.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Print the effective configuration of `serve` (secrets masked).")

    @Flag(help: "Print the effective configuration as JSON.")
    var print = false

    @OptionGroup var serve: ServeCommand

    func run() throws {
        guard print else { throw ValidationError("config needs --print") }
        let settings = try serve.effectiveSettings()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        Swift.print(String(decoding: try encoder.encode(settings), as: UTF8.self))
    }
}

/// A value of `config --print`'s JSON.
enum JSONSetting: Encodable {
    case string(String), number(Double), bool(Bool), list([String]), null

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .number(let value):
            if value.rounded() == value, abs(value) < 1e15 { try container.encode(Int64(value)) } else { try container.encode(value) }
        case .bool(let value): try container.encode(value)
        case .list(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }
}
