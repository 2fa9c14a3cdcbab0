import Foundation
import Postgres
import StackTestSupport
import Testing

@Suite("PostgreSQL client against a real server")
struct PostgresClientTests {
    let client: PostgresClient
    let table = TestStack.uniqueName("t")

    init() throws {
        client = PostgresClient(configuration: try TestStack.postgresConfiguration())
    }

    @Test("hostile strings are bound as parameters and stored verbatim")
    func hostileStringsStoredVerbatim() async throws {
        defer { Task { await client.shutdown() } }
        try await client.query("CREATE TABLE \(identifier: table) (id bigint PRIMARY KEY, body text NOT NULL)")
        let hostile = [
            "'; DROP TABLE \(table); --",
            "Robert'); DROP TABLE students;--",
            "$1 $2 \\x00 \\\\ \" '' ",
            "line\nbreak\ttab\r",
            "ünïcødé 🎬 ",
            String(repeating: "x", count: 100_000),
        ]
        for (index, text) in hostile.enumerated() {
            let result = try await client.query("INSERT INTO \(identifier: table) (id, body) VALUES (\(index), \(text))")
            #expect(result.affectedRows == 1)
        }
        let rows = try await client.query("SELECT id, body FROM \(identifier: table) ORDER BY id")
        #expect(try rows.map { try $0.decode("body", as: String.self) } == hostile)
        // The table survived every attempt.
        #expect(try await client.query("SELECT count(*) FROM \(identifier: table)")[0].decode(0, as: Int.self) == hostile.count)
        try await client.query("DROP TABLE \(identifier: table)")
    }

