import Events

/// The catalog as the `movies` and `polls` tables hold it: what ``TrainingStore/catalog()`` reads.
public struct Catalog: Sendable {
    /// A movie's row: the same fields the `movie.added` event carries.
    public typealias Movie = MovieDetails

    public struct Poll: Sendable, Hashable {
        public var question: String
        public var category: String
        /// (id, text) in the poll's order.
        public var options: [PollOption]

        public init(question: String, category: String, options: [PollOption]) {
            self.question = question
            self.category = category
            self.options = options
        }
    }

    public var movies: [String: Movie]
    public var polls: [String: Poll]

    public init(movies: [String: Movie], polls: [String: Poll]) {
        self.movies = movies
        self.polls = polls
    }
}
