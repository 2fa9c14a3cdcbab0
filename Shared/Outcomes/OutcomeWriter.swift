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
        /// How long after an answer an interaction without a `recommendation_id` is attributed to it
        /// (`outcomes.attribution_window`).
        public var attributionWindow: Duration
        /// Answers kept per user for attribution; older ones are forgotten first. A constant, not a key.
        public var answersPerUser: Int
        /// An interaction stamped up to this long before the answer still counts (the API's and the
        /// client's clocks differ). A constant, not a key.
        public var clockSkew: Duration
        /// Records per script call: a call blocks Redis while it runs. A constant, not a key.
        public var recordsPerCall: Int

        /// How long answers are kept past the window, and how long a stopped experiment still has answers to
        /// credit: a late click on an answer carrying its id.
        public static let retentionPastWindow = Duration.seconds(600)

        public init(attributionWindow: Duration = .seconds(30 * 60), answersPerUser: Int = 32, clockSkew: Duration = .seconds(5), recordsPerCall: Int = 1000) {
            self.attributionWindow = attributionWindow
            self.answersPerUser = answersPerUser
            self.clockSkew = clockSkew
            self.recordsPerCall = recordsPerCall
        }

        /// Answers are kept this long after the latest; an experiment stopped this long ago has nothing left
        /// to credit.
        public var retention: Duration { attributionWindow + Self.retentionPastWindow }
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

    /// - Parameter keyPrefix: `features.key_prefix`: outcome keys share the feature keys' prefix.
    public init(configuration: Configuration, keyPrefix: String, redis: RedisClient) {
        self.configuration = configuration
        self.redis = redis
        keys = OutcomeKeys(prefix: keyPrefix)
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
    /// its answer is attributed. Only answers of `experiments` (per domain: running, or stopped less than
    /// ``Configuration/retention`` ago) are kept and credited. `topicIDs`: each topic's id, when the broker
    /// has them (a recreated topic's offsets start afresh). Throws on a Redis failure: the caller retries the
    /// batch (a chunk already applied is skipped then by its offsets).
    public func apply(_ records: [Record], experiments: [EventDomain: Set<String>], topicIDs: [String: String] = [:]) async throws(RedisError) -> Outcome {
        var outcome = Outcome()
        for domain in EventDomain.allCases {
            let known = experiments[domain] ?? []
            guard !known.isEmpty else { continue }
            var impressions: [Record] = []
            var interactions: [Record] = []
            for record in records where record.domain == domain && Self.takes(record) {
                if case .impression = record { impressions.append(record) } else { interactions.append(record) }
            }
            let ordered = impressions + interactions
            var start = 0
            while start < ordered.count {
                let end = min(ordered.count, start + configuration.recordsPerCall)
                let (keys, arguments) = call(ordered[start..<end], domain, experiments: known.sorted(), topicIDs: topicIDs)
                let reply = try await redis.evaluate(OutcomeScripts.apply, keys: keys, arguments: arguments)
                try Self.read(reply, into: &outcome)
                start = end
            }
        }
        return outcome
    }

    /// The script's keys (each once, the offsets first) and arguments, which name keys by index.
    private func call(
        _ records: ArraySlice<Record>, _ domain: EventDomain, experiments: [String], topicIDs: [String: String]
    ) -> (keys: [any RedisArgumentConvertible], arguments: [any RedisArgumentConvertible]) {
        var keyList = [keys.appliedOffsets(domain)]
        var index: [String: Int] = [:]
        func key(_ name: String) -> Int {
            if let known = index[name] { return known }
            keyList.append(name)
            index[name] = keyList.count
            return keyList.count
        }
        func field(_ position: RecordPosition) -> String {
            topicIDs[position.topic].map { "\(position.partitionField)@\($0)" } ?? position.partitionField
        }
        var arguments: [any RedisArgumentConvertible] = [
            configuration.attributionWindow.milliseconds, configuration.retention.milliseconds, configuration.answersPerUser,
            configuration.clockSkew.milliseconds, experiments.count,
        ]
        arguments.reserveCapacity(5 + 3 * experiments.count + records.count * 12)
        for experiment in experiments {
            arguments += [experiment, key(keys.counts(domain, experiment: experiment)), key(keys.users(domain, experiment: experiment))]
        }
        for record in records {
            switch record {
            case .impression(let served, let position):
                arguments += [
                    "i", field(position), position.offset, key(keys.recentAnswers(domain, user: served.userID)), served.userID, served.recommendationID,
                    served.servedAt.millisecondsSinceEpoch, served.experimentID ?? "", served.variant ?? "", served.strategy, served.items.count,
                ]
                for item in served.items.sorted(by: { $0.position < $1.position }) { arguments.append(item.itemID) }
            case .interaction(let event, let position):
                arguments += [
                    "e", field(position), position.offset, key(keys.recentAnswers(domain, user: event.userID)), event.userID,
                    event.occurredAt.millisecondsSinceEpoch, OutcomeMetric.interaction(event.type)?.rawValue ?? "", OutcomeMetric.isPositive(event) ? "1" : "0",
                    event.subjectID, event.recommendationID ?? "",
                ]
            }
        }
        return (keyList, arguments)
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
