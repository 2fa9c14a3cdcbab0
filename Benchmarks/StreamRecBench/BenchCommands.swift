import ArgumentParser
import ServiceSupport

// The benchmarks' command line: one subcommand per benchmark, each with the options it reads and their
// defaults (`streamrec-bench <benchmark> --help`). The benchmarks themselves are the functions named in
// each run().

/// `streamrec-bench`: the root; each benchmark prints one machine-readable `result name=... ` line.
struct StreamRecBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "streamrec-bench",
        abstract: "StreamRec's benchmarks; each prints machine-readable `result name=<what> ...` lines (scripts/bench/).",
        version: BuildInfo.version,
        subcommands: [
            KafkaProducerBenchmark.self, CreateTopicCommand.self, RedisBenchmark.self, EventsCodecBenchmark.self,
            RecommenderEvaluationBenchmark.self, PredictEvaluationBenchmark.self, ALSFitBenchmark.self,
            ProcessorFillCommand.self, ProcessorWaitCommand.self, GatewayLoadBenchmark.self,
            GatewayStagesBenchmark.self, FeatureMemoryBenchmark.self, TitleResolutionBenchmark.self, ProcessorStagesBenchmark.self,
        ]
    )

    /// No benchmark named: the usage on standard error and 64 (EX_USAGE), as for an unknown one; a script
    /// that lost its benchmark's name must not pass.
    func run() async throws {
        throw ValidationError("name a benchmark")
    }
}

/// What every benchmark takes: `--debug` logs at debug level (and is librdkafka's `debug` property for
/// kafka-producer, e.g. `--debug msg`).
struct CommonBenchOptions: ParsableArguments {
    @Option(help: "Log at debug level; for kafka-producer also librdkafka's debug contexts (e.g. msg).")
    var debug: String?

    func bootstrapLogging() {
        guard debug != nil else { return }
        ServiceBootstrap.bootstrapLogging(level: .debug)
    }
}

struct KafkaProducerBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kafka-producer", abstract: "Produce records with the settings kcat gets, a window of chunks in flight.")

    @OptionGroup var common: CommonBenchOptions
    @Option(name: .customLong("messages")) var messages: Int = 500_000
    @Option(name: .customLong("size")) var size: Int = 100
    @Option(name: .customLong("chunk")) var chunk: Int = 10_000
    @Option(name: .customLong("window")) var window: Int = 8
    @Option(name: .customLong("linger-ms")) var lingerMs: Int = 5
    @Option(name: .customLong("queue")) var queue: Int = 100_000
    @Option(name: .customLong("poll-ms")) var pollMs: Int = 100
    @Option(name: .customLong("warmup")) var warmup: Int = 0
    @Option(name: .customLong("brokers")) var brokers: String = "127.0.0.1:9092"
    @Option(name: .customLong("topic")) var topic: String = "bench"
    @Option(name: .customLong("compression")) var compression: String = "none"
    @Option(name: .customLong("idempotence")) var idempotence: String = "true"

    func run() async throws {
        common.bootstrapLogging()
        try await kafkaProducer(self)
    }
}

struct CreateTopicCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create-topic", abstract: "Create a topic for a benchmark.")

    @OptionGroup var common: CommonBenchOptions
    @Option(name: .customLong("partitions")) var partitions: Int = 6
    @Option(name: .customLong("brokers")) var brokers: String = "127.0.0.1:9092"
    @Option(name: .customLong("name")) var name: String = "bench"

    func run() async throws {
        common.bootstrapLogging()
        try await createTopic(self)
    }
}

struct RedisBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "redis", abstract: "Pipelined INCR or ZINCRBY from concurrent tasks over the client's connections (as redis-benchmark -c N -P P).")

    @OptionGroup var common: CommonBenchOptions
    @Option(name: .customLong("concurrency")) var concurrency: Int = 50
    @Option(name: .customLong("connections")) var connections: Int = 4
    @Option(name: .customLong("pipeline")) var pipeline: Int = 16
    @Option(name: .customLong("ops")) var ops: Int = 1_000_000
    @Option(name: .customLong("port")) var port: Int = 6379
    @Option(name: .customLong("command")) var command: String = "incr"
    @Option(name: .customLong("host")) var host: String = "127.0.0.1"

    func run() async throws {
        common.bootstrapLogging()
        try await redis(self)
    }
}

struct EventsCodecBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "events-codec", abstract: "Parse + validate + canonical JSON in process: the gateway's per-event CPU cost.")

    @OptionGroup var common: CommonBenchOptions
    @Option(name: .customLong("events")) var events: Int = 200_000

    func run() async throws {
        common.bootstrapLogging()
        eventsCodec(self)
    }
}

