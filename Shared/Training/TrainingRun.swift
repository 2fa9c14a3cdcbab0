import ClientConfiguration
import ClientRuntime
import Events
import Features
import Foundation
import Kafka
import Logging
import ModelStore
import Postgres
import Recommender
import Redis
import ServiceConfiguration

/// Everything the trainer is configured with (`trainer --help-config`).
public struct TrainerConfiguration: Sendable {
    public var artifactsDirectory = "var/artifacts"
    public var keepVersions = 5
    public var promotionMetric = "ndcg@10"
    public var promotionTolerance = 0.02
    /// Only interactions this recent are read (nil: all).
    public var historyWindow: Duration?
    public var modelUpdatedTopic = "streamrec.model-updated"
    public var parameters = TrainingParameters()
    public var postgres: PostgresConfiguration
    public var producer: KafkaProducerConfiguration
    public var migrationsDirectory = "configs/migrations"
    /// The features' Redis and layout, for `trainer backfill-features` only: the same keys and values as
    /// the stream processor's (docs/features.md, "Backfill"), so the backfill writes what the processor does.
    public var redis = RedisConfiguration()
    public var features = FeatureConfiguration()

    public init(postgres: PostgresConfiguration, producer: KafkaProducerConfiguration) {
        self.postgres = postgres
        self.producer = producer
    }

    public enum Keys {
        public static let artifacts = ConfigKey("trainer.artifacts_dir", default: "var/artifacts", "Where model artifacts are written (shared with the inference API)")
        public static let keep = ConfigKey("trainer.keep_versions", default: "5", "Artifacts kept per domain (production and its predecessor are always kept)")
        public static let metric = ConfigKey("trainer.promotion_metric", default: "ndcg@10", "Validation metric of the promotion gate (higher is better)")
        public static let tolerance = ConfigKey("trainer.promotion_tolerance", default: "0.02", "A new model is promoted unless its metric is worse than production's by more than this share")
        public static let window = ConfigKey("trainer.history_window", default: "0", "Train on interactions this recent (e.g. 180d); 0 = all")
        public static let topic = ClientConfigKeys.modelUpdatedTopic
        public static let factors = ConfigKey("training.als_factors", default: "64", "Implicit ALS factors")
        public static let iterations = ConfigKey("training.als_iterations", default: "15", "Implicit ALS iterations")
        public static let regularization = ConfigKey("training.als_regularization", default: "60", "Implicit ALS L2 regularisation")
        public static let alpha = ConfigKey("training.als_alpha", default: "10", "Implicit ALS confidence scale")
        public static let itemItemMemory = ConfigKey(
            "training.item_item_memory_limit_mib", default: "4096",
            "Memory the item-item top-N model (sequence-aware EASE: 3 x items^2 floats while fitted) may take; a larger catalog is served by implicit ALS"
        )

        public static let holdout = ConfigKey(
            "training.holdout", default: "latest",
            "What the top-N and rating models are chosen and evaluated for: latest (each user's latest interactions: what comes next) or random (a random share)"
        )

        public static let candidates = ConfigKey(
            "training.top_n_candidates", default: "sequence-aware-ease,implicit-als",
            "The top-N models that may win the validation choice (comma-separated; one pins it)"
        )

        public static let bayesianSweeps = ConfigKey(
            "training.bayesian_mf_sweeps", default: "200",
            "Gibbs sweeps of the Bayesian MF rating candidate (served by POST /v1/predict when it beats biased MF on validation RMSE); 0 leaves it out"
        )

        public static let all: [ConfigKey] = [
            artifacts, keep, metric, tolerance, window, topic, factors, iterations, regularization, alpha, itemItemMemory, holdout, candidates,
            bayesianSweeps,
        ]
            + ClientConfigKeys.postgres + ClientConfigKeys.kafkaProducer + ClientConfigKeys.redis + FeatureConfiguration.Keys.all
    }

