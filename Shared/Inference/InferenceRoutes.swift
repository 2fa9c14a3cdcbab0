import Hummingbird

/// The inference API's routes, by resource: predicted ratings and similar by title, stated preferences,
/// recommendations, popular and trending, poll results, a user's profile, similar items, the web page's
/// configuration, models and admin reload. Their parameters are read by ``InferenceQuery``.
public enum InferenceRoutes {
    public static func add<Context: RequestContext>(to router: Router<Context>, service: InferenceService) {
        PredictRoutes.add(to: router, service: service)
        PreferenceRoutes.add(to: router, service: service)
        RecommendationRoutes.add(to: router, service: service)
        PopularRoutes.add(to: router, service: service)
        PollRoutes.add(to: router, service: service)
        ProfileRoutes.add(to: router, service: service)
        ItemRoutes.add(to: router, service: service)
        WebPageRoutes.add(to: router, service: service)
        ModelRoutes.add(to: router, service: service)
        ExperimentRoutes.add(to: router, service: service)
    }
}
