/// The result of one statement: column names and rows of text values.
public struct PostgresRows: Sendable, Hashable, RandomAccessCollection {
    public let columns: [String]
    public let rows: [PostgresRow]
    /// Rows inserted, updated, deleted or copied, as the server reported (`INSERT 0 5` → 5).
    public let affectedRows: Int

    public init(columns: [String], rows: [PostgresRow], affectedRows: Int) {
        self.columns = columns
        self.rows = rows
        self.affectedRows = affectedRows
    }

    public var startIndex: Int { rows.startIndex }
    public var endIndex: Int { rows.endIndex }
    public subscript(position: Int) -> PostgresRow { rows[position] }
}

/// One result row. Values are PostgreSQL's text representation; decode them with ``decode(_:as:)``.
public struct PostgresRow: Sendable, Hashable {
    public let columns: [String]
    public let values: [String?]

    /// Decodes column `index`, throwing on `NULL`; use `decode(_:as: T?.self)` for nullable columns.
    public func decode<T: PostgresDecodable>(_ index: Int, as type: T.Type = T.self) throws(PostgresError) -> T {
        guard values.indices.contains(index) else { throw .decoding("no column \(index)") }
        guard let text = values[index] else { throw .decoding("column \(columns[index]) is NULL") }
        return try T(postgresText: text)
    }

    public func decode<T: PostgresDecodable>(_ index: Int, as type: T?.Type) throws(PostgresError) -> T? {
        guard values.indices.contains(index) else { throw .decoding("no column \(index)") }
        guard let text = values[index] else { return nil }
        return try T(postgresText: text)
    }

    public func decode<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws(PostgresError) -> T {
        guard let index = columns.firstIndex(of: column) else { throw .decoding("no column \(column)") }
        return try decode(index, as: type)
    }

    public func decode<T: PostgresDecodable>(_ column: String, as type: T?.Type) throws(PostgresError) -> T? {
        guard let index = columns.firstIndex(of: column) else { throw .decoding("no column \(column)") }
        return try decode(index, as: type)
    }
}