    public init(reading reader: ConfigReader) throws(ConfigurationError) {
        self.init(
            postgres: try PostgresConfiguration(reading: reader, applicationName: "trainer"),
            producer: try KafkaProducerConfiguration(reading: reader, clientID: "trainer")
        )
        artifactsDirectory = try reader.string(Keys.artifacts)
        keepVersions = try reader.int(Keys.keep, range: 1...1000)
        promotionMetric = try reader.string(Keys.metric)
        promotionTolerance = try reader.double(Keys.tolerance)
        let window = try reader.string(Keys.window)
        historyWindow = window == "0" ? nil : try reader.duration(Keys.window)
        modelUpdatedTopic = try reader.string(Keys.topic)
        parameters.alsFactors = try reader.int(Keys.factors, range: 1...1024)
        parameters.alsIterations = try reader.int(Keys.iterations, range: 1...200)
        parameters.alsRegularization = Float(try reader.double(Keys.regularization))
        parameters.alsAlpha = Float(try reader.double(Keys.alpha))
        parameters.itemItemMemoryLimit = try reader.int(Keys.itemItemMemory, range: 0...(1 << 30)) << 20
        let holdout = try reader.string(Keys.holdout)
        guard let parsed = TrainingParameters.Holdout(rawValue: holdout) else { throw ConfigurationError(key: Keys.holdout.name, message: "latest or random, got \(holdout)") }
        parameters.holdout = parsed
        let kinds = try reader.list(Keys.candidates)
        guard !kinds.isEmpty, kinds.allSatisfy({ TopNKind(rawValue: $0) != nil }) else {
            throw ConfigurationError(key: Keys.candidates.name, message: "a list of \(TopNKind.allCases.map(\.rawValue)), got \(kinds)")
        }
        parameters.topNCandidates = Set(kinds.compactMap(TopNKind.init(rawValue:)))
        parameters.bayesianSweeps = try reader.int(Keys.bayesianSweeps, range: 0...10_000)
        migrationsDirectory = try reader.string(ClientConfigKeys.postgresMigrationsDirectory)
        redis = try RedisConfiguration(reading: reader)
        features = try FeatureConfiguration(reading: reader)
    }
}

public enum TrainingError: Error, Sendable, CustomStringConvertible {
    case noData(domain: String)
    case unknownDomain(String)

    public var description: String {
        switch self {
        case .noData(let domain): "no interactions stored for \(domain); run `trainer bootstrap` or let the stream processor fill the store"
        case .unknownDomain(let domain): "unknown domain \(domain) (movies or polls)"
        }
    }
}

/// What `trainer train` did.
public struct TrainingSummary: Sendable {
    public var manifest: ModelManifest
    public var path: String
    public var decision: PromotionDecision
    public var reportPath: String
}

/// One training run end to end: read the store, train and evaluate, write the artifact, register it,
/// pass it through the promotion gate, prune old artifacts, announce a promotion on Kafka, write a report.
public struct TrainingRun: Sendable {
    public let configuration: TrainerConfiguration
    public let postgres: PostgresClient
    public let registry: ModelRegistry
    public let artifacts: ArtifactStore
    private let announce: @Sendable (ModelManifest, String) async throws -> Void
    private let logger: Logger

    /// - Parameter announce: publishes the `model-updated` event (domain, version, path); a Kafka producer
    ///   in the service, anything in tests.
    public init(
        configuration: TrainerConfiguration, postgres: PostgresClient, logger: Logger,
        announce: @escaping @Sendable (ModelManifest, String) async throws -> Void
    ) {
        self.configuration = configuration
        self.postgres = postgres
        registry = ModelRegistry(postgres: postgres)
        artifacts = ArtifactStore(root: configuration.artifactsDirectory)
        self.announce = announce
        self.logger = logger
    }

    /// The domain `name` spells (`--domain movies|polls`, the registry's domains).
    static func eventDomain(_ name: String) throws -> EventDomain {
        guard let domain = EventDomain(name: name) else { throw TrainingError.unknownDomain(name) }
        return domain
    }

    public func readRows(domain: String) async throws -> [TrainingRow] {
        let storeDomain = try Self.eventDomain(domain).rawValue
        let since = configuration.historyWindow.map { Date().addingTimeInterval(-Double($0.components.seconds)) } ?? Date(timeIntervalSince1970: 0)
        return try await postgres.query("""
            SELECT user_id, item_id, event_type, value, (extract(epoch FROM occurred_at) * 1000)::bigint
            FROM interactions WHERE domain = \(storeDomain) AND occurred_at >= \(since)
            ORDER BY occurred_at, event_id
            """).map { row in
            TrainingRow(
                user: try row.decode(0, as: String.self), item: try row.decode(1, as: String.self), type: try row.decode(2, as: String.self),
                value: try row.decode(3, as: Double?.self), time: try row.decode(4, as: Int64.self) / 1000
            )
        }
    }

