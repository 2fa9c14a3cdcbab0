import ClientRuntime
import Datasets
import Events
import Foundation
import Kafka
import LoadGeneration
import Logging
import ModelStore
import Postgres
import Recommender
import ServiceConfiguration
import ServiceLifecycle
import ServiceSupport
import Training

// `trainer evaluate --train FILE --test FILE [--ratings-out FILE] [--topn-out FILE] [--k 10]
// [--validation random|latest]`: the external-scoring contract. Input TSV `user<TAB>item<TAB>rating<TAB>timestamp` (a header line allowed).
if CommandLine.arguments.dropFirst().first == "evaluate" {
    var options: [String: String] = [:]
    var arguments = CommandLine.arguments.dropFirst(2).makeIterator()
    while let argument = arguments.next() {
        guard argument.hasPrefix("--"), let value = arguments.next() else {
            FileHandle.standardError.write(Data("trainer evaluate: expected --option value pairs, got \(argument)\n".utf8))
            exit(64)
        }
        options[String(argument.dropFirst(2))] = value
    }
    guard let trainPath = options["train"], let testPath = options["test"] else {
        FileHandle.standardError.write(Data("usage: trainer evaluate --train FILE --test FILE [--ratings-out FILE] [--topn-out FILE] [--k 10] [--validation random|latest]\n".utf8))
        exit(64)
    }
    let unknown = Set(options.keys).subtracting(["train", "test", "ratings-out", "topn-out", "k", "validation"])
    guard unknown.isEmpty, let k = Int(options["k"] ?? "10"), (1...1000).contains(k) else {
        FileHandle.standardError.write(Data("trainer evaluate: unknown option or bad --k: \(unknown.sorted())\n".utf8))
        exit(64)
    }
    // `latest` when the test file holds each user's latest ratings (a temporal split), `random` otherwise.
    let validation: ValidationSplit.Holdout
    switch options["validation"] ?? "random" {
    case "random": validation = .random(seed: 42)
    case "latest": validation = .latest
    case let other:
        FileHandle.standardError.write(Data("trainer evaluate: --validation must be random or latest, got \(other)\n".utf8))
        exit(64)
    }
    do {
        let train = try String(contentsOfFile: trainPath, encoding: .utf8)
        let test = try String(contentsOfFile: testPath, encoding: .utf8)
        let output = try ExternalEvaluation(k: k, validation: validation).run(train: train, test: test)
        if let path = options["ratings-out"] { try output.ratings.write(toFile: path, atomically: true, encoding: .utf8) }
        if let path = options["topn-out"] { try output.topN.write(toFile: path, atomically: true, encoding: .utf8) }
        print(output.report, terminator: "")
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("trainer evaluate: \(error)\n".utf8))
        exit(65)
    }
}

// Everything else: `trainer [check|bootstrap|train|promote|rollback|list|schedule] [--option value ...]`.
let service = "trainer"
let usage = """
    usage: trainer [command] [options]
      check                                   apply migrations, check PostgreSQL and the broker (the default)
      bootstrap --dataset ml-100k [--dir D]   load a MovieLens directory (100K, RecBole 100K, 1M or 20M/25M layout)
      bootstrap --polls [--seed N]            load the calibrated synthetic polls dataset
      bootstrap --interactions FILE [--domain movies|polls]
                                              load your own TSV/CSV of user item rating timestamp (a header
                                              allowed); for polls the third column is the option voted
        [--limit N]                           only the latest N interactions
        [--hold-out-dir D]                    hold each user's latest 20 % out: load the rest, write both parts
                                              to D/train.tsv and D/test.tsv (for make bench-quality)
        [--replay http://HOST:PORT --api-key K|--api-key-file F [--rate N]]
                                              send them through the ingest gateway instead (times moved into the last 29 days)
      train --domain movies|polls [--force]   train, evaluate, register, promote if not worse than production
      promote --version V [--force]           promote a registered candidate
      rollback --domain movies|polls          restore the production model's predecessor
      list [--domain movies|polls]            the registry
      schedule --every 24h [--domain movies,polls] [--retry 30s]
                                                   train periodically; a failing run is logged and retried
                                                   after --retry, doubling per failure up to 10 min
      evaluate --train F --test F ...         score external splits (see README)
    """
let keys = [ServiceBootstrap.logLevel] + TrainerConfiguration.Keys.all
ServiceBootstrap.answerInformationalArguments(service: service, summary: "The trainer: PostgreSQL training store → models, artifacts, registry.", keys: keys)
let arguments = Array(CommandLine.arguments.dropFirst())
let command = arguments.first.flatMap { $0.hasPrefix("-") ? nil : $0 } ?? "check"
var options: [String: String] = [:]
var flags: Set<String> = []
do {
    var iterator = arguments.drop(while: { !$0.hasPrefix("-") }).makeIterator()
    while let argument = iterator.next() {
        guard argument.hasPrefix("--") else { FileHandle.standardError.write(Data("trainer: unexpected \(argument)\n\(usage)\n".utf8)); exit(64) }
        let name = String(argument.dropFirst(2))
        if ["force", "polls"].contains(name) { flags.insert(name) } else if let value = iterator.next() { options[name] = value } else {
            FileHandle.standardError.write(Data("trainer: --\(name) needs a value\n".utf8))
            exit(64)
        }
    }
}
guard ["check", "bootstrap", "train", "promote", "rollback", "list", "schedule"].contains(command) else {
    FileHandle.standardError.write(Data("trainer: unknown command \(command)\n\(usage)\n".utf8))
    exit(64)
}

