import Events
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ingest
import Kafka
import Logging
import ServiceSupport
import StackTestSupport
import Synchronization
import Testing

/// The tests' producer key, named `tests`: a catalog producer (`gateway.catalog_producers`).
let producerKey = "test-producer-key-0123456789"
/// A second key, named `interactions`, that may not send catalog events.
let interactionsKey = "test-interactions-key-0123456789"

/// A gateway wired to real Kafka, on topics of its own, driven in-process through Hummingbird's
/// router test client.
struct Gateway {
    let configuration: IngestConfiguration
    let producers: ProducerSlot
    let service: IngestService
    let readiness: BrokerReadiness
    let metrics = ServiceMetrics()

    init(brokers: [String]? = nil, _ adjust: (inout IngestConfiguration) -> Void = { _ in }) async throws {
        var configuration = IngestConfiguration(producer: KafkaProducerConfiguration(
            bootstrapServers: try brokers ?? TestStack.kafkaBrokers(), linger: .milliseconds(2), deliveryTimeout: .seconds(10)
        ))
        configuration.apiKeys = ["tests": producerKey, "interactions": interactionsKey]
        configuration.catalogProducers = ["tests"]
        let suffix = UUID().uuidString.prefix(8).lowercased()
        configuration.topics = EventTopics(movie: "test-movie-\(suffix)", poll: "test-poll-\(suffix)")
        configuration.topicPartitions = 3
        configuration.readinessInterval = .milliseconds(200)
        adjust(&configuration)
        self.configuration = configuration
        let logger = Logger(label: "test.gateway")
        let producerConfiguration = configuration.producer
        producers = try ProducerSlot(flushTimeout: .seconds(2), logger: logger) {
            try KafkaProducer(configuration: producerConfiguration, logger: logger)
        }
        service = IngestService(configuration: configuration, producers: producers, metrics: metrics, logger: logger)
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(bootstrapServers: configuration.producer.bootstrapServers, requestTimeout: .seconds(2)))
        readiness = BrokerReadiness(admin: admin, producers: producers, configuration: configuration, logger: logger)
        await readiness.check()
    }

    func test<Value: Sendable>(_ body: @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        let app = Application(router: IngestApplication.router(service: service, readiness: readiness, metrics: metrics))
        return try await app.test(.router, body)
    }

    func shutdown() async {
        await producers.shutdown()
        await readiness.shutdown()
    }

    /// Every record on the gateway's topics, read back by a fresh consumer group.
    func readBack(expecting count: Int, timeout: Duration = .seconds(30)) async throws -> [KafkaConsumerMessage] {
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            bootstrapServers: configuration.producer.bootstrapServers, groupID: TestStack.uniqueName("readback"),
            sessionTimeout: .seconds(6), heartbeatInterval: .seconds(1)
        ))
        try consumer.subscribe(topics: configuration.topics.all)
        let received = RecordBox()
        // Read until `count` records arrived (or the timeout), then keep reading 1.5 s more: anything
        // beyond `count` would be a duplicate or a leak, and must be seen to be caught.
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await batch in consumer.batches { received.append(batch) }
            }
            group.addTask {
                let deadline = ContinuousClock.now + timeout
                while received.count < count, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
                try await Task.sleep(for: .milliseconds(1500))
            }
            try await group.next()
            group.cancelAll()
        }
        await consumer.close()
        return received.all
    }
}

func json(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

let jsonHeaders: HTTPFields = [.contentType: "application/json", HTTPField.Name("X-API-Key")!: producerKey]
let ndjsonHeaders: HTTPFields = [.contentType: "application/x-ndjson", HTTPField.Name("X-API-Key")!: producerKey]
let interactionsJSONHeaders: HTTPFields = [.contentType: "application/json", HTTPField.Name("X-API-Key")!: interactionsKey]
let interactionsNDJSONHeaders: HTTPFields = [.contentType: "application/x-ndjson", HTTPField.Name("X-API-Key")!: interactionsKey]

/// An RFC 3339 timestamp `secondsAgo` before now.
func recent(_ secondsAgo: Double = 1) -> String {
    RFC3339.format(EventTimestamp(millisecondsSinceEpoch: Int64((Date().timeIntervalSince1970 - secondsAgo) * 1000)))
}

/// The response body as JSON, or nil (for use inside `#expect`).
func parsed(_ response: TestResponse) -> JSONValue? {
    try? JSONParser.parse(response.body.readableBytesView)
}

func errorCode(_ response: TestResponse) -> String? {
    parsed(response)?["error"]?["code"]?.text
}

func body(_ response: TestResponse) throws -> JSONValue {
    try JSONParser.parse(response.body.readableBytesView)
}

extension JSONValue {
    subscript(_ key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    subscript(_ index: Int) -> JSONValue? {
        guard case .array(let elements) = self, elements.indices.contains(index) else { return nil }
        return elements[index]
    }

    var text: String? {
        switch self {
        case .string(let text): text
        case .number(let text): text
        default: nil
        }
    }
}

final class RecordBox: Sendable {
    private let records = Mutex<[KafkaConsumerMessage]>([])
    func append(_ batch: [KafkaConsumerMessage]) { records.withLock { $0 += batch } }
    var count: Int { records.withLock { $0.count } }
    var all: [KafkaConsumerMessage] { records.withLock { $0 } }
}
