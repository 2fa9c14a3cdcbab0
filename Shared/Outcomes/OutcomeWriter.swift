import ClientRuntime
import Events
import Features
import Redis

/// Attributes interactions to the experiment answers that preceded them and keeps the outcome counters
/// (``OutcomeMetric``), exactly once in effect: each call applies one domain's records in chunks, each chunk
/// one script in the domain's slot (``OutcomeScripts/apply``) that skips what its partition's applied
/// offset says was applied. The processor's outcome service calls it with each consumed batch.
public struct OutcomeWriter: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// `features.key_prefix`: outcome keys share the feature keys' prefix.
        public var keyPrefix: String
        /// How long after an answer an interaction without a `recommendation_id` is attributed to it
        /// (`outcomes.attribution_window`).
        public var attributionWindow: Duration
        /// Answers kept per user for attribution; older ones are forgotten first.
        public var answersPerUser: Int
        /// An interaction stamped up to this long before the answer still counts (the API's and the
        /// client's clocks differ).
        public var clockSkew: Duration
        /// Records per script call: a call blocks Redis while it runs.
        public var recordsPerCall: Int

        public init(
            keyPrefix: String = "sr:v2", attributionWindow: Duration = .seconds(30 * 60), answersPerUser: Int = 32, clockSkew: Duration = .seconds(5),
            recordsPerCall: Int = 1000
        ) {
            self.keyPrefix = keyPrefix
            self.attributionWindow = attributionWindow
            self.answersPerUser = answersPerUser
            self.clockSkew = clockSkew
            self.recordsPerCall = recordsPerCall
        }
    }

    /// One consumed record the writer takes.
    public enum Record: Sendable, Hashable {
        case impression(RecommendationServed, RecordPosition)
        case interaction(Event, RecordPosition)

        var domain: EventDomain {
            switch self {
            case .impression(let served, _): served.domain
            case .interaction(let event, _): event.domain
            }
        }
    }

    /// What one call counted (nothing for a replay), for the Prometheus counters.
    public struct Counted: Sendable, Hashable {
        public var experiment: String
        public var variant: String
        public var strategy: String
        public var metric: String
        public var increment: Int64
    }

    public struct Outcome: Sendable, Hashable {
        /// Records at or below their partition's applied offset.
        public var replayed = 0
        public var counted: [Counted] = []
    }

    public let configuration: Configuration
    public let keys: OutcomeKeys
    private let redis: RedisClient

    public init(configuration: Configuration, redis: RedisClient) {
        self.configuration = configuration
        self.redis = redis
        keys = OutcomeKeys(prefix: configuration.keyPrefix)
    }

    /// Whether the writer takes a record at all: answers served in an experiment, and interactions that can
    /// answer a list. Others are skipped before Redis (their offsets need no guard: they change nothing).
    public static func takes(_ record: Record) -> Bool {
        switch record {
        case .impression(let served, _):
            served.experimentID != nil && served.variant != nil && !served.items.isEmpty && isPlainID(served.recommendationID)
        case .interaction(let event, _):
            OutcomeMetric.interaction(event.type) != nil && (event.recommendationID.map(isPlainID) ?? true)
        }
    }

    /// Applies the records; impressions go before interactions, so that a click read in the same batch as
    /// its answer is attributed. Throws on a Redis failure: the caller retries the batch (a chunk already
    /// applied is skipped then by its offsets).
    public func apply(_ records: [Record]) async throws(RedisError) -> Outcome {
        var outcome = Outcome()
        for domain in EventDomain.allCases {
            var impressions: [Record] = []
            var interactions: [Record] = []
            for record in records where record.domain == domain && Self.takes(record) {
                if case .impression = record { impressions.append(record) } else { interactions.append(record) }
            }
            let ordered = impressions + interactions
            var start = 0
            while start < ordered.count {
                let end = min(ordered.count, start + configuration.recordsPerCall)
                let reply = try await redis.evaluate(OutcomeScripts.apply, keys: [keys.appliedOffsets(domain)], arguments: arguments(ordered[start..<end], domain))
                try Self.read(reply, into: &outcome)
                start = end
            }
        }
        return outcome
    }

    private func arguments(_ records: ArraySlice<Record>, _ domain: EventDomain) -> [any RedisArgumentConvertible] {
        var arguments: [any RedisArgumentConvertible] = [
            keys.recentAnswersPrefix(domain), keys.countsPrefix(domain), configuration.attributionWindow.milliseconds,
            (configuration.attributionWindow + .seconds(600)).milliseconds, configuration.answersPerUser, configuration.clockSkew.milliseconds,
        ]
        arguments.reserveCapacity(6 + records.count * 12)
        for record in records {
            switch record {
            case .impression(let served, let position):
                arguments += [
                    "i", position.partitionField, position.offset, served.userID, served.recommendationID, served.servedAt.millisecondsSinceEpoch,
                    served.experimentID ?? "", served.variant ?? "", served.strategy, served.items.count,
                ]
                for item in served.items.sorted(by: { $0.position < $1.position }) { arguments.append(item.itemID) }
            case .interaction(let event, let position):
                arguments += [
                    "e", position.partitionField, position.offset, event.userID, event.occurredAt.millisecondsSinceEpoch,
                    OutcomeMetric.interaction(event.type)?.rawValue ?? "", OutcomeMetric.isPositive(event) ? "1" : "0", event.subjectID,
                    event.recommendationID ?? "",
                ]
            }
        }
        return arguments
    }

    private static func read(_ reply: RedisValue, into outcome: inout Outcome) throws(RedisError) {
        guard case .array(let values) = reply, let skipped = values.first?.int else {
            throw .unexpectedReply("the outcome script answered \(reply)")
        }
        outcome.replayed += Int(skipped)
        var index = 1
        while index + 1 < values.count {
            guard let key = values[index].string, let increment = values[index + 1].int else { throw .unexpectedReply("the outcome script answered \(reply)") }
            let parts = key.split(separator: "\u{1f}", omittingEmptySubsequences: false).map(String.init)
            if parts.count == 5 {
                outcome.counted.append(Counted(experiment: parts[0], variant: parts[1], strategy: parts[2], metric: parts[3], increment: increment))
            }
            index += 2
        }
    }

    /// Ids the script stores between separators: a recommendation id is a UUID, so anything with a comma or
    /// a control character is not one of ours.
    static func isPlainID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128 && !id.utf8.contains { $0 < 0x20 || $0 == UInt8(ascii: ",") }
    }
}
