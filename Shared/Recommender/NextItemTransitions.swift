import CRecommenderKernels

/// What users go on to next: for each item a, how often each item b came within the next `window`
/// interactions of the same user (in time order), each row divided by its total plus `shrinkage`. A user's
/// scores are the sum of the rows of their `recentItems` latest items. Item–item models such as EASE read a
/// history as a set; this reads its order, which is what tells the next items apart from the ones a user
/// is done with. Dense `itemCount²` floats, like EASE.
public struct NextItemTransitions: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// How many of a user's later interactions count as following an item.
        public var window: Int = 20
        /// How many of a user's latest interactions score what comes next.
        public var recentItems: Int = 3
        /// Added to each row's total before dividing, so items followed rarely weigh less.
        public var shrinkage: Float = 10
        public init() {}
    }

    public let configuration: Configuration
    public let itemCount: Int
    /// Row-major `itemCount × itemCount`: row a, column b is the share of a's followers that were b.
    public let weights: [Float]

    public init(configuration: Configuration, itemCount: Int, weights: [Float]) {
        precondition(weights.count == itemCount * itemCount)
        self.configuration = configuration
        self.itemCount = itemCount
        self.weights = weights
    }

    public static func fit(_ interactions: [Interaction], itemCount: Int, configuration: Configuration = Configuration()) -> NextItemTransitions {
        let n = itemCount
        var counts = [Float](repeating: 0, count: n * n)
        for sequence in orderedHistories(interactions).values {
            for (position, item) in sequence.enumerated() {
                let row = Int(item) * n
                for next in sequence[(position + 1)..<min(sequence.count, position + 1 + configuration.window)] {
                    counts[row + Int(next)] += 1
                }
            }
        }
        for a in 0..<n {
            var total: Float = 0
            for b in 0..<n { total += counts[a * n + b] }
            let scale = 1 / (total + configuration.shrinkage)
            for b in 0..<n { counts[a * n + b] *= scale }
        }
        return NextItemTransitions(configuration: configuration, itemCount: n, weights: counts)
    }

    /// Each user's items in the order they were interacted with (timestamp, then item, so ties are stable).
    public static func orderedHistories(_ interactions: [Interaction]) -> [Int32: [Int32]] {
        var byUser: [Int32: [Interaction]] = [:]
        for interaction in interactions { byUser[interaction.user, default: []].append(interaction) }
        return byUser.mapValues { history in
            history.sorted { ($0.timestamp, $0.item) < ($1.timestamp, $1.item) }.map(\.item)
        }
    }

    /// Scores of every item after a history given oldest first; only its `recentItems` latest count.
    public func scores(after history: some BidirectionalCollection<Int32>, into scores: UnsafeMutableBufferPointer<Float>) {
        for index in 0..<itemCount { scores[index] = 0 }
        let recent = Array(history.suffix(configuration.recentItems))
        guard !recent.isEmpty else { return }
        let ones = [Float](repeating: 1, count: recent.count)
        weights.withUnsafeBufferPointer { w in
            recent.withUnsafeBufferPointer { rows in
                ones.withUnsafeBufferPointer { sr_weighted_rows_sum(w.baseAddress, itemCount, rows.baseAddress, $0.baseAddress, recent.count, scores.baseAddress) }
            }
        }
    }
}