struct RecommenderEvaluationBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "recommender-eval", abstract: "The recommender core's models on a MovieLens .inter file: rating and top-N quality, fit times, fold-in latency.")

    @OptionGroup var common: CommonBenchOptions
    @Option(name: .customLong("factors"), help: "Default: the model's own.") var factors: Int?
    @Option(name: .customLong("epochs"), help: "Default: the model's own.") var epochs: Int?
    @Option(name: .customLong("bmf-factors"), help: "Default: the model's own.") var bmfFactors: Int?
    @Option(name: .customLong("bmf-iterations"), help: "Default: the model's own.") var bmfIterations: Int?
    @Option(name: .customLong("als-factors"), help: "Default: the model's own.") var alsFactors: Int?
    @Option(name: .customLong("als-iterations"), help: "Default: the model's own.") var alsIterations: Int?
    @Option(name: .customLong("data")) var data: String = "data/ml-100k/ml-100k.inter"
    @Option(name: .customLong("lr")) var lr: Float?
    @Option(name: .customLong("reg")) var reg: Float?
    @Option(name: .customLong("mf-search"), help: "Any value (e.g. 1): choose the factors and epochs on validation.") var mfSearch: String?
    @Option(name: .customLong("als-reg")) var alsReg: Float?
    @Option(name: .customLong("als-alpha")) var alsAlpha: Float?
    @Option(name: .customLong("als-w0")) var alsW0: Float?
    @Option(name: .customLong("als-search"), help: "Any value (e.g. 1): choose ALS's parameters on validation, and blend ALS with EASE.") var alsSearch: String?

    func run() async throws {
        common.bootstrapLogging()
        try recommenderEvaluation(self)
    }
}

struct PredictEvaluationBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "predict-eval", abstract: "The quality of POST /v1/predict for users the model has never seen (fold-in against baselines).")

    @OptionGroup var common: CommonBenchOptions
    @Option(name: .customLong("folds")) var folds: Int = 5
    @Option(name: .customLong("factors"), help: "Default: the model's own.") var factors: Int?
    @Option(name: .customLong("data")) var data: String = "data/ml-100k/ml-100k.inter"
    @Option(name: .customLong("profiles")) var profiles: String = "1,3,5,10,20"
    @Option(name: .customLong("prior")) var prior: Float?
    @Option(name: .customLong("bias-prior")) var biasPrior: Float?
    @Option(name: .customLong("select"), help: "1: choose the fold-in penalties per fold on validation users (0, false or no: fixed).") var select: String?

    func run() async throws {
        common.bootstrapLogging()
        try predictEvaluation(self)
    }
}

struct ALSFitBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "als-fit", abstract: "Fit time of implicit ALS on the MovieLens positives, median of --runs.")

    @OptionGroup var common: CommonBenchOptions
    @Option(name: .customLong("factors")) var factors: Int = 64
    @Option(name: .customLong("iterations")) var iterations: Int = 15
    @Option(name: .customLong("threads")) var threads: Int = 2
    @Option(name: .customLong("cg-steps")) var cgSteps: Int = 3
    @Option(name: .customLong("runs")) var runs: Int = 3
    @Option(name: .customLong("data")) var data: String = "data/ml-100k/ml-100k.inter"

    func run() async throws {
        common.bootstrapLogging()
        try alsFitTime(self)
    }
}

struct ProcessorFillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "processor-fill", abstract: "Fill the processor benchmark's topics and write where they end.")

    @OptionGroup var common: CommonBenchOptions
    @Option(name: .customLong("events")) var events: Int = 1_000_000
    @Option(name: .customLong("partitions")) var partitions: Int = 6
    @Option(name: .customLong("span-minutes")) var spanMinutes: Int = 10
    /// The user and movie universes: scripts/bench/scale.sh fills them at each size's dimensions.
    @Option(name: .customLong("users")) var users: Int = 50_000
    @Option(name: .customLong("movies")) var movies: Int = 1682
    @Option(name: .customLong("brokers")) var brokers: String = "127.0.0.1:9092"
    @Option(name: .customLong("movie-topic")) var movieTopic: String = "bench.movie-events"
    @Option(name: .customLong("poll-topic")) var pollTopic: String = "bench.poll-events"
    @Option(name: .customLong("ends-file")) var endsFile: String = "/tmp/streamrec-ends"

    func run() async throws {
        common.bootstrapLogging()
        try await processorFill(self)
    }
}

