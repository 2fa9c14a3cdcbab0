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

        /// Answers with a positive, per answer: the rate the promotion test compares.
        public var positiveRate: Double? { rate(self[.converted]) }
        public var positiveRateInterval: WilsonInterval { WilsonInterval(positives: Int(self[.converted]), trials: Int(self[.impressions])) }
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

    /// From the counts hash: fields `variant US strategy US metric US hour`, values the counts. Hours at or
    /// after `sinceHour` only, when given.
    public init(fields: [(String, Int64)], sinceHour: Int64? = nil) {
        for (field, value) in fields {
            let parts = field.split(separator: "\u{1f}", omittingEmptySubsequences: false)
            guard parts.count == 4, let hour = Int64(parts[3]) else { continue }
            if let sinceHour, hour < sinceHour { continue }
            let variant = String(parts[0]), strategy = String(parts[1]), metric = String(parts[2])
            variants[variant, default: Counts()].add(metric, value)
            strategies[variant, default: [:]][strategy, default: Counts()].add(metric, value)
        }
    }

    public func counts(_ variant: ExperimentVariant) -> Counts { variants[variant.rawValue] ?? Counts() }

    /// The challenger against the control on the positive rate (``ProportionTest``), and whether it wins at
    /// `alpha` with enough data for the test.
    public struct Comparison: Sendable, Hashable {
        public var test: ProportionTest?
        public var alpha: Double
        public var challengerWins: Bool
    }

    public func comparison(alpha: Double = 0.05) -> Comparison {
        let control = counts(.control), challenger = counts(.challenger)
        let test = ProportionTest(
            controlPositives: Int(control[.converted]), controlTrials: Int(control[.impressions]),
            challengerPositives: Int(challenger[.converted]), challengerTrials: Int(challenger[.impressions])
        )
        let wins = test?.challengerWins(
            alpha: alpha, controlPositives: Int(control[.converted]), controlTrials: Int(control[.impressions]),
            challengerPositives: Int(challenger[.converted]), challengerTrials: Int(challenger[.impressions])
        ) ?? false
        return Comparison(test: test, alpha: alpha, challengerWins: wins)
    }

    /// `outcomes` of an experiment in `GET /v1/experiments` (docs/experiments.md), also the evidence
    /// `trainer promote --online` records.
    public func jsonValue(alpha: Double = 0.05) -> JSONValue {
        func number(_ value: Double?) -> JSONValue { value.map { .number(String($0)) } ?? .null }
        func described(_ counts: Counts) -> JSONValue {
            let interval = counts.positiveRateInterval
            return .object([
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
            ])
        }
        var variantMembers: [(key: String, value: JSONValue)] = []
        for variant in [ExperimentVariant.control, .challenger] {
            var members: [(key: String, value: JSONValue)] = []
            if case .object(let totals) = described(counts(variant)) { members = totals }
            let byStrategy = (strategies[variant.rawValue] ?? [:]).sorted { $0.key < $1.key }
            members.append(("strategies", .object(byStrategy.map { ($0.key, described($0.value)) })))
            variantMembers.append((variant.rawValue, .object(members)))
        }
        let comparison = comparison(alpha: alpha)
        return .object([
            ("variants", .object(variantMembers)),
            ("comparison", .object([
                ("metric", .string("positive_rate")),
                ("test", .string("one-sided two-proportion z-test, pooled standard error")),
                ("z", number(comparison.test?.z)),
                ("p_value", number(comparison.test?.pValue)),
                ("alpha", .number(String(alpha))),
                ("challenger_wins", .bool(comparison.challengerWins)),
            ])),
        ])
    }
}
