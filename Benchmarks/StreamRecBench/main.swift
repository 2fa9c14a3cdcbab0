import Foundation
import ClientRuntime
import Events
import Recommender
import Kafka
import Logging
import Redis

// Benchmarks of the foundation clients. Each prints one machine-readable line:
//   result name=<what> ops=<count> seconds=<wall time> rate=<ops per second>
// scripts/bench/foundation.sh runs them side by side with kcat and redis-benchmark.

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) { FileHandle.standardError.write(Data(string.utf8)) }
}
nonisolated(unsafe) var standardError = StandardError()

/// The machine-readable line every benchmark prints; `extra` adds `key=value` fields.
func report(_ name: String, operations: Int, elapsed: Duration, extra: String = "") {
    let seconds = elapsed.inSeconds
    print("result name=\(name) ops=\(operations) seconds=\(String(format: "%.3f", seconds)) rate=\(String(format: "%.0f", Double(operations) / seconds))" + (extra.isEmpty ? "" : " " + extra))
}

/// Produces `messages` records of `size` bytes with the same settings kcat gets, keeping at most
/// `window` chunks of `chunk` records in flight (librdkafka's queue holds 100k by default).
func kafkaProducer(_ arguments: KafkaProducerBenchmark) async throws {
    let brokers = arguments.brokers.split(separator: ",").map(String.init)
    let topic = arguments.topic
    let count = arguments.messages
    let size = arguments.size
    let chunk = arguments.chunk
    let window = arguments.window
    let compression = KafkaCompression(rawValue: arguments.compression) ?? .none
    let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(
        bootstrapServers: brokers, clientID: "streamrec-bench", enableIdempotence: arguments.idempotence == "true", acks: "all",
        compression: compression, linger: .milliseconds(arguments.lingerMs), batchMaxMessages: 10_000,
        queueMaxMessages: arguments.queue, deliveryTimeout: .seconds(60),
        pollInterval: .milliseconds(arguments.pollMs),
        additionalProperties: arguments.common.debug.map { ["debug": $0] } ?? [:]
    ))
    let payload = [UInt8](repeating: UInt8(ascii: "x"), count: size)
    let chunks = stride(from: 0, to: count, by: chunk).map { start in
        (start..<min(start + chunk, count)).map { _ in KafkaProducerMessage(topic: topic, key: nil, value: payload) }
    }
    let warmupStarted = ContinuousClock.now
    if arguments.warmup > 0 {
        _ = try await producer.send(KafkaProducerMessage(topic: topic, key: nil, value: payload))
        print("warmup took \(ContinuousClock.now - warmupStarted)", to: &standardError)
    }
    let started = ContinuousClock.now
    let failures = try await withThrowingTaskGroup(of: Int.self) { group in
        var failures = 0
        var next = 0
        while next < min(window, chunks.count) {
            let messages = chunks[next]
            group.addTask { await producer.send(messages).filter { if case .failure = $0 { true } else { false } }.count }
            next += 1
        }
        while let failed = try await group.next() {
            failures += failed
            if next < chunks.count {
                let messages = chunks[next]
                group.addTask { await producer.send(messages).filter { if case .failure = $0 { true } else { false } }.count }
                next += 1
            }
        }
        return failures
    }
    let elapsed = ContinuousClock.now - started
    await producer.shutdown()
    guard failures == 0 else {
        print("error: \(failures) records failed")
        exit(1)
    }
    report("swift-producer", operations: count, elapsed: elapsed)
}

func createTopic(_ arguments: CreateTopicCommand) async throws {
    let brokers = arguments.brokers.split(separator: ",").map(String.init)
    let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(bootstrapServers: brokers))
    try await admin.createTopics([KafkaTopicSpecification(name: arguments.name, partitions: arguments.partitions)])
    await admin.shutdown()
}

