import EventRecords
import Events
import Foundation
import Ingest
import Kafka
import SyntheticData

// Stream-processor benchmark helpers (scripts/bench/processor.sh runs them around the real binary):
//   processor-fill: the catalog, then N interactions of the realistic mix, into fresh topics; writes the
//                   end offsets to a file (the local broker's latest-offset answer is unreliable)
//   processor-wait: polls the group's committed offsets until they reach those ends; prints the rate
//                   from the first committed progress to the end

func processorFill(_ arguments: ProcessorFillCommand) async throws {
    let brokers = arguments.brokers.split(separator: ",").map(String.init)
    let topics = EventTopics(movie: arguments.movieTopic, poll: arguments.pollTopic)
    let count = arguments.events
    let partitions = arguments.partitions
    let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(bootstrapServers: brokers))
    _ = try await admin.createTopics(topics.all.map { KafkaTopicSpecification(name: $0, partitions: partitions) })
    await admin.shutdown()

    let now = Int64(Date().timeIntervalSince1970 * 1000)
    // A MovieLens-sized catalog and 50k users by default; events spread over the last `span-minutes` (default 10: a
    // live stream, where events arrive within moments of happening).
    let catalog = SyntheticEvents.catalog(movies: arguments.movies, polls: 707, now: now)
    let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: brokers, clientID: "streamrec-bench-fill", linger: .milliseconds(20)))
    var ends: [KafkaTopicPartition: Int64] = [:]
    func send(_ events: [Event]) async throws {
        // Exactly as the gateway writes them.
        let messages = events.map { EventRecord.message(for: $0, canonicalJSON: $0.canonicalJSON(), topics: topics) }
        for result in await producer.send(messages) {
            let report = try result.get()
            let partition = KafkaTopicPartition(topic: report.topic, partition: report.partition)
            ends[partition] = max(ends[partition] ?? 0, report.offset + 1)
        }
    }
    let started = ContinuousClock.now
    try await send(catalog)
    let chunk = 50_000
    for start in stride(from: 0, to: count, by: chunk) {
        try await send(SyntheticEvents.interactions(
            count: min(chunk, count - start), users: arguments.users, movies: arguments.movies, polls: 707, now: now, span: Int64(arguments.spanMinutes) * 60_000,
            mix: .realistic, seed: UInt64(start + 1)
        ))
    }
    await producer.shutdown()
    let lines = ends.sorted { $0.key < $1.key }.map { "\($0.key.topic) \($0.key.partition) \($0.value)" }
    try (lines.joined(separator: "\n") + "\n").write(toFile: arguments.endsFile, atomically: true, encoding: .utf8)
    report("processor-fill", operations: catalog.count + count, elapsed: ContinuousClock.now - started)
}

func processorWait(_ arguments: ProcessorWaitCommand) async throws {
    let brokers = arguments.brokers.split(separator: ",").map(String.init)
    let text = try String(contentsOfFile: arguments.endsFile, encoding: .utf8)
    var ends: [KafkaTopicPartition: Int64] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: " ")
        ends[KafkaTopicPartition(topic: String(parts[0]), partition: Int32(parts[1])!)] = Int64(parts[2])!
    }
    let total = ends.values.reduce(0, +)
    let observer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(bootstrapServers: brokers, groupID: arguments.group))
    let deadline = ContinuousClock.now + .seconds(arguments.timeout)
    var first: (ContinuousClock.Instant, Int64)?
    var done: ContinuousClock.Instant?
    while done == nil, ContinuousClock.now < deadline {
        let committed = (try? await observer.committedOffsets(for: Array(ends.keys))) ?? [:]
        let applied = ends.keys.reduce(Int64(0)) { $0 + min(committed[$1] ?? 0, ends[$1]!) }
        if first == nil, applied > 0 { first = (.now, applied) }
        if applied >= total { done = .now } else { try await Task.sleep(for: .milliseconds(20)) }
    }
    await observer.close()
    guard let first, let done else {
        print("error: the group did not commit everything in time")
        exit(1)
    }
    report("processor", operations: Int(total - first.1), elapsed: done - first.0)
}
