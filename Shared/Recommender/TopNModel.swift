/// Which model answers top-N requests: chosen per training run by ``TopNSelection`` on a validation split.
public enum TopNKind: String, Sendable, Hashable, CaseIterable {
    /// EASE over weighted interactions, optionally blended with next-item transitions.
    case sequenceAwareEASE = "sequence-aware-ease"
    case implicitALS = "implicit-als"
}

/// A fitted top-N model of either kind.
public enum TopNModel: Sendable {
    case sequenceAwareEASE(SequenceAwareEASE)
    case implicitALS(ImplicitALS)

    public var kind: TopNKind {
        switch self {
        case .sequenceAwareEASE: .sequenceAwareEASE
        case .implicitALS: .implicitALS
        }
    }

    /// Top-k for a user of the training data, with their scores, excluding `seen`.
    public func recommend(user: Int32, k: Int, excluding seen: Set<Int32>) -> [(item: Int32, score: Float)] {
        switch self {
        case .sequenceAwareEASE(let model):
            return model.recommend(user: user, k: k, excluding: seen)
        case .implicitALS(let model):
            guard Int(user) < model.userCount else { return [] }
            let factors = model.configuration.factors
            let vector = Array(model.userFactors[(Int(user) * factors)..<(Int(user) * factors + factors)])
            var scores = [Float](repeating: 0, count: model.itemCount)
            vector.withUnsafeBufferPointer { v in scores.withUnsafeMutableBufferPointer { model.scoreAll(userVector: v, into: $0) } }
            return TopK.select(scores, k: k) { seen.contains(Int32($0)) }.map { (Int32($0.index), $0.score) }
        }
    }
}
