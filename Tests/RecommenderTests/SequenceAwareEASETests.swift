import Recommender
import Testing

@Suite("Next-item transitions and sequence-aware EASE")
struct SequenceAwareEASETests {
    @Test("transition rows count what followed each item within the window, divided by the row total plus the shrinkage")
    func transitionCounts() {
        // User 0 rated 0, 1, 2 in that order; user 1 rated 0 then 2 (given out of order: the fit sorts by time).
        let data: [Interaction] = [
            .init(user: 0, item: 0, value: 5, timestamp: 1), .init(user: 0, item: 1, value: 3, timestamp: 2),
            .init(user: 0, item: 2, value: 4, timestamp: 3),
            .init(user: 1, item: 2, value: 4, timestamp: 6), .init(user: 1, item: 0, value: 2, timestamp: 5),
        ]
        var configuration = NextItemTransitions.Configuration()
        configuration.window = 2
        configuration.shrinkage = 1
        configuration.recentItems = 1
        let model = NextItemTransitions.fit(data, itemCount: 3, configuration: configuration)
        // Followers: 0 → {1, 2} (user 0), 0 → {2} (user 1); 1 → {2}; 2 → nothing.
        // Row 0: counts [0, 1, 2], total 3 → / 4. Row 1: [0, 0, 1] / 2. Row 2: zeros.
        #expect(model.weights == [0, 0.25, 0.5, 0, 0, 0.5, 0, 0, 0])
        // With a window of 1 only the immediate successor counts: row 0 becomes [0, 1, 1] / 3.
        configuration.window = 1
        let narrow = NextItemTransitions.fit(data, itemCount: 3, configuration: configuration)
        #expect(abs(narrow.weights[1] - 1.0 / 3) < 1e-6 && abs(narrow.weights[2] - 1.0 / 3) < 1e-6)
        // Scores read only the latest `recentItems` of the history: after [0, 1] that is row 1.
        var scores = [Float](repeating: 9, count: 3)
        scores.withUnsafeMutableBufferPointer { model.scores(after: [0, 1], into: $0) }
        #expect(scores == [0, 0, 0.5])
        #expect(NextItemTransitions.orderedHistories(data)[1] == [0, 2])
    }

    @Test("EASE multiplies interaction values into XᵀX: hand-computed 2-item case")
    func weightedEASE() {
        // u0 has item 0 at 1 and item 1 at 0.5; u1 has item 0 at 1. λ = 1:
        // G = [[2, 0.5], [0.5, 0.25]] + I = [[3, 0.5], [0.5, 1.25]], P = G⁻¹ = [[1.25, −0.5], [−0.5, 3]] / 3.5,
        // B01 = −P01 / P11 = 0.5 / 3, B10 = −P10 / P00 = 0.5 / 1.25.
        let data: [Interaction] = [.init(user: 0, item: 0, value: 1), .init(user: 0, item: 1, value: 0.5), .init(user: 1, item: 0, value: 1)]
        var configuration = EASE.Configuration()
        configuration.regularization = 1
        let model = EASE.fit(InteractionMatrix(data, userCount: 2, itemCount: 2), configuration: configuration)
        #expect(abs(model.weights[1] - 0.5 / 3) < 1e-5)
        #expect(abs(model.weights[2] - 0.4) < 1e-5)
        #expect(model.weights[0] == 0 && model.weights[3] == 0)
        // A weighted history scores each row times its weight.
        var scores = [Float](repeating: 0, count: 2)
        scores.withUnsafeMutableBufferPointer { model.scores(for: [(item: 0, weight: 0.5)], into: $0) }
        #expect(abs(scores[1] - 0.25 / 3) < 1e-5 && scores[0] == 0)
    }

