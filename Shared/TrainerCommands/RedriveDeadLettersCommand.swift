import ArgumentParser
import Events
import Features
import Foundation
import Kafka
import Logging
import Redis
import ServiceConfiguration
import ServiceSupport
import Training

/// `trainer redrive-dead-letters`: lists the dead-letter topic by reason, or sends the letters of one reason
/// (optionally one partition's offset range) back to the topic they came from, skipping those that would fail
/// again. Runbook: docs/reliability.md, "Runbook".
struct RedriveDeadLettersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redrive-dead-letters",
        abstract: "List dead letters by reason, or send the ones of a reason back to their topic after a fix."
    )

    @Option(help: "The dead-letter topic (the processor's topics.dead_letter).")
    var deadLetterTopic = "streamrec.dead-letter"
    @Option(help: "The movie events' topic (topics.movie): where movie events belong.")
    var movieTopic = "streamrec.movie-events"
    @Option(help: "The poll events' topic (topics.poll).")
    var pollTopic = "streamrec.poll-events"
    @Option(help: "Send back the letters of this reason (dlq-reason); without it, only list.")
    var reason: String?
    @Option(help: "Only letters on this partition of the dead-letter topic.")
    var partition: Int32?
    @Option(help: "Only letters at or after this offset (with --partition).")
    var fromOffset: Int64?
    @Option(help: "Only letters at or before this offset (with --partition).")
    var toOffset: Int64?
    @Flag(help: "Check and report, send nothing.")
    var dryRun = false
    @Option(help: "Stop reading once nothing new came for this long (e.g. 5s).")
    var idle = "5s"

    func validate() throws {
        if (fromOffset != nil || toOffset != nil), partition == nil { throw ValidationError("--from-offset and --to-offset need --partition") }
        if let fromOffset, let toOffset, fromOffset > toOffset { throw ValidationError("--from-offset is after --to-offset") }
        guard ConfigReader.parseDuration(idle) != nil else { throw ValidationError("--idle: expected a duration like 5s") }
    }

    func run() async throws {
        let configuration = ServiceBootstrap.loadConfiguration(service: TrainerCommand.service, keys: TrainerCommand.configurationKeys) {
            reader throws(ConfigurationError) in try TrainerConfiguration(reading: reader)
        }
        let logger = Logger(label: "streamrec.trainer")
        let producerConfiguration = configuration.producer
        let consumer = KafkaConsumerConfiguration(
            bootstrapServers: producerConfiguration.bootstrapServers, groupID: "trainer-redrive-\(UUID().uuidString.prefix(8).lowercased())",
            clientID: "trainer-redrive", security: producerConfiguration.security, autoOffsetReset: .earliest, sessionTimeout: .seconds(6),
            heartbeatInterval: .seconds(1)
        )
        let letters = try await DeadLetterRedrive.read(
            topic: deadLetterTopic, consumer: consumer, idle: ConfigReader.parseDuration(idle) ?? .seconds(5), logger: logger)
        print("\(letters.count) dead letters on \(deadLetterTopic)")
        for (reason, count) in DeadLetterRedrive.reasons(letters) {
            let offsets = letters.filter { $0.reason == reason }.map { "\($0.partition):\($0.offset)" }
            print("  \(reason): \(count)  (first \(offsets.prefix(3).joined(separator: ", ")))")
        }
        guard let reason else { return }
        let redrive = DeadLetterRedrive(topics: EventTopics(movie: movieTopic, poll: pollTopic))
        let selection = DeadLetterRedrive.Selection(
            reason: reason, partition: partition, offsets: partition == nil ? nil : (fromOffset ?? 0)...(toOffset ?? Int64.max))
        let producer = dryRun ? nil : try KafkaProducer(configuration: producerConfiguration, logger: logger)
        // feature_rejected: their event ids are released in the processor's Redis (redis.*, features.*) first.
        let redis = reason == DeadLetterRedrive.featureRejected ? RedisClient(configuration: configuration.redis, logger: logger) : nil
        let features = redis.map { FeatureWriter(configuration: configuration.features, redis: $0, logger: logger) }
        let report = await redrive.redrive(letters, selection: selection, producer: producer, dryRun: dryRun, features: features)
        await producer?.shutdown()
        await redis?.shutdown()
        print("\(dryRun ? "dry run: " : "")\(report)")
        if report.failed > 0 { throw ExitCode(69) }
    }
}
