import Events
import Foundation
import Testing

/// The published JSON Schema and the gateway's validator must agree: third parties validate with the
/// schema, the gateway with the code.
@Suite("JSON Schema of contract v1")
struct EventSchemaTests {
    static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// Runs scripts/check-event-schema.py (python3 + jsonschema, installed by scripts/setup.sh).
    func schemaVerdicts(_ documents: [String]) throws -> [Bool] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.repositoryRoot + "/scripts/check-event-schema.py"]
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(("[" + documents.joined(separator: ",") + "]").utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let problem = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(problem)")
        guard case .array(let values) = try JSONParser.parse(Array(data)) else { return [] }
        return values.map { $0 == .bool(true) }
    }

    @Test("every valid example passes the schema; structurally invalid ones fail it as they fail the validator")
    func schemaAgreesWithValidator() throws {
        let valid = EventValidatorTests.validEvents
        let invalid = [
            #"{"user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z"}"#,
            #"{"type":"movie.star","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z"}"#,
            #"{"type":"movie.like","user_id":42,"item_id":"m","occurred_at":"2026-11-21T20:00:00Z"}"#,
            #"{"type":"movie.like","user_id":"a{b}","item_id":"m","occurred_at":"2026-11-21T20:00:00Z"}"#,
            #"{"type":"movie.like","user_id":"u","item_id":"m","poll_id":"p","occurred_at":"2026-11-21T20:00:00Z"}"#,
            #"{"type":"movie.like","user_id":"u","item_id":"m","occurred_at":"21/11/2026"}"#,
            #"{"type":"movie.like","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","event_id":"123"}"#,
            #"{"type":"movie.like","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","value":4}"#,
            #"{"type":"movie.like","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","colour":"red"}"#,
            #"{"type":"movie.rating","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","value":4.2}"#,
            #"{"type":"movie.rating","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","value":"4"}"#,
            #"{"type":"movie.view","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","watch_seconds":-3}"#,
            #"{"type":"movie.added","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z"}"#,
            #"{"type":"movie.added","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","title":"T","year":1995.5}"#,
            #"{"type":"poll.vote","user_id":"u","poll_id":"p","occurred_at":"2026-11-21T20:00:00Z"}"#,
            #"{"type":"poll.created","user_id":"u","poll_id":"p","occurred_at":"2026-11-21T20:00:00Z","question":"Q","category":"c","options":[{"id":"a","text":"A"}]}"#,
            #"{"type":"poll.share","user_id":"u","poll_id":"p","occurred_at":"2026-11-21T20:00:00Z","context":{"country":"de"}}"#,
            #"{"type":"poll.share","user_id":"u","poll_id":"p","occurred_at":"2026-11-21T20:00:00Z","context":{"os":"x"}}"#,
            #"{"type":"movie.view","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","watch_seconds":null}"#,
            #"{"event_id":null,"type":"movie.like","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z"}"#,
            #"{"type":"movie.added","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","title":"a\#(String(repeating: "\\u0301", count: 300))"}"#,
            #"{"type":"movie.added","user_id":"u","item_id":"m","occurred_at":"2026-11-21T20:00:00Z","title":"bell\u0007"}"#,
            #"{"type":"poll.share","user_id":"u","poll_id":"p","occurred_at":"2026-11-21T20:00:00Z","context":{"device":"a\nb"}}"#,
        ]
        for document in invalid {
            #expect(refusal(document) != nil, "the validator must refuse \(document)")
        }
        let verdicts = try schemaVerdicts(valid + invalid)
        #expect(verdicts.count == valid.count + invalid.count)
        for (document, verdict) in zip(valid + invalid, verdicts) {
            let expected = valid.contains(document)
            #expect(verdict == expected, "schema says \(verdict ? "valid" : "invalid") for \(document)")
        }
    }

    @Test("canonical records on the topics pass the schema too")
    func canonicalRecordsPass() throws {
        let records = try EventValidatorTests.validEvents.map { String(decoding: try validate($0).get().canonicalJSON(), as: UTF8.self) }
        #expect(try schemaVerdicts(records).allSatisfy { $0 })
    }
}
