import Foundation
import StackTestSupport
import Testing

/// SQL goes through `PostgresQuery` string interpolation, which binds every interpolated value as a `$n`
/// parameter; Redis commands are argument vectors (`RedisCommand("ZRANGE", key, …)`), never text. These
/// checks fail when code starts building either from strings.
@Suite("No string-built SQL or Redis commands")
struct QueryConstructionLintTests {
    static func sources() -> [(path: String, text: String)] {
        ["Shared", "Services", "Benchmarks"].flatMap { root -> [(String, String)] in
            let files = FileManager.default.enumerator(atPath: TestStack.repositoryRoot + "/" + root)?.allObjects as? [String] ?? []
            return files.filter { $0.hasSuffix(".swift") }.sorted().compactMap { file in
                let path = root + "/" + file
                return (try? String(contentsOfFile: TestStack.repositoryRoot + "/" + path, encoding: .utf8)).map { (path, $0) }
            }
        }
    }

    @Test("PostgresQuery(unsafeSQL:) only where the text is made of constants (reviewed list)")
    func unsafeSQLOnlyWhereReviewed() {
        // Each of these pastes only compile-time constants (a column list, a fixed SELECT whose condition is
        // itself a bound PostgresQuery); a new use must be reviewed and added here.
        let reviewed: Set<String> = [
            "Shared/Postgres/PostgresQuery.swift", "Shared/EventStore/TrainingStore.swift", "Shared/ModelRegistry/ModelRegistry.swift",
        ]
        var uses: [String] = []
        for (path, text) in Self.sources() where text.contains("unsafeSQL:") { uses.append(path) }
        #expect(!uses.isEmpty)  // the check itself still finds something
        let unreviewed = uses.filter { !reviewed.contains($0) }
        #expect(unreviewed.isEmpty, "unsafeSQL used in \(unreviewed)")
    }

    @Test("SQL is never concatenated or formatted into a query string")
    func noConcatenatedSQL() throws {
        // A SQL keyword in a string literal followed by + or String(format:) on the same line.
        let concatenation = try NSRegularExpression(pattern: #""[^"]*\b(SELECT|INSERT|UPDATE|DELETE|WHERE)\b[^"]*"\s*\+|String\(format:\s*"[^"]*\b(SELECT|INSERT|UPDATE|DELETE)\b"#)
        var found: [String] = []
        for (path, text) in Self.sources() {
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = String(line)
                if concatenation.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) != nil { found.append("\(path):\(number + 1)") }
            }
        }
        #expect(found.isEmpty, "string-built SQL at \(found)")
    }

    @Test("Redis commands are argument vectors: the command name is always a literal")
    func redisCommandsAreArgumentVectors() throws {
        let call = try NSRegularExpression(pattern: #"RedisCommand\((?!")"#)
        var found: [String] = []
        for (path, text) in Self.sources() where path != "Shared/Redis/RedisClient.swift" && path != "Shared/Redis/RedisCommand.swift" {
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = String(line)
                guard !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") else { continue }
                if call.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) != nil { found.append("\(path):\(number + 1)") }
            }
        }
        #expect(found.isEmpty, "RedisCommand built from a non-literal name at \(found)")
    }
}
