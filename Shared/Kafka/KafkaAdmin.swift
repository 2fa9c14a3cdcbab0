#if canImport(Glibc)
import Glibc
#endif
import CRdKafka
import ClientRuntime
import Logging
import Synchronization

/// A topic to create.
public struct KafkaTopicSpecification: Sendable, Hashable {
    public var name: String
    public var partitions: Int
    public var replicationFactor: Int
    /// Topic configs such as `retention.ms` or `cleanup.policy`.
    public var configs: [String: String]

    public init(name: String, partitions: Int, replicationFactor: Int = 1, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }

    /// A topic whose acknowledged records survive the loss of a broker: with 3 or more replicas,
    /// `min.insync.replicas` is 2, so an `acks=all` write is acknowledged only once two replicas have it
    /// (the broker's default of 1 acknowledges a record only the leader holds). With fewer replicas the
    /// broker's default stands: 2 of 2 would refuse writes whenever one broker is away.
    public static func durable(name: String, partitions: Int, replicationFactor: Int) -> KafkaTopicSpecification {
        KafkaTopicSpecification(
            name: name, partitions: partitions, replicationFactor: replicationFactor,
            configs: replicationFactor >= 3 ? ["min.insync.replicas": "2"] : [:]
        )
    }
}

/// What the cluster's metadata says about a topic.
public struct KafkaTopicDescription: Sendable, Hashable {
    public struct Partition: Sendable, Hashable {
        public var id: Int32
        public var leader: Int32
        public var replicas: [Int32]
    }
    public var name: String
    public var partitions: [Partition]
}

/// Topic administration: create (idempotently) and describe. Calls block on a private thread.
public final class KafkaAdmin: Sendable {
    public let configuration: KafkaAdminConfiguration
    private let handle: HandleBox
    private let context: KafkaHandleContext
    private let executor = BlockingExecutor(threads: 1)
    private let isShutDown = Atomic<Bool>(false)

    public init(configuration: KafkaAdminConfiguration, logger: Logger = Logger(label: "streamrec.kafka.admin")) throws(KafkaError) {
        self.configuration = configuration
        let context = KafkaHandleContext(logger: logger)
        try configuration.security.check()
        let conf = try makeKafkaConf(configuration.properties)
        context.install(on: conf)
        self.context = context
        handle = HandleBox(try makeKafkaHandle(RD_KAFKA_PRODUCER, conf))
    }

    /// Creates the topics that do not exist yet; existing topics are left as they are and are not an
    /// error. Returns the names actually created.
    @discardableResult
    public func createTopics(_ topics: [KafkaTopicSpecification]) async throws(KafkaError) -> [String] {
        let handle = handle
        let timeout = configuration.requestTimeout
        return try await run { () throws(KafkaError) -> [String] in
            try Self.createTopicsBlocking(handle.pointer, topics, timeout: timeout)
        }
    }

    /// Partitions and leaders of a topic; throws `UNKNOWN_TOPIC_OR_PART` if it does not exist.
    public func describeTopic(_ name: String) async throws(KafkaError) -> KafkaTopicDescription {
        let handle = handle
        let timeout = configuration.requestTimeout
        return try await run { () throws(KafkaError) -> KafkaTopicDescription in
            try Self.describeBlocking(handle.pointer, name, timeout: timeout)
        }
    }

    /// The Kafka topic id (base64) of each named topic that exists and has one. A topic gets a new id
    /// each time it is created, so the id tells a recreated topic from the one before. Topics that do
    /// not exist, and all of them with a library or broker without topic ids, are left out.
    public func topicIDs(_ names: [String]) async throws(KafkaError) -> [String: String] {
        let handle = handle
        let timeout = configuration.requestTimeout
        return try await run { () throws(KafkaError) -> [String: String] in
            try Self.topicIDsBlocking(handle.pointer, names, timeout: timeout)
        }
    }

    static func topicIDsBlocking(_ handle: OpaquePointer, _ names: [String], timeout: Duration) throws(KafkaError) -> [String: String] {
        guard !names.isEmpty else { return [:] }
        let width = 64
        var ids = [CChar](repeating: 0, count: names.count * width)
        let copies = names.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        var pointers = copies.map { UnsafePointer<CChar>($0) }
        let status = pointers.withUnsafeMutableBufferPointer { names in
            ids.withUnsafeMutableBufferPointer { ids in
                streamrec_describe_topic_ids(handle, names.baseAddress, names.count, Int32(timeout.milliseconds), ids.baseAddress)
            }
        }
        // -1: this librdkafka has no DescribeTopics; no ids, as with a broker that has none.
        guard status == 0 || status == -1 else { throw KafkaError(rd_kafka_resp_err_t(rawValue: status)) }
        var found: [String: String] = [:]
        for (index, name) in names.enumerated() {
            let id = ids[(index * width)..<((index + 1) * width)].withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            if !id.isEmpty { found[name] = id }
        }
        return found
    }

