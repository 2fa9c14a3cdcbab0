import Foundation
import Recommender

/// A synthetic polls dataset with latent user/poll structure, calibrated on a real polls product's
/// published statistics (no public polls dataset exists):
/// 4,200 users, 707 polls; answered polls per user mean 30.8, median 14, max 602 (heavy tail); users per
/// poll mean 183, median 142; ~80 % of impressions answered, ~3 % expanded, ~0.2 % shared; 2–6 options.
///
/// Users and polls get latent vectors over `latentDimensions`; a poll's category is its strongest
/// dimension. A user answers `n` polls (log-normal, median 14, mean 30.8, capped at 602), drawn without
/// replacement with probability ∝ poll popularity (log-normal) × exp(affinity · ⟨user, poll⟩): taste
/// shapes who answers what, so a latent-factor model can beat popularity. Each answered poll was an
/// impression; unanswered impressions add the other 20 %. Deterministic for a seed.
public struct SyntheticPolls: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var users = 4200
        public var polls = 707
        public var medianPollsPerUser = 14.0
        public var meanPollsPerUser = 30.8
        public var maximumPollsPerUser = 602
        public var medianUsersPerPoll = 142.0
        public var meanUsersPerPoll = 183.0
        public var answerRate = 0.80
        public var expandRate = 0.03
        public var shareRate = 0.002
        public var latentDimensions = 8
        /// How strongly taste (vs popularity) decides which polls a user answers.
        public var affinity = 5.0
        public var categories = ["politics", "sports", "technology", "entertainment", "food", "travel", "science", "lifestyle"]
        public var seed: UInt64 = 2024
        /// Interactions fall in the `spanDays` before `end` (seconds since the epoch).
        public var spanDays = 90
        public var end: Int64 = 1_790_000_000

        public init() {}
    }

    public enum Kind: String, Sendable, Hashable {
        case impression = "poll.impression"
        case expand = "poll.expand"
        case vote = "poll.vote"
        case share = "poll.share"
    }

    public struct Poll: Sendable, Hashable {
        public var id: String
        public var question: String
        public var category: String
        public var options: [String]
        public var author: String
    }

    public struct Interaction: Sendable, Hashable {
        public var user: String
        public var poll: String
        public var kind: Kind
        /// The chosen option for votes.
        public var option: String?
        /// Seconds since the epoch.
        public var timestamp: Int64
    }

    public let configuration: Configuration
    public private(set) var polls: [Poll] = []
    public private(set) var interactions: [Interaction] = []

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        generate()
    }

    private mutating func generate() {
        let c = configuration
        var random = Generator(seed: c.seed)
        let d = c.latentDimensions
        func latent() -> [Double] {
            // Sparse tastes: one or two strong dimensions, small noise elsewhere.
            var vector = (0..<d).map { _ in random.gaussian() * 0.25 }
            vector[random.next(d)] += 1
            if random.uniform() < 0.5 { vector[random.next(d)] += 0.6 }
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return vector.map { $0 / norm }
        }
        // Log-normal parameters from median and mean: μ = ln(median), σ² = 2 ln(mean / median).
        let userSigma = (2 * log(c.meanPollsPerUser / c.medianPollsPerUser)).squareRoot()
        let pollSigma = (2 * log(c.meanUsersPerPoll / c.medianUsersPerPoll)).squareRoot()
        let pollVectors = (0..<c.polls).map { _ in latent() }
        let popularity = (0..<c.polls).map { _ in exp(pollSigma * random.gaussian()) }
        polls = (0..<c.polls).map { index in
            let strongest = pollVectors[index].indices.max { pollVectors[index][$0] < pollVectors[index][$1] }!
            let category = c.categories[strongest % c.categories.count]
            let optionCount = 2 + random.next(5)
            return Poll(
                id: "p\(index)", question: "Question \(index) about \(category)?", category: category,
                options: (0..<optionCount).map { "o\($0)" }, author: "author-\(random.next(200))"
            )
        }
        let start = c.end - Int64(c.spanDays) * 86_400
        var result: [Interaction] = []
        for user in 0..<c.users {
            let taste = latent()
            let answered = min(c.maximumPollsPerUser, c.polls, max(1, Int((c.medianPollsPerUser * exp(userSigma * random.gaussian())).rounded())))
            // Unanswered impressions come on top, so that answered / impressions ≈ answerRate.
            let shown = min(c.polls, Int((Double(answered) / c.answerRate).rounded()))
            // Weighted sampling without replacement: the `shown` largest of log(w) + Gumbel noise.
            var keys: [(Double, Int)] = (0..<c.polls).map { poll in
                let dot = zip(taste, pollVectors[poll]).reduce(0) { $0 + $1.0 * $1.1 }
                return (log(popularity[poll]) + c.affinity * dot - log(-log(max(1e-12, random.uniform()))), poll)
            }
            keys.sort { $0.0 > $1.0 }
            // The highest-scoring polls are the ones answered; the rest of those shown were only seen.
            for (rank, (_, poll)) in keys.prefix(shown).enumerated() {
                let time = start + Int64(random.next(Int(c.end - start)))
                let pollID = polls[poll].id
                let userID = "u\(user)"
                result.append(Interaction(user: userID, poll: pollID, kind: .impression, option: nil, timestamp: time))
                if random.uniform() < c.expandRate {
                    result.append(Interaction(user: userID, poll: pollID, kind: .expand, option: nil, timestamp: time + 2))
                }
                if rank < answered {
                    // The option follows taste too: the user's strongest dimension picks it, with noise.
                    let options = polls[poll].options
                    let preferred = (taste.indices.max { taste[$0] < taste[$1] }! + poll) % options.count
                    let option = random.uniform() < 0.6 ? options[preferred] : options[random.next(options.count)]
                    result.append(Interaction(user: userID, poll: pollID, kind: .vote, option: option, timestamp: time + 5))
                }
                if random.uniform() < c.shareRate {
                    result.append(Interaction(user: userID, poll: pollID, kind: .share, option: nil, timestamp: time + 9))
                }
            }
        }
        interactions = result
    }

    /// The calibration statistics of the generated data, to compare with the targets.
    public struct Statistics: Sendable, Hashable {
        public var users: Int
        public var polls: Int
        public var meanPollsPerUser: Double
        public var medianPollsPerUser: Double
        public var maximumPollsPerUser: Int
        public var meanUsersPerPoll: Double
        public var medianUsersPerPoll: Double
        public var answerRate: Double
        public var expandRate: Double
        public var shareRate: Double
    }

    public var statistics: Statistics {
        var perUser: [String: Int] = [:]
        var perPoll: [String: Int] = [:]
        var counts: [Kind: Int] = [:]
        for interaction in interactions {
            counts[interaction.kind, default: 0] += 1
            if interaction.kind == .vote {
                perUser[interaction.user, default: 0] += 1
                perPoll[interaction.poll, default: 0] += 1
            }
        }
        func median(_ values: [Int]) -> Double {
            let sorted = values.sorted()
            guard !sorted.isEmpty else { return 0 }
            return sorted.count % 2 == 1 ? Double(sorted[sorted.count / 2]) : Double(sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        }
        let impressions = Double(max(1, counts[.impression] ?? 0))
        return Statistics(
            users: perUser.count, polls: perPoll.count,
            meanPollsPerUser: Double(perUser.values.reduce(0, +)) / Double(max(1, perUser.count)),
            medianPollsPerUser: median(Array(perUser.values)), maximumPollsPerUser: perUser.values.max() ?? 0,
            meanUsersPerPoll: Double(perPoll.values.reduce(0, +)) / Double(max(1, perPoll.count)),
            medianUsersPerPoll: median(Array(perPoll.values)),
            answerRate: Double(counts[.vote] ?? 0) / impressions, expandRate: Double(counts[.expand] ?? 0) / impressions,
            shareRate: Double(counts[.share] ?? 0) / impressions
        )
    }
}

/// The recommender core's seeded generator, with the draws used here.
struct Generator {
    private var random: SeededRandom

    init(seed: UInt64) { random = SeededRandom(seed: seed) }

    mutating func next(_ bound: Int) -> Int { Int(random.next() % UInt64(bound)) }
    mutating func uniform() -> Double { random.nextUnit() }
    mutating func gaussian() -> Double { random.nextGaussian() }
}
