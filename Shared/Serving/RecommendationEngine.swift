#if canImport(Glibc)
import Glibc
#endif
import Events
import Features
import Recommender
import Redis
import Synchronization

public struct RecommendationRequest: Sendable, Hashable {
    public var user: String
    public var domain: EventDomain
    public var k: Int
    public var excludeSeen: Bool
    /// Only items of this genre (movies) or category (polls).
    public var group: String?
    /// Items never to return.
    public var exclude: Set<String>
    /// Name, per recommended item, the item of the user's history it is most like ("because you liked").
    public var reasons: Bool
    /// The window read when the answer comes from popularity (nil: the engine's ``RecommendationEngine/popularWindow``).
    public var window: String?

    public init(
        user: String, domain: EventDomain, k: Int = 20, excludeSeen: Bool = true, group: String? = nil, exclude: Set<String> = [], reasons: Bool = false,
        window: String? = nil
    ) {
        self.user = user
        self.domain = domain
        self.k = k
        self.excludeSeen = excludeSeen
        self.group = group
        self.exclude = exclude
        self.reasons = reasons
        self.window = window
    }
}

public struct RecommendationResult: Sendable, Hashable {
    public enum Strategy: String, Sendable, Hashable {
        /// A user the production model was trained on, updated with their events since training.
        case personalised
        /// A user the model does not know, from their events in Redis alone.
        case foldIn = "fold-in"
        /// No events yet, but stated preferences (genres, categories): the most popular items of those,
        /// weighted as stated.
        case preferences
        /// Nothing to personalise from: what is popular now.
        case popular
    }

    public var strategy: Strategy
    public var items: [ScoredItem]
    /// Recommended item → the history item it is most like (when reasons were asked for and one exists).
    public var because: [String: String] = [:]
    /// The model version that scored them (nil for popular from Redis).
    public var modelVersion: String?
    /// Redis could not be read: the answer comes from the model alone (no fresh events, no seen filter)
    /// or from the last popular list read.
    public var degraded = false
}

/// A popular or trending list over all items (every item with a score, best first) and, made from it in
/// one pass when it is read, each group's first `RecommendationEngine.popularListLength` items: Redis keeps
/// popularity per item only, so a genre's or category's list is the all-items list filtered by the catalog.
struct PopularList: Sendable {
    var items: [ScoredItem]
    var byGroup: [String: [ScoredItem]]

    init(items: [ScoredItem], groupsOf groups: (String) -> [String]?, perGroup: Int) {
        self.items = items
        var byGroup: [String: [ScoredItem]] = [:]
        for item in items {
            for group in groups(item.item) ?? [] where byGroup[group, default: []].count < perGroup {
                byGroup[group, default: []].append(item)
            }
        }
        self.byGroup = byGroup
    }

    /// The group's items, or all items for nil (a group no item has: none).
    func items(in group: String?) -> [ScoredItem] {
        guard let group else { return items }
        return byGroup[group] ?? []
    }
}

/// The last popular list read per (domain, window) and the last trending list per domain, with their
/// groups' lists: reused while younger than the engine's `popularMaxAge` (a window sum over every bucket is
/// the most expensive read of the API, and a list a second old is as good), and what the API answers while
/// Redis is down. Bounded by the configured windows (checked before a read), not by the query string.
final class PopularCache: Sendable {
    private let lists = Mutex<[String: (list: PopularList, readAt: ContinuousClock.Instant)]>([:])

    /// A list's cache key: the domain and which list (a window's popularity, or trending).
    static func key(_ domain: EventDomain, _ window: String?) -> String {
        "\(domain.rawValue)|\(window.map { "window:" + $0 } ?? "trending")"
    }

    func store(_ list: PopularList, for key: String) {
        let now = ContinuousClock.now
        lists.withLock { $0[key] = (list, now) }
    }

    func list(for key: String) -> PopularList? { lists.withLock { $0[key]?.list } }

    /// The list if it was read less than `maxAge` ago.
    func fresh(for key: String, maxAge: Duration) -> PopularList? {
        let now = ContinuousClock.now
        return lists.withLock { lists in lists[key].flatMap { now - $0.readAt < maxAge ? $0.list : nil } }
    }
}