    public func train(domain: String, force: Bool, codeRevision: String) async throws -> TrainingSummary {
        let started = ContinuousClock.now
        var times = StageTimes()
        let rows = try await readRows(domain: domain)
        times.add("read rows from postgresql", seconds: (ContinuousClock.now - started).inSeconds)
        guard !rows.isEmpty else { throw TrainingError.noData(domain: domain) }
        logger.info("training", metadata: ["domain": "\(domain)", "rows": "\(rows.count)"])
        // Seconds of CPU: on a thread of its own, not on the cooperative pool other tasks need.
        let parameters = configuration.parameters
        let trainStarted = ContinuousClock.now
        let trained = await onDedicatedThread { ModelTraining.train(rows: rows, parameters: parameters) }
        // The pure stages; what the training took beside them (index maps and the like) shows as "other".
        times.add(trained.stageTimes, prefix: "")
        times.add("train: other", seconds: max(0, (ContinuousClock.now - trainStarted).inSeconds - trained.stageTimes.totalSeconds))
        let writeStarted = ContinuousClock.now
        let now = EventTimestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
        let manifest = ModelManifest(
            kind: try Self.eventDomain(domain).rawValue + "-bundle", domain: domain, version: Self.newVersion(domain: domain, at: now),
            createdAt: now, dataRows: rows.count, dataMaxEventTime: rows.last.map { EventTimestamp(millisecondsSinceEpoch: $0.time * 1000) },
            dataContentHash: Self.contentHash(rows), hyperParameters: configuration.parameters.description.merging(trained.chosen) { $1 }, metrics: trained.metrics,
            codeRevision: codeRevision
        )
        let artifact = ModelArtifact(manifest: manifest, payload: trained.bundle.encoded())
        // Absolute in the registry: the API and other tools may run from another directory.
        let written = try artifacts.write(artifact)
        let path = written.hasPrefix("/") ? written : FileManager.default.currentDirectoryPath + "/" + written
        times.add("encode and write artifact", seconds: (ContinuousClock.now - writeStarted).inSeconds)
        let registerStarted = ContinuousClock.now
        try await registry.register(manifest, path: path, sha256: artifact.payloadSHA256)
        let previous = try await registry.production(domain: domain)
        let decision = try await registry.promote(
            manifest.version, metric: configuration.promotionMetric, tolerance: configuration.promotionTolerance, force: force
        )
        if case .promoted = decision {
            try await announce(manifest, path)
        }
        let production = try await registry.production(domain: domain)
        let protected = Set([production?.version, production?.replacedVersion].compactMap { $0 })
        let pruned = artifacts.prune(domain: domain, keep: configuration.keepVersions, protected: protected)
        if !pruned.isEmpty { logger.info("pruned old artifacts", metadata: ["versions": "\(pruned)"]) }
        times.add("register, promote, announce, prune", seconds: (ContinuousClock.now - registerStarted).inSeconds)
        for stage in times.stages {
            logger.info("stage time", metadata: ["stage": "\(stage.name)", "seconds": "\(String(format: "%.2f", stage.seconds))", "count": "\(stage.count)"])
        }
        let reportPath = try TrainingReport.write(
            manifest: manifest, curve: trained.learningCurve, previous: previous, decision: decision,
            seconds: (ContinuousClock.now - started).inSeconds, stages: times, next: artifacts.path(domain: domain, version: manifest.version)
        )
        return TrainingSummary(manifest: manifest, path: path, decision: decision, reportPath: reportPath)
    }

    /// `movies-20261121233000-1a2b3c4d`: sorts by creation time, unique across trainers.
    static func newVersion(domain: String, at time: EventTimestamp) -> String {
        let text = time.description  // 2026-11-21T23:30:00.000Z
        let digits = text.prefix(19).filter(\.isNumber)
        var random = SystemRandomNumberGenerator()
        let suffix = String(random.next() & 0xFFFF_FFFF, radix: 16)
        return "\(domain)-\(digits)-\(String(repeating: "0", count: 8 - suffix.count) + suffix)"
    }

    static func contentHash(_ rows: [TrainingRow]) -> String {
        var hasher = SHA256()
        for row in rows {
            hasher.update(Array("\(row.user)\u{1F}\(row.item)\u{1F}\(row.type)\u{1F}\(row.value.map { String($0) } ?? "")\u{1F}\(row.time)\n".utf8))
        }
        return SHA256.hex(hasher.finalize())
    }
}

