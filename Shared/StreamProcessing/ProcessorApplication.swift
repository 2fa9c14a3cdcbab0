import Events
import Features
import HTTPSupport
import Hummingbird
import Kafka
import Logging
import ModelRegistry
import Outcomes
import Postgres
import Redis
import ServiceLifecycle
import EventStore
import ServiceSupport
import Synchronization
import Tracing

/// Wires the processor's clients and services from its configuration. The executable runs this; tests
/// run it too, in-process, against the real servers.
public struct ProcessorApplication: Sendable {
    public let configuration: ProcessorConfiguration
    public let redis: RedisClient
    public let postgres: PostgresClient
    public let features: FeatureWriter
    public let service: StreamProcessorService
    /// Nil while `outcomes.enabled` is false.
    public let outcomes: OutcomeService?
    let producer: ProducerSlot
    let consumer: KafkaConsumer
    let admin: KafkaAdmin
    let metrics: ServiceMetrics
    let logger: Logger

    /// Connects, applies schema migrations (or checks them: `postgres.apply_migrations`) and makes sure the topics exist. Throws if a dependency is
    /// unreachable: the process exits and its supervisor restarts it.
    /// `tracer`: the batch spans' tracer while tracing is on (``TracingBootstrap/tracer(_:)``), nil while it is off.
    public static func start(configuration: ProcessorConfiguration, metrics: ServiceMetrics, logger: Logger, tracer: (any Tracer)? = nil) async throws -> ProcessorApplication {
        let redis = RedisClient(configuration: configuration.redis, logger: logger)
        let postgres = PostgresClient(configuration: configuration.postgres, logger: logger)
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(for: configuration.consumer), logger: logger)
        do {
            try await SchemaMigrations(directory: configuration.migrationsDirectory, apply: configuration.applyMigrations).prepare(postgres, logger: logger)
            _ = try await DependencyProbes.redis(redis)
            let counted = configuration.outcomesEnabled ? [configuration.impressionTopic] : []
            let wanted = (configuration.topics.all + counted).map {
                KafkaTopicSpecification.durable(name: $0, partitions: configuration.topicPartitions, replicationFactor: configuration.topicReplicationFactor)
            } + [KafkaTopicSpecification.durable(name: configuration.deadLetterTopic, partitions: 1, replicationFactor: configuration.topicReplicationFactor)]
            let existing = Set(try await admin.listTopics())
            let missing = wanted.filter { !existing.contains($0.name) }
            if !missing.isEmpty {
                let created = try await admin.createTopics(missing)
                logger.info("created topics", metadata: ["topics": "\(created)"])
            }
        } catch {
            await redis.shutdown()
            await postgres.shutdown()
            await admin.shutdown()
            throw error
        }
        let features = FeatureWriter(configuration: configuration.features, redis: redis, logger: logger)
        let producerConfiguration = configuration.producer
        // Dead letters are few, and a batch waits on them: one send timing out while the broker answers
        // is enough to replace the producer (its only records in flight are the batch's letters, which
        // the batch's retry sends again).
        let statistics = KafkaStatisticsMetrics(factory: metrics.factory)
        let producer = try ProducerSlot(flushTimeout: producerConfiguration.deliveryTimeout, failuresBeforeReplacement: 1, logger: logger) {
            try KafkaProducer(configuration: producerConfiguration, logger: logger, onStatistics: statistics.record)
        }
        let incarnations = TopicIncarnations(logger: logger) { names in try await admin.topicIDs(names) }
        let revocations = RevocationTarget()
        let consumer = try KafkaConsumer(configuration: configuration.consumer, logger: logger) { event in
            // Another member may have applied records of partitions we own now, and a rejoin may
            // follow a broker that restarted empty: its topics are new incarnations.
            features.forgetAppliedOffsets()
            incarnations.forget()
            if case .revoked(let partitions) = event { revocations.service.withLock { $0 }?.forget(partitions) }
            logger.info("partitions rebalanced", metadata: ["event": "\(event)"])
        } onStatistics: { statistics.record($0) }
        let processor = EventBatchProcessor(
            topics: configuration.topics, features: features, store: TrainingStore(postgres: postgres),
            deadLetters: KafkaDeadLetterSink(producers: producer, topic: configuration.deadLetterTopic) {
                (try? await admin.listTopics()) != nil
            },
            maximumRecordBytes: configuration.maximumRecordBytes, logger: logger, tracer: tracer
        )
        let service = StreamProcessorService(
            consumer: consumer, processor: processor, incarnations: incarnations, topics: configuration.topics.all, retryBackoff: configuration.retryBackoff,
            metrics: ProcessorMetrics(factory: metrics.factory, consumerGroup: configuration.consumer.groupID), logger: logger
        )
        revocations.service.withLock { $0 = service }
        var outcomes: OutcomeService?
        if configuration.outcomesEnabled {
            var outcomeConsumer = configuration.consumer
            outcomeConsumer.groupID += ".outcomes"
            outcomeConsumer.clientID += "-outcomes"
            outcomes = OutcomeService(
                consumer: try KafkaConsumer(configuration: outcomeConsumer, logger: logger),
                writer: OutcomeWriter(configuration: configuration.outcomes, keyPrefix: configuration.features.keyPrefix, redis: redis),
                eventTopics: configuration.topics, impressionTopic: configuration.impressionTopic, maximumRecordBytes: configuration.maximumRecordBytes,
                retryBackoff: configuration.retryBackoff, metrics: OutcomeMetrics(factory: metrics.factory), logger: logger,
                activity: ExperimentActivity(store: ExperimentStore(postgres: postgres), retention: configuration.outcomes.retention),
                incarnations: incarnations
            )
        }
        return ProcessorApplication(
            configuration: configuration, redis: redis, postgres: postgres, features: features, service: service, outcomes: outcomes,
            producer: producer, consumer: consumer, admin: admin, metrics: metrics, logger: logger
        )
    }

    /// The services to run, in start order (shutdown runs in reverse: the processor finishes and
    /// commits its batch first, the dead-letter producer flushes last).
    public func services(includingHTTP: Bool = true) -> [any Service] {
        var services: [any Service] = [producer, LagRefresher(service: service)]
        if includingHTTP {
            let router = Router()
            router.add(middleware: ErrorAndRequestIDMiddleware())
            let redis = redis
            let postgres = postgres
            let service = service
            OperationalRoutes.add(to: router, metrics: metrics) {
                var checks = await DependencyProbes.readiness(redis: redis, postgres: postgres)
                checks.append(("processing", service.isPaused ? "paused: a batch is being retried" : nil))
                return checks
            }
            services.append(Application(
                router: router,
                server: HTTPServerSettings.server(idleTimeout: .seconds(30)),
                configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "stream-processor"),
                logger: logger
            ))
        }
        services.append(service)
        if let outcomes { services.append(outcomes) }
        return services
    }

    /// Closes the clients the services do not own. Call after the services stopped.
    public func shutdown() async {
        await admin.shutdown()
        await redis.shutdown()
        await postgres.shutdown()
    }
}

/// The service the consumer's rebalance callback reports revoked partitions to: the callback is made
/// before the service (which needs the consumer), so it finds the service here once it exists.
final class RevocationTarget: Sendable {
    let service = Mutex<StreamProcessorService?>(nil)
}

/// Refreshes the lag gauges every few seconds, also while no batches flow. Its wait ends at once on
/// SIGTERM, so it never holds the shutdown up.
struct LagRefresher: Service {
    let service: StreamProcessorService

    func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            await service.refreshLag()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(5)) }
        }
    }
}
