/// One Redis server's address (a cluster node's, as `CLUSTER SLOTS` and `MOVED`/`ASK` name it).
public struct RedisNodeAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` (the last colon separates, so IPv6 hosts work). An empty host, which a node
    /// reports when it does not know its own address, becomes `defaultHost` (the seed's).
    public init?(parsing text: some StringProtocol, defaultHost: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        let host = String(text[..<colon])
        self.init(host: host.isEmpty || host == "?" ? defaultHost : host, port: port)
    }

    public var description: String { "\(host):\(port)" }
}