/// `concurrency` tasks, each sending pipelines of `pipeline` commands until `ops` commands were sent in
/// total (as redis-benchmark -c N -P P does with N connections), over the client's `connections` lanes.
func redis(_ arguments: RedisBenchmark) async throws {
    let concurrency = arguments.concurrency
    let connections = arguments.connections
    let pipeline = arguments.pipeline
    let operations = arguments.ops
    let command = arguments.command
    let client = RedisClient(configuration: RedisConfiguration(
        host: arguments.host, port: arguments.port,
        connections: connections
    ))
    let key = "bench:\(command):\(UUID().uuidString.prefix(8))"
    func batch(_ offset: Int) -> [RedisCommand] {
        (0..<pipeline).map { index in
            command == "zincrby"
                ? RedisCommand("ZINCRBY", key, 1, "member:\((offset + index) % 10_000)")
                : RedisCommand("INCR", key)
        }
    }
    let perTask = operations / concurrency / pipeline
    _ = try await client.send("PING")
    let started = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for task in 0..<concurrency {
            group.addTask {
                for round in 0..<perTask {
                    let replies = try await client.pipeline(batch((task * perTask + round) * pipeline))
                    if case .error(let message) = replies[0] { throw RedisError.server(message) }
                }
            }
        }
        try await group.waitForAll()
    }
    let elapsed = ContinuousClock.now - started
    let sent = perTask * concurrency * pipeline
    if command == "incr" {
        let total = try await client.send("GET", key).int
        guard total == Int64(sent) else {
            print("error: counter is \(String(describing: total)), expected \(sent)")
            exit(1)
        }
    }
    try await client.send("DEL", key)
    await client.shutdown()
    report("swift-redis-\(command)-tasks\(concurrency)-conns\(connections)-P\(pipeline)", operations: sent, elapsed: elapsed)
}

