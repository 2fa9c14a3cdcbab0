// swift-tools-version:6.1
import PackageDescription

// librdkafka is linked against Debian's headers (2.0.2) but, where scripts/setup.sh installed a newer
// build into $STREAMREC_PREFIX/lib (needed to talk to the local Tansu broker, see docs/architecture.md),
// that one is found first at run time through this rpath. Where the directory does not exist (Docker,
// Kubernetes) the loader falls back to the system librdkafka, which is fine against Apache Kafka.
let streamrecPrefix = Context.environment["STREAMREC_PREFIX"] ?? "/opt/streamrec"
let rdkafkaRuntimePath: [LinkerSetting] = [
    .unsafeFlags(["-Xlinker", "-rpath", "-Xlinker", "\(streamrecPrefix)/lib"]),
]

// The recommender's dense kernels (CRecommenderKernels: ALS solves, Gram matrices, catalog scoring) pick
// AVX2 + FMA at load time where the CPU has it, in any build. The Swift loops left (top-k selection, EASE's
// inversion and scoring, next-item transitions, the SGD and sampling models) follow the compiler's target: baseline x86-64 by default; `STREAMREC_TARGET_CPU=haswell`
// (AVX2 + FMA, every x86 server since ~2015) builds them for the wider units.
let recommenderCPUSettings: [SwiftSetting] = Context.environment["STREAMREC_TARGET_CPU"].map {
    [.unsafeFlags(["-target-cpu", $0])]
} ?? []

// The revision every binary reports (streamrec_build_info, BuildInfo.revision): GIT_REVISION from the
// environment (the Dockerfile's build argument: an image build has no .git), else the commit SwiftPM sees
// (with "-dirty" for uncommitted changes), else "unknown".
let buildRevision = Context.environment["GIT_REVISION"].flatMap { $0.isEmpty ? nil : $0 }
    ?? Context.gitInformation.map { String($0.currentCommit.prefix(12)) + ($0.hasUncommittedChanges ? "-dirty" : "") } ?? "unknown"

