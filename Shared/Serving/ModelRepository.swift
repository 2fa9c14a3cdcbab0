import ClientRuntime
import Events
import Logging
import ModelStore
import Recommender
import Synchronization
import ModelRegistry

/// A production model loaded for serving: the bundle, its manifest, and the index of every id.
public final class ServingModel: Sendable {
    public let manifest: ModelManifest
    public let bundle: ModelBundle
    public let userIndex: [String: Int32]
    public let itemIndex: [String: Int32]
    /// Euclidean norm of each item's ALS factor vector, for cosine similarity.
    let itemNorms: [Float]
    /// With sequence-aware EASE: EASE's scores of every training user's history (users × items, row-major),
    /// made once at load, so a request reads one row and adds only the user's events since training
    /// instead of re-reading an item–item row per history entry. Nil when it would exceed
    /// ``precomputedScoresLimit`` bytes (then each request sums the rows).
    let trainingEASEScores: [Float]?
    /// Item indices by training popularity, highest first (ties: lower index first, as ``TopK`` breaks them):
    /// the popular answer when Redis has no list walks it until k items pass the filters, instead of
    /// selecting from every item's popularity per request (60 000 items at the cost curves' 100×).
    let popularityOrder: [Int32]
    /// 512 MiB: MovieLens 100K takes 6 MiB, 1M 85 MiB.
    public static let precomputedScoresLimit = 512 << 20
    /// ALS's item factors in 8 bits, for catalogs of at least `quantizedScoringMinItems` items on a CPU that
    /// runs their kernel: a request's top-N from ALS scores every item's upper bound from these (a quarter of
    /// the bytes, integer arithmetic) and only the highest exactly, with the same answer
    /// (``ImplicitALS/topItems(vector:k:quantized:excluded:)``). Nil otherwise: every item scored in floats.
    public let quantizedItemFactors: QuantizedItemFactors?
    /// `inference.quantized_scoring_min_items`'s default: at 60 000 items the quantized pass cut the API's CPU
    /// per request (docs/benchmarks.md); under ~10 000 items the float pass reads under 2.5 MB, cache-resident,
    /// and what is left to save is about what the candidates' exact scoring costs.
    public static let defaultQuantizedScoringMinItems = 10_000

    public init(manifest: ModelManifest, bundle: ModelBundle, quantizedScoringMinItems: Int = ServingModel.defaultQuantizedScoringMinItems) {
        self.manifest = manifest
        self.bundle = bundle
        quantizedItemFactors = bundle.itemIDs.count >= quantizedScoringMinItems && QuantizedItemFactors.isAccelerated
            ? QuantizedItemFactors(bundle.implicitALS) : nil
        userIndex = Dictionary(uniqueKeysWithValues: bundle.userIDs.enumerated().map { ($1, Int32($0)) })
        itemIndex = Dictionary(uniqueKeysWithValues: bundle.itemIDs.enumerated().map { ($1, Int32($0)) })
        let users = bundle.histories.userCount, items = bundle.itemIDs.count
        if let model = bundle.sequenceAwareEASE, users * items * MemoryLayout<Float>.size <= Self.precomputedScoresLimit {
            var all = [Float](repeating: 0, count: users * items)
            all.withUnsafeMutableBufferPointer { buffer in
                for user in 0..<users {
                    let history = bundle.histories.weightedHistory(of: user)
                    model.ease.addRows(history.map(\.item), weights: history.map(\.weight), into: UnsafeMutableBufferPointer(rebasing: buffer[(user * items)..<((user + 1) * items)]))
                }
            }
            trainingEASEScores = all
        } else {
            trainingEASEScores = nil
        }
        let popularity = bundle.popularity
        // (NaN scores are left out, as ``TopK`` skips them.)
        popularityOrder = popularity.indices.filter { !popularity[$0].isNaN }.map(Int32.init).sorted { popularity[Int($0)] != popularity[Int($1)] ? popularity[Int($0)] > popularity[Int($1)] : $0 < $1 }
        let k = bundle.implicitALS.configuration.factors
        let factors = bundle.implicitALS.itemFactors
        itemNorms = (0..<bundle.itemIDs.count).map { item in
            var sum: Float = 0
            for f in 0..<k { sum += factors[item * k + f] * factors[item * k + f] }
            return sum.squareRoot()
        }
    }

