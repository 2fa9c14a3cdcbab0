import Events

/// What the outcome counters count, per experiment, variant, strategy and hour (docs/experiments.md).
public enum OutcomeMetric: String, Sendable, Hashable, CaseIterable {
    /// Answers served in the experiment (one `recommendation.served` record each).
    case impressions
    /// Items those answers showed.
    case itemsShown = "items_shown"
    /// Answers with at least one attributed positive.
    case converted
    /// Attributed positives (distinct per answer, item and event type).
    case positives
    /// Sum of the positives' positions (1 = first), for their mean.
    case positionSum = "position_sum"
    /// Users exposed to the variant (strategy `*`): the unit assigned, so the trials the promotion test compares.
    case users
    /// Users with at least one attributed positive (strategy `*`): that test's successes.
    case usersConverted = "users_converted"
    // Attributed interactions by type, each counted once per answer and item.
    case movieLike = "movie.like"
    case movieDislike = "movie.dislike"
    case movieRating = "movie.rating"
    case movieView = "movie.view"
    case pollVote = "poll.vote"
    case pollShare = "poll.share"
    case pollExpand = "poll.expand"

    /// The counter an interaction is attributed under; nil for types that are not a response to a list
    /// (`poll.impression`, catalog events).
    public static func interaction(_ type: EventType) -> OutcomeMetric? {
        switch type {
        case .movieLike: .movieLike
        case .movieDislike: .movieDislike
        case .movieRating: .movieRating
        case .movieView: .movieView
        case .pollVote: .pollVote
        case .pollShare: .pollShare
        case .pollExpand: .pollExpand
        case .pollImpression, .movieAdded, .pollCreated: nil
        }
    }

    /// Whether an interaction says the user wanted the item: a like, a rating of 4 or more, a vote, a share.
    /// Views and expands are clicks (counted, not positives); a dislike is a negative.
    public static func isPositive(_ event: Event) -> Bool {
        switch (event.type, event.payload) {
        case (.movieLike, _), (.pollVote, _), (.pollShare, _): true
        case (.movieRating, .rating(let value)): value >= 4
        default: false
        }
    }
}
