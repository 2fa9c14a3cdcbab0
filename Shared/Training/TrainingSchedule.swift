import ClientRuntime
import Logging
import ServiceLifecycle

/// `trainer schedule --every 24h`: trains every domain every `interval`. A failed run (PostgreSQL down, no
/// data yet) does not wait for the next interval: that domain alone is retried after `retry`'s backoff
/// (growing with consecutive failures, never past the next full round).
public struct TrainingSchedule: Service {
    let run: TrainingRun
    let domains: [String]
    let interval: Duration
    let retry: Backoff
    let codeRevision: String
    let logger: Logger
    /// Called after each domain's attempt with whether it succeeded (metrics, tests).
    let onAttempt: @Sendable (String, Bool) -> Void

    public init(
        run: TrainingRun, domains: [String], interval: Duration, retry: Backoff = Backoff(initial: .seconds(30), maximum: .seconds(600)),
        codeRevision: String, logger: Logger, onAttempt: @escaping @Sendable (String, Bool) -> Void = { _, _ in }
    ) {
        self.onAttempt = onAttempt
        self.run = run
        self.domains = domains
        self.interval = interval
        self.retry = retry
        self.codeRevision = codeRevision
        self.logger = logger
    }

    /// Runs one round over every domain; returns how many failed.
    @discardableResult
    public func round() async -> Int {
        await train(domains).count
    }

    /// Trains `domains` in turn; returns those whose run failed.
    func train(_ domains: [String]) async -> [String] {
        var failed: [String] = []
        for domain in domains {
            do {
                let summary = try await run.train(domain: domain, force: false, codeRevision: codeRevision)
                onAttempt(domain, true)
                logger.info("scheduled run finished", metadata: ["domain": "\(domain)", "version": "\(summary.manifest.version)", "decision": "\(summary.decision)"])
            } catch {
                failed.append(domain)
                onAttempt(domain, false)
                logger.error("scheduled run failed; retried after a backoff", metadata: ["domain": "\(domain)", "error": "\(error)"])
            }
        }
        return failed
    }

    public func run() async throws {
        var failed: [String] = []
        var consecutiveFailures = 0
        var fullRoundDue = ContinuousClock.now
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let now = ContinuousClock.now
            let fullRound = now >= fullRoundDue
            if fullRound { fullRoundDue = now + interval }
            failed = await train(fullRound ? domains : failed)
            consecutiveFailures = failed.isEmpty ? 0 : consecutiveFailures + 1
            let untilFullRound = fullRoundDue - ContinuousClock.now
            let wait = failed.isEmpty ? untilFullRound : min(retry.delay(afterFailures: consecutiveFailures), untilFullRound)
            // The wait (up to `interval`, 24 h) ends at once on SIGTERM.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: max(.zero, wait)) }
        }
    }
}