/// EASE over weighted interactions blended with next-item transitions: the top-N model chosen for
/// MovieLens, where which items a user rated at all (not only the ones they liked) and the order they
/// rated them in both carry signal. `easeWeight` is the blend's share of EASE in standardised scores.
public struct SequenceAwareEASE: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var ease = EASE.Configuration()
        public var transitions = NextItemTransitions.Configuration()
        /// Weight of an interaction that is not a positive (a low rating, say) in EASE's input; positives
        /// weigh 1. Zero leaves them out.
        public var otherWeight: Float = 0.3
        /// Share of EASE in the blend; 1 ignores the transitions.
        public var easeWeight: Float = 1
        public init() {}
    }

    public let configuration: Configuration
    public let ease: EASE
    public let transitions: NextItemTransitions
    /// The training users' weighted histories (EASE's input, as fitted) and their items in time order, so a
    /// training user is recommended from what the model was fitted on without rebuilding either.
    public let histories: InteractionMatrix
    public let orderedHistories: [Int32: [Int32]]

    init(configuration: Configuration, ease: EASE, transitions: NextItemTransitions, histories: InteractionMatrix, orderedHistories: [Int32: [Int32]]) {
        precondition(configuration.easeWeight >= 1 || transitions.itemCount == ease.itemCount, "the transitions must cover EASE's catalog")
        self.configuration = configuration
        self.ease = ease
        self.transitions = transitions
        self.histories = histories
        self.orderedHistories = orderedHistories
    }

    /// A model to serve, from its fitted parts, without the training users' histories (the server keeps
    /// those apart: ``UserHistories``).
    public init(configuration: Configuration, ease: EASE, transitions: NextItemTransitions) {
        self.init(
            configuration: configuration, ease: ease, transitions: transitions,
            histories: InteractionMatrix([], userCount: 0, itemCount: ease.itemCount), orderedHistories: [:]
        )
    }

    /// The same model with another blend weight: 1 drops the transitions (to show what they add); below 1
    /// needs a model fitted with its transitions.
    public func with(easeWeight: Float) -> SequenceAwareEASE {
        var changed = configuration
        changed.easeWeight = easeWeight
        return SequenceAwareEASE(configuration: changed, ease: ease, transitions: transitions, histories: histories, orderedHistories: orderedHistories)
    }

    /// Fits both parts on `interactions` (every interaction of the training data, with its value);
    /// `isPositive` tells which weigh 1.
    public static func fit(
        _ interactions: [Interaction], userCount: Int, itemCount: Int, configuration: Configuration,
        isPositive: (Interaction) -> Bool
    ) -> SequenceAwareEASE {
        let histories = InteractionMatrix(
            weightedInput(interactions, otherWeight: configuration.otherWeight, isPositive: isPositive), userCount: userCount, itemCount: itemCount
        )
        let ease = EASE.fit(histories, configuration: configuration.ease)
        let transitions = configuration.easeWeight < 1
            ? NextItemTransitions.fit(interactions, itemCount: itemCount, configuration: configuration.transitions)
            : NextItemTransitions(configuration: configuration.transitions, itemCount: 0, weights: [])
        return SequenceAwareEASE(
            configuration: configuration, ease: ease, transitions: transitions, histories: histories,
            orderedHistories: NextItemTransitions.orderedHistories(interactions)
        )
    }

    /// Positives at 1, the others at `otherWeight` (dropped at zero).
    public static func weightedInput(_ interactions: [Interaction], otherWeight: Float, isPositive: (Interaction) -> Bool) -> [Interaction] {
        interactions.compactMap { interaction in
            var weighted = interaction
            weighted.value = isPositive(interaction) ? 1 : otherWeight
            return weighted.value > 0 ? weighted : nil
        }
    }

    /// Scores of every item for a user whose weighted history is `history` and whose items in time order
    /// are `ordered` (higher is better; standardised when the transitions take part).
    public func scores(history: [(item: Int32, weight: Float)], ordered: [Int32], into output: UnsafeMutableBufferPointer<Float>) {
        ease.scores(for: history, into: output)
        blendTransitions(after: ordered, into: output)
    }

    /// Blends the transitions after `ordered` into `output`, which holds EASE's scores (nothing when EASE
    /// serves alone): a server that keeps EASE's scores of its users' training histories adds only what
    /// is new, then calls this.
    public func blendTransitions(after ordered: [Int32], into output: UnsafeMutableBufferPointer<Float>) {
        guard configuration.easeWeight < 1 else { return }
        let n = ease.itemCount
        var nextScores = [Float](repeating: 0, count: n)
        nextScores.withUnsafeMutableBufferPointer { transitions.scores(after: ordered, into: $0) }
        nextScores.withUnsafeBufferPointer { t in
            ScoreBlend(weight: configuration.easeWeight).combine(UnsafeBufferPointer(output), t, into: output)
        }
    }

    /// Top-k for a user of the training data, from their histories as fitted; empty for a user without any.
    public func recommend(user: Int32, k: Int, excluding seen: Set<Int32>) -> [(item: Int32, score: Float)] {
        guard Int(user) < histories.userCount, !histories.items(of: Int(user)).isEmpty else { return [] }
        return recommend(history: histories.weightedHistory(of: Int(user)), ordered: orderedHistories[user] ?? [], k: k, excluding: seen)
    }

    /// Top-k items and their scores for any history (a user the model was not fitted on, say), excluding `seen`.
    public func recommend(
        history: [(item: Int32, weight: Float)], ordered: [Int32], k: Int, excluding seen: Set<Int32>
    ) -> [(item: Int32, score: Float)] {
        var scores = [Float](repeating: 0, count: ease.itemCount)
        scores.withUnsafeMutableBufferPointer { self.scores(history: history, ordered: ordered, into: $0) }
        return TopK.select(scores, k: k) { seen.contains(Int32($0)) }.map { (Int32($0.index), $0.score) }
    }
}
