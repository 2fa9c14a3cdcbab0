extension Duration {
    /// Whole nanoseconds (truncated), for metrics timers. (NIO's `TimeAmount(_:)` takes a `Duration` itself.)
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// Whole milliseconds (truncated): configuration values, librdkafka's `*.ms` properties, PostgreSQL's
    /// `statement_timeout`, feature windows and Redis expiries.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// Seconds as a floating-point number, for rates and reports.
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