    /// The `k` items most similar to `item`, best first, from the served top-N model: with sequence-aware
    /// EASE, the items whose scores `item` raises most (its row of EASE's item–item weights: people who
    /// took it went on to these); with ALS, the cosine of item factors. Nil if the model does not know the
    /// item. Items without signal (no positive weight, zero vectors) are never returned.
    public func similar(to item: String, k: Int) -> [(item: String, score: Float)]? {
        guard let index = itemIndex[item].map(Int.init) else { return nil }
        if let model = bundle.sequenceAwareEASE {
            let n = model.ease.itemCount
            return model.ease.weights.withUnsafeBufferPointer { weights in
                TopK.select(UnsafeBufferPointer(rebasing: weights[(index * n)..<(index * n + n)]), k: k) { $0 == index || weights[index * n + $0] <= 0 }
            }.map { (bundle.itemIDs[$0.index], $0.score) }
        }
        let factors = bundle.implicitALS.configuration.factors
        let query = Array(bundle.implicitALS.itemFactors[(index * factors)..<(index * factors + factors)])
        var scores = [Float](repeating: 0, count: bundle.itemIDs.count)
        query.withUnsafeBufferPointer { q in scores.withUnsafeMutableBufferPointer { bundle.implicitALS.scoreAll(userVector: q, into: $0) } }
        let norm = itemNorms[index]
        for other in scores.indices { scores[other] = norm > 0 && itemNorms[other] > 0 ? scores[other] / (norm * itemNorms[other]) : 0 }
        return TopK.select(scores, k: k) { $0 == index || itemNorms[$0] == 0 }.map { (bundle.itemIDs[$0.index], $0.score) }
    }

    /// Whether the model predicts ratings (the domain had explicit ratings to train on).
    public var predictsRatings: Bool { bundle.bayesianRatings != nil || bundle.ratings != nil }

    /// The predicted rating of each item in `items` (item indices; -1 for one the model does not know,
    /// which gets the user's baseline) for someone who rated `ratings`: folded into Bayesian MF (posterior
    /// mean) where it won the trainer's rating choice, else into biased MF. Nil without a rating model.
    func predictions(_ ratings: [(item: Int, rating: Float)], items: some Sequence<Int>) -> [Float]? {
        if let bayesian = bundle.bayesianRatings {
            let user = bayesian.foldIn(ratings)
            return items.map { bayesian.predict(user, item: $0) }
        }
        guard let mf = bundle.ratings else { return nil }
        let user = mf.foldIn(ratings)
        return items.map { mf.predict(user, item: $0) }
    }

    /// Predicted ratings for someone who rated `ratings` (item index, rating), then the `k` best-predicted
    /// items they did not rate, best first. Only items with at least `minimumSupport` training popularity
    /// are candidates (a film rated once, five stars, has a large uncertain bias). Nil when the model has
    /// no rating part.
    public func predictedRatings(_ ratings: [(item: Int, rating: Float)], k: Int, minimumSupport: Float) -> [(item: String, rating: Float)]? {
        let rated = Set(ratings.map(\.item))
        let popularity = bundle.popularity
        guard let predictions = predictions(ratings, items: bundle.itemIDs.indices) else { return nil }
        return TopK.select(predictions, k: k) { rated.contains($0) || popularity[$0] < minimumSupport }.map { (bundle.itemIDs[$0.index], $0.score) }
    }

    /// Predicted ratings of exactly `items` (item indices; -1 for an item the model does not know, which
    /// gets the user's baseline) for someone who rated `ratings`. Nil when the model has no rating part.
    public func predictedRatings(_ ratings: [(item: Int, rating: Float)], for items: [Int]) -> [Float]? {
        predictions(ratings, items: items)
    }

    /// The item (among `candidates`, item indices) whose ALS factors are nearest by cosine to `item`'s:
    /// the "because you liked …" of a recommendation. Nil without a candidate of positive similarity.
    public func nearest(to item: Int32, among candidates: [Int32]) -> Int32? {
        let k = bundle.implicitALS.configuration.factors
        let factors = bundle.implicitALS.itemFactors
        let target = Int(item)
        guard itemNorms[target] > 0 else { return nil }
        var best: (index: Int32, cosine: Float)?
        for candidate in candidates where candidate != item && itemNorms[Int(candidate)] > 0 {
            var dot: Float = 0
            for f in 0..<k { dot += factors[target * k + f] * factors[Int(candidate) * k + f] }
            let cosine = dot / (itemNorms[target] * itemNorms[Int(candidate)])
            if cosine > (best?.cosine ?? 0) { best = (candidate, cosine) }
        }
        return best?.index
    }

