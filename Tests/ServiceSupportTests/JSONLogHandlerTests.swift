import Foundation
import Logging
import ServiceSupport
import Synchronization
import Testing

@Suite("log.format = json: one object per line with timestamp, level, label, message and every metadata key")
struct JSONLogHandlerTests {
    final class Lines: Sendable {
        let all = Mutex<[String]>([])
    }

    func logger(_ lines: Lines, provider: Logger.MetadataProvider? = nil) -> Logger {
        var logger = Logger(label: "streamrec.tests") { label in
            JSONLogHandler(label: label, metadataProvider: provider, output: { line in lines.all.withLock { $0.append(line) } }, clock: { (1_765_056_605, 7) })
        }
        logger.logLevel = .debug
        return logger
    }

    func object(_ line: String) throws -> [String: Any] {
        try #require(line.hasSuffix("}\n") && line.filter { $0 == "\n" }.count == 1, "one line: \(line)")
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
    }

    @Test("the four fields and the metadata of the handler, the provider and the call (the call wins)")
    func fieldsAndMetadata() throws {
        let lines = Lines()
        var logger = logger(lines, provider: Logger.MetadataProvider { ["trace_id": "abc"] })
        logger[metadataKey: "service"] = "trainer"
        logger[metadataKey: "domain"] = "polls"
        logger.error("scheduled run failed", metadata: ["domain": "movies", "error": "connection refused \"x\"\n", "attempt": .stringConvertible(3)])
        let object = try object(try #require(lines.all.withLock { $0.first }))
        #expect(object["timestamp"] as? String == "2025-12-06T21:30:05.007Z")
        #expect(object["level"] as? String == "error")
        #expect(object["label"] as? String == "streamrec.tests")
        #expect(object["message"] as? String == "scheduled run failed")
        #expect(object["service"] as? String == "trainer")
        #expect(object["domain"] as? String == "movies")
        #expect(object["error"] as? String == "connection refused \"x\"\n", "escaped and read back verbatim")
        #expect(object["attempt"] as? String == "3")
        #expect(object["trace_id"] as? String == "abc")
    }

    @Test("arrays and dictionaries stay JSON; a metadata key named like a field does not hide it; control characters are escaped")
    func structuredValuesAndCollisions() throws {
        let lines = Lines()
        let logger = logger(lines)
        logger.info("x\u{1}y", metadata: ["topics": ["a", "b"], "sizes": ["p0": "3"], "message": "shadow", "level": "shadow"])
        let line = try #require(lines.all.withLock { $0.first })
        #expect(line.contains("\\u0001"))
        let object = try object(line)
        #expect(object["message"] as? String == "x\u{1}y")
        #expect(object["level"] as? String == "info")
        #expect(object["metadata.message"] as? String == "shadow")
        #expect(object["metadata.level"] as? String == "shadow")
        #expect(object["topics"] as? [String] == ["a", "b"])
        #expect((object["sizes"] as? [String: String]) == ["p0": "3"])
    }

    @Test("log.format is read and checked: text by default, json, anything else names the key")
    func configurationKey() throws {
        #expect(ServiceSettings.Keys.logFormat.defaultValue == "text")
        #expect(LogFormat(rawValue: "json") == .json)
        #expect(LogFormat(rawValue: "yaml") == nil)
    }
}
