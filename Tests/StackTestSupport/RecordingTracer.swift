import Events
import Synchronization
import Tracing

/// An in-process tracer for tests: W3C `traceparent` propagation (``TraceParent``) and spans kept in
/// memory once ended, so a test can look at what the code under test recorded without a collector.
/// Pass it where the code takes a tracer; it is never bootstrapped globally (a process bootstraps once).
public final class RecordingTracer: Tracer, Sendable {
    private let ended = Mutex<[RecordingSpan]>([])

    public init() {}

    /// Every span ended so far, in the order they ended.
    public var finishedSpans: [RecordingSpan] { ended.withLock { $0 } }

    public func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind, at instant: @autoclosure () -> Instant,
        function: String, file fileID: String, line: UInt
    ) -> RecordingSpan {
        var context = context()
        let parent = context.recordedSpanContext
        let spanContext = RecordedSpanContext(
            traceID: parent?.traceID ?? Self.randomHex(bytes: 16), spanID: Self.randomHex(bytes: 8), parentSpanID: parent?.spanID,
            flags: parent?.flags ?? 1
        )
        context.recordedSpanContext = spanContext
        return RecordingSpan(operationName: operationName, kind: kind, context: context, spanContext: spanContext) { [weak self] span in
            self?.ended.withLock { $0.append(span) }
        }
    }

    public func forceFlush() {}

    public func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        guard let header = extractor.extract(key: EventHeaders.traceparent, from: carrier), let parsed = TraceParent(header) else { return }
        context.recordedSpanContext = RecordedSpanContext(traceID: parsed.traceID, spanID: parsed.parentID, parentSpanID: nil, flags: parsed.flags)
    }

    public func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        guard let spanContext = context.recordedSpanContext,
              let parent = TraceParent(traceID: spanContext.traceID, parentID: spanContext.spanID, flags: spanContext.flags)
        else { return }
        injector.inject(parent.description, forKey: EventHeaders.traceparent, into: &carrier)
    }

    static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        return String((0..<(bytes * 2)).map { _ in digits[Int(generator.next() % 16)] })
    }
}

/// The ids the recording tracer keeps in a `ServiceContext`: its span, or a caller's span extracted from
/// a `traceparent`.
public struct RecordedSpanContext: Sendable, Hashable {
    public let traceID: String
    public let spanID: String
    public let parentSpanID: String?
    public let flags: UInt8
}

private enum RecordedSpanContextKey: ServiceContextKey {
    typealias Value = RecordedSpanContext
}

extension ServiceContext {
    public var recordedSpanContext: RecordedSpanContext? {
        get { self[RecordedSpanContextKey.self] }
        set { self[RecordedSpanContextKey.self] = newValue }
    }
}

/// A span of ``RecordingTracer``: what was set on it, readable once it ended.
public final class RecordingSpan: Span, Sendable {
    private struct State {
        var operationName: String
        var attributes: SpanAttributes = [:]
        var links: [RecordedSpanContext] = []
        var status: SpanStatus?
        var errors: [String] = []
        var isEnded = false
    }

    public let kind: SpanKind
    public let context: ServiceContext
    public let spanContext: RecordedSpanContext
    private let state: Mutex<State>
    private let onEnd: @Sendable (RecordingSpan) -> Void

    init(operationName: String, kind: SpanKind, context: ServiceContext, spanContext: RecordedSpanContext, onEnd: @escaping @Sendable (RecordingSpan) -> Void) {
        self.kind = kind
        self.context = context
        self.spanContext = spanContext
        state = Mutex(State(operationName: operationName))
        self.onEnd = onEnd
    }

    public var operationName: String {
        get { state.withLock { $0.operationName } }
        set { state.withLock { $0.operationName = newValue } }
    }

    public var attributes: SpanAttributes {
        get { state.withLock { $0.attributes } }
        set { state.withLock { $0.attributes = newValue } }
    }

    /// The span contexts of the links added, in order (links to contexts this tracer cannot read are left out).
    public var links: [RecordedSpanContext] { state.withLock { $0.links } }
    public var status: SpanStatus? { state.withLock { $0.status } }
    public var errors: [String] { state.withLock { $0.errors } }

    public var isRecording: Bool { state.withLock { !$0.isEnded } }

    public func setStatus(_ status: SpanStatus) { state.withLock { $0.status = status } }

    public func addEvent(_ event: SpanEvent) {}

    public func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {
        state.withLock { $0.errors.append("\(error)") }
    }

    public func addLink(_ link: SpanLink) {
        guard let linked = link.context.recordedSpanContext else { return }
        state.withLock { $0.links.append(linked) }
    }

    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        let first = state.withLock { state -> Bool in
            defer { state.isEnded = true }
            return !state.isEnded
        }
        if first { onEnd(self) }
    }
}
