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
    private struct State {
        /// Topic → id.
        var known: [String: String] = [:]
        /// Topics the broker gave no id for (no topic ids, or not created yet), and when it said so.
        var missing: [String: ContinuousClock.Instant] = [:]
        /// Bumped by ``forget()``: a lookup that started before it must not store what it found.
        var generation = 0
    }

    private let lookup: @Sendable ([String]) async throws -> [String: String]
    private let state = Mutex(State())
    private let logger: Logger
    /// How long a topic without an id is not asked about again.
    static let missingRetry: Duration = .seconds(10)

    /// - Parameter lookup: the ids of the named topics (``Kafka/KafkaAdmin/topicIDs(_:)``).
    public init(logger: Logger, lookup: @escaping @Sendable ([String]) async throws -> [String: String]) {
        self.lookup = lookup
        self.logger = logger
    }

    /// Forgets the ids: the next batch looks them up again.
    public func forget() {
        state.withLock { state in
            state.known.removeAll()
            state.missing.removeAll()
            state.generation += 1
        }
    }

    /// The ids of `topics` that have one. A failed lookup is logged and returns what is known; the
    /// writer then relies on the log-end rule alone for that batch.
    public func ids(for topics: Set<String>, now: ContinuousClock.Instant = .now) async -> [String: String] {
        let (wanted, generation) = state.withLock { state in
            (topics.filter { state.known[$0] == nil && state.missing[$0].map { now - $0 >= Self.missingRetry } ?? true }, state.generation)
        }
        if !wanted.isEmpty {
            do {
                let found = try await lookup(wanted.sorted())
                state.withLock { state in
                    guard state.generation == generation else { return }
                    for topic in wanted {
                        if let id = found[topic] {
                            state.known[topic] = id
                            state.missing[topic] = nil
                        } else {
                            state.missing[topic] = now
                        }
                    }
                }
            } catch {
                logger.warning("could not look up topic ids; this batch relies on log ends alone", metadata: ["error": "\(error)"])
            }
        }
        return state.withLock { state in
            var ids: [String: String] = [:]
            for topic in topics { if let id = state.known[topic] { ids[topic] = id } }
            return ids
        }
    }
}
