import Events
import Foundation
import Testing

/// `recommendation.served` v1: canonical JSON, decoding, and agreement with its published JSON Schema.
@Suite("recommendation.served record v1")
struct RecommendationServedTests {
    static let record = RecommendationServed(
        recommendationID: "6f1c2a9e-3b1d-4c55-9a57-0c3e8f2d7b41", userID: "u42", domain: .poll, strategy: "personalised", modelVersion: "v7",
        experimentID: "exp-1", variant: "challenger",
        items: [.init(itemID: "p9", position: 1), .init(itemID: "p3", position: 2)], servedAt: EventTimestamp(millisecondsSinceEpoch: 1_795_000_000_123)
    )

    @Test("canonical JSON: sorted keys, stable bytes, decodes back to the same record")
    func roundTrip() throws {
        let bytes = Self.record.canonicalJSON()
        #expect(String(decoding: bytes, as: UTF8.self) == #"{"domain":"polls","experiment_id":"exp-1","items":[{"item_id":"p9","position":1},{"item_id":"p3","position":2}],"model_version":"v7","recommendation_id":"6f1c2a9e-3b1d-4c55-9a57-0c3e8f2d7b41","schema_version":1,"served_at":"2026-11-18T11:06:40.123Z","strategy":"personalised","user_id":"u42","variant":"challenger"}"#)
        #expect(try RecommendationServed.decode(bytes) == Self.record)
        var plain = Self.record
        plain.experimentID = nil
        plain.variant = nil
        plain.modelVersion = nil
        #expect(try RecommendationServed.decode(plain.canonicalJSON()) == plain)
    }

    @Test("decoding refuses what the API never writes, naming the field; unknown fields are ignored")
    func decodingErrors() throws {
        let cases: [(String, String?)] = [
            (#"[1]"#, nil),
            (#"{"schema_version":2,"recommendation_id":"r","user_id":"u","domain":"polls","strategy":"popular","model_version":null,"items":[],"served_at":"2026-11-21T20:36:18.123Z"}"#, "schema_version"),
            (#"{"schema_version":1,"user_id":"u","domain":"polls","strategy":"popular","model_version":null,"items":[],"served_at":"2026-11-21T20:36:18.123Z"}"#, "recommendation_id"),
            (#"{"schema_version":1,"recommendation_id":"r","user_id":"u","domain":"books","strategy":"popular","model_version":null,"items":[],"served_at":"2026-11-21T20:36:18.123Z"}"#, "domain"),
            (#"{"schema_version":1,"recommendation_id":"r","user_id":"u","domain":"polls","strategy":"popular","model_version":null,"items":[{"item_id":"a","position":0}],"served_at":"2026-11-21T20:36:18.123Z"}"#, "items[0]"),
        ]
        for (text, field) in cases {
            #expect(throws: EventValidationError.self) { try RecommendationServed.decode(Array(text.utf8)) }
            do {
                _ = try RecommendationServed.decode(Array(text.utf8))
            } catch {
                #expect(error.field == field, "\(text)")
            }
        }
        let withExtra = #"{"schema_version":1,"recommendation_id":"r","user_id":"u","domain":"polls","strategy":"popular","model_version":null,"items":[],"served_at":"2026-11-21T20:36:18.123Z","later_field":true}"#
        #expect(try RecommendationServed.decode(Array(withExtra.utf8)).recommendationID == "r")
    }

    /// Runs scripts/check-event-schema.py against configs/schemas/recommendation-served-v1.schema.json.
    func schemaVerdicts(_ documents: [String]) throws -> [Bool] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", EventSchemaTests.repositoryRoot + "/scripts/check-event-schema.py", "recommendation-served-v1"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data(("[" + documents.joined(separator: ",") + "]").utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        guard case .array(let values) = try JSONParser.parse(Array(data)) else { return [] }
        return values.map { $0 == .bool(true) }
    }

    @Test("what the encoder writes passes the published schema; records missing required fields fail it")
    func schemaAgreesWithEncoder() throws {
        var plain = Self.record
        plain.experimentID = nil
        plain.variant = nil
        plain.modelVersion = nil
        let valid = [Self.record, plain].map { String(decoding: $0.canonicalJSON(), as: UTF8.self) }
        let invalid = [
            #"{"schema_version":1,"user_id":"u","domain":"polls","strategy":"popular","model_version":null,"items":[],"served_at":"2026-11-21T20:36:18.123Z"}"#,
            #"{"schema_version":1,"recommendation_id":"6f1c2a9e-3b1d-4c55-9a57-0c3e8f2d7b41","user_id":"u","domain":"polls","strategy":"popular","items":[],"served_at":"2026-11-21T20:36:18.123Z"}"#,
            #"{"schema_version":1,"recommendation_id":"6f1c2a9e-3b1d-4c55-9a57-0c3e8f2d7b41","user_id":"u","domain":"polls","strategy":"popular","model_version":null,"items":[{"item_id":"a","position":0}],"served_at":"2026-11-21T20:36:18.123Z"}"#,
        ]
        #expect(try schemaVerdicts(valid) == [true, true])
        #expect(try schemaVerdicts(invalid) == [false, false, false])
    }

    @Test("the direct encoder writes the bytes of the JSON tree's canonical encoding, for every shape of record")
    func directEncodingMatchesTree() {
        var plain = Self.record
        plain.experimentID = nil
        plain.variant = nil
        plain.modelVersion = nil
        var awkward = Self.record
        awkward.userID = "u \"quoted\" \\ tab\t nl\n \u{01} é 😀"
        awkward.items = (1...120).map { .init(itemID: "item-\($0)-\"x\"", position: $0 * 1_000_003) }
        awkward.variant = nil
        var empty = plain
        empty.items = []
        empty.experimentID = "only-experiment"
        for record in [Self.record, plain, awkward, empty] {
            #expect(record.canonicalJSON() == JSONWriter.encode(record.jsonValue), "\(record.recommendationID) \(record.userID)")
        }
    }
}
