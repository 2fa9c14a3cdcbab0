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
        predictLimiter: RateLimiter = RateLimiter(ratePerSecond: 0, burst: 1)
    ) {
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
