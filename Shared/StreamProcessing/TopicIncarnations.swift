import Logging
import Synchronization

/// The Kafka topic ids of the topics a batch came from. A topic gets a new id each time it is created,
/// so the feature writer can tell records of a recreated topic (offsets from 0 again) from a replay of
/// records it applied (see ``FeatureWriter/apply(_:now:logEnds:topicIDs:)``).
///
/// Ids are looked up once per topic and kept until ``forget()``, called on each rebalance: a topic is
/// recreated only with the broker restarted empty or the topic deleted, and the member then rejoins its
/// group. A recreation seen without a rebalance is still caught by the log-end rule.
public final class TopicIncarnations: Sendable {
    private let lookup: @Sendable ([String]) async throws -> [String: String]
    /// Topic → id, "" for a topic the broker gave no id for (asked again only after ``forget()``).
    private let known = Mutex<[String: String]>([:])
    private let logger: Logger

    /// - Parameter lookup: the ids of the named topics (``Kafka/KafkaAdmin/topicIDs(_:)``).
    public init(logger: Logger, lookup: @escaping @Sendable ([String]) async throws -> [String: String]) {
        self.lookup = lookup
        self.logger = logger
    }

    /// Forgets the ids: the next batch looks them up again.
    public func forget() {
        known.withLock { $0.removeAll() }
    }

    /// The ids of `topics` that have one. A failed lookup is logged and returns what is known; the
    /// writer then relies on the log-end rule alone for that batch.
    public func ids(for topics: Set<String>) async -> [String: String] {
        let missing = known.withLock { known in topics.filter { known[$0] == nil } }
        if !missing.isEmpty {
            do {
                let found = try await lookup(missing.sorted())
                known.withLock { known in
                    for topic in missing { known[topic] = found[topic] ?? "" }
                }
            } catch {
                logger.warning("could not look up topic ids; this batch relies on log ends alone", metadata: ["error": "\(error)"])
            }
        }
        return known.withLock { known in
            var ids: [String: String] = [:]
            for topic in topics { if let id = known[topic], !id.isEmpty { ids[topic] = id } }
            return ids
        }
    }
}
