import ClientRuntime
import Foundation

/// Where and how the PostgreSQL client connects. Every field has a default suitable for a local server.
public struct PostgresConfiguration: Sendable, Hashable {
    public var host: String
    public var port: Int
    public var database: String
    public var user: String
    public var password: String?
    /// Shown in `pg_stat_activity`, so operators can tell services apart.
    public var applicationName: String
    /// Bound on establishing a connection (libpq rounds up to whole seconds, minimum 2).
    public var connectTimeout: Duration
    /// Server-side `statement_timeout` for every statement on the client's connections; `nil` disables it.
    public var statementTimeout: Duration?
    /// `search_path` for the client's sessions; `nil` keeps the server's default (`"$user", public`).
    public var searchPath: String?
    public var pool: ConnectionPoolConfiguration
    /// TLS (`sslmode`); libpq's default, `prefer`, falls back to plaintext. See ``PostgresSSLMode``.
    public var sslMode: PostgresSSLMode
    /// PEM file of the CA(s) that signed the server's certificate (`sslrootcert`), checked with
    /// `verify-ca` and `verify-full`; `nil`: libpq's default, `~/.postgresql/root.crt`.
    public var sslRootCertificate: String?
    /// Client certificate (`sslcert`, PEM) for servers that authenticate clients by certificate; with ``sslKey``.
    public var sslCertificate: String?
    /// The client certificate's private key (`sslkey`, PEM; libpq refuses a key file others can read).
    public var sslKey: String?

    public init(
        host: String = "127.0.0.1",
        port: Int = 5432,
        database: String = "streamrec",
        user: String = "streamrec",
        password: String? = nil,
        applicationName: String = "streamrec",
        connectTimeout: Duration = .seconds(5),
        statementTimeout: Duration? = .seconds(30),
        searchPath: String? = nil,
        pool: ConnectionPoolConfiguration = .init(),
        sslMode: PostgresSSLMode = .prefer,
        sslRootCertificate: String? = nil,
        sslCertificate: String? = nil,
        sslKey: String? = nil
    ) {
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.password = password
        self.applicationName = applicationName
        self.connectTimeout = connectTimeout
        self.statementTimeout = statementTimeout
        self.searchPath = searchPath
        self.pool = pool
        self.sslMode = sslMode
        self.sslRootCertificate = sslRootCertificate
        self.sslCertificate = sslCertificate
        self.sslKey = sslKey
    }

    /// libpq connection keywords. Values are passed as separate parameters, never pasted into a
    /// connection string, so a password with spaces or quotes needs no escaping.
    var connectionParameters: [(String, String)] {
        var options = "-c TimeZone=UTC -c DateStyle=ISO"
        if let statementTimeout {
            let milliseconds = max(1, statementTimeout.milliseconds)
            options += " -c statement_timeout=\(milliseconds)"
        }
        if let searchPath {
            // libpq splits `options` on spaces; a backslash escapes the next character.
            let escaped = searchPath.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: " ", with: "\\ ")
            options += " -c search_path=\(escaped)"
        }
        let (connectSeconds, connectAttos) = connectTimeout.components
        var parameters: [(String, String)] = [
            ("host", host),
            ("port", String(port)),
            ("dbname", database),
            ("user", user),
            ("application_name", applicationName),
            ("connect_timeout", String(max(2, connectSeconds + (connectAttos > 0 ? 1 : 0)))),
            ("options", options),
            ("client_encoding", "UTF8"),
            // TCP keepalives: a peer gone without a FIN (failover, a NAT or load balancer dropping idle
            // flows) is noticed after about a minute of probes (by these settings; not measured) instead of
            // the kernel's default two hours. Matters most for the API's idle LISTEN session, which would
            // otherwise stay deaf while looking connected.
            ("keepalives", "1"),
            ("keepalives_idle", "30"),
            ("keepalives_interval", "10"),
            ("keepalives_count", "3"),
        ]
        if let password { parameters.append(("password", password)) }
        // Each as a parameter of its own: a path with spaces or quotes needs no conninfo escaping.
        parameters.append(("sslmode", sslMode.rawValue))
        if let sslRootCertificate { parameters.append(("sslrootcert", sslRootCertificate)) }
        if let sslCertificate { parameters.append(("sslcert", sslCertificate)) }
        if let sslKey { parameters.append(("sslkey", sslKey)) }
        return parameters
    }
}
