import CLibPQ
import ClientRuntime

#if canImport(Glibc)
import Glibc
#endif

/// One blocking libpq connection. Every method blocks the calling thread: use them through
/// ``PostgresClient``, which runs them on its ``BlockingExecutor`` and leases each connection to one task
/// at a time (hence `@unchecked Sendable`).
public final class PostgresConnection: PooledConnection, @unchecked Sendable {
    private var connection: OpaquePointer?
    private var broken = false

    public init(configuration: PostgresConfiguration) throws(PostgresError) {
        let parameters = configuration.connectionParameters
        let keywords = parameters.map { strdup($0.0) }
        let values = parameters.map { strdup($0.1) }
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let keywordPointers = keywords.map { UnsafePointer<CChar>($0) } + [nil]
        let valuePointers = values.map { UnsafePointer<CChar>($0) } + [nil]
        let connection = PQconnectdbParams(keywordPointers, valuePointers, 0)
        guard let connection else { throw .connectionFailed("out of memory") }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.message(PQerrorMessage(connection))
            PQfinish(connection)
            throw .connectionFailed(message)
        }
        // Notices (e.g. "relation already exists, skipping") would go to stderr by default.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        self.connection = connection
    }

    deinit { close() }

    public var isUsable: Bool {
        guard let connection, !broken, PQstatus(connection) == CONNECTION_OK else { return false }
        // A connection returned mid-transaction (a caller's task was cancelled) must not be reused.
        guard PQtransactionStatus(connection) == PQTRANS_IDLE else { return false }
        // Idle connections have nothing to read; a readable socket means the server closed it.
        var descriptor = pollfd(fd: PQsocket(connection), events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) == 0
    }

    public func close() {
        if let connection {
            PQfinish(connection)
            self.connection = nil
        }
    }

    /// Runs one statement with its bind parameters (`PQexecParams`, text format).
    public func query(_ query: PostgresQuery) throws(PostgresError) -> PostgresRows {
        let connection = try liveConnection()
        let bindings = query.bindings
        for (index, value) in bindings.values.enumerated() where value?.utf8.contains(0) == true {
            throw .invalidParameter(index: index, reason: "text values cannot contain NUL bytes")
        }
        let cValues = bindings.values.map { $0.map { strdup($0) } ?? nil }
        defer { cValues.forEach { free($0) } }
        let result = cValues.map { UnsafePointer<CChar>($0) }.withUnsafeBufferPointer { valuePointers in
            bindings.types.withUnsafeBufferPointer { types in
                PQexecParams(
                    connection, query.sql, Int32(bindings.count), types.baseAddress,
                    valuePointers.baseAddress, nil, nil, 0
                )
            }
        }
        return try consume(result)
    }

    /// Runs SQL text with no parameters, possibly several statements (simple query protocol). For
    /// trusted text only, such as migration files from the repository.
    public func executeScript(_ sql: String) throws(PostgresError) {
        let connection = try liveConnection()
        _ = try consume(PQexec(connection, sql))
    }

    /// Bulk-loads rows with `COPY table (columns) FROM STDIN (FORMAT binary)`: each value is sent as its
    /// type's binary representation (``PostgresBinaryEncodable``), so the server parses no text (about a
    /// tenth less of its CPU for the training store's rows than the text format, docs/benchmarks.md) and
    /// any text is stored verbatim. `nil` is NULL.
    public func copyIn(
        table: String, columns: [String], rows: some Sequence<[(any PostgresBinaryEncodable)?]>
    ) throws(PostgresError) -> Int {
        let connection = try liveConnection()
        let columnList = columns.map(PostgresQuery.quoteIdentifier).joined(separator: ", ")
        let statement = "COPY \(Self.quoteQualifiedName(table)) (\(columnList)) FROM STDIN (FORMAT binary)"
        let start = PQexec(connection, statement)
        guard PQresultStatus(start) == PGRES_COPY_IN else {
            _ = try consume(start)
            throw .connectionLost("COPY did not start")
        }
        PQclear(start)

        // Header: signature, flags (none), header extension length (none).
        var buffer: [UInt8] = Array("PGCOPY\n".utf8) + [0xff, 0x0d, 0x0a, 0x00] + [0, 0, 0, 0] + [0, 0, 0, 0]
        buffer.reserveCapacity(1 << 16)
        var failure: PostgresError?
        func flush() -> Bool {
            let ok = buffer.withUnsafeBufferPointer { bytes in
                bytes.withMemoryRebound(to: CChar.self) { chars in
                    PQputCopyData(connection, chars.baseAddress, Int32(chars.count)) == 1
                }
            }
            buffer.removeAll(keepingCapacity: true)
            return ok
        }
        func appendWord<Word: FixedWidthInteger>(_ word: Word) {
            withUnsafeBytes(of: word.bigEndian) { buffer.append(contentsOf: $0) }
        }
        let fieldCount = Int16(clamping: columns.count)
        rowLoop: for row in rows {
            guard row.count == columns.count else {
                failure = .invalidParameter(index: 0, reason: "COPY row has \(row.count) values for \(columns.count) columns")
                break
            }
            appendWord(fieldCount)
            for (index, value) in row.enumerated() {
                guard let value else {
                    appendWord(Int32(-1))
                    continue
                }
                // The length word first, filled in once the value's bytes are there.
                let lengthAt = buffer.count
                appendWord(Int32(0))
                do {
                    try value.appendPostgresBinary(to: &buffer)
                } catch {
                    if case .invalidParameter(_, let reason) = error {
                        failure = .invalidParameter(index: index, reason: reason)
                    } else {
                        failure = error
                    }
                    break rowLoop
                }
                let length = Int32(buffer.count - lengthAt - 4).bigEndian
                withUnsafeBytes(of: length) { bytes in
                    for offset in 0..<4 { buffer[lengthAt + offset] = bytes[offset] }
                }
            }
            if buffer.count >= 1 << 16, !flush() {
                broken = true
                throw .connectionLost(Self.message(PQerrorMessage(connection)))
            }
        }
        if failure == nil {
            appendWord(Int16(-1))  // the trailer
            if !flush() {
                broken = true
                throw .connectionLost(Self.message(PQerrorMessage(connection)))
            }
        }
        // Ending with an error message aborts the COPY on the server: nothing of it is kept.
        guard PQputCopyEnd(connection, failure == nil ? nil : "aborted by client") == 1 else {
            broken = true
            throw .connectionLost(Self.message(PQerrorMessage(connection)))
        }
        var copied = 0
        var serverError: PostgresError?
        while let result = PQgetResult(connection) {
            do {
                copied = try consume(result).affectedRows
            } catch {
                serverError = serverError ?? error
            }
        }
        if let failure { throw failure }
        if let serverError { throw serverError }
        return copied
    }

    // MARK: - Notifications

    /// Starts receiving notifications sent on `channel` (`LISTEN`).
    public func listen(_ channel: String) throws(PostgresError) {
        try executeScript("LISTEN \(PostgresQuery.quoteIdentifier(channel))")
    }

    /// Waits up to `timeout` for notifications on the channels this connection listens to and returns
    /// those that arrived (possibly none). A closed or broken connection throws
    /// ``PostgresError/connectionLost(_:)``.
    public func notifications(waitingUpTo timeout: Duration) throws(PostgresError) -> [PostgresNotification] {
        let connection = try liveConnection()
        var received = Self.drainNotifications(connection)
        guard received.isEmpty else { return received }
        var descriptor = pollfd(fd: PQsocket(connection), events: Int16(POLLIN), revents: 0)
        // Whole milliseconds, rounded up and at least 1 (0 would spin, a negative value block forever);
        // clamped so a huge timeout cannot overflow.
        let (seconds, attoseconds) = timeout.components
        let milliseconds = Int32(clamping: max(1, min(seconds, 86_400) * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000))
        let ready = poll(&descriptor, 1, milliseconds)
        let pollError = errno
        if ready < 0, pollError != EINTR {
            broken = true
            throw .connectionLost("poll failed: errno \(pollError)")
        }
        if ready > 0 {
            // Reads what the server sent; fails once the server has closed the connection.
            guard PQconsumeInput(connection) == 1, PQstatus(connection) == CONNECTION_OK else {
                broken = true
                throw .connectionLost(Self.message(PQerrorMessage(connection)))
            }
            received = Self.drainNotifications(connection)
        }
        return received
    }

    private static func drainNotifications(_ connection: OpaquePointer) -> [PostgresNotification] {
        var received: [PostgresNotification] = []
        while let notification = PQnotifies(connection) {
            received.append(PostgresNotification(
                channel: String(cString: notification.pointee.relname), payload: String(cString: notification.pointee.extra),
                senderProcessID: notification.pointee.be_pid
            ))
            PQfreemem(notification)
        }
        return received
    }

    // MARK: - Results

    private func liveConnection() throws(PostgresError) -> OpaquePointer {
        guard let connection, !broken else { throw .connectionLost("connection closed") }
        return connection
    }

    /// Turns a result into rows or an error, and frees it.
    private func consume(_ result: OpaquePointer?) throws(PostgresError) -> PostgresRows {
        guard let result else {
            broken = true
            throw .connectionLost(Self.message(PQerrorMessage(connection)))
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY, PGRES_SINGLE_TUPLE:
            let columnCount = Int(PQnfields(result))
            let rowCount = Int(PQntuples(result))
            let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
            var rows: [PostgresRow] = []
            rows.reserveCapacity(rowCount)
            for row in 0..<rowCount {
                var values: [String?] = []
                values.reserveCapacity(columnCount)
                for column in 0..<columnCount {
                    if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                        values.append(nil)
                    } else {
                        values.append(String(cString: PQgetvalue(result, Int32(row), Int32(column))))
                    }
                }
                rows.append(PostgresRow(columns: columns, values: values))
            }
            let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
            return PostgresRows(columns: columns, rows: rows, affectedRows: affected)
        default:
            let sqlState = Self.field(result, "C") ?? ""
            let message = Self.field(result, "M") ?? Self.message(PQresultErrorMessage(result))
            if sqlState.isEmpty || PQstatus(connection) != CONNECTION_OK {
                broken = true
                throw .connectionLost(message)
            }
            if sqlState == "57014" { throw .statementTimeout(message) }
            throw .server(PostgresServerError(
                sqlState: sqlState, message: message, detail: Self.field(result, "D"), hint: Self.field(result, "H")
            ))
        }
    }

    private static func field(_ result: OpaquePointer, _ code: Unicode.Scalar) -> String? {
        PQresultErrorField(result, Int32(code.value)).map { String(cString: $0) }
    }

    private static func message(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
        guard let pointer else { return "unknown error" }
        return String(cString: pointer).trimmingTrailingWhitespace()
    }

    /// `schema.table` or `table`, each part quoted.
    static func quoteQualifiedName(_ name: String) -> String {
        name.split(separator: ".", maxSplits: 1).map { PostgresQuery.quoteIdentifier(String($0)) }.joined(separator: ".")
    }
}

extension String {
    fileprivate func trimmingTrailingWhitespace() -> String {
        var text = Substring(self)
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        return String(text)
    }
}

/// A `NOTIFY` received by a connection that listens to its channel.
public struct PostgresNotification: Sendable, Hashable {
    public var channel: String
    public var payload: String
    /// The server process of the session that sent it.
    public var senderProcessID: Int32

    public init(channel: String, payload: String, senderProcessID: Int32) {
        self.channel = channel
        self.payload = payload
        self.senderProcessID = senderProcessID
    }
}
