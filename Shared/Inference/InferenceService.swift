import Events
import Experiments
import Features
import HTTPSupport
import Serving

/// What the inference API's routes need.
public struct InferenceService: Sendable {
    public let engine: RecommendationEngine
    public let features: FeatureReader
    public let catalog: CatalogMetadata
    public let models: ModelRepository
    /// Bearer token of `POST /v1/admin/reload`; empty disables the route.
    public let adminToken: String
    public let clock: @Sendable () -> Int64
    public let ui: UIConfiguration
    /// `POST /v1/predict` calls, over all callers (one bucket): bounds the CPU the route can take.
    public let predictLimiter: RateLimiter
    /// Where each answer's `recommendation.served` record goes (`inference.impressions`); nil: not emitted
    /// (answers still carry their `recommendation_id`).
    public let impressions: ImpressionEmitter?
    /// The running experiments (`trainer experiment`, the admin routes); nil: none served.
    public let experiments: ExperimentAssignments?
    /// An experiment's figures for `GET /v1/experiments` (the processor's outcome counters); nil: not shown.
    public let outcomes: (@Sendable (Experiment) async -> JSONValue)?

    /// What the web page needs to post events (`GET /v1/ui/config`).
    public struct UIConfiguration: Sendable {
        public var gatewayURL: String
        /// Handed to every visitor: set only for local demos.
        public var gatewayAPIKey: String?

        public init(gatewayURL: String = "http://127.0.0.1:8080", gatewayAPIKey: String? = nil) {
            self.gatewayURL = gatewayURL
            self.gatewayAPIKey = gatewayAPIKey
        }
    }

    public init(
        engine: RecommendationEngine, features: FeatureReader, catalog: CatalogMetadata, models: ModelRepository, adminToken: String,
        clock: @escaping @Sendable () -> Int64, ui: UIConfiguration = UIConfiguration(),
        predictLimiter: RateLimiter = RateLimiter(ratePerSecond: 0, burst: 1), impressions: ImpressionEmitter? = nil,
        experiments: ExperimentAssignments? = nil, outcomes: (@Sendable (Experiment) async -> JSONValue)? = nil
    ) {
        self.impressions = impressions
        self.experiments = experiments
        self.outcomes = outcomes
        self.predictLimiter = predictLimiter
        self.engine = engine
        self.features = features
        self.catalog = catalog
        self.models = models
        self.adminToken = adminToken
        self.clock = clock
        self.ui = ui
    }
}
