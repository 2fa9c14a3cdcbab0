import Events
import Foundation
import Kafka
import Logging
import ModelRegistry
import ServiceLifecycle
import ServingTestSupport
import StackTestSupport
import Testing
import Training

@Suite("Hot reload from the model-updated topic")
struct ModelUpdateListenerTests {
    @Test("a promotion announced on Kafka is loaded by a listening API instance")
    func announcedPromotionIsLoaded() async throws {
        let fixture = try await RecommendationEngineTests.Fixture()
        let first = try await fixture.repository.reload(domain: .poll)
        let topic = TestStack.uniqueName("model-updated")
        let brokers = try TestStack.kafkaBrokers()
        var logger = Logger(label: "listener-tests")
        logger.logLevel = .warning
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(bootstrapServers: brokers))
        _ = try await admin.createTopics([KafkaTopicSpecification(name: topic, partitions: 1)])
        await admin.shutdown()
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            bootstrapServers: brokers, groupID: TestStack.uniqueName("api"), sessionTimeout: .seconds(6), heartbeatInterval: .seconds(1)
        ), logger: logger)
        let listener = ModelUpdateListener(consumer: consumer, topic: topic, logger: logger) { name in _ = try await fixture.repository.reload(domain: try #require(EventDomain(name: name))) }
        let group = ServiceGroup(configuration: .init(services: [consumer, listener], logger: logger))
        let running = Task { try await group.run() }

        // The trainer promotes a new version and announces it, as `trainer train` does.
        let second = try await fixture.run.train(domain: "polls", force: true, codeRevision: "test")
        try await ModelUpdateAnnouncer(producer: KafkaProducerConfiguration(bootstrapServers: brokers), topic: topic, logger: logger)
            .announce(second.manifest, path: second.path)
        let deadline = ContinuousClock.now + .seconds(30)
        while fixture.repository.model(for: .poll)?.manifest.version != second.manifest.version, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(first != second.manifest.version)
        #expect(fixture.repository.model(for: .poll)?.manifest.version == second.manifest.version)
        await group.triggerGracefulShutdown()
        _ = try? await running.value
        try await fixture.finish()
    }
}