    /// Scores of every item from sequence-aware EASE for a user whose training history (if the model
    /// knows them) is followed by `fresh` (item index and weight in EASE's input, oldest first): the
    /// trained histories times EASE's weights, blended with the transitions after the latest items. A like
    /// posted a second ago counts at once, with no solve.
    func sequenceAwareEASEScores(_ model: SequenceAwareEASE, user: Int32?, fresh: [(item: Int32, weight: Float)], into scores: UnsafeMutableBufferPointer<Float>) {
        let items = bundle.itemIDs.count
        if let user, let trained = trainingEASEScores {
            trained.withUnsafeBufferPointer { all in
                for index in 0..<items { scores[index] = all[Int(user) * items + index] }
            }
        } else {
            for index in 0..<items { scores[index] = 0 }
            if let user {
                let history = bundle.histories.weightedHistory(of: Int(user))
                model.ease.addRows(history.map(\.item), weights: history.map(\.weight), into: scores)
            }
        }
        model.ease.addRows(fresh.map(\.item), weights: fresh.map(\.weight), into: scores)
        // Only the latest items feed the transitions.
        let recent = model.configuration.transitions.recentItems
        var ordered = user.map { Array(bundle.histories.items(of: Int($0)).suffix(recent)) } ?? []
        ordered += fresh.suffix(recent).map(\.item)
        model.blendTransitions(after: ordered, into: scores)
    }

    /// The stored factor vector of a user the model was trained on.
    public func userVector(_ user: String) -> [Float]? {
        guard let index = userIndex[user] else { return nil }
        let k = bundle.implicitALS.configuration.factors
        return Array(bundle.implicitALS.userFactors[(Int(index) * k)..<(Int(index) * k + k)])
    }
}

/// The models being served, one per domain, swapped atomically: a reload loads and verifies the new
/// artifact completely before the swap, requests in flight keep the model they started with, and a
/// corrupted or unreadable artifact is refused while the old model keeps serving.
public final class ModelRepository: Sendable {
    private let models = Mutex<[EventDomain: ServingModel]>([:])
    /// Registered versions loaded besides production: the arms of running experiments (``loadVersion(_:)``).
    let versions = Mutex<[String: ServingModel]>([:])
    let registry: ModelRegistry
    let artifacts: ArtifactStore
    private let logger: Logger
    /// Called after each swap with (domain's name, new version, previous version): metrics, logs.
    private let onSwap: @Sendable (String, String, String?) -> Void
    /// Catalogs of at least this many items are scored through quantized factors (``ServingModel/quantizedItemFactors``).
    let quantizedScoringMinItems: Int

    public init(
        registry: ModelRegistry, artifacts: ArtifactStore, logger: Logger, quantizedScoringMinItems: Int = ServingModel.defaultQuantizedScoringMinItems,
        onSwap: @escaping @Sendable (String, String, String?) -> Void = { _, _, _ in }
    ) {
        self.registry = registry
        self.artifacts = artifacts
        self.logger = logger
        self.quantizedScoringMinItems = quantizedScoringMinItems
        self.onSwap = onSwap
    }

    public func model(for domain: EventDomain) -> ServingModel? {
        models.withLock { $0[domain] }
    }

    /// Loads the registry's production version of `domain` if it is not the one served. Returns the
    /// version now served (nil: no production model yet). Throws, keeping the old model, if the artifact
    /// is missing, corrupted or does not match the registry's checksum.
    @discardableResult
    public func reload(domain: EventDomain) async throws -> String? {
        guard let entry = try await registry.production(domain: domain.name) else { return model(for: domain)?.manifest.version }
        if model(for: domain)?.manifest.version == entry.version { return entry.version }
        let path = entry.path
        let artifacts = artifacts
        let quantizedScoringMinItems = quantizedScoringMinItems
        let loadStarted = ContinuousClock.now
        // Reading, hashing and decoding a large artifact takes a while: off the cooperative pool.
        let loaded: Result<ServingModel, any Error> = await onDedicatedThread {
            Result {
                let artifact = try artifacts.read(path: path)
                guard artifact.payloadSHA256 == entry.sha256 else {
                    throw ModelArtifactError.checksumMismatch(part: "payload (registry sha256 \(entry.sha256.prefix(12))…)")
                }
                return ServingModel(manifest: artifact.manifest, bundle: try ModelBundle.decode(artifact.payload), quantizedScoringMinItems: quantizedScoringMinItems)
            }
        }
        let model = try loaded.get()
        let previous = models.withLock { models in
            defer { models[domain] = model }
            return models[domain]?.manifest.version
        }
        // load_seconds: reading, checking and decoding the artifact (what a larger catalog costs at startup and swap).
        logger.info("serving model", metadata: [
            "domain": "\(domain.name)", "version": "\(entry.version)", "previous": "\(previous ?? "none")",
            "load_seconds": "\(((ContinuousClock.now - loadStarted).inSeconds * 1000).rounded() / 1000)",
            "quantized_scoring": "\(model.quantizedItemFactors != nil)",
        ])
        onSwap(domain.name, entry.version, previous)
        return entry.version
    }
}
