import Events
import Features
import Recommender
import Redis
import Training

public struct RecommendationRequest: Sendable, Hashable {
    public var user: String
    public var domain: EventDomain
    public var k: Int
    public var excludeSeen: Bool
    /// Only items of this genre (movies) or category (polls).
    public var group: String?
    /// Items never to return.
    public var exclude: Set<String>

    public init(user: String, domain: EventDomain, k: Int = 20, excludeSeen: Bool = true, group: String? = nil, exclude: Set<String> = []) {
        self.user = user
        self.domain = domain
        self.k = k
        self.excludeSeen = excludeSeen
        self.group = group
        self.exclude = exclude
    }
}

public struct RecommendationResult: Sendable, Hashable {
    public enum Strategy: String, Sendable, Hashable {
        /// A user the production model was trained on, updated with their events since training.
        case personalised
        /// A user the model does not know, from their events in Redis alone.
        case foldIn = "fold-in"
        /// Nothing to personalise from: what is popular now.
        case popular
    }

    public var strategy: Strategy
    public var items: [ScoredItem]
    /// The model version that scored them (nil for popular from Redis).
    public var modelVersion: String?
    /// Redis could not be read: the answer comes from the model alone (no fresh events, no seen filter,
    /// the model's popularity).
    public var degraded = false
}

/// Chooses the strategy per request and scores: the production model's factors, Redis history
/// (fold-in of the events the model has not seen), Redis popularity windows, the seen-set filter.
public struct RecommendationEngine: Sendable {
    public let models: ModelRepository
    public let features: FeatureReader
    /// Genres of a movie / category of a poll, for the group filter (from the catalog cache).
    public let groups: @Sendable (EventDomain, String) -> [String]?
    /// The window the popular strategy reads.
    public var popularWindow = "24h"

    public init(models: ModelRepository, features: FeatureReader, groups: @escaping @Sendable (EventDomain, String) -> [String]?) {
        self.models = models
        self.features = features
        self.groups = groups
    }

    public static func modelDomain(_ domain: EventDomain) -> String { domain == .movie ? "movies" : "polls" }

    /// How strongly a history entry says "more like this", as in training (`ImplicitStrength`); ratings
    /// count when above the user's mean (their stored weight is centred on it).
    static func strength(_ entry: HistoryEntry) -> Float? {
        if entry.type == .movieRating { return entry.weight > 0 ? 1 : nil }
        return ImplicitStrength.of(TrainingRow(user: "", item: entry.item, type: entry.type.rawValue, value: nil, time: 0))
    }

    public func recommend(_ request: RecommendationRequest, now: Int64) async throws(RedisError) -> RecommendationResult {
        let model = models.model(for: Self.modelDomain(request.domain))
        // Both reads at once: one round trip of latency instead of two.
        let features = features
        async let seenRead = request.excludeSeen ? features.seen(user: request.user, domain: request.domain) : []
        async let historyRead = model == nil ? [] : features.history(user: request.user, domain: request.domain, limit: 200)
        var seen: Set<String> = []
        var history: [HistoryEntry] = []
        var degraded = false
        do {
            (seen, history) = try await (seenRead, historyRead)
        } catch {
            // Redis down: still answer, from the model alone, if there is one.
            guard model != nil else { throw error as? RedisError ?? .connectionLost("\(error)") }
            degraded = true
        }
        let excluded = seen.union(request.exclude)
        if let model {
            let trainedUntil = model.manifest.dataMaxEventTime?.millisecondsSinceEpoch ?? Int64.min
            func positives(_ entries: [HistoryEntry]) -> [(item: Int32, value: Float)] {
                entries.compactMap { entry in
                    guard let index = model.itemIndex[entry.item], let strength = Self.strength(entry) else { return nil }
                    return (index, strength)
                }
            }
            let als = model.bundle.implicitALS
            var vector: [Float]?
            var strategy = RecommendationResult.Strategy.personalised
            if let stored = model.userVector(request.user) {
                // The trained vector plus the fold-in of what happened since training: a like posted a
                // second ago moves the next answer.
                let fresh = positives(history.filter { $0.occurredAt.millisecondsSinceEpoch > trainedUntil })
                vector = fresh.isEmpty ? stored : zip(stored, als.foldIn(fresh)).map { $0 + $1 }
            } else {
                let known = positives(history)
                if !known.isEmpty {
                    vector = als.foldIn(known)
                    strategy = .foldIn
                }
            }
            if let vector {
                return RecommendationResult(
                    strategy: strategy, items: top(model: model, vector: vector, request: request, excluded: excluded), modelVersion: model.manifest.version,
                    degraded: degraded
                )
            }
        }
        return try await popular(request, excluded: excluded, model: model, now: now, redisAvailable: !degraded)
    }

    private func top(model: ServingModel, vector: [Float], request: RecommendationRequest, excluded: Set<String>) -> [ScoredItem] {
        let ids = model.bundle.itemIDs
        var scores = [Float](repeating: 0, count: ids.count)
        vector.withUnsafeBufferPointer { v in scores.withUnsafeMutableBufferPointer { model.bundle.implicitALS.scoreAll(userVector: v, into: $0) } }
        let excludedIndices = Set(excluded.compactMap { model.itemIndex[$0] })
        let selected = TopK.select(scores, k: request.k) { index in
            if excludedIndices.contains(Int32(index)) { return true }
            if let group = request.group { return !(groups(request.domain, ids[index])?.contains(group) ?? false) }
            return false
        }
        return selected.map { ScoredItem(item: ids[$0.index], score: Double($0.score)) }
    }

    /// Popular now (Redis window, per group if asked); the model's training popularity when the
    /// window is empty.
    private func popular(
        _ request: RecommendationRequest, excluded: Set<String>, model: ServingModel?, now: Int64, redisAvailable: Bool
    ) async throws(RedisError) -> RecommendationResult {
        var degraded = !redisAvailable
        if redisAvailable {
            do {
                let live = try await features.popular(request.domain, window: popularWindow, group: request.group, limit: request.k + excluded.count, now: now)
                    .filter { !excluded.contains($0.item) && $0.score > 0 }
                if !live.isEmpty || model == nil {
                    return RecommendationResult(strategy: .popular, items: Array(live.prefix(request.k)), modelVersion: nil)
                }
            } catch {
                guard model != nil else { throw error }
                degraded = true
            }
        }
        let bundle = model!.bundle
        let selected = TopK.select(bundle.popularity, k: request.k) { index in
            excluded.contains(bundle.itemIDs[index])
                || (request.group.map { !(groups(request.domain, bundle.itemIDs[index])?.contains($0) ?? false) } ?? false)
        }
        return RecommendationResult(
            strategy: .popular, items: selected.map { ScoredItem(item: bundle.itemIDs[$0.index], score: Double($0.score)) },
            modelVersion: model!.manifest.version, degraded: degraded
        )
    }
}