/// Parse + validate + canonical JSON of `count` events, in process: the gateway's per-event CPU cost.
func eventsCodec(_ arguments: EventsCodecBenchmark) {
    let count = arguments.events
    let validator = EventValidator()
    let now = EventTimestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
    let at = RFC3339.format(now)
    let bodies = (0..<1000).map { index in
        Array(#"{"type":"movie.rating","user_id":"u\#(index)","item_id":"m\#(index % 1682)","occurred_at":"\#(at)","value":4.5,"context":{"device":"web"}}"#.utf8)
    }
    var bytes = 0
    let started = ContinuousClock.now
    for index in 0..<count {
        switch validator.validate(bytes: bodies[index % bodies.count], now: now, newEventID: EventID.random) {
        case .success(let event): bytes += event.canonicalJSON().count
        case .failure(let error): fatalError("\(error)")
        }
    }
    let elapsed = ContinuousClock.now - started
    report("events-parse-validate-canonicalize", operations: count, elapsed: elapsed)
    if bytes == 0 { print("unreachable") }
}

/// The quality of `POST /v1/predict` for people the model has never seen: users are split into `folds`
/// groups; for each, the rating model is fitted as the trainer fits it (validation picks the epochs, then
/// all of train) on the other users, and each held-out user's ratings, in time order, are split into a
/// profile (the first `n`, what they would send) and targets (everything after their first
/// `largest profile` ratings, the same targets for every `n`). The served fold-in
/// (`BiasedMF.foldIn`, as `ServingModel.predictedRatings` calls it) is compared with the global mean and
/// with the item baseline (mean + item bias: what a model without the profile can say).
func predictEvaluation(_ arguments: PredictEvaluationBenchmark) throws {
    let path = arguments.data
    let dataset = try RatingsDataset.parse(String(contentsOfFile: path, encoding: .utf8))
    let folds = arguments.folds
    let profiles = arguments.profiles.split(separator: ",").compactMap { Int($0) }.sorted()
    let largest = profiles.last ?? 20
    var configuration = BiasedMF.Configuration()
    configuration.factors = arguments.factors ?? configuration.factors
    // --prior/--bias-prior fix the fold-in penalties; --select chooses them per fold on validation users
    // cut from that fold's training users (never on its test users).
    let fixedPrior = arguments.prior ?? 5
    let fixedBiasPrior = arguments.biasPrior ?? 10
    let select = arguments.select.map { !["0", "false", "no"].contains($0) } ?? false
    var generator = SeededRandom(seed: 42)
    var users = Array(0..<dataset.users.count)
    users.shuffle(using: &generator)
    var fold = [Int](repeating: 0, count: dataset.users.count)
    var position = [Int](repeating: 0, count: dataset.users.count)
    for (index, user) in users.enumerated() { (fold[user], position[user]) = (index % folds, index) }

    /// The rating model as the trainer fits it: validation picks the epochs, then all of `train`.
    func fitAsTrainer(_ train: [Interaction]) -> BiasedMF {
        let (fitPart, validation) = Splits.random(train, testFraction: 0.1, seed: 7)
        let (_, history) = BiasedMF.fit(train: fitPart, validation: validation, userCount: dataset.users.count, itemCount: dataset.items.count, configuration: configuration)
        var full = configuration
        full.maximumEpochs = max(1, history.bestEpoch + 1)
        return BiasedMF.fit(train: train, userCount: dataset.users.count, itemCount: dataset.items.count, configuration: full).model
    }
    /// Each user's ratings in time order, for users with more than `largest` of them.
    func orderedProfiles(_ interactions: [Interaction]) -> [[Interaction]] {
        Dictionary(grouping: interactions, by: \.user).values
            .map { $0.sorted { ($0.timestamp, $0.item) < ($1.timestamp, $1.item) } }
            .filter { $0.count > largest }
            .sorted { $0[0].user < $1[0].user }
    }
    /// Squared errors over the targets (ratings after the first `largest`) for each profile size.
    func squaredErrors(_ model: BiasedMF, _ people: [[Interaction]], prior: Float, biasPrior: Float) -> [Double] {
        var squared = [Double](repeating: 0, count: profiles.count)
        for ordered in people {
            let folded = profiles.map { n in model.foldIn(ordered.prefix(n).map { (Int($0.item), $0.value) }, prior: prior, biasPrior: biasPrior) }
            for target in ordered[largest...] {
                for (index, user) in folded.enumerated() { squared[index] += pow(Double(model.predict(user, item: Int(target.item))) - Double(target.value), 2) }
            }
        }
        return squared
    }

    // "global mean", "item baseline", then one per profile size.
    var squared = [Double](repeating: 0, count: 2 + profiles.count)
    var targetCount = 0
    var heldOutUsers = 0
    var chosen: [String] = []
    let started = ContinuousClock.now
    for current in 0..<folds {
        let train = dataset.interactions.filter { fold[Int($0.user)] != current }
        var prior = fixedPrior
        var biasPrior = fixedBiasPrior
        if select {
            // Validation users: every fifth training user (by the shuffled order), fitted without them.
            let isValidation = { (user: Int32) in position[Int(user)] / folds % 5 == 0 }
            let inner = fitAsTrainer(train.filter { !isValidation($0.user) })
            let validationPeople = orderedProfiles(train.filter { isValidation($0.user) })
            var best = (error: Double.infinity, prior: fixedPrior, biasPrior: fixedBiasPrior)
            for candidatePrior: Float in [1, 2, 5, 10, 20, 50] {
                for candidateBias: Float in [0.2, 1, 2, 5, 10, 20] {
                    let error = squaredErrors(inner, validationPeople, prior: candidatePrior, biasPrior: candidateBias).reduce(0, +)
                    if error < best.error { best = (error, candidatePrior, candidateBias) }
                }
            }
            (prior, biasPrior) = (best.prior, best.biasPrior)
            chosen.append("\(prior)/\(biasPrior)")
        }
        let model = fitAsTrainer(train)
        let people = orderedProfiles(dataset.interactions.filter { fold[Int($0.user)] == current })
        heldOutUsers += people.count
        let itemBaseline = model.foldIn([])
        for ordered in people {
            for target in ordered[largest...] {
                targetCount += 1
                let actual = Double(target.value)
                squared[0] += pow(Double(model.globalMean) - actual, 2)
                squared[1] += pow(Double(model.predict(itemBaseline, item: Int(target.item))) - actual, 2)
            }
        }
        for (index, value) in squaredErrors(model, people, prior: prior, biasPrior: biasPrior).enumerated() { squared[2 + index] += value }
    }
    let elapsed = ContinuousClock.now - started
    let rmse = squared.map { ($0 / Double(max(1, targetCount))).squareRoot() }
    let priors = select ? "selected per fold (prior/bias prior): \(chosen.joined(separator: " "))" : "prior=\(fixedPrior) bias_prior=\(fixedBiasPrior)"
    print("predict-eval folds=\(folds) held_out_users=\(heldOutUsers) targets=\(targetCount) factors=\(configuration.factors) \(priors) seconds=\(elapsed)")
    print("result name=global-mean rmse=\(String(format: "%.4f", rmse[0]))")
    print("result name=item-baseline rmse=\(String(format: "%.4f", rmse[1]))")
    for (index, n) in profiles.enumerated() {
        print("result name=fold-in profile=\(n) rmse=\(String(format: "%.4f", rmse[2 + index]))")
    }
}

/// Quality of the explicit-rating model and popularity on MovieLens, both protocols.
func recommenderEvaluation(_ arguments: RecommenderEvaluationBenchmark) throws {
    let path = arguments.data
    let dataset = try RatingsDataset.parse(String(contentsOfFile: path, encoding: .utf8))
    var configuration = BiasedMF.Configuration()
    configuration.factors = arguments.factors ?? configuration.factors
    configuration.maximumEpochs = arguments.epochs ?? configuration.maximumEpochs
    if let rate = arguments.lr { configuration.learningRate = rate }
    if let reg = arguments.reg { configuration.regularization = reg }
    for (protocolName, split) in [
        ("random", Splits.random(dataset.interactions, testFraction: 0.2, seed: 42)),
        ("temporal", Splits.temporal(dataset.interactions, testFraction: 0.2)),
    ] {
        // Validation is cut from train (never from test).
        let inner = Splits.random(split.train, testFraction: 0.1, seed: 7)
        if arguments.mfSearch != nil {
            let chosen = ModelSelection.biasedMF(train: inner.train, validation: inner.test, userCount: dataset.users.count, itemCount: dataset.items.count, base: configuration)
            configuration = chosen.configuration
            print("search name=biased-mf-\(protocolName) lr=\(chosen.configuration.learningRate) reg=\(chosen.configuration.regularization) validation_rmse=\(String(format: "%.4f", chosen.validationRMSE))")
        }
        let started = ContinuousClock.now
        let (model, history) = BiasedMF.fit(
            train: inner.train, validation: inner.test, userCount: dataset.users.count, itemCount: dataset.items.count,
            configuration: configuration
        )
        let elapsed = ContinuousClock.now - started
        let predictions = split.test.map { Double(model.predict(user: Int($0.user), item: Int($0.item))) }
        let actual = split.test.map { Double($0.value) }
        print("result name=biased-mf-\(protocolName) rmse=\(String(format: "%.4f", Metrics.rmse(predicted: predictions, actual: actual))) mae=\(String(format: "%.4f", Metrics.mae(predicted: predictions, actual: actual))) best_epoch=\(history.bestEpoch) fit_seconds=\(elapsed)")

        // kNN baseline, and a linear blend of MF and kNN fitted on validation (models refitted on all of train).
        let knnInner = KNNBaseline.fit(inner.train, userCount: dataset.users.count, itemCount: dataset.items.count)
        let (svdppInner, svdppEpoch) = SVDPlusPlus.fit(train: inner.train, validation: inner.test, userCount: dataset.users.count, itemCount: dataset.items.count)
        var bayesianConfiguration = BayesianMF.Configuration()
        bayesianConfiguration.factors = arguments.bmfFactors ?? bayesianConfiguration.factors
        bayesianConfiguration.iterations = arguments.bmfIterations ?? bayesianConfiguration.iterations
        let bayesianInner = BayesianMF.fit(train: inner.train, userCount: dataset.users.count, itemCount: dataset.items.count, configuration: bayesianConfiguration)
        let validationPredictions = [
            inner.test.map { Double(model.predict(user: Int($0.user), item: Int($0.item))) },
            inner.test.map { Double(knnInner.predict(user: Int($0.user), item: Int($0.item))) },
            inner.test.map { Double(svdppInner.predict(user: Int($0.user), item: Int($0.item))) },
            inner.test.map { Double(bayesianInner.predict(user: Int($0.user), item: Int($0.item))) },
        ]
        let blend = RatingBlend.fit(predictions: validationPredictions, actual: inner.test.map { Double($0.value) })
        let knn = KNNBaseline.fit(split.train, userCount: dataset.users.count, itemCount: dataset.items.count)
        var fullConfiguration = configuration
        fullConfiguration.maximumEpochs = history.bestEpoch + 1
        let fullMF = BiasedMF.fit(train: split.train, userCount: dataset.users.count, itemCount: dataset.items.count, configuration: fullConfiguration).model
        let knnPredictions = split.test.map { Double(knn.predict(user: Int($0.user), item: Int($0.item))) }
        let fullMFPredictions = split.test.map { Double(fullMF.predict(user: Int($0.user), item: Int($0.item))) }
        var svdppConfiguration = SVDPlusPlus.Configuration()
        svdppConfiguration.maximumEpochs = svdppEpoch + 1
        let svdpp = SVDPlusPlus.fit(train: split.train, userCount: dataset.users.count, itemCount: dataset.items.count, configuration: svdppConfiguration).model
        let svdppPredictions = split.test.map { Double(svdpp.predict(user: Int($0.user), item: Int($0.item))) }
        print("result name=svdpp-\(protocolName) rmse=\(String(format: "%.4f", Metrics.rmse(predicted: svdppPredictions, actual: actual))) epochs=\(svdppEpoch + 1)")
        let bayesianStarted = ContinuousClock.now
        let bayesian = BayesianMF.fit(train: split.train, userCount: dataset.users.count, itemCount: dataset.items.count, configuration: bayesianConfiguration)
        let bayesianElapsed = ContinuousClock.now - bayesianStarted
        let bayesianPredictions = split.test.map { Double(bayesian.predict(user: Int($0.user), item: Int($0.item))) }
        print("result name=bayesian-mf-\(protocolName) rmse=\(String(format: "%.4f", Metrics.rmse(predicted: bayesianPredictions, actual: actual))) factors=\(bayesianConfiguration.factors) sweeps=\(bayesianConfiguration.iterations) fit_seconds=\(bayesianElapsed)")
        let blended = (0..<split.test.count).map {
            min(5, max(0.5, blend.combine([fullMFPredictions[$0], knnPredictions[$0], svdppPredictions[$0], bayesianPredictions[$0]])))
        }
        print("result name=knn-baseline-\(protocolName) rmse=\(String(format: "%.4f", Metrics.rmse(predicted: knnPredictions, actual: actual)))")
        print("result name=mf-refit-\(protocolName) rmse=\(String(format: "%.4f", Metrics.rmse(predicted: fullMFPredictions, actual: actual))) epochs=\(fullConfiguration.maximumEpochs)")
        print("result name=blend-mf-knn-svdpp-bayesian-\(protocolName) rmse=\(String(format: "%.4f", Metrics.rmse(predicted: blended, actual: actual))) mae=\(String(format: "%.4f", Metrics.mae(predicted: blended, actual: actual))) weights=\(blend.weights.map { String(format: "%.3f", $0) })")

        // Popularity top-10 (positives: rating >= 4), excluding what the user rated in train.
        let popularity = Popularity(split.train, itemCount: dataset.items.count) { $0.value >= 4 }
        var seen: [Int32: Set<Int32>] = [:]
        for interaction in split.train { seen[interaction.user, default: []].insert(interaction.item) }
        var relevant: [Int32: Set<Int32>] = [:]
        for interaction in split.test where interaction.value >= 4 { relevant[interaction.user, default: []].insert(interaction.item) }
        var recommendations: [Int32: [Int32]] = [:]
        for user in relevant.keys {
            let excluded = seen[user] ?? []
            recommendations[user] = popularity.top(10) { excluded.contains(Int32($0)) }
        }
        let ranking = Metrics.ranking(recommendations: recommendations, relevant: relevant, k: 10, catalogSize: dataset.items.count)

        // Implicit ALS on the positives of train.
        var alsConfiguration = ImplicitALS.Configuration()
        alsConfiguration.factors = arguments.alsFactors ?? alsConfiguration.factors
        alsConfiguration.iterations = arguments.alsIterations ?? alsConfiguration.iterations
        if let value = arguments.alsReg { alsConfiguration.regularization = value }
        if let value = arguments.alsAlpha { alsConfiguration.alpha = value }
        if let value = arguments.alsW0 { alsConfiguration.unobservedWeight = value }
        let positives = split.train.filter { $0.value >= 4 }.map { Interaction(user: $0.user, item: $0.item, value: 1, timestamp: $0.timestamp) }
        if arguments.alsSearch != nil {
            alsConfiguration.iterations = 15
            let searchStarted = ContinuousClock.now
            let (chosen, validationNDCG) = ModelSelection.implicitALS(positives: positives, userCount: dataset.users.count, itemCount: dataset.items.count, base: alsConfiguration)
            alsConfiguration = chosen
            print("search name=implicit-als-\(protocolName) factors=\(chosen.factors) reg=\(chosen.regularization) alpha=\(chosen.alpha) validation_ndcg10=\(String(format: "%.4f", validationNDCG)) search_seconds=\(ContinuousClock.now - searchStarted)")
        }
        let alsStarted = ContinuousClock.now
        let als = ImplicitALS.fit(InteractionMatrix(positives, userCount: dataset.users.count, itemCount: dataset.items.count), configuration: alsConfiguration)
        let alsElapsed = ContinuousClock.now - alsStarted
        var alsRecommendations: [Int32: [Int32]] = [:]
        for user in relevant.keys { alsRecommendations[user] = als.recommend(user: Int(user), k: 10, excluding: seen[user] ?? []) }
        let alsRanking = Metrics.ranking(recommendations: alsRecommendations, relevant: relevant, k: 10, catalogSize: dataset.items.count)
        // Fold-in latency (a user's whole training history) and top-20 scoring over the catalog, per user.
        let alsMatrix = InteractionMatrix(positives, userCount: dataset.users.count, itemCount: dataset.items.count)
        var foldInMicros: [Double] = []
        var topMicros: [Double] = []
        for user in 0..<dataset.users.count {
            let history = zip(alsMatrix.items(of: user), alsMatrix.values(of: user)).map { (item: $0, value: $1) }
            let t0 = ContinuousClock.now
            let vector = als.foldIn(history)
            let t1 = ContinuousClock.now
            _ = als.recommend(vector: vector, k: 20, excluding: seen[Int32(user)] ?? [])
            let t2 = ContinuousClock.now
            foldInMicros.append(Double((t1 - t0).components.attoseconds) / 1e12 + Double((t1 - t0).components.seconds) * 1e6)
            topMicros.append(Double((t2 - t1).components.attoseconds) / 1e12 + Double((t2 - t1).components.seconds) * 1e6)
        }
        func percentile(_ values: [Double], _ p: Double) -> Double {
            let sorted = values.sorted()
            return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
        }
        print("latency name=implicit-als-\(protocolName) factors=\(alsConfiguration.factors) foldin_p50_us=\(String(format: "%.1f", percentile(foldInMicros, 0.5))) foldin_p99_us=\(String(format: "%.1f", percentile(foldInMicros, 0.99))) top20_p50_us=\(String(format: "%.1f", percentile(topMicros, 0.5))) top20_p99_us=\(String(format: "%.1f", percentile(topMicros, 0.99))) catalog=\(dataset.items.count)")
        print("result name=implicit-als-\(protocolName) ndcg10=\(String(format: "%.4f", alsRanking.ndcg)) precision10=\(String(format: "%.4f", alsRanking.precision)) recall10=\(String(format: "%.4f", alsRanking.recall)) hit10=\(String(format: "%.4f", alsRanking.hitRate)) coverage10=\(String(format: "%.4f", alsRanking.coverage)) fit_seconds=\(alsElapsed)")
        // EASE, λ chosen on validation (cut from train).
        let easeSearchStarted = ContinuousClock.now
        let (easeConfiguration, easeValidation) = ModelSelection.ease(positives: positives, userCount: dataset.users.count, itemCount: dataset.items.count)
        print("search name=ease-\(protocolName) lambda=\(easeConfiguration.regularization) validation_ndcg10=\(String(format: "%.4f", easeValidation)) search_seconds=\(ContinuousClock.now - easeSearchStarted)")
        let easeMatrix = InteractionMatrix(positives, userCount: dataset.users.count, itemCount: dataset.items.count)
        let easeStarted = ContinuousClock.now
        let ease = EASE.fit(easeMatrix, configuration: easeConfiguration)
        let easeElapsed = ContinuousClock.now - easeStarted
        var easeRecommendations: [Int32: [Int32]] = [:]
        for user in relevant.keys { easeRecommendations[user] = ease.recommend(history: easeMatrix.items(of: Int(user)), k: 10, excluding: seen[user] ?? []) }
        let easeRanking = Metrics.ranking(recommendations: easeRecommendations, relevant: relevant, k: 10, catalogSize: dataset.items.count)
        print("result name=ease-\(protocolName) ndcg10=\(String(format: "%.4f", easeRanking.ndcg)) precision10=\(String(format: "%.4f", easeRanking.precision)) recall10=\(String(format: "%.4f", easeRanking.recall)) hit10=\(String(format: "%.4f", easeRanking.hitRate)) coverage10=\(String(format: "%.4f", easeRanking.coverage)) fit_seconds=\(easeElapsed)")
        // EASE over every training rating (positives weigh 1, the others less) blended with next-item
        // transitions; the weight of the others, λ, the transitions' window and recency, and the blend
        // weight chosen together on validation held out the way the protocol holds out test.
        let holdout: ValidationSplit.Holdout = protocolName == "temporal" ? .latest : .random(seed: 17)
        let sequenceSearchStarted = ContinuousClock.now
        let (sequenceConfiguration, sequenceValidation) = ModelSelection.sequenceAwareEASE(
            interactions: split.train, userCount: dataset.users.count, itemCount: dataset.items.count, holdout: holdout
        ) { $0.value >= 4 }
        print("search name=sequence-aware-ease-\(protocolName) other_weight=\(sequenceConfiguration.otherWeight) lambda=\(sequenceConfiguration.ease.regularization) window=\(sequenceConfiguration.transitions.window) recent=\(sequenceConfiguration.transitions.recentItems) ease_weight=\(sequenceConfiguration.easeWeight) validation_ndcg10=\(String(format: "%.4f", sequenceValidation)) search_seconds=\(ContinuousClock.now - sequenceSearchStarted)")
        let sequenceStarted = ContinuousClock.now
        let sequenceModel = SequenceAwareEASE.fit(split.train, userCount: dataset.users.count, itemCount: dataset.items.count, configuration: sequenceConfiguration) { $0.value >= 4 }
        let sequenceElapsed = ContinuousClock.now - sequenceStarted
        // The same model without its transitions part, to show what each part adds.
        for (name, model) in [("sequence-aware-ease", sequenceModel), ("weighted-ease", sequenceModel.with(easeWeight: 1))] {
            var lists: [Int32: [Int32]] = [:]
            for user in relevant.keys { lists[user] = model.recommend(user: user, k: 10, excluding: seen[user] ?? []).map(\.item) }
            let r = Metrics.ranking(recommendations: lists, relevant: relevant, k: 10, catalogSize: dataset.items.count)
            print("result name=\(name)-\(protocolName) ndcg10=\(String(format: "%.4f", r.ndcg)) precision10=\(String(format: "%.4f", r.precision)) recall10=\(String(format: "%.4f", r.recall)) hit10=\(String(format: "%.4f", r.hitRate)) coverage10=\(String(format: "%.4f", r.coverage)) fit_seconds=\(sequenceElapsed)")
        }
        // Blend of ALS and EASE, weight chosen on validation (models refitted on the validation-fit part).
        if arguments.alsSearch != nil {
            let split = ValidationSplit(positives, userCount: dataset.users.count, itemCount: dataset.items.count, seed: 17)
            let (weight, blendValidation) = ModelSelection.blendWeight(
                als: ImplicitALS.fit(split.matrix, configuration: alsConfiguration), ease: EASE.fit(split.matrix, configuration: easeConfiguration),
                split: split
            )
            let blend = ScoreBlend(weight: weight)
            var blendRecommendations: [Int32: [Int32]] = [:]
            for user in relevant.keys {
                blendRecommendations[user] = blend.recommend(user: Int(user), als: als, ease: ease, history: easeMatrix.items(of: Int(user)), k: 10, excluding: seen[user] ?? [])
            }
            let blendRanking = Metrics.ranking(recommendations: blendRecommendations, relevant: relevant, k: 10, catalogSize: dataset.items.count)
            print("result name=blend-als-ease-\(protocolName) als_weight=\(weight) validation_ndcg10=\(String(format: "%.4f", blendValidation)) ndcg10=\(String(format: "%.4f", blendRanking.ndcg)) precision10=\(String(format: "%.4f", blendRanking.precision)) recall10=\(String(format: "%.4f", blendRanking.recall)) hit10=\(String(format: "%.4f", blendRanking.hitRate)) coverage10=\(String(format: "%.4f", blendRanking.coverage))")
        }
        print("result name=popularity-\(protocolName) ndcg10=\(String(format: "%.4f", ranking.ndcg)) precision10=\(String(format: "%.4f", ranking.precision)) recall10=\(String(format: "%.4f", ranking.recall)) hit10=\(String(format: "%.4f", ranking.hitRate)) users=\(ranking.users)")
    }
}

/// Fit time of implicit ALS on all MovieLens positives (rating >= 4), median of `runs`, for the side-by-side
/// comparison with the `implicit` library (scripts/bench/recommender.sh).
func alsFitTime(_ arguments: ALSFitBenchmark) throws {
    let dataset = try RatingsDataset.parse(String(contentsOfFile: arguments.data, encoding: .utf8))
    let positives = dataset.interactions.filter { $0.value >= 4 }.map { Interaction(user: $0.user, item: $0.item, value: 1) }
    let matrix = InteractionMatrix(positives, userCount: dataset.users.count, itemCount: dataset.items.count)
    var configuration = ImplicitALS.Configuration()
    configuration.factors = arguments.factors
    configuration.iterations = arguments.iterations
    configuration.threads = arguments.threads
    configuration.conjugateGradientSteps = arguments.cgSteps
    var times: [Double] = []
    for _ in 0..<arguments.runs {
        let started = ContinuousClock.now
        _ = ImplicitALS.fit(matrix, configuration: configuration)
        let elapsed = ContinuousClock.now - started
        times.append(elapsed.inSeconds)
    }
    let median = times.sorted()[times.count / 2]
    print("result name=swift-als-fit factors=\(configuration.factors) iterations=\(configuration.iterations) threads=\(configuration.threads) positives=\(positives.count) seconds=\(String(format: "%.3f", median))")
}

// Top-level code would pick ParsableCommand's synchronous `main()` (which refuses an asynchronous root
// command at run time); inside an async function the asynchronous overload is chosen.
func start() async { await StreamRecBenchCommand.main() }
await start()
