/// How a service writes its log lines to standard error (`log.format`).
public enum LogFormat: String, Sendable, CaseIterable {
    /// swift-log's `StreamLogHandler`: `2026-12-06T21:30:05+0000 info label: key=value [module] message`.
    case text
    /// One JSON object per line (``JSONLogHandler``), for log pipelines.
    case json
}