    @Test("text with a NUL byte is refused before anything is sent")
    func nulByteRefused() async throws {
        defer { Task { await client.shutdown() } }
        let error = await #expect(throws: PostgresError.self) {
            try await client.query("SELECT \("a\u{0}b")::text")
        }
        #expect(error == .invalidParameter(index: 0, reason: "text values cannot contain NUL bytes"))
    }

    @Test("typed values round-trip: ints, doubles, bools, bytes, dates, UUIDs, NULL")
    func typedRoundTrip() async throws {
        defer { Task { await client.shutdown() } }
        let date = Date(timeIntervalSince1970: 1_763_750_178.123456)
        let uuid = UUID()
        let bytes = PostgresBytes([0, 1, 2, 0xfe, 0xff])
        let none: String? = nil
        let row = try await client.query("""
            SELECT \(Int.max)::int8, \(-2.5)::float8, \(true)::bool, \(bytes)::bytea, \(date)::timestamptz,
                   \(uuid)::uuid, \(none)::text
            """)[0]
        #expect(try row.decode(0, as: Int.self) == Int.max)
        #expect(try row.decode(1, as: Double.self) == -2.5)
        #expect(try row.decode(2, as: Bool.self) == true)
        #expect(try row.decode(3, as: PostgresBytes.self) == bytes)
        #expect(abs(try row.decode(4, as: Date.self).timeIntervalSince1970 - date.timeIntervalSince1970) < 0.000_002)
        #expect(try row.decode(5, as: UUID.self) == uuid)
        #expect(try row.decode(6, as: String?.self) == nil)
        #expect(throws: PostgresError.self) { try row.decode(6, as: String.self) }
    }

    @Test("COPY loads 100k rows; tabs, newlines and backslashes survive")
    func copy100kRows() async throws {
        defer { Task { await client.shutdown() } }
        try await client.query("CREATE TABLE \(identifier: table) (id bigint, name text, score float8, note text)")
        let rows: [[(any PostgresBinaryEncodable)?]] = (0..<100_000).map { index in
            [index, "item\t\(index)\n\\", Double(index) / 4, index % 10 == 0 ? nil : "n"]
        }
        let copied = try await client.copyIn(table: table, columns: ["id", "name", "score", "note"], rows: rows)
        #expect(copied == 100_000)
        let summary = try await client.query("""
            SELECT count(*), sum(id), count(note), max(score) FROM \(identifier: table)
            """)[0]
        #expect(try summary.decode(0, as: Int.self) == 100_000)
        #expect(try summary.decode(1, as: Int.self) == 99_999 * 100_000 / 2)
        #expect(try summary.decode(2, as: Int.self) == 90_000)
        #expect(try summary.decode(3, as: Double.self) == 99_999.0 / 4)
        let sample = try await client.query("SELECT name FROM \(identifier: table) WHERE id = \(12_345)")
        #expect(try sample[0].decode(0, as: String.self) == "item\t12345\n\\")
        try await client.query("DROP TABLE \(identifier: table)")
    }

    @Test("binary COPY: every encodable type and NULL arrive as the values sent; a value of another type than its column fails the COPY, storing nothing")
    func binaryCopyRoundTrips() async throws {
        defer { Task { await client.shutdown() } }
        try await client.query("""
            CREATE TABLE \(identifier: table) (i8 bigint, i4 integer, f8 float8, b boolean, t text, u uuid, ts timestamptz, bytes bytea)
            """)
        let uuid = UUID()
        let time = Date(timeIntervalSince1970: 1_765_000_123.456)  // whole milliseconds: stored exactly
        let text = "tab\tnewline\n back\\slash ünïcødé 🎬 \"q\""
        let rows: [[(any PostgresBinaryEncodable)?]] = [
            [Int64.min, Int32.max, -2.5, true, text, uuid, time, PostgresBytes([0, 1, 0xfe, 0xff])],
            [nil, nil, nil, nil, nil, nil, nil, nil],
            [Int.max, Int32.min, Double.infinity, false, "", uuid, Date(timeIntervalSince1970: -1.5), PostgresBytes([])],
        ]
        #expect(try await client.copyIn(table: table, columns: ["i8", "i4", "f8", "b", "t", "u", "ts", "bytes"], rows: rows) == 3)
        let stored = try await client.query("""
            SELECT i8, i4, f8, b, t, u, (extract(epoch FROM ts) * 1000000)::bigint, bytes, i8 IS NULL AND t IS NULL AND ts IS NULL
            FROM \(identifier: table) ORDER BY i8 NULLS LAST
            """)
        #expect(try stored[0].decode(0, as: Int64.self) == Int64.min && stored[0].decode(1, as: Int32.self) == Int32.max)
        #expect(try stored[0].decode(2, as: Double.self) == -2.5 && stored[0].decode(3, as: Bool.self) == true)
        #expect(try stored[0].decode(4, as: String.self) == text && stored[0].decode(5, as: UUID.self) == uuid)
        #expect(try stored[0].decode(6, as: Int64.self) == 1_765_000_123_456_000)
        #expect(try stored[0].decode(7, as: PostgresBytes.self) == PostgresBytes([0, 1, 0xfe, 0xff]))
        #expect(try stored[1].decode(0, as: Int.self) == Int.max && stored[1].decode(1, as: Int32.self) == Int32.min)
        #expect(try stored[1].decode(2, as: Double.self) == .infinity && stored[1].decode(3, as: Bool.self) == false)
        #expect(try stored[1].decode(4, as: String.self) == "" && stored[1].decode(6, as: Int64.self) == -1_500_000)
        #expect(try stored[2].decode(8, as: Bool.self) == true)
        // An Int (bigint) into the integer column, a string into the uuid column: refused, nothing kept.
        await #expect(throws: PostgresError.self) {
            try await client.copyIn(table: table, columns: ["i4"], rows: [[Int32(1)], [7]])
        }
        await #expect(throws: PostgresError.self) {
            try await client.copyIn(table: table, columns: ["u"], rows: [[uuid.uuidString]])
        }
        await #expect(throws: PostgresError.self) {
            try await client.copyIn(table: table, columns: ["t"], rows: [["a"], ["nul\u{0}byte"]])
        }
        #expect(try await client.query("SELECT count(*) FROM \(identifier: table)")[0].decode(0, as: Int.self) == 3)
        try await client.query("DROP TABLE \(identifier: table)")
    }

    @Test("a COPY with a bad row stores nothing")
    func copyIsAllOrNothing() async throws {
        defer { Task { await client.shutdown() } }
        try await client.query("CREATE TABLE \(identifier: table) (id bigint NOT NULL)")
        let rows: [[(any PostgresBinaryEncodable)?]] = [[1], [2], [nil], [4]]
        await #expect(throws: PostgresError.self) {
            try await client.copyIn(table: table, columns: ["id"], rows: rows)
        }
        #expect(try await client.query("SELECT count(*) FROM \(identifier: table)")[0].decode(0, as: Int.self) == 0)
        try await client.query("DROP TABLE \(identifier: table)")
    }

    @Test("a transaction that throws is rolled back")
    func transactionRollback() async throws {
        defer { Task { await client.shutdown() } }
        struct Abort: Error {}
        try await client.query("CREATE TABLE \(identifier: table) (id bigint)")
        await #expect(throws: Abort.self) {
            try await client.withTransaction { session in
                try await session.query("INSERT INTO \(identifier: table) VALUES (\(1))")
                throw Abort()
            }
        }
        _ = try await client.withTransaction { session in
            try await session.query("INSERT INTO \(identifier: table) VALUES (\(2))")
        }
        let ids = try await client.query("SELECT id FROM \(identifier: table)").map { try $0.decode(0, as: Int.self) }
        #expect(ids == [2])
        try await client.query("DROP TABLE \(identifier: table)")
    }

    @Test("the statement timeout cancels a long query and the connection stays usable")
    func statementTimeout() async throws {
        let client = PostgresClient(configuration: try TestStack.postgresConfiguration(statementTimeout: .milliseconds(300)))
        defer { Task { await client.shutdown() } }
        let started = ContinuousClock.now
        let error = await #expect(throws: PostgresError.self) { try await client.query("SELECT pg_sleep(60)") }
        // Far from 60 s: the whole test process has been seen stalled for 20 s as the suites start together.
        #expect(ContinuousClock.now - started < .seconds(45), "cancelled by the 300 ms timeout, not after 60 s")
        #expect(error?.sqlState == "57014")
        #expect(error?.isRetriable == true)
        #expect(try await client.query("SELECT 1")[0].decode(0, as: Int.self) == 1)
    }

    @Test("server errors carry their SQLSTATE")
    func serverErrors() async throws {
        defer { Task { await client.shutdown() } }
        let error = await #expect(throws: PostgresError.self) { try await client.query("SELECT * FROM \(identifier: table)") }
        #expect(error?.sqlState == "42P01")  // undefined_table
        #expect(error?.isRetriable == false)
    }

    @Test("no server: connect fails with a retriable error")
    func connectFailure() async throws {
        var configuration = try TestStack.postgresConfiguration()
        configuration.port = TestStack.freePort()
        let client = PostgresClient(configuration: configuration)
        defer { Task { await client.shutdown() } }
        let error = await #expect(throws: PostgresError.self) { try await client.query("SELECT 1") }
        guard case .connectionFailed = error else {
            Issue.record("expected connectionFailed, got \(String(describing: error))")
            return
        }
        #expect(error?.isRetriable == true)
    }
}

