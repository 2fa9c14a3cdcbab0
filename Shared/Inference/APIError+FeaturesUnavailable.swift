import HTTPSupport
import Logging

extension APIError {
    /// 503 `features_unavailable` with `Retry-After`: Redis did not answer a route that needs it.
    static func featuresUnavailable(_ error: any Error) -> APIError {
        // The cause (hosts, Redis replies) goes to the log, not to the caller.
        logger.warning("Redis is not reachable", metadata: ["error": "\(error)"])
        return APIError.unavailable(code: "features_unavailable", message: "the feature store is not reachable; retry later", retryAfter: .seconds(2))
    }
}

/// Where what the callers are not told goes.
private let logger = Logger(label: "streamrec.inference")
