/// Train/test splits of the evaluation protocols.
public enum Splits {
    /// Each interaction goes to test with probability `testFraction` (exactly that share, shuffled with the
    /// seed).
    public static func random(_ interactions: [Interaction], testFraction: Double, seed: UInt64) -> (train: [Interaction], test: [Interaction]) {
        precondition((0...1).contains(testFraction))
        var generator = SeededRandom(seed: seed)
        var shuffled = interactions
        shuffled.shuffle(using: &generator)
        let testCount = Int((Double(interactions.count) * testFraction).rounded())
        return (Array(shuffled[testCount...]), Array(shuffled[..<testCount]))
    }

    /// Per user, the latest `testFraction` of their interactions (by timestamp; ties broken by item) go to
    /// test, at least one when the user has two or more and never all of them.
    public static func temporal(_ interactions: [Interaction], testFraction: Double) -> (train: [Interaction], test: [Interaction]) {
        precondition((0...1).contains(testFraction))
        var byUser: [Int32: [Interaction]] = [:]
        for interaction in interactions { byUser[interaction.user, default: []].append(interaction) }
        var train: [Interaction] = []
        var test: [Interaction] = []
        train.reserveCapacity(interactions.count)
        for user in byUser.keys.sorted() {
            let history = byUser[user]!.sorted { ($0.timestamp, $0.item) < ($1.timestamp, $1.item) }
            var testCount = Int((Double(history.count) * testFraction).rounded())
            if history.count >= 2 { testCount = min(max(testCount, 1), history.count - 1) } else { testCount = 0 }
            train += history.dropLast(testCount)
            test += history.suffix(testCount)
        }
        return (train, test)
    }
}