    /// Names of all topics the cluster reports.
    public func listTopics() async throws(KafkaError) -> [String] {
        let handle = handle
        let timeout = configuration.requestTimeout
        return try await run { () throws(KafkaError) -> [String] in
            var metadata: UnsafePointer<rd_kafka_metadata>?
            let error = rd_kafka_metadata(handle.pointer, 1, nil, &metadata, Int32(timeout.milliseconds))
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { throw KafkaError(error) }
            defer { rd_kafka_metadata_destroy(metadata) }
            return (0..<Int(metadata.pointee.topic_cnt)).map { String(cString: metadata.pointee.topics[$0].topic) }.sorted()
        }
    }

    public func shutdown() async {
        guard isShutDown.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        await executor.shutdown()
        rd_kafka_destroy(handle.pointer)
    }

    deinit {
        // Without this, librdkafka's threads would outlive the owner and call back into freed state.
        if !isShutDown.load(ordering: .acquiring) { rd_kafka_destroy(handle.pointer) }
    }

    private func run<Result: Sendable>(_ work: @escaping @Sendable () throws(KafkaError) -> Result) async throws(KafkaError) -> Result {
        do {
            return try await executor.run { () throws -> Result in try work() }
        } catch let error as KafkaError {
            throw error
        } catch {
            throw .closed
        }
    }

    private static func createTopicsBlocking(
        _ handle: OpaquePointer, _ topics: [KafkaTopicSpecification], timeout: Duration
    ) throws(KafkaError) -> [String] {
        guard !topics.isEmpty else { return [] }
        var errorText = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { newTopics.forEach { rd_kafka_NewTopic_destroy($0) } }
        for topic in topics {
            guard let newTopic = rd_kafka_NewTopic_new(topic.name, Int32(topic.partitions), Int32(topic.replicationFactor), &errorText, errorText.count) else {
                throw .configuration("topic \(topic.name): \(String(cBuffer: errorText))")
            }
            newTopics.append(newTopic)
            for (name, value) in topic.configs {
                let error = rd_kafka_NewTopic_set_config(newTopic, name, value)
                guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(error) }
            }
        }
        let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, Int32(timeout.milliseconds), &errorText, errorText.count)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, Int32(timeout.milliseconds), &errorText, errorText.count)
        let queue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(queue) }
        newTopics.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_CreateTopics(handle, buffer.baseAddress, buffer.count, options, queue)
        }
        // Allow the request its own timeout plus slack before giving up on the answer.
        guard let event = rd_kafka_queue_poll(queue, Int32(timeout.milliseconds + 2000)) else {
            throw KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, message: "no answer to CreateTopics")
        }
        defer { rd_kafka_event_destroy(event) }
        let eventError = rd_kafka_event_error(event)
        guard eventError == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(eventError, message: rd_kafka_event_error_string(event).map { String(cString: $0) })
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw KafkaError(RD_KAFKA_RESP_ERR__FAIL, message: "unexpected admin event")
        }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return [] }
        var created: [String] = []
        for index in 0..<count {
            guard let topicResult = results[index] else { continue }
            let name = String(cString: rd_kafka_topic_result_name(topicResult))
            let error = rd_kafka_topic_result_error(topicResult)
            switch error {
            case RD_KAFKA_RESP_ERR_NO_ERROR: created.append(name)
            case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS: continue
            default:
                throw KafkaError(error, message: "\(name): " + (rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) } ?? ""))
            }
        }
        return created
    }

    private static func describeBlocking(_ handle: OpaquePointer, _ name: String, timeout: Duration) throws(KafkaError) -> KafkaTopicDescription {
        guard let topic = rd_kafka_topic_new(handle, name, nil) else { throw .configuration("invalid topic name \(name)") }
        defer { rd_kafka_topic_destroy(topic) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let error = rd_kafka_metadata(handle, 0, topic, &metadata, Int32(timeout.milliseconds))
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { throw KafkaError(error) }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard metadata.pointee.topic_cnt > 0 else { throw KafkaError(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) }
        let described = metadata.pointee.topics[0]
        guard described.err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(described.err) }
        let partitions = (0..<Int(described.partition_cnt)).map { index in
            let partition = described.partitions[index]
            return KafkaTopicDescription.Partition(
                id: partition.id, leader: partition.leader,
                replicas: (0..<Int(partition.replica_cnt)).map { partition.replicas[$0] }
            )
        }
        return KafkaTopicDescription(name: name, partitions: partitions.sorted { $0.id < $1.id })
    }
}