struct ProcessorWaitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "processor-wait", abstract: "Wait until the processor's group has committed up to the ends, and report the rate.")

    @OptionGroup var common: CommonBenchOptions
    @Option(name: .customLong("timeout")) var timeout: Int = 600
    @Option(name: .customLong("brokers")) var brokers: String = "127.0.0.1:9092"
    @Option(name: .customLong("ends-file")) var endsFile: String = "/tmp/streamrec-ends"
    @Option(name: .customLong("group")) var group: String = "streamrec"

    func run() async throws {
        common.bootstrapLogging()
        try await processorWait(self)
    }
}

struct GatewayLoadBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gateway-load", abstract: "Steady batches of events through the gateway.")

    @OptionGroup var common: CommonBenchOptions
    @Option(name: .customLong("port")) var port: Int = 8080
    @Option(name: .customLong("rate")) var rate: Int = 10_000
    @Option(name: .customLong("batch")) var batch: Int = 10
    @Option(name: .customLong("connections")) var connections: Int = 8
    @Option(name: .customLong("seconds")) var seconds: Int = 30
    @Option(name: .customLong("host")) var host: String = "127.0.0.1"
    @Option(name: .customLong("api-key")) var apiKey: String = ""

    func run() async throws {
        common.bootstrapLogging()
        try await gatewayLoad(self)
    }
}

struct GatewayStagesBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gateway-stages", abstract: "The gateway's work in one process without HTTP, stage by stage.")

    @OptionGroup var common: CommonBenchOptions
    @Option(name: .customLong("requests")) var requests: Int = 3000
    @Option(name: .customLong("events")) var events: Int = 100
    @Option(name: .customLong("window")) var window: Int = 16
    @Option(name: .customLong("stages")) var stages: String = "kafka,codec,ingest"
    @Option(name: .customLong("broker-pid")) var brokerPid: Int32?

    func run() async throws {
        common.bootstrapLogging()
        try await gatewayStages(self)
    }
}

struct FeatureMemoryBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "feature-memory", abstract: "Redis memory per user of the feature layout.")

    @OptionGroup var common: CommonBenchOptions
    @Option(name: .customLong("port")) var port: Int = 6379
    @Option(name: .customLong("users")) var users: Int = 10_000
    @Option(name: .customLong("per-user")) var perUser: Int = 30
    @Option(name: .customLong("host")) var host: String = "127.0.0.1"

    func run() async throws {
        common.bootstrapLogging()
        try await featureMemory(self)
    }
}

struct TitleResolutionBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "title-resolution", abstract: "Title resolution of misspelt MovieLens titles: rate and accuracy.")

    @OptionGroup var common: CommonBenchOptions
    @Option(name: .customLong("queries")) var queries: Int = 500
    @Option(name: .customLong("rounds")) var rounds: Int = 5
    @Option(name: .customLong("data")) var data: String = "data/ml-100k"

    func run() async throws {
        common.bootstrapLogging()
        try titleResolution(self)
    }
}

struct ProcessorStagesBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "processor-stages",
        abstract: "The processor's sinks alone and together on the same in-memory events: decode, training store (PostgreSQL), features (Redis)."
    )

    @OptionGroup var common: CommonBenchOptions
    @Option(name: .customLong("events")) var events: Int = 1_000_000
    @Option(name: .customLong("batch"), help: "Records per batch (the processor's kafka.max_batch_size).") var batch: Int = 20_000
    @Option(name: .customLong("partitions")) var partitions: Int = 6
    @Option(name: .customLong("users"), help: "Distinct users of the events (scale.sh's 100× size: 69878).") var users: Int = 50_000
    @Option(name: .customLong("movies"), help: "Movies in the catalog (scale.sh's 100× size: 60000).") var movies: Int = 1682
    @Flag(name: .customLong("features-only"), help: "Time the feature writer alone (no PostgreSQL).") var featuresOnly = false
    @Option(name: .customLong("redis-host")) var redisHost: String = "127.0.0.1"
    @Option(name: .customLong("redis-port")) var redisPort: Int = 6379
    @Option(name: .customLong("postgres-host")) var postgresHost: String = "127.0.0.1"
    @Option(name: .customLong("postgres-port")) var postgresPort: Int = 5432
    @Option(name: .customLong("postgres-database")) var postgresDatabase: String = "streamrec"
    @Option(name: .customLong("postgres-user")) var postgresUser: String = "streamrec"
    @Option(name: .customLong("migrations")) var migrations: String = "configs/migrations"

    func run() async throws {
        common.bootstrapLogging()
        try await processorStages(self)
    }
}