    @Test("positives weigh 1, other interactions the configured weight, and none at weight zero")
    func weightedInput() {
        let data: [Interaction] = [.init(user: 0, item: 0, value: 5), .init(user: 0, item: 1, value: 2)]
        let weighted = SequenceAwareEASE.weightedInput(data, otherWeight: 0.3) { $0.value >= 4 }
        #expect(weighted.map(\.value) == [1, 0.3])
        #expect(SequenceAwareEASE.weightedInput(data, otherWeight: 0) { $0.value >= 4 }.map(\.item) == [0])
    }

    /// Users walk a ring of 12 items in order, each from a seeded start, 6 steps: item i is always
    /// followed by i + 1. A set-based model cannot tell the item before a user's walk from the one after it.
    static func ringWalks(users: Int = 60, steps: Int = 6, seed: UInt64 = 11) -> [Interaction] {
        var generator = SeededRandom(seed: seed)
        var data: [Interaction] = []
        for user in 0..<users {
            let start = Int(generator.nextUnit() * 12)
            for step in 0..<steps {
                data.append(Interaction(user: Int32(user), item: Int32((start + step) % 12), value: 5, timestamp: Int64(1000 * user + step)))
            }
        }
        return data
    }

    @Test("the transitions part finds the next item of an ordered walk; EASE alone cannot")
    func nextItemOfWalks() {
        let data = Self.ringWalks()
        let (train, test) = Splits.temporal(data, testFraction: 1.0 / 6)  // each user's last step
        var configuration = SequenceAwareEASE.Configuration()
        configuration.ease.regularization = 1
        configuration.otherWeight = 0
        configuration.transitions.window = 1
        configuration.transitions.recentItems = 1
        func hits(easeWeight: Float) -> Int {
            configuration.easeWeight = easeWeight
            let model = SequenceAwareEASE.fit(train, userCount: 60, itemCount: 12, configuration: configuration) { $0.value >= 4 }
            return test.filter { held in
                let top = model.recommend(user: held.user, k: 1, excluding: Set(model.histories.items(of: Int(held.user))))
                return top.map(\.item) == [held.item]
            }.count
        }
        let withTransitions = hits(easeWeight: 0.5)
        let easeAlone = hits(easeWeight: 1)
        #expect(withTransitions == 60, "\(withTransitions) of 60")
        #expect(easeAlone < 45, "\(easeAlone) of 60")
    }

    @Test("selection on a latest-held-out split picks the transitions for ordered data, and is deterministic")
    func selection() {
        let data = Self.ringWalks(users: 80)
        func choose() -> (SequenceAwareEASE.Configuration, Double) {
            ModelSelection.sequenceAwareEASE(
                interactions: data, userCount: 80, itemCount: 12, holdout: .latest,
                otherWeights: [0, 0.3], regularization: [1, 10], windows: [1, 3], recentItems: [1, 2], easeWeights: [1, 0.5]
            ) { $0.value >= 4 }
        }
        let (first, score) = choose()
        let (second, again) = choose()
        #expect(first == second && score == again)
        #expect(first.easeWeight < 1)
        #expect(score > 0.9, "validation nDCG@10 \(score)")
    }

    @Test("a latest-held-out validation split holds out each user's last interactions and keeps only relevant ones")
    func latestHoldout() {
        // 10 steps per user; even steps are positives (5), odd ones not (1). Holding out 20 % takes steps 8
        // (a positive: kept as a hit) and 9 (not: dropped) of each user.
        let data = Self.ringWalks(users: 4, steps: 10).map { interaction in
            var copy = interaction
            copy.value = interaction.timestamp % 2 == 0 ? 5 : 1
            return copy
        }
        let split = ValidationSplit(data, userCount: 4, itemCount: 12, holdout: .latest, fraction: 0.2) { $0.value >= 4 }
        #expect(split.fit.count == 32)
        #expect(split.fit.allSatisfy { $0.timestamp % 1000 < 8 })
        #expect(split.validation.count == 4)
        #expect(split.validation.allSatisfy { $0.timestamp % 1000 == 8 && $0.value == 5 })
        #expect(Set(split.validation.map(\.user)) == [0, 1, 2, 3])
    }
}
