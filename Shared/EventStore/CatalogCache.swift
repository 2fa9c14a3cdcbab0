import Events
import Synchronization

/// Genres of movies and categories of polls, from catalog events seen and from the catalog tables: the
/// stream processor's cache (the API keeps the whole catalog instead, `CatalogMetadata`).
/// Ids the catalog does not know are asked for again at most every 30 s. Producers choose those ids, so
/// the ids remembered as missing are bounded (``missingCapacity`` per domain): past it, the expired ones
/// are dropped, and if that is not enough, all of them (they are only asked for again).
public final class CatalogCache: Sendable {
    private struct State {
        var known: [EventDomain: [String: [String]]] = [:]
        var missingSince: [EventDomain: [String: ContinuousClock.Instant]] = [:]
    }

    private let state = Mutex(State())
    private static let retryMissingAfter: Duration = .seconds(30)
    public let missingCapacity: Int

    public init(missingCapacity: Int = 100_000) {
        self.missingCapacity = missingCapacity
    }

    /// How many ids of `domain` are remembered as missing (for tests).
    public func missingCount(_ domain: EventDomain) -> Int { state.withLock { $0.missingSince[domain]?.count ?? 0 } }

    /// Remembers the groups a catalog event states (the processor sees it before the tables have it).
    public func learn(_ event: Event) {
        state.withLock { state in
            switch event.payload {
            case .movieAdded(let movie): state.known[.movie, default: [:]][event.subjectID] = movie.genres
            case .pollCreated(let poll): state.known[.poll, default: [:]][event.subjectID] = [poll.category]
            default: return
            }
            state.missingSince[event.domain]?[event.subjectID] = nil
        }
    }

    /// Groups of `ids`: from memory, else from the catalog tables (one query for all the unknown ids).
    public func groups(_ domain: EventDomain, ids: [String], store: TrainingStore) async throws -> [String: [String]] {
        let now = ContinuousClock.now
        var result: [String: [String]] = [:]
        var unknown: Set<String> = []
        state.withLock { state in
            let known = state.known[domain] ?? [:]
            let missingSince = state.missingSince[domain] ?? [:]
            for id in ids {
                if let groups = known[id] {
                    result[id] = groups
                } else if let since = missingSince[id], now - since < Self.retryMissingAfter {
                    continue
                } else {
                    unknown.insert(id)
                }
            }
        }
        guard !unknown.isEmpty else { return result }
        let found = try await store.groups(domain, ids: unknown.sorted())
        state.withLock { state in
            for id in unknown {
                if let groups = found[id] {
                    state.known[domain, default: [:]][id] = groups
                    result[id] = groups
                } else {
                    if state.missingSince[domain, default: [:]].count >= missingCapacity {
                        state.missingSince[domain] = state.missingSince[domain]!.filter { now - $0.value < Self.retryMissingAfter }
                        if state.missingSince[domain]!.count >= missingCapacity { state.missingSince[domain] = [:] }
                    }
                    state.missingSince[domain, default: [:]][id] = now
                }
            }
        }
        return result
    }
}
