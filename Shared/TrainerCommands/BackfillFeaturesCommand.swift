import ArgumentParser
import Events
import Foundation
import Kafka
import Redis
import ServiceConfiguration
import Training

/// `trainer backfill-features`: rebuilds one domain's Redis features from the training store over a time
/// range of event times, through the processor's feature writer (``FeatureBackfill``; semantics in
/// docs/features.md, "Backfill"; when to run it: docs/reliability.md, "Runbook").
struct BackfillFeaturesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill-features",
        abstract: "Rebuild a domain's Redis features from the training store, with the events' own times.",
        discussion: """
            Applies the stored interactions whose occurred_at is in the range, in record order, as the records \
            they were read from: what Redis already has (applied by the processor or an earlier backfill) is \
            not counted again, and the processor later finds what the backfill applied. Without --since or \
            --from: everything that can still count (the largest features.windows plus features.allowed_lateness). \
            Redis and the features.* keys are the stream processor's (configs/trainer.conf or STREAMREC_*). \
            Stop the processors first, or use --through-topics, which is safe while they run.
            """
    )

    @Option(help: "The domain: movies or polls.")
    var domain: String

    @Option(help: "Events that occurred this recently (e.g. 7d, 36h); not with --from.")
    var since: String?

    @Option(help: "Events that occurred at or after this RFC 3339 time (e.g. 2026-12-01T00:00:00Z).")
    var from: String?

    @Option(help: "Events that occurred before this RFC 3339 time (default: now).")
    var to: String?

    @Flag(help: "Publish the events to the event topics instead of applying them here: the running processors apply them, exactly once with what they apply live.")
    var throughTopics = false

    @Option(help: "The movie events' topic (topics.movie), with --through-topics.")
    var movieTopic = "streamrec.movie-events"

    @Option(help: "The poll events' topic (topics.poll), with --through-topics.")
    var pollTopic = "streamrec.poll-events"

    var eventDomain: EventDomain? { EventDomain(name: domain) }

    func validate() throws {
        guard eventDomain != nil else { throw ValidationError("--domain movies|polls, got \(domain)") }
        if since != nil, from != nil { throw ValidationError("--since and --from both give the start: one of them") }
        if let since, ConfigReader.parseDuration(since) == nil { throw ValidationError("--since DURATION (e.g. 7d), got \(since)") }
        if let from, RFC3339.parse(from) == nil { throw ValidationError("--from: an RFC 3339 time, got \(from)") }
        if let to, RFC3339.parse(to) == nil { throw ValidationError("--to: an RFC 3339 time, got \(to)") }
        if let from = from.flatMap(RFC3339.parse), let to = to.flatMap(RFC3339.parse), from >= to { throw ValidationError("--from must be before --to") }
    }

    /// The range asked for, as of wall-clock `now` (ms); `horizon`: the features' largest window plus lateness.
    func range(now: Int64, horizon: Int64) -> FeatureBackfill.Range? {
        guard let domain = eventDomain else { return nil }
        let end = to.flatMap(RFC3339.parse) ?? EventTimestamp(millisecondsSinceEpoch: now)
        let start: EventTimestamp
        if let from = from.flatMap(RFC3339.parse) {
            start = from
        } else {
            let back = since.flatMap(ConfigReader.parseDuration).map { Int64($0.components.seconds) * 1000 + $0.components.attoseconds / 1_000_000_000_000_000 } ?? horizon
            start = EventTimestamp(millisecondsSinceEpoch: now - back)
        }
        return FeatureBackfill.Range(domain: domain, from: start, to: end)
    }

    func run() async throws {
        try await TrainerSession.run { session in
            let features = session.configuration.features
            guard let range = range(now: Int64(Date().timeIntervalSince1970 * 1000), horizon: features.horizonMilliseconds) else {
                throw ExitCode.validationFailure
            }
            let progress = ProgressReporter("backfill \(range.domain.name)", logger: session.logger)
            if throughTopics {
                let topics = EventTopics(movie: movieTopic, poll: pollTopic)
                print("backfill-features: \(range), published to \(topics.topic(for: range.domain)) for the running processors")
                let producer = try KafkaProducer(configuration: session.configuration.producer, logger: session.logger)
                do {
                    let report = try await FeatureBackfill(postgres: session.postgres, destination: .topics(producer, topics), logger: session.logger)
                        .run(range) { progress.update($0.read, of: $0.total) }
                    await producer.shutdown()
                    print("backfill-features: \(report)")
                    let ends = report.publishedEnds.sorted { $0.key < $1.key }
                    print("backfill-features: applied once the processors' group has committed " + ends.map { "\($0.key.topic)/\($0.key.partition)@\($0.value)" }.joined(separator: ", "))
                } catch let error as KafkaError {
                    await producer.shutdown()
                    session.logger.error("Kafka failed", metadata: ["error": "\(error)"])
                    throw ExitCode(69)
                }
                return
            }
            print("backfill-features: \(range), Redis \(session.configuration.redis.host):\(session.configuration.redis.port), keys \(features.keyPrefix)")
            do {
                let report = try await FeatureBackfill.run(
                    range, postgres: session.postgres, redis: session.configuration.redis, features: features, logger: session.logger
                ) { progress.update($0.read, of: $0.total) }
                print("backfill-features: \(report)")
            } catch let error as RedisError {
                session.logger.error("Redis failed", metadata: ["error": "\(error)"])
                throw ExitCode(69)
            }
        }
    }
}
