#if canImport(Glibc)
import Glibc
#endif
import ClientRuntime
import Logging
import Synchronization

/// Progress of a long step: a bar with rate and ETA redrawn in place when standard error is a terminal,
/// otherwise a plain log line at every 10 %.
public final class ProgressReporter: Sendable {
    private let label: String
    private let logger: Logger
    private let started = ContinuousClock.now
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private let lastDecile = Atomic<Int>(-1)

    public init(_ label: String, logger: Logger) {
        self.label = label
        self.logger = logger
    }

    public func update(_ done: Int, of total: Int) {
        guard total > 0 else { return }
        let fraction = min(1, Double(done) / Double(total))
        let elapsed = ContinuousClock.now - started
        let seconds = elapsed.inSeconds
        let rate = seconds > 0 ? Double(done) / seconds : 0
        let remaining = rate > 0 ? Double(total - done) / rate : 0
        if isTerminal {
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            let line = "\r\(label) [\(bar)] \(Int(fraction * 100))% \(done)/\(total) \(Int(rate))/s ETA \(Int(remaining.rounded())) s "
            let text = Array((line + (done >= total ? "\n" : "")).utf8)
            _ = text.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        } else {
            let decile = Int(fraction * 10)
            if lastDecile.exchange(decile, ordering: .relaxed) != decile {
                logger.info("progress", metadata: [
                    "step": "\(label)", "done": "\(done)", "total": "\(total)", "percent": "\(decile * 10)", "per_second": "\(Int(rate))",
                    "eta_seconds": "\(Int(remaining.rounded()))",
                ])
            }
        }
    }
}