let configuration = ServiceBootstrap.loadConfiguration(service: service, keys: keys) { reader throws(ConfigurationError) in
    try TrainerConfiguration(reading: reader)
}
let logger = Logger(label: "streamrec.trainer")
let postgres = PostgresClient(configuration: configuration.postgres, logger: logger)

/// The source revision for manifests: STREAMREC_CODE_REVISION, else the checkout's HEAD, else "unknown".
func codeRevision() -> String {
    if let revision = ProcessInfo.processInfo.environment["STREAMREC_CODE_REVISION"], !revision.isEmpty { return revision }
    guard let head = try? String(contentsOfFile: ".git/HEAD", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) else { return "unknown" }
    guard head.hasPrefix("ref: ") else { return head }
    return (try? String(contentsOfFile: ".git/" + head.dropFirst(5), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)) ?? "unknown"
}

/// Announces a promotion on the model-updated topic, waiting for the broker's ack.
func announcer() -> @Sendable (ModelManifest, String) async throws -> Void {
    let announcer = ModelUpdateAnnouncer(producer: configuration.producer, topic: configuration.modelUpdatedTopic, logger: logger)
    return { manifest, path in try await announcer.announce(manifest, path: path) }
}

func describe(_ summary: TrainingSummary) -> String {
    let metrics = summary.manifest.metrics.filter { !["users", "items", "test_users"].contains($0.key) }.sorted { $0.key < $1.key }
        .map { "\($0.key)=\(String(format: "%.4f", $0.value))" }.joined(separator: " ")
    switch summary.decision {
    case .promoted(let replacing):
        return "promoted \(summary.manifest.version)\(replacing.map { " (replacing \($0))" } ?? ""): \(metrics); report \(summary.reportPath)"
    case .rejected(let reason):
        return "kept production; \(summary.manifest.version) registered as candidate: \(reason); report \(summary.reportPath)"
    }
}

