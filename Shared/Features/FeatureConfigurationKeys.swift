import Events
import ServiceConfiguration

extension FeatureConfiguration {
    /// Read by the stream processor (which writes features) and the inference API (which reads them):
    /// both must agree, so both read the same keys.
    public enum Keys {
        public static let keyPrefix = ConfigKey("features.key_prefix", default: "sr:v2", "Prefix of every feature key in Redis (the v2 is the layout version)")
        public static let windows = ConfigKey("features.windows", default: "1h:5m,24h:1h,7d:6h", "Popularity windows as length:bucket, comma-separated")
        public static let lateness = ConfigKey("features.allowed_lateness", default: "1h", "Events older than the largest window plus this are late: counted and skipped")
        public static let historyLength = ConfigKey("features.history_length", default: "200", "Entries kept in a user's recent history, per domain")
        public static let seenLimit = ConfigKey("features.seen_limit", default: "5000", "Items kept in a user's seen-set, per domain")
        public static let userIdleExpiry = ConfigKey("features.user_idle_expiry", default: "90d", "A user's feature keys expire after this long without activity")
        public static let weights = ConfigKey(
            "features.weights", default: "movie.view:0.2,movie.like:1,movie.dislike:-1,poll.impression:0,poll.expand:1,poll.vote:2,poll.share:3",
            "Weight of each interaction type as type:weight, comma-separated (ratings: see features.rating_prior_*)"
        )
        public static let ratingPriorMean = ConfigKey("features.rating_prior_mean", default: "3.5", "A rating counts as rating − the user's mean, shrunk towards this")
        public static let ratingPriorStrength = ConfigKey("features.rating_prior_strength", default: "2", "How many ratings the prior mean is worth")
        public static let trendingShort = ConfigKey("features.trending_short_window", default: "1h", "Trending: the recent window (one of features.windows)")
        public static let trendingLong = ConfigKey("features.trending_long_window", default: "24h", "Trending: the baseline window (one of features.windows)")
        public static let trendingPrior = ConfigKey("features.trending_prior", default: "1", "Trending: prior weight per long window, so rare items do not dominate")
        /// Read by the stream processor only (``ProcessorConfiguration``): the API keeps no user state.
        public static let cachedUsers = ConfigKey(
            "features.cached_users", default: "200000", "Users (per domain) whose state is kept in memory between batches, least recently used dropped first"
        )

        public static let all: [ConfigKey] = [
            keyPrefix, windows, lateness, historyLength, seenLimit, userIdleExpiry, weights, ratingPriorMean, ratingPriorStrength,
            trendingShort, trendingLong, trendingPrior,
        ]
    }

    public init(reading reader: ConfigReader) throws(ConfigurationError) {
        self.init()
        keyPrefix = try reader.string(Keys.keyPrefix)
        guard !keyPrefix.contains("{"), !keyPrefix.contains("}") else {
            throw ConfigurationError(key: Keys.keyPrefix.name, message: "must not contain { or } (they would become the hash tag)")
        }
        switch PopularityWindow.parseList(try reader.string(Keys.windows)) {
        case .success(let windows): self.windows = windows
        case .failure(let error): throw ConfigurationError(key: Keys.windows.name, message: error.message)
        }
        allowedLateness = try reader.duration(Keys.lateness)
        historyLength = try reader.int(Keys.historyLength, range: 1...100_000)
        seenLimit = try reader.int(Keys.seenLimit, range: 1...10_000_000)
        userIdleExpiry = try reader.duration(Keys.userIdleExpiry)
        weights = try Self.parseWeights(try reader.string(Keys.weights), into: weights)
        weights.ratingPriorMean = try reader.double(Keys.ratingPriorMean)
        weights.ratingPriorStrength = try reader.double(Keys.ratingPriorStrength)
        guard weights.ratingPriorStrength >= 0 else {
            throw ConfigurationError(key: Keys.ratingPriorStrength.name, message: "must not be negative")
        }
        trendingShortWindow = try reader.string(Keys.trendingShort)
        trendingLongWindow = try reader.string(Keys.trendingLong)
        for key in [Keys.trendingShort, Keys.trendingLong] where window(named: try reader.string(key)) == nil {
            throw ConfigurationError(key: key.name, message: "not one of the windows in \(Keys.windows.name)")
        }
        trendingPrior = try reader.double(Keys.trendingPrior)
    }

    static func parseWeights(_ text: String, into defaults: EventWeights) throws(ConfigurationError) -> EventWeights {
        var weights = defaults
        for item in text.split(separator: ",") {
            let parts = item.split(separator: ":", maxSplits: 1).map { String($0).trimmingWhitespace() }
            guard parts.count == 2, let type = EventType(rawValue: parts[0]), let weight = Double(parts[1]), weight.isFinite, abs(weight) <= 1000 else {
                throw ConfigurationError(key: Keys.weights.name, message: "each entry is type:weight with a known interaction type and |weight| ≤ 1000; got \"\(item)\"")
            }
            switch type {
            case .movieView: weights.view = weight
            case .movieLike: weights.like = weight
            case .movieDislike: weights.dislike = weight
            case .pollImpression: weights.pollImpression = weight
            case .pollExpand: weights.pollExpand = weight
            case .pollVote: weights.pollVote = weight
            case .pollShare: weights.pollShare = weight
            case .movieRating, .movieAdded, .pollCreated:
                throw ConfigurationError(key: Keys.weights.name, message: "\(type.rawValue) has no fixed weight")
            }
        }
        return weights
    }
}