/// Chooses the strategy per request and scores: the production model's factors, Redis history
/// (fold-in of the events the model has not seen), Redis popularity windows, the seen-set filter.
public struct RecommendationEngine: Sendable {
    public let models: ModelRepository
    public let features: FeatureReader
    /// Genres of a movie / category of a poll, for the group filter (from the catalog cache).
    public let groups: @Sendable (EventDomain, String) -> [String]?
    /// The window the popular strategy reads when the request names none (`inference.popular_window`).
    public var popularWindow = "24h"
    /// A popular list read from Redis is reused for this long (`inference.popular_max_age`; zero: every
    /// request reads Redis).
    public var popularMaxAge: Duration = .seconds(1)
    /// Score with implicit ALS even when the model's top-N choice is sequence-aware EASE
    /// (`inference.top_n_model = implicit-als`).
    public var alwaysImplicitALS = false
    private let popularCache = PopularCache()
    /// How many items a group's popular list keeps (in the cache too): enough for k = 100 after filters.
    /// The list over all items keeps every item with a score, as each group's list is made from it.
    static let popularListLength = 300

    public init(models: ModelRepository, features: FeatureReader, groups: @escaping @Sendable (EventDomain, String) -> [String]?) {
        self.models = models
        self.features = features
        self.groups = groups
    }


    /// How strongly a history entry says "more like this", as in training (`ImplicitStrength`); ratings
    /// count when above the user's mean (their stored weight is centred on it).
    static func strength(_ entry: HistoryEntry) -> Float? {
        if entry.type == .movieRating { return entry.weight > 0 ? 1 : nil }
        return ImplicitStrength.of(type: entry.type.rawValue, value: nil)
    }

    /// Which model answers: the domain's production model (every request outside experiments), a given one
    /// (an experiment's arm naming a registered version), or none (an arm serving popular lists only).
    public enum ModelChoice: Sendable {
        case production
        case model(ServingModel)
        case none
    }