let package = Package(
    name: "StreamRec",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "ingest-gateway", targets: ["IngestGateway"]),
        .executable(name: "stream-processor", targets: ["StreamProcessor"]),
        .executable(name: "trainer", targets: ["Trainer"]),
        .executable(name: "inference-api", targets: ["InferenceAPI"]),
        .executable(name: "streamrec-bench", targets: ["StreamRecBench"]),
        .executable(name: "loadgen", targets: ["LoadGen"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // TLS for the Redis client's event-loop connections (hiredis 0.14 here has no TLS). Already in the
        // graph through Hummingbird; declared so that the Redis module can use it directly.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.2"),
        // Tracing (docs/reliability.md, Tracing): the API every instrumented module uses; already in the graph
        // through Hummingbird's TracingMiddleware.
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.0"),
        // The OTLP exporter, started only when `tracing.enabled`. Its OTLP/HTTP trait alone: the default
        // traits add OTLP/gRPC, which builds grpc-swift (minutes of every clean build) for nothing we use.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // System-library shims: a module map and one header each, nothing else.
        .systemLibrary(
            name: "CRdKafka", path: "Shared/CRdKafka", pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .systemLibrary(
            name: "CHiredis", path: "Shared/CHiredis", pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .systemLibrary(
            name: "CLibPQ", path: "Shared/CLibPQ", pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),

        // Client libraries: typed configuration, typed errors, async APIs. Nothing about recommendations.
        .target(
            name: "ClientRuntime",
            dependencies: [
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Shared/ClientRuntime"
        ),
        .target(
            name: "Kafka",
            dependencies: [
                "CRdKafka", "ClientRuntime",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/Kafka",
            linkerSettings: rdkafkaRuntimePath
        ),
        .target(
            name: "Redis",
            dependencies: [
                "CHiredis", "ClientRuntime",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ],
            path: "Shared/Redis"
        ),
        .target(
            name: "Postgres",
            dependencies: [
                "CLibPQ", "ClientRuntime",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/Postgres"
        ),
        // The recommender core: models, fold-in, top-k, metrics. Pure (no I/O), deterministic for a seed.
        // The recommender's dense inner loops (ALS solves, Gram matrices, catalog scoring) in C, compiled for
        // baseline x86-64 and for AVX2 + FMA with the variant chosen at load time (see the header).
        .target(name: "CRecommenderKernels", path: "Shared/CRecommenderKernels"),
        // Optimised in debug builds too: the tests and `make test`'s served-quality check fit real models on
        // MovieLens 100K, which unoptimised loops make ~10× slower.
        .target(
            name: "Recommender", dependencies: ["CRecommenderKernels"], path: "Shared/Recommender",
            swiftSettings: recommenderCPUSettings + [.unsafeFlags(["-O"])]
        ),
        // The public event contract v1: types, validation, canonical JSON, topics. Pure; no I/O.
        .target(name: "Events", path: "Shared/Events"),
        // Online experiments: the experiment, sticky assignment, the significance test and intervals. Pure; shared
        // by the live path (API, processor) and the trainer.
        .target(name: "Experiments", dependencies: ["Events"], path: "Shared/Experiments"),
        // Public datasets' layouts (MovieLens) and the calibrated synthetic polls generator. Pure.
        .target(name: "Datasets", dependencies: ["Recommender", "Events"], path: "Shared/Datasets"),
        // Sending events to the ingest gateway over HTTP: dataset replay and load generation.
        .target(
            name: "LoadGeneration",
            dependencies: [
                "Events", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Shared/LoadGeneration"
        ),
        // Model artifacts: the file format (manifest, sha256), the store on disk, the payload codec.
        .target(name: "ModelStore", dependencies: ["Events", "Recommender"], path: "Shared/ModelStore"),
        // Deterministic synthetic event streams (catalog and interaction mixes) for tests and benchmarks.
        .target(name: "SyntheticData", dependencies: ["Events"], path: "Shared/SyntheticData"),
        // The build's revision as a C define (see buildRevision above). No dependencies.
        .target(name: "CBuildInfo", path: "Shared/CBuildInfo", cSettings: [.define("STREAMREC_REVISION", to: "\"\(buildRevision)\"")]),
        // Configuration keys and their reader (environment > file > default). No dependencies.
        .target(name: "ServiceConfiguration", path: "Shared/ServiceConfiguration"),
        // The shared clients' configuration keys, and the clients' configurations read from them.
        .target(
            name: "ClientConfiguration",
            dependencies: ["ServiceConfiguration", "ClientRuntime", "Events", "Kafka", "Redis", "Postgres"],
            path: "Shared/ClientConfiguration"
        ),
        // What every HTTP service shares: the JSON error body and responses, the request-id middleware,
        // server settings (deadlines, connection limit, event-loop pinning), CORS, operational routes,
        // rate limits. No clients.
        .target(
            name: "HTTPSupport",
            dependencies: [
                "ServiceConfiguration", "ClientRuntime", "Events",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            path: "Shared/HTTPSupport"
        ),
        // What wires a service: start-up and logging, metrics, dependency probes.
        .target(
            name: "ServiceSupport",
            dependencies: [
                "ServiceConfiguration", "HTTPSupport", "Kafka", "Redis", "Postgres", "CBuildInfo",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
            ],
            path: "Shared/ServiceSupport"
        ),

        // An event as the Kafka record the gateway publishes and the processor reads (key, value, headers).
        .target(name: "EventRecords", dependencies: ["Events", "Kafka"], path: "Shared/EventRecords"),
        // The ingest gateway's behaviour and HTTP routes (the executable only wires configuration to it).
        .target(
            name: "Ingest",
            dependencies: [
                "Events", "EventRecords", "Kafka", "ServiceConfiguration", "ClientConfiguration", "HTTPSupport", "ServiceSupport", "ClientRuntime",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            path: "Shared/Ingest"
        ),

        // The Redis feature layout and logic, written once: the processor applies, the API reads.
        .target(name: "Features", dependencies: ["ClientRuntime", "Events", "Redis", "ServiceConfiguration", .product(name: "Logging", package: "swift-log")], path: "Shared/Features"),
        // Online experiments' outcomes in Redis: attribution and counters, written by the processor, read by
        // the API and `trainer promote --online`.
        .target(name: "Outcomes", dependencies: ["ClientRuntime", "Events", "Experiments", "Features", "Redis"], path: "Shared/Outcomes"),
        // PostgreSQL's side of events: the training store's interactions and the catalog. Written by the
        // processor, read by the trainer and the API.
        .target(
            name: "EventStore",
            dependencies: ["Events", "Features", "Postgres"],
            path: "Shared/EventStore"
        ),
        // The model registry (PostgreSQL) and promotion announcements (Kafka): written by the trainer, read
        // by the API.
        .target(
            name: "ModelRegistry",
            dependencies: [
                "Events", "Experiments", "ModelStore", "Postgres", "Kafka", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/ModelRegistry"
        ),
        // The training side: dataset bootstrap, training and offline evaluation, scheduled runs, reports.
        // The live path (gateway, processor, API) must not depend on it (ModuleBoundaryTests).
        .target(
            name: "Training",
            dependencies: [
                "Events", "Features", "ClientRuntime", "Postgres", "Kafka", "Redis", "ServiceConfiguration", "ClientConfiguration", "ModelStore", "Recommender",
                "Datasets", "EventStore", "ModelRegistry", "EventRecords",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/Training"
        ),
        // The trainer's command line (argument-parser): one command per file, parsed and tested without the
        // binary. Training code: the live path must not depend on it (ModuleBoundaryTests).
        .target(
            name: "TrainerCommands",
            dependencies: [
                "ServiceSupport", "ServiceConfiguration", "ClientRuntime", "Recommender", "Training", "Datasets", "ModelStore", "Kafka",
                "Events", "Features", "LoadGeneration", "Postgres", "Redis", "ModelRegistry", "Experiments", "Outcomes",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/TrainerCommands"
        ),
        // Serving: the production models per domain (verified, hot-swapped) and the recommendation strategies.
        .target(
            name: "Serving",
            dependencies: [
                "Events", "Features", "Recommender", "Redis", "Postgres", "EventStore", "ModelRegistry", "ModelStore", "ClientRuntime",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/Serving"
        ),
        // The inference API's HTTP layer (the executable only wires configuration to it).
        .target(
            name: "Inference",
            dependencies: [
                "Events", "Experiments", "Features", "Serving", "ServiceConfiguration", "ClientConfiguration", "HTTPSupport", "ServiceSupport", "EventStore",
                "ModelRegistry", "ModelStore", "Redis", "Postgres", "Kafka", "Outcomes",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Shared/Inference"
        ),
        // The stream processor's behaviour: decode, dead-letter, features, training store, commit.
        .target(
            name: "StreamProcessing",
            dependencies: [
                "Events", "Features", "Kafka", "Postgres", "Redis", "ClientRuntime", "ServiceConfiguration", "ClientConfiguration", "HTTPSupport",
                "ServiceSupport", "EventStore", "Outcomes", "Experiments", "ModelRegistry",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            path: "Shared/StreamProcessing"
        ),

        // Services: thin shells that wire clients together.
        .executableTarget(
            name: "IngestGateway",
            dependencies: [
                "Ingest", "Kafka", "ServiceConfiguration", "HTTPSupport", "ServiceSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Services/IngestGateway"
        ),
        .executableTarget(
            name: "StreamProcessor",
            dependencies: ["StreamProcessing", "ServiceConfiguration", "ServiceSupport", .product(name: "Logging", package: "swift-log")],
            path: "Services/StreamProcessor"
        ),
        .executableTarget(name: "Trainer", dependencies: ["TrainerCommands", "ServiceSupport"], path: "Services/Trainer"),
        .executableTarget(
            name: "InferenceAPI",
            dependencies: ["Inference", "ServiceConfiguration", "ServiceSupport", .product(name: "Logging", package: "swift-log")],
            path: "Services/InferenceAPI"
        ),

        .executableTarget(
            name: "StreamRecBench",
            dependencies: [
                "Kafka", "Redis", "Postgres", "ServiceSupport", "Events", "Recommender", "SyntheticData", "Features", "LoadGeneration", "Ingest", "EventRecords",
                "ClientRuntime", "Datasets", "Serving", "ServiceConfiguration", "EventStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Benchmarks/StreamRecBench"
        ),
        // Steady event load through the gateway with end-to-end freshness probes through the API.
        .executableTarget(
            name: "LoadGen",
            dependencies: ["LoadGeneration", "Training", "Datasets", "Events", "ServiceSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/LoadGen"
        ),

        // Tests. Integration tests talk to the real servers started by scripts/stack.sh.
        .target(
            name: "StackTestSupport",
            dependencies: ["ClientRuntime", "Kafka", "Redis", "Postgres", "SyntheticData", "Events", .product(name: "Tracing", package: "swift-distributed-tracing")],
            path: "Tests/StackTestSupport"
        ),
        .testTarget(name: "ClientRuntimeTests", dependencies: ["ClientRuntime"]),
        .testTarget(name: "KafkaTests", dependencies: ["Kafka", "StackTestSupport"]),
        .testTarget(
            name: "RedisTests",
            dependencies: [
                "Redis", "ClientRuntime", "StackTestSupport", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "StackTestSupport"]),
        .testTarget(
            name: "ServiceSupportTests",
            dependencies: ["ServiceSupport", "ServiceConfiguration", "ClientConfiguration", "Kafka", "Redis", "Postgres", "StackTestSupport", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "HTTPSupportTests",
            dependencies: [
                "HTTPSupport", "Events", "StackTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "EventsTests", dependencies: ["Events"]),
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments", "Events"]),
        .testTarget(name: "RecommenderTests", dependencies: ["Recommender"]),
        .testTarget(name: "FeaturesTests", dependencies: ["Features", "Events", "Redis", "StackTestSupport"]),
        .testTarget(name: "OutcomesTests", dependencies: ["Outcomes", "Experiments", "Features", "Events", "Redis", "StackTestSupport"]),
        .testTarget(name: "ModelStoreTests", dependencies: ["ModelStore", "Recommender", "Events"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets"]),
        .testTarget(
            name: "StreamProcessingTests",
            dependencies: [
                "StreamProcessing", "EventStore", "Features", "Training", "Ingest", "EventRecords", "LoadGeneration", "SyntheticData", "StackTestSupport", "Postgres", "Events", "Kafka",
                "Redis", "ServiceSupport", "HTTPSupport", "Outcomes", "Experiments", "ModelRegistry",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        // A trained polls model and small trainer settings, shared by the serving and the inference API's tests.
        .target(
            name: "ServingTestSupport",
            dependencies: ["Serving", "Training", "Features", "Datasets", "Recommender", "Events", "Postgres", "Redis", "StackTestSupport", .product(name: "Logging", package: "swift-log")],
            path: "Tests/ServingTestSupport"
        ),
        .testTarget(
            name: "ServingTests",
            dependencies: [
                "Serving", "Inference", "Recommender", "Ingest", "StreamProcessing", "Training", "Features", "ModelStore", "Datasets", "LoadGeneration", "StackTestSupport",
                "SyntheticData", "Events", "Kafka", "Redis", "Postgres", "ServiceConfiguration", "HTTPSupport", "ServiceSupport", "ModelRegistry",
                "ServingTestSupport", "Experiments", "Outcomes", "EventRecords",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "TrainingTests",
            dependencies: [
                "Training", "Recommender", "ModelStore", "Datasets", "Kafka", "LoadGeneration", "StackTestSupport", "ClientRuntime", "Features", "Events", "Postgres", "Redis",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The inference API's routes, configuration and wiring (Inference).
        .testTarget(
            name: "InferenceTests",
            dependencies: [
                "Inference", "Serving", "Features", "Training", "Datasets", "Events", "Postgres", "Redis", "Kafka", "ServiceConfiguration", "HTTPSupport",
                "ServiceSupport", "StackTestSupport", "ServingTestSupport", "Experiments", "ModelRegistry", "EventStore", "ModelStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "TrainerCommandsTests", dependencies: ["TrainerCommands", "Events", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(
            name: "IngestTests",
            dependencies: [
                "Ingest", "StackTestSupport", "SyntheticData", "Events", "Kafka", "ServiceConfiguration", "HTTPSupport", "ServiceSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