@Suite("Schema migrations")
struct PostgresMigratorTests {
    @Test("migrations apply once, are skipped on the next start, and edits are refused")
    func idempotentMigrations() async throws {
        let schema = TestStack.uniqueName("mig")
        let directory = NSTemporaryDirectory() + schema
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "CREATE TABLE \(schema).movies (id bigint PRIMARY KEY, title text NOT NULL);\nCREATE INDEX ON \(schema).movies (title);"
            .write(toFile: directory + "/0001_movies.sql", atomically: true, encoding: .utf8)
        try "ALTER TABLE \(schema).movies ADD COLUMN year int;"
            .write(toFile: directory + "/0002_movie_year.sql", atomically: true, encoding: .utf8)
        try "not a migration".write(toFile: directory + "/README.txt", atomically: true, encoding: .utf8)

        // Each "start" is a new client, as a restarted service would be. The migrations live in their
        // own schema so parallel tests do not see each other's schema_migrations rows.
        var configuration = try TestStack.postgresConfiguration()
        let setup = PostgresClient(configuration: configuration)
        try await setup.query("CREATE SCHEMA \(identifier: schema)")
        await setup.shutdown()
        configuration.searchPath = schema

        let first = PostgresClient(configuration: configuration)
        #expect(try await PostgresMigrator(directory: directory).migrate(first) == [1, 2])
        await first.shutdown()

        let second = PostgresClient(configuration: configuration)
        #expect(try await PostgresMigrator(directory: directory).migrate(second) == [])
        try await second.query("INSERT INTO movies (id, title, year) VALUES (\(1), \("Toy Story"), \(1995))")
        let versions = try await second.query("SELECT version FROM schema_migrations ORDER BY version").map { try $0.decode(0, as: Int.self) }
        #expect(versions == [1, 2])

        // Editing an applied migration is refused rather than silently diverging.
        try "ALTER TABLE \(schema).movies ADD COLUMN year bigint;".write(toFile: directory + "/0002_movie_year.sql", atomically: true, encoding: .utf8)
        let error = await #expect(throws: PostgresError.self) { try await PostgresMigrator(directory: directory).migrate(second) }
        #expect(error?.description.contains("changed after it was applied") == true)

        // A failing migration leaves no trace: its transaction is rolled back and it is not recorded.
        try "ALTER TABLE \(schema).movies ADD COLUMN year int;".write(toFile: directory + "/0002_movie_year.sql", atomically: true, encoding: .utf8)
        try "CREATE TABLE \(schema).ok (id int); SELECT * FROM no_such_table;".write(toFile: directory + "/0003_broken.sql", atomically: true, encoding: .utf8)
        await #expect(throws: PostgresError.self) { try await PostgresMigrator(directory: directory).migrate(second) }
        let okExists = try await second.query("SELECT to_regclass(\("\(schema).ok"))::text")[0].decode(0, as: String?.self)
        #expect(okExists == nil)
        #expect(try await second.query("SELECT count(*) FROM schema_migrations")[0].decode(0, as: Int.self) == 2)
        try await second.query("DROP SCHEMA \(identifier: schema) CASCADE")
        await second.shutdown()
    }