    public func recommend(_ request: RecommendationRequest, now: Int64, using choice: ModelChoice = .production) async throws(RedisError) -> RecommendationResult {
        let model: ServingModel? = switch choice {
        case .production: models.model(for: request.domain)
        case .model(let chosen): chosen
        case .none: nil
        }
        // A user the model was trained on needs only what happened since training (unless reasons are
        // asked for: they come from the whole recent history).
        let since = model.flatMap { model in
            request.reasons || model.userIndex[request.user] == nil ? nil : model.manifest.dataMaxEventTime?.millisecondsSinceEpoch
        }
        var seen: [String] = []
        var history: [HistoryEntry] = []
        var preferences: [String: Double] = [:]
        var degraded = false
        var redisError: RedisError?
        do {
            // All reads in one round trip; stated preferences matter only to users the model does not know.
            (seen, history, preferences) = try await features.userState(
                user: request.user, domain: request.domain, seen: request.excludeSeen, historyLimit: model == nil ? 0 : 200, since: since,
                preferences: model?.userIndex[request.user] == nil
            )
        } catch {
            // Redis down: still answer, from the model alone or the last popular list read.
            degraded = true
            redisError = error
        }
        if let model {
            let trainedUntil = model.manifest.dataMaxEventTime?.millisecondsSinceEpoch ?? Int64.min
            let trainedUser = model.userIndex[request.user]
            // What the model has not seen of this user: events since training, or all of them for a user
            // the model does not know. Redis keeps history newest first.
            let fresh = trainedUser == nil ? history : history.filter { $0.occurredAt.millisecondsSinceEpoch > trainedUntil }
            var scores: [Float]?
            var strategy = RecommendationResult.Strategy.personalised
            if let ease = model.bundle.sequenceAwareEASE, !alwaysImplicitALS {
                // Built only when there are fresh events to check (a known user's history holds hundreds of
                // items: hashing them on every request would cost more than the check saves).
                let trained = fresh.isEmpty ? nil : trainedUser.map { ItemBitSet(itemCount: model.bundle.itemIDs.count, model.bundle.histories.items(of: Int($0))) }
                let input = Self.easeInput(fresh.reversed(), model: model, otherWeight: ease.configuration.otherWeight, trained: trained)
                if trainedUser != nil || !input.isEmpty {
                    var computed = [Float](repeating: 0, count: model.bundle.itemIDs.count)
                    computed.withUnsafeMutableBufferPointer { model.sequenceAwareEASEScores(ease, user: trainedUser, fresh: input, into: $0) }
                    scores = computed
                    if trainedUser == nil { strategy = .foldIn }
                }
            } else {
                let als = model.bundle.implicitALS
                var vector: [Float]?
                if let stored = model.userVector(request.user) {
                    // The trained vector plus the fold-in of what happened since training: a like posted a
                    // second ago moves the next answer.
                    let known = positives(fresh, model: model)
                    vector = known.isEmpty ? stored : zip(stored, als.foldIn(known)).map { $0 + $1 }
                } else {
                    let known = positives(fresh, model: model)
                    if !known.isEmpty {
                        vector = als.foldIn(known)
                        strategy = .foldIn
                    }
                }
                // A large catalog: the top k from quantized factors and exact scores of the few items that can
                // rank (the same answer as scoring every item, below), unless stated preferences are blended
                // into every item's score.
                if let vector, let quantized = model.quantizedItemFactors, trainedUser != nil || preferences.isEmpty {
                    let excluded = exclusion(model: model, request: request, seen: seen, trainedUser: trainedUser)
                    if let selected = vector.withUnsafeBufferPointer({ als.topItems(vector: $0, k: request.k, quantized: quantized, excluded: excluded) }) {
                        let ids = model.bundle.itemIDs
                        var result = RecommendationResult(
                            strategy: strategy, items: selected.map { ScoredItem(item: ids[$0.index], score: Double($0.score)) },
                            modelVersion: model.manifest.version, degraded: degraded
                        )
                        if request.reasons { result.because = reasons(for: result.items, history: positives(history, model: model), model: model) }
                        return result
                    }
                }
                scores = vector.map { vector in
                    var computed = [Float](repeating: 0, count: model.bundle.itemIDs.count)
                    vector.withUnsafeBufferPointer { v in computed.withUnsafeMutableBufferPointer { als.scoreAll(userVector: v, into: $0) } }
                    return computed
                }
            }
            // Scores that are all alike (a history whose every weight is 0: only views or dislikes with the
            // chosen weight of non-positives at 0) rank nothing: answer as for a user without events.
            if let computed = scores, let first = computed.first, computed.allSatisfy({ $0 == first }) {
                scores = nil
                strategy = .personalised
            }
            // Stated preferences: the answer until the first event, then blended out as events arrive.
            if !preferences.isEmpty, trainedUser == nil {
                let stated = preferenceScores(preferences, model: model, domain: request.domain)
                if var blended = scores {
                    let events = Float(history.count)
                    let weight = events / (events + Self.preferenceHalfLife)
                    blended.withUnsafeMutableBufferPointer { output in
                        scores!.withUnsafeBufferPointer { model in
                            stated.withUnsafeBufferPointer { ScoreBlend(weight: weight).combine(model, $0, into: output) }
                        }
                    }
                    scores = blended
                } else if stated.contains(where: { $0 > 0 }) {
                    // (Groups newer than the model score nothing: then popular answers instead.)
                    scores = stated
                    strategy = .preferences
                }
            }
            if var scores {
                // Items of no stated group, with no other score, are not recommended from preferences alone.
                if strategy == .preferences { for index in scores.indices where scores[index] <= 0 { scores[index] = -.infinity } }
                var result = RecommendationResult(
                    strategy: strategy, items: top(model: model, scores: scores, request: request, seen: seen, trainedUser: trainedUser),
                    modelVersion: model.manifest.version, degraded: degraded
                )
                if request.reasons { result.because = reasons(for: result.items, history: positives(history, model: model), model: model) }
                return result
            }
        }
        var excluded = seen.isEmpty && request.exclude.isEmpty ? [] : Set(seen).union(request.exclude)
        // The training history too, which Redis may never have held: from the model that could not answer,
        // or the production model when an experiment's arm serves popular lists only.
        if request.excludeSeen, let known = model ?? models.model(for: request.domain), let trainedUser = known.userIndex[request.user] {
            for index in known.bundle.histories.items(of: Int(trainedUser)) { excluded.insert(known.bundle.itemIDs[Int(index)]) }
        }
        return try await popular(request, excluded: excluded, model: model, now: now, redisError: redisError)
    }