/// The human-readable report of a run: markdown beside the artifact, with an SVG learning curve.
enum TrainingReport {
    static func write(
        manifest: ModelManifest, curve: [(iterations: Int, ndcg: Double)], previous: RegistryEntry?, decision: PromotionDecision,
        seconds: Double, stages: StageTimes, next artifactPath: String
    ) throws -> String {
        let base = String(artifactPath.dropLast(ArtifactStore.fileExtension.count))
        let svgPath = base + ".curve.svg"
        try svg(curve).write(toFile: svgPath, atomically: true, encoding: .utf8)
        func format(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "–" }
        let keys = manifest.metrics.keys.filter { !$0.hasPrefix("popularity.") && !["users", "items", "test_users"].contains($0) }.sorted()
        var lines = [
            "# Training report: \(manifest.version)", "",
            "- domain: \(manifest.domain), kind: \(manifest.kind), created \(manifest.createdAt), code \(manifest.codeRevision)",
            "- data: \(manifest.dataRows) interactions up to \(manifest.dataMaxEventTime?.description ?? "–"), content sha256 \(manifest.dataContentHash.prefix(16))…",
            "- users \(Int(manifest.metrics["users"] ?? 0)), items \(Int(manifest.metrics["items"] ?? 0)), test users \(Int(manifest.metrics["test_users"] ?? 0))",
            "- hyper-parameters: " + manifest.hyperParameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "),
            "- wall time: \(String(format: "%.1f", seconds)) s", "",
            "| metric | this model | popularity | production (\(previous?.version ?? "none")) |", "| --- | ---: | ---: | ---: |",
        ]
        for key in keys {
            lines.append("| \(key) | \(format(manifest.metrics[key])) | \(format(manifest.metrics["popularity." + key])) | \(format(previous?.metrics[key])) |")
        }
        switch decision {
        case .promoted(let replacing): lines += ["", "**Promoted** to production" + (replacing.map { " (replacing \($0))" } ?? "") + "."]
        case .rejected(let reason): lines += ["", "**Not promoted**: \(reason)."]
        }
        // One `stage:` line each, for scripts (scripts/bench/scale.sh reads them).
        lines += ["", "Wall time by stage (a stage run several times adds up; `count` runs):", "", "```"]
        lines += stages.stages.map { "stage: \($0.name) seconds=\(String(format: "%.2f", $0.seconds)) count=\($0.count)" }
        lines += ["```"]
        lines += ["", "Learning curve (nDCG on the held-out latest interactions by ALS iterations):", "", "![learning curve](\((svgPath as NSString).lastPathComponent))", ""]
        let reportPath = base + ".report.md"
        try lines.joined(separator: "\n").write(toFile: reportPath, atomically: true, encoding: .utf8)
        return reportPath
    }

    static func svg(_ curve: [(iterations: Int, ndcg: Double)]) -> String {
        let width = 480.0, height = 240.0, margin = 40.0
        let maxX = Double(curve.map(\.iterations).max() ?? 1)
        let maxY = max(curve.map(\.ndcg).max() ?? 1, 1e-9) * 1.1
        let points = curve.map { point in
            let x = margin + (width - 2 * margin) * Double(point.iterations) / maxX
            let y = height - margin - (height - 2 * margin) * point.ndcg / maxY
            return String(format: "%.1f,%.1f", x, y)
        }
        let labels = curve.map { point in
            let x = margin + (width - 2 * margin) * Double(point.iterations) / maxX
            let y = height - margin - (height - 2 * margin) * point.ndcg / maxY
            return String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\">%.3f</text>", x - 10, y - 6, point.ndcg)
        }
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif">
            <rect width="100%" height="100%" fill="white"/>
            <line x1="\(margin)" y1="\(height - margin)" x2="\(width - margin)" y2="\(height - margin)" stroke="black"/>
            <line x1="\(margin)" y1="\(margin)" x2="\(margin)" y2="\(height - margin)" stroke="black"/>
            <text x="\(width / 2 - 40)" y="\(height - 8)" font-size="12">ALS iterations</text>
            <text x="4" y="\(margin - 10)" font-size="12">nDCG@10</text>
            <polyline fill="none" stroke="steelblue" stroke-width="2" points="\(points.joined(separator: " "))"/>
            \(labels.joined(separator: "\n"))
            </svg>
            """
    }
}
