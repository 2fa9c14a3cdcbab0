/// What ``TopNSelection/choose(_:)`` decided, and the validation figures it decided on.
public struct TopNChoice: Sendable, Hashable {
    public var kind: TopNKind
    public var sequenceAwareEASE: SequenceAwareEASE.Configuration
    public var implicitALS: ImplicitALS.Configuration
    /// Validation nDCG@10 of each kind tried.
    public var validationNDCG: [TopNKind: Double]
    /// Why a kind was not tried (empty when both were).
    public var skipped: [TopNKind: String]
}

/// The one place where the served top-N model is chosen and fitted: `trainer evaluate` and `trainer train`
/// both come through here, so what the evaluation proves is what the API serves.
///
/// The candidates are sequence-aware EASE (its own grid: weights of non-positive interactions, λ, blends
/// with next-item transitions; see ``ModelSelection/sequenceAwareEASE``) and implicit ALS (the given
/// configuration). Both are scored on the same validation split: 10 % of the training interactions, held
/// out the way the question is asked (each user's latest for a temporal protocol and for serving, where
/// the question is what comes next). The better validation nDCG@10 wins; ALS on a tie.
public enum TopNSelection {
    /// The data and rules of one choice.
    public struct Input {
        /// Every training interaction with its value (a rating, or an implicit strength).
        public var interactions: [Interaction]
        public var userCount: Int
        public var itemCount: Int
        public var holdout: ValidationSplit.Holdout
        /// Which interactions say "the user wants this" (the hits of validation; weight 1 in EASE's input).
        public var isPositive: @Sendable (Interaction) -> Bool
        /// ALS's input value of an interaction; 0 leaves it out.
        public var implicitStrength: @Sendable (Interaction) -> Float
        public var implicitALS: ImplicitALS.Configuration
        /// Bytes the item–item models may take (``itemItemBytes(itemCount:)``); above it only ALS is tried.
        public var itemItemMemoryLimit: Int
        /// The kinds that may win (an operator may pin one).
        public var candidates: Set<TopNKind> = Set(TopNKind.allCases)

        public init(
            interactions: [Interaction], userCount: Int, itemCount: Int, holdout: ValidationSplit.Holdout,
            isPositive: @escaping @Sendable (Interaction) -> Bool, implicitStrength: @escaping @Sendable (Interaction) -> Float,
            implicitALS: ImplicitALS.Configuration, itemItemMemoryLimit: Int
        ) {
            self.interactions = interactions
            self.userCount = userCount
            self.itemCount = itemCount
            self.holdout = holdout
            self.isPositive = isPositive
            self.implicitStrength = implicitStrength
            self.implicitALS = implicitALS
            self.itemItemMemoryLimit = itemItemMemoryLimit
        }

        /// ALS's input: the interactions with a positive strength, at that strength.
        public func alsInput(_ interactions: [Interaction]) -> [Interaction] {
            interactions.compactMap { interaction in
                let strength = implicitStrength(interaction)
                guard strength > 0 else { return nil }
                var weighted = interaction
                weighted.value = strength
                return weighted
            }
        }
    }

    /// Peak bytes of the item–item models: the Gram matrix being inverted, EASE's weights and the
    /// transitions, `itemCount²` floats each (the selection's per-user score rows come on top: see
    /// ``ModelSelection/sequenceAwareEASE``).
    public static func itemItemBytes(itemCount: Int) -> Int { 3 * itemCount * itemCount * MemoryLayout<Float>.size }

    public static func choose(_ input: Input) -> TopNChoice {
        var times = StageTimes()
        return choose(input, times: &times)
    }

    /// ``choose(_:)``, adding the wall time of each stage to `times`.
    public static func choose(_ input: Input, times: inout StageTimes) -> TopNChoice {
        let split = times.measure("validation split") {
            ValidationSplit(input.interactions, userCount: input.userCount, itemCount: input.itemCount, holdout: input.holdout, relevant: input.isPositive)
        }
        let als = times.measure("als fit") {
            ImplicitALS.fit(InteractionMatrix(input.alsInput(split.fit), userCount: input.userCount, itemCount: input.itemCount), configuration: input.implicitALS)
        }
        let alsScore = times.measure("als evaluate") { split.ndcg(threads: input.implicitALS.threads) { user, excluded in als.recommend(user: Int(user), k: 10, excluding: excluded) } }
        var choice = TopNChoice(
            kind: .implicitALS, sequenceAwareEASE: .init(), implicitALS: input.implicitALS,
            validationNDCG: [.implicitALS: alsScore], skipped: [:]
        )
        let bytes = itemItemBytes(itemCount: input.itemCount)
        guard input.candidates.contains(.sequenceAwareEASE) else {
            choice.skipped[.sequenceAwareEASE] = "not a candidate"
            return choice
        }
        guard bytes <= input.itemItemMemoryLimit else {
            choice.skipped[.sequenceAwareEASE] = "\(input.itemCount) items need \(bytes >> 20) MiB of item–item weights, over the limit of \(input.itemItemMemoryLimit >> 20) MiB"
            return choice
        }
        let (configuration, score) = ModelSelection.sequenceAwareEASE(
            interactions: input.interactions, userCount: input.userCount, itemCount: input.itemCount, holdout: input.holdout, isPositive: input.isPositive,
            times: &times
        )
        choice.validationNDCG[.sequenceAwareEASE] = score
        choice.sequenceAwareEASE = configuration
        if score > choice.validationNDCG[.implicitALS]! || !input.candidates.contains(.implicitALS) { choice.kind = .sequenceAwareEASE }
        return choice
    }

    /// The chosen kind fitted on `input.interactions` (all of them: validation was only for choosing).
    public static func fit(_ choice: TopNChoice, on input: Input) -> TopNModel {
        switch choice.kind {
        case .sequenceAwareEASE:
            .sequenceAwareEASE(SequenceAwareEASE.fit(
                input.interactions, userCount: input.userCount, itemCount: input.itemCount, configuration: choice.sequenceAwareEASE, isPositive: input.isPositive
            ))
        case .implicitALS:
            .implicitALS(ImplicitALS.fit(InteractionMatrix(input.alsInput(input.interactions), userCount: input.userCount, itemCount: input.itemCount), configuration: choice.implicitALS))
        }
    }

    /// The weight of an interaction in the served model's history: EASE's input weight (1 for positives,
    /// the chosen weight of the others), or ALS's strength.
    public static func historyWeight(_ choice: TopNChoice, input: Input) -> @Sendable (Interaction) -> Float {
        let isPositive = input.isPositive
        let strength = input.implicitStrength
        switch choice.kind {
        case .sequenceAwareEASE:
            let other = choice.sequenceAwareEASE.otherWeight
            return { isPositive($0) ? 1 : other }
        case .implicitALS:
            return strength
        }
    }
}