    /// How many events weigh as much as the stated preferences in the blend: with n events the model's
    /// share is n / (n + 3).
    static let preferenceHalfLife: Float = 3

    /// Scores from stated preferences: each item's summed weight of its groups the user likes, times the
    /// log of its training popularity (so the well-liked films of a liked genre come first); 0 for items
    /// of no stated group.
    func preferenceScores(_ preferences: [String: Double], model: ServingModel, domain: EventDomain) -> [Float] {
        let ids = model.bundle.itemIDs
        let popularity = model.bundle.popularity
        var scores = [Float](repeating: 0, count: ids.count)
        for index in ids.indices {
            guard let itemGroups = groups(domain, ids[index]) else { continue }
            var weight = 0.0
            for group in itemGroups { weight += preferences[group] ?? 0 }
            if weight > 0 { scores[index] = Float(weight) * log1pf(max(0, popularity[index])) }
        }
        return scores
    }

    /// The positive entries of a history (item index, strength), as ALS's input and for reasons.
    private func positives(_ entries: [HistoryEntry], model: ServingModel) -> [(item: Int32, value: Float)] {
        entries.compactMap { entry in
            guard let index = model.itemIndex[entry.item], let strength = Self.strength(entry) else { return nil }
            return (index, strength)
        }
    }

    /// History entries (oldest first) as sequence-aware EASE's input, weighted as in training: positives
    /// 1, every other interaction `otherWeight` (impressions are not interactions).
    /// As in training, one entry per item at its strongest weight (a view then a like is one like), and
    /// none for items of the user's training history (`trained`: already in their scores).
    static func easeInput(
        _ entries: some Sequence<HistoryEntry>, model: ServingModel, otherWeight: Float, trained: ItemBitSet? = nil
    ) -> [(item: Int32, weight: Float)] {
        var input: [(item: Int32, weight: Float)] = []
        var position: [Int32: Int] = [:]
        for entry in entries {
            guard entry.type != .pollImpression, let index = model.itemIndex[entry.item], !(trained?.contains(index) ?? false) else { continue }
            let weight: Float = (strength(entry) ?? 0) >= 1 ? 1 : otherWeight
            if let at = position[index] {
                // Its first position in time, its strongest weight.
                input[at].weight = max(input[at].weight, weight)
            } else {
                position[index] = input.count
                input.append((index, weight))
            }
        }
        return input
    }

    private func top(model: ServingModel, scores: [Float], request: RecommendationRequest, seen: [String], trainedUser: Int32?) -> [ScoredItem] {
        let ids = model.bundle.itemIDs
        let excluded = exclusion(model: model, request: request, seen: seen, trainedUser: trainedUser)
        let selected = TopK.select(scores, k: request.k) { index in scores[index] == -.infinity || excluded(index) }
        return selected.map { ScoredItem(item: ids[$0.index], score: Double($0.score)) }
    }

    /// Which item indices a request's answer leaves out: its seen-set and `exclude`, the user's training
    /// history when seen items are excluded, and items outside the requested group.
    private func exclusion(model: ServingModel, request: RecommendationRequest, seen: [String], trainedUser: Int32?) -> (Int) -> Bool {
        let ids = model.bundle.itemIDs
        // Excluded items as one bit per catalog item (a known user's seen-set holds hundreds of items:
        // a Set of strings, then a Set of indices, hashed each of them twice per request).
        var excluded = ItemBitSet(itemCount: ids.count)
        func exclude(_ index: Int32) { excluded.insert(index) }
        func exclude(_ item: String) {
            if let index = model.itemIndex[item] { exclude(index) }
        }
        seen.forEach(exclude)
        request.exclude.forEach(exclude)
        // Everything the user interacted with in training, which Redis may never have held (bootstrapped
        // history, or events older than the processor's history).
        if request.excludeSeen, let trainedUser { model.bundle.histories.items(of: Int(trainedUser)).forEach(exclude) }
        let groups = groups
        return { [excluded] index in
            if excluded.contains(index) { return true }
            if let group = request.group { return !(groups(request.domain, ids[index])?.contains(group) ?? false) }
            return false
        }
    }

