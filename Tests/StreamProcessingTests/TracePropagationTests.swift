import Events
import Foundation
import HTTPSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ingest
import Kafka
import Logging
import ServiceSupport
import StackTestSupport
import StreamProcessing
import Synchronization
import Testing
import Tracing

/// Tracing across the stream (docs/reliability.md, Tracing), against the real servers: the gateway over a
/// real HTTP connection, the broker, and the processor run in this process with an in-process tracer.
@Suite("Tracing across the stream")
struct TracePropagationTests {
    static let apiKey = "trace-tests-key-0123456789"
    static let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let parentID = "00f067aa0ba902b7"
    static let traceparent = "00-\(traceID)-\(parentID)-01"

    /// A gateway on the fixture's topics; `instrument` as `tracing.enabled` would give it.
    static func gateway(_ fixture: ProcessorFixture, instrument: (any Instrument)? = nil) throws -> (IngestService, ProducerSlot) {
        var configuration = IngestConfiguration(producer: KafkaProducerConfiguration(
            bootstrapServers: fixture.configuration.consumer.bootstrapServers, linger: .milliseconds(2), deliveryTimeout: .seconds(10)
        ))
        configuration.apiKeys = ["tests": apiKey]
        configuration.topics = fixture.topics
        let logger = Logger(label: "trace-tests")
        let producerConfiguration = configuration.producer
        let producers = try ProducerSlot(flushTimeout: .seconds(2), logger: logger) { try KafkaProducer(configuration: producerConfiguration, logger: logger) }
        return (IngestService(configuration: configuration, producers: producers, metrics: ServiceMetrics(), logger: logger, instrument: instrument), producers)
    }

