import Foundation

/// A SQL statement whose interpolated values become bind parameters (`$1`, `$2`, ...), never SQL text.
///
/// ```swift
/// let name = "Robert'); DROP TABLE students;--"
/// try await client.query("INSERT INTO students (name) VALUES (\(name))")
/// ```
/// The statement text reaching the server is `INSERT INTO students (name) VALUES ($1)`.
/// Identifiers (table and column names chosen by code, not by users) can be interpolated with
/// `\(identifier: name)`, which quotes them.
public struct PostgresQuery: Sendable, Hashable, ExpressibleByStringInterpolation {
    public var sql: String
    public var bindings: PostgresBindings

    public init(unsafeSQL sql: String, bindings: PostgresBindings = PostgresBindings()) {
        self.sql = sql
        self.bindings = bindings
    }

    public init(stringLiteral value: String) {
        sql = value
        bindings = PostgresBindings()
    }

    public init(stringInterpolation: StringInterpolation) {
        sql = stringInterpolation.sql
        bindings = stringInterpolation.bindings
    }

    public struct StringInterpolation: StringInterpolationProtocol, Sendable {
        var sql = ""
        var bindings = PostgresBindings()

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        public mutating func appendInterpolation(_ value: some PostgresEncodable) {
            bindings.append(value)
            sql += "$\(bindings.count)"
        }

        public mutating func appendInterpolation(_ value: (some PostgresEncodable)?) {
            if let value { bindings.append(value) } else { bindings.appendNull() }
            sql += "$\(bindings.count)"
        }

        /// A quoted identifier (`"my ""odd"" table"`), for names chosen by code.
        public mutating func appendInterpolation(identifier: String) {
            sql += PostgresQuery.quoteIdentifier(identifier)
        }
    }

    /// Quotes an identifier the way PostgreSQL's `quote_ident` does.
    public static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// Parameter values in PostgreSQL text format with their type OIDs.
public struct PostgresBindings: Sendable, Hashable {
    public private(set) var values: [String?] = []
    public private(set) var types: [UInt32] = []

    public init() {}

    public var count: Int { values.count }

    public mutating func append(_ value: some PostgresEncodable) {
        values.append(value.postgresText)
        types.append(type(of: value).postgresType.rawValue)
    }

    public mutating func appendNull() {
        values.append(nil)
        types.append(PostgresDataType.unspecified.rawValue)
    }
}

/// The type OIDs the client names for parameters.
public struct PostgresDataType: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Lets the server infer the type from context (so a string can fill a `jsonb` or `timestamptz`
    /// column).
    public static let unspecified = PostgresDataType(rawValue: 0)
    public static let bool = PostgresDataType(rawValue: 16)
    public static let bytea = PostgresDataType(rawValue: 17)
    public static let int8 = PostgresDataType(rawValue: 20)
    public static let int4 = PostgresDataType(rawValue: 23)
    public static let float8 = PostgresDataType(rawValue: 701)
    public static let timestamptz = PostgresDataType(rawValue: 1184)
    public static let uuid = PostgresDataType(rawValue: 2950)
    public static let textArray = PostgresDataType(rawValue: 1009)
}
