/// How strongly an interaction says "the user wants this item", for the implicit models, by event type
/// (the event contract's names, e.g. `movie.like`). Nil: not a positive signal (dislikes, impressions,
/// low ratings). Defined once: training weighs the training store's rows with it and serving weighs a
/// user's fresh events the same way.
public enum ImplicitStrength {
    /// Whether an event of this type is an interaction with the item at all (an impression is not: the
    /// item was shown, the user did nothing with it).
    public static func isInteraction(_ type: String) -> Bool { type != "poll.impression" }

    /// - Parameter value: the rating of a `movie.rating`; ignored for other types.
    public static func of(type: String, value: Double?) -> Float? {
        switch type {
        case "movie.rating": (value ?? 0) >= 4 ? 1 : nil
        case "movie.like": 1
        case "movie.view": 0.3
        case "poll.vote": 1
        case "poll.share": 1.5
        case "poll.expand": 0.5
        default: nil
        }
    }
}
