import Logging
import ServiceLifecycle

/// `trainer schedule --every 24h`: trains each domain now and then every interval; a failing run is
/// logged and counted, and the schedule goes on.
public struct TrainingSchedule: Service {
    let run: TrainingRun
    let domains: [String]
    let interval: Duration
    let codeRevision: String
    let logger: Logger

    public init(run: TrainingRun, domains: [String], interval: Duration, codeRevision: String, logger: Logger) {
        self.run = run
        self.domains = domains
        self.interval = interval
        self.codeRevision = codeRevision
        self.logger = logger
    }

    /// Runs one round over every domain; returns how many failed.
    @discardableResult
    public func round() async -> Int {
        var failures = 0
        for domain in domains {
            do {
                let summary = try await run.train(domain: domain, force: false, codeRevision: codeRevision)
                logger.info("scheduled run finished", metadata: ["domain": "\(domain)", "version": "\(summary.manifest.version)", "decision": "\(summary.decision)"])
            } catch {
                failures += 1
                logger.error("scheduled run failed; next attempt at the next interval", metadata: ["domain": "\(domain)", "error": "\(error)"])
            }
        }
        return failures
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            await round()
            try? await Task.sleep(for: interval)
        }
    }
}