    /// The records on the fixture's topics, read by a fresh group until `count` arrived (or 30 s passed).
    static func readBack(_ fixture: ProcessorFixture, expecting count: Int) async throws -> [KafkaConsumerMessage] {
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            bootstrapServers: fixture.configuration.consumer.bootstrapServers, groupID: TestStack.uniqueName("trace-readback"),
            sessionTimeout: .seconds(6), heartbeatInterval: .seconds(1)
        ))
        try consumer.subscribe(topics: fixture.topics.all)
        let received = Received()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await batch in consumer.batches { received.records.withLock { $0 += batch } }
            }
            group.addTask {
                let deadline = ContinuousClock.now + .seconds(30)
                while received.records.withLock({ $0.count }) < count, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            }
            try await group.next()
            group.cancelAll()
        }
        await consumer.close()
        return received.records.withLock { $0 }
    }

    final class Received: Sendable {
        let records = Mutex<[KafkaConsumerMessage]>([])
    }

    static func event(user: String) -> String {
        let now = RFC3339.format(EventTimestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000) - 1000))
        return #"{"type":"movie.like","user_id":"\#(user)","item_id":"m1","occurred_at":"\#(now)"}"#
    }

    @Test("an event posted with a traceparent carries its trace id in the Kafka record's headers and in the processor's batch span")
    func traceparentCrossesTheStream() async throws {
        let fixture = try await ProcessorFixture(partitions: 1)
        let (service, producers) = try Self.gateway(fixture)
        let app = Application(
            router: IngestApplication.router(service: service, readiness: nil, metrics: ServiceMetrics()),
            configuration: .init(address: .hostname("127.0.0.1", port: 0))
        )
        try await app.test(.live) { client in
            let headers: HTTPFields = [
                .contentType: "application/json", HTTPField.Name("X-API-Key")!: Self.apiKey,
                HTTPField.Name("traceparent")!: Self.traceparent, HTTPField.Name("tracestate")!: "streamrec=tests",
            ]
            try await client.execute(uri: "/v1/events", method: .post, headers: headers, body: ByteBuffer(string: Self.event(user: "traced"))) { response in
                #expect(response.status == .accepted)
                // Tracing off in this gateway: no server span, so nothing to answer.
                #expect(response.headers[.traceresponse] == nil)
            }
            let untraced: HTTPFields = [.contentType: "application/json", HTTPField.Name("X-API-Key")!: Self.apiKey]
            try await client.execute(uri: "/v1/events", method: .post, headers: untraced, body: ByteBuffer(string: Self.event(user: "untraced"))) { response in
                #expect(response.status == .accepted)
            }
        }
        await producers.shutdown()

        // The records as the broker has them.
        let records = try await Self.readBack(fixture, expecting: 2)
        #expect(records.count == 2)
        let traced = try #require(records.first { $0.key == Array("traced".utf8) })
        let untraced = try #require(records.first { $0.key == Array("untraced".utf8) })
        #expect(traced.header(EventHeaders.traceparent)?.stringValue == Self.traceparent)
        #expect(traced.header(EventHeaders.tracestate)?.stringValue == "streamrec=tests")
        #expect(TraceParent(traced.header(EventHeaders.traceparent)?.stringValue ?? "")?.traceID == Self.traceID)
        #expect(untraced.header(EventHeaders.traceparent) == nil)
        #expect(untraced.header(EventHeaders.tracestate) == nil)

        // The processor, with the in-process tracer: its batch span links the posted trace.
        var ends: [KafkaTopicPartition: Int64] = [:]
        for record in records { ends[record.topicPartition] = max(ends[record.topicPartition] ?? 0, record.offset + 1) }
        let tracer = RecordingTracer()
        _ = try await fixture.runUntilCommitted(ends, tracer: tracer)
        let batches = tracer.finishedSpans.filter { $0.operationName == "apply batch" }
        #expect(!batches.isEmpty)
        #expect(batches.allSatisfy { $0.kind == .consumer && $0.status == nil })
        let links = batches.flatMap(\.links)
        #expect(links.count == 1, "one record carried a trace")
        #expect(links.first?.traceID == Self.traceID)
        #expect(links.first?.spanID == Self.parentID)
        // The batch span is a trace of its own (a consumer's batch span links its records' traces).
        #expect(batches.allSatisfy { $0.spanContext.parentSpanID == nil })
    }

    @Test("tracing on: the gateway writes the request span's context into the headers; off: only a valid traceparent is forwarded")
    func gatewayTraceHeaders() async throws {
        let fixture = try await ProcessorFixture(partitions: 1)
        let tracer = RecordingTracer()
        let (traced, tracedProducers) = try Self.gateway(fixture, instrument: tracer)
        // The server span as TracingMiddleware starts it: continuing the caller's traceparent.
        var callerContext = ServiceContext.topLevel
        tracer.extract([KafkaHeader(name: "traceparent", value: Self.traceparent)], into: &callerContext, using: KafkaHeadersExtractor())
        let span = tracer.startSpan("POST /v1/events", context: callerContext, ofKind: .server)
        let injected = ServiceContext.$current.withValue(span.context) { traced.traceHeaders(traceparent: nil, tracestate: nil) }
        span.end()
        let header = try #require(injected.first { $0.name == EventHeaders.traceparent }?.stringValue)
        #expect(TraceParent(header)?.traceID == Self.traceID)
        #expect(TraceParent(header)?.parentID == span.spanContext.spanID, "the gateway's span is the records' parent")
        #expect(traced.traceHeaders(traceparent: Self.traceparent, tracestate: nil).isEmpty, "no current span: nothing injected")
        await tracedProducers.shutdown()

        let (plain, plainProducers) = try Self.gateway(fixture)
        #expect(plain.traceHeaders(traceparent: nil, tracestate: "a=b").isEmpty)
        #expect(plain.traceHeaders(traceparent: "ff-\(Self.traceID)-\(Self.parentID)-01", tracestate: "a=b").isEmpty)
        let forwarded = plain.traceHeaders(traceparent: Self.traceparent, tracestate: String(repeating: "x", count: TraceParent.maximumTraceStateLength + 1))
        #expect(forwarded == [KafkaHeader(name: EventHeaders.traceparent, value: Self.traceparent)], "a tracestate over 512 characters is dropped")
        await plainProducers.shutdown()
    }
}