var status: Int32 = 0
do {
    let applied = try await PostgresMigrator(directory: configuration.migrationsDirectory).migrate(postgres)
    if !applied.isEmpty { logger.info("schema migrations applied", metadata: ["versions": "\(applied)"]) }
    let run = TrainingRun(configuration: configuration, postgres: postgres, logger: logger, announce: announcer())
    switch command {
    case "check":
        let database = try await DependencyProbes.postgres(postgres)
        logger.info("\(database), migrations applied now: \(applied)")
        let admin = try KafkaAdmin(configuration: KafkaAdminConfiguration(bootstrapServers: configuration.producer.bootstrapServers), logger: logger)
        let broker = try await DependencyProbes.kafka(admin)
        logger.info("\(broker)")
        await admin.shutdown()
        logger.info("all dependencies reachable")
    case "bootstrap":
        let events: Bootstrap.Events
        if let path = options["interactions"] {
            let domain: EventDomain
            switch options["domain"] ?? "movies" {
            case "movies": domain = .movie
            case "polls": domain = .poll
            case let other: FileHandle.standardError.write(Data("trainer bootstrap: --domain movies|polls, got \(other)\n".utf8)); exit(64)
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                FileHandle.standardError.write(Data("trainer bootstrap: cannot read \(path)\n".utf8))
                exit(66)
            }
            events = try Bootstrap.events(interactions: MovieLens.text(Array(data)), file: path, domain: domain)
        } else if flags.contains("polls") {
            var polls = SyntheticPolls.Configuration()
            if let seed = options["seed"].flatMap(UInt64.init) { polls.seed = seed }
            events = Bootstrap.events(polls: SyntheticPolls(configuration: polls))
        } else {
            let dataset = options["dataset"] ?? "ml-100k"
            let directory = options["dir"] ?? "data/\(dataset)"
            guard let layout = options["layout"].flatMap(MovieLens.Layout.init(rawValue:)) ?? Bootstrap.detectLayout(directory: directory) else {
                FileHandle.standardError.write(Data("trainer bootstrap: no MovieLens files in \(directory) (scripts/fetch-data.sh fetches ml-100k)\n".utf8))
                exit(65)
            }
            let (movies, ratings) = try Bootstrap.readMovieLens(directory: directory, layout: layout)
            events = Bootstrap.events(dataset: dataset, movies: movies, ratings: ratings)
        }
        var interactions = events.interactions
        if let limit = options["limit"].flatMap(Int.init) { interactions = Array(interactions.sorted { $0.occurredAt < $1.occurredAt }.suffix(limit)) }
        if let directory = options["hold-out-dir"] {
            let split = Bootstrap.holdOutLatest(interactions, fraction: 0.2)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try split.trainText.write(toFile: directory + "/train.tsv", atomically: true, encoding: .utf8)
            try split.testText.write(toFile: directory + "/test.tsv", atomically: true, encoding: .utf8)
            print("bootstrap: held out \(interactions.count - split.kept.count) interactions (each user's latest 20 %) into \(directory)/test.tsv")
            interactions = split.kept
        }
        if let target = options["replay"] {
            // Through the gateway, as live producers: times moved into the last 29 days (the gateway
            // refuses events older than its events.max_age, 30 days by default), catalog first.
            guard let url = URL(string: target), let host = url.host, let port = url.port else {
                FileHandle.standardError.write(Data("trainer bootstrap: --replay http://HOST:PORT\n".utf8))
                exit(64)
            }
            let apiKey = try options["api-key-file"].map { try String(contentsOfFile: $0, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) }
                ?? options["api-key"] ?? ""
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let catalog = events.catalog.map { event -> Event in
                var recent = event
                recent.occurredAt = EventTimestamp(millisecondsSinceEpoch: now - 29 * 86_400_000 - 60_000)
                return recent
            }
            let retimed = EventReplay.retimed(interactions.sorted { $0.occurredAt < $1.occurredAt }, now: now, horizon: 29 * 86_400_000)
            let progress = ProgressReporter("replay", logger: logger)
            let outcome = try await EventReplay.replay(
                catalog + retimed, host: host, port: port, apiKey: apiKey, rate: options["rate"].flatMap(Double.init),
                progress: { progress.update($0, of: $1) }
            )
            print("replay: \(outcome.accepted) accepted, \(outcome.rejected) rejected, \(outcome.failedRequests) failed requests (\(target))")
            if outcome.failedRequests > 0 || outcome.rejected > 0 { status = 65 }
        } else {
            let progress = ProgressReporter("bootstrap \(events.dataset)", logger: logger)
            var direct = events
            direct.interactions = interactions
            let stored = try await Bootstrap(store: TrainingStore(postgres: postgres)).load(direct) { progress.update($0, of: $1) }
            print("bootstrap: \(events.dataset): \(events.catalog.count) catalog entries, \(interactions.count) interactions (\(stored) new)")
        }
    case "train":
        guard let domain = options["domain"] else { FileHandle.standardError.write(Data("trainer train: --domain movies|polls\n".utf8)); exit(64) }
        print(describe(try await run.train(domain: domain, force: flags.contains("force"), codeRevision: codeRevision())))
    case "promote":
        guard let version = options["version"] else { FileHandle.standardError.write(Data("trainer promote: --version V\n".utf8)); exit(64) }
        let decision = try await run.registry.promote(
            version, metric: configuration.promotionMetric, tolerance: configuration.promotionTolerance, force: flags.contains("force")
        )
        if case .promoted = decision, let entry = try await run.registry.entry(version) {
            let artifact = try run.artifacts.read(path: entry.path)
            try await announcer()(artifact.manifest, entry.path)
        }
        print("\(version): \(decision)")
        // A promotion the gate refused is not a success for a script (`trainer promote … && deploy`).
        if case .rejected = decision { status = 1 }
    case "rollback":
        guard let domain = options["domain"] else { FileHandle.standardError.write(Data("trainer rollback: --domain movies|polls\n".utf8)); exit(64) }
        let restored = try await run.registry.rollback(domain: domain)
        try await announcer()(try run.artifacts.read(path: restored.path).manifest, restored.path)
        print("rolled back \(domain) to \(restored.version)")
    case "list":
        for entry in try await run.registry.list(domain: options["domain"]) {
            let metric = entry.metrics[configuration.promotionMetric].map { String(format: "%.4f", $0) } ?? "–"
            print("\(entry.domain)\t\(entry.version)\t\(entry.status.rawValue)\t\(configuration.promotionMetric)=\(metric)\t\(entry.path)")
        }
    case "schedule":
        guard let every = options["every"].flatMap(ConfigReader.parseDuration) else {
            FileHandle.standardError.write(Data("trainer schedule: --every DURATION (e.g. 24h)\n".utf8))
            exit(64)
        }
        let domains = (options["domain"] ?? "movies,polls").split(separator: ",").map(String.init)
        guard let retry = ConfigReader.parseDuration(options["retry"] ?? "30s") else {
            FileHandle.standardError.write(Data("trainer schedule: --retry DURATION (e.g. 30s)\n".utf8))
            exit(64)
        }
        let schedule = TrainingSchedule(
            run: run, domains: domains, interval: every, retry: Backoff(initial: retry, maximum: max(retry, .seconds(600))),
            codeRevision: codeRevision(), logger: logger
        )
        try await ServiceGroup(configuration: .init(services: [schedule], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)).run()
    default:
        break
    }
} catch where error is TrainingError || error is RegistryError || error is DatasetFileError {
    logger.error("\(error)")
    status = 65  // EX_DATAERR: the data or the registry state, not the machine
} catch let error as PostgresError {
    logger.error("PostgreSQL: \(error)")
    status = 69
} catch let error as KafkaError {
    logger.error("Kafka: \(error)")
    status = 69
} catch {
    logger.error("\(error)")
    status = 1
}
await postgres.shutdown()
exit(status)