    /// For each recommended item, the most similar item of the user's positive history (by the
    /// model's item factors), among their 50 most recent.
    private func reasons(for items: [ScoredItem], history: [(item: Int32, value: Float)], model: ServingModel) -> [String: String] {
        let candidates = Array(history.prefix(50).map(\.item))
        guard !candidates.isEmpty else { return [:] }
        var because: [String: String] = [:]
        for scored in items {
            if let index = model.itemIndex[scored.item], let nearest = model.nearest(to: index, among: candidates) {
                because[scored.item] = model.bundle.itemIDs[Int(nearest)]
            }
        }
        return because
    }

    /// What is popular in `window` (per group if asked), read from Redis; while Redis is down, the last
    /// list read (`degraded`), or the error when there is none.
    public func popular(
        _ domain: EventDomain, window: String, group: String?, now: Int64
    ) async throws(RedisError) -> (items: [ScoredItem], degraded: Bool) {
        let (list, degraded) = try await cachedList(domain, PopularCache.key(domain, window)) { () async throws(RedisError) in
            try await features.popular(domain, window: window, limit: .max, now: now).filter { $0.score > 0 }
        }
        return (list.items(in: group), degraded)
    }

    /// What is rising now (``FeatureReader/trending(_:limit:now:)``: the short window's rate against the
    /// long window's), per group if asked; while Redis is down, the last list read (`degraded`), or the
    /// error when there is none.
    public func trending(_ domain: EventDomain, group: String?, now: Int64) async throws(RedisError) -> (items: [ScoredItem], degraded: Bool) {
        let (list, degraded) = try await cachedList(domain, PopularCache.key(domain, nil)) { () async throws(RedisError) in
            try await features.trending(domain, limit: .max, now: now)
        }
        return (list.items(in: group), degraded)
    }

    /// A list over all items read from Redis at most every `popularMaxAge` (`read`: every item with a
    /// score, best first), its groups' lists made at once; the last one read while Redis is down.
    private func cachedList(
        _ domain: EventDomain, _ key: String, read: () async throws(RedisError) -> [ScoredItem]
    ) async throws(RedisError) -> (list: PopularList, degraded: Bool) {
        if popularMaxAge > .zero, let recent = popularCache.fresh(for: key, maxAge: popularMaxAge) { return (recent, false) }
        do {
            let groups = groups
            let list = PopularList(items: try await read(), groupsOf: { groups(domain, $0) }, perGroup: Self.popularListLength)
            popularCache.store(list, for: key)
            return (list, false)
        } catch {
            guard let cached = popularCache.list(for: key) else { throw error }
            return (cached, true)
        }
    }

    /// Popular now (Redis window, per group if asked; the last list read while Redis is down); the
    /// model's training popularity when there is no list.
    private func popular(
        _ request: RecommendationRequest, excluded: Set<String>, model: ServingModel?, now: Int64, redisError: RedisError?
    ) async throws(RedisError) -> RecommendationResult {
        var degraded = redisError != nil
        let window = request.window ?? popularWindow
        var list: [ScoredItem]?
        if redisError == nil {
            do {
                let read = try await popular(request.domain, window: window, group: request.group, now: now)
                list = read.items
                degraded = read.degraded
            } catch {
                guard model != nil else { throw error }
                degraded = true
            }
        } else {
            list = popularCache.list(for: PopularCache.key(request.domain, window))?.items(in: request.group)
            if list == nil, model == nil, let redisError { throw redisError }
        }
        if let list {
            let items = excluded.isEmpty ? list.prefix(request.k) : ArraySlice(list.lazy.filter { !excluded.contains($0.item) }.prefix(request.k))
            if !items.isEmpty || model == nil {
                return RecommendationResult(strategy: .popular, items: Array(items), modelVersion: nil, degraded: degraded)
            }
        }
        let served = model!
        let bundle = served.bundle
        // The model's training popularity, best first: the first k items that pass the filters.
        var items: [ScoredItem] = []
        for index in served.popularityOrder {
            if items.count == request.k { break }
            let id = bundle.itemIDs[Int(index)]
            if excluded.contains(id) { continue }
            if let group = request.group, !(groups(request.domain, id)?.contains(group) ?? false) { continue }
            items.append(ScoredItem(item: id, score: Double(bundle.popularity[Int(index)])))
        }
        return RecommendationResult(strategy: .popular, items: items, modelVersion: served.manifest.version, degraded: degraded)
    }
}
