import Events
import Experiments

/// An experiment's outcome counters as read back (``OutcomeReader``), summed over hours, with the rates,
/// their intervals and the comparison `GET /v1/experiments` shows and `trainer promote --online` decides on.
/// Pure: built from the counts hash's fields.
public struct OutcomeFigures: Sendable, Hashable {
    /// Counters of one variant, over all strategies or one.
    public struct Counts: Sendable, Hashable {
        public var values: [String: Int64] = [:]

        public subscript(_ metric: OutcomeMetric) -> Int64 { values[metric.rawValue] ?? 0 }

        mutating func add(_ metric: String, _ value: Int64) { values[metric, default: 0] += value }

        /// Answers with a positive, per answer.
        public var positiveRate: Double? { rate(self[.converted]) }
        public var positiveRateInterval: WilsonInterval { WilsonInterval(positives: Int(self[.converted]), trials: Int(self[.impressions])) }
        /// Users with a positive, per user exposed: the rate the promotion test compares (users are what is
        /// assigned; one user's answers are not independent trials).
        public var userPositiveRate: Double? { self[.users] > 0 ? Double(self[.usersConverted]) / Double(self[.users]) : nil }
        public var userPositiveRateInterval: WilsonInterval { WilsonInterval(positives: Int(self[.usersConverted]), trials: Int(self[.users])) }
        public var likeThroughRate: Double? { rate(self[.movieLike]) }
        public var voteThroughRate: Double? { rate(self[.pollVote]) }
        public var meanPositionOfPositives: Double? {
            self[.positives] > 0 ? Double(self[.positionSum]) / Double(self[.positives]) : nil
        }

        private func rate(_ count: Int64) -> Double? {
            self[.impressions] > 0 ? Double(count) / Double(self[.impressions]) : nil
        }
    }

    /// Per variant (`control`, `challenger`): all strategies together, and each strategy.
    public var variants: [String: Counts] = [:]
    public var strategies: [String: [String: Counts]] = [:]

    public init() {}

    /// From the counts hash: fields `variant US strategy US metric US hour`, values the counts (hours summed;
    /// they stay in Redis for a later view of trends). Strategy `*` holds the per-user counts.
    public init(fields: [(String, Int64)]) {
        for (field, value) in fields {
            let parts = field.split(separator: "\u{1f}", omittingEmptySubsequences: false)
            guard parts.count == 4, Int64(parts[3]) != nil else { continue }
            let variant = String(parts[0]), strategy = String(parts[1]), metric = String(parts[2])
            variants[variant, default: Counts()].add(metric, value)
            if strategy != "*" { strategies[variant, default: [:]][strategy, default: Counts()].add(metric, value) }
        }
    }

    public func counts(_ variant: ExperimentVariant) -> Counts { variants[variant.rawValue] ?? Counts() }

    /// The challenger against the control on the users' positive rate (``ProportionTest``: users converted
    /// out of users exposed), and whether it wins at `alpha` with enough data for the test.
    public struct Comparison: Sendable, Hashable {
        public var test: ProportionTest?
        public var alpha: Double
        public var challengerWins: Bool
    }

    public func comparison(alpha: Double = 0.05) -> Comparison {
        let control = counts(.control), challenger = counts(.challenger)
        let test = ProportionTest(
            controlPositives: Int(control[.usersConverted]), controlTrials: Int(control[.users]),
            challengerPositives: Int(challenger[.usersConverted]), challengerTrials: Int(challenger[.users])
        )
        let wins = test?.challengerWins(
            alpha: alpha, controlPositives: Int(control[.usersConverted]), controlTrials: Int(control[.users]),
            challengerPositives: Int(challenger[.usersConverted]), challengerTrials: Int(challenger[.users])
        ) ?? false
        return Comparison(test: test, alpha: alpha, challengerWins: wins)
    }

    /// `outcomes` of an experiment in `GET /v1/experiments` (docs/experiments.md), also the evidence
    /// `trainer promote --online` records.
    public func jsonValue(alpha: Double = 0.05) -> JSONValue {
        func number(_ value: Double?) -> JSONValue { value.map { .number(String($0)) } ?? .null }
        func described(_ counts: Counts, users: Bool) -> JSONValue {
            let interval = counts.positiveRateInterval
            var members: [(key: String, value: JSONValue)] = [
                ("impressions", .number(String(counts[.impressions]))),
                ("items_shown", .number(String(counts[.itemsShown]))),
                ("converted", .number(String(counts[.converted]))),
                ("positive_rate", number(counts.positiveRate)),
                ("positive_rate_ci95", .array([.number(String(interval.lower)), .number(String(interval.upper))])),
                ("positives", .number(String(counts[.positives]))),
                ("mean_position_of_positives", number(counts.meanPositionOfPositives)),
                ("like_through_rate", number(counts.likeThroughRate)),
                ("vote_through_rate", number(counts.voteThroughRate)),
                ("interactions", .object(OutcomeMetric.allCases.filter { $0.rawValue.contains(".") }.map { ($0.rawValue, .number(String(counts[$0]))) })),
            ]
            if users {
                let userInterval = counts.userPositiveRateInterval
                members += [
                    ("users", .number(String(counts[.users]))), ("users_converted", .number(String(counts[.usersConverted]))),
                    ("user_positive_rate", number(counts.userPositiveRate)),
                    ("user_positive_rate_ci95", .array([.number(String(userInterval.lower)), .number(String(userInterval.upper))])),
                ]
            }
            return .object(members)
        }
        var variantMembers: [(key: String, value: JSONValue)] = []
        for variant in [ExperimentVariant.control, .challenger] {
            var members: [(key: String, value: JSONValue)] = []
            if case .object(let totals) = described(counts(variant), users: true) { members = totals }
            let byStrategy = (strategies[variant.rawValue] ?? [:]).sorted { $0.key < $1.key }
            members.append(("strategies", .object(byStrategy.map { ($0.key, described($0.value, users: false)) })))
            variantMembers.append((variant.rawValue, .object(members)))
        }
        let comparison = comparison(alpha: alpha)
        return .object([
            ("variants", .object(variantMembers)),
            ("comparison", .object([
                ("metric", .string("user_positive_rate")),
                ("test", .string("one-sided two-proportion z-test, pooled standard error")),
                ("z", number(comparison.test?.z)),
                ("p_value", number(comparison.test?.pValue)),
                ("alpha", .number(String(alpha))),
                ("challenger_wins", .bool(comparison.challengerWins)),
            ])),
        ])
    }
}