    @Test("two services starting together on a fresh database both succeed; each migration runs once")
    func concurrentFirstStart() async throws {
        let schema = TestStack.uniqueName("mig")
        let directory = NSTemporaryDirectory() + schema
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // pg_sleep makes the first migration slow, so the second start has to wait for the lock.
        try "SELECT pg_sleep(0.5); CREATE TABLE \(schema).items (id bigint PRIMARY KEY);"
            .write(toFile: directory + "/0001_items.sql", atomically: true, encoding: .utf8)
        // Setup and teardown on a client without the tight timeout (DDL can be slow on a loaded machine).
        let admin = PostgresClient(configuration: try TestStack.postgresConfiguration())
        try await admin.query("CREATE SCHEMA \(identifier: schema)")
        var configuration = try TestStack.postgresConfiguration(statementTimeout: .milliseconds(200))
        configuration.searchPath = schema
        let clients = [PostgresClient(configuration: configuration), PostgresClient(configuration: configuration)]
        let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
            for client in clients {
                group.addTask { try await PostgresMigrator(directory: directory).migrate(client) }
            }
            return try await group.reduce([], +)
        }
        #expect(applied == [1], "applied exactly once in total, despite a 200 ms statement timeout and a 500 ms migration")
        // The sessions got their statement timeout back after migrating.
        let error = await #expect(throws: PostgresError.self) { try await clients[0].query("SELECT pg_sleep(2)") }
        #expect(error?.sqlState == "57014")
        for client in clients { await client.shutdown() }
        try await admin.query("DROP SCHEMA \(identifier: schema) CASCADE")
        await admin.shutdown()
    }
}
