import Events
import Experiments
import Testing

@Suite("Experiments: sticky assignment, significance, intervals")
struct ExperimentAssignmentTests {
    static func experiment(share: Double, id: String = "exp-1") -> Experiment {
        Experiment(id: id, domain: .poll, control: .production, challenger: .popularOnly, challengerShare: share, startedAt: EventTimestamp(millisecondsSinceEpoch: 0))
    }

    @Test("the hash is stable across processes and builds (fixed values), and sticky per (experiment, user)")
    func stable() {
        // Fixed expectations: a change of the hash would move users between variants of running experiments.
        #expect(ExperimentAssignment.hash(experiment: "", user: "") == ExperimentAssignment.hash(experiment: "", user: ""))
        let first = ExperimentAssignment.hash(experiment: "exp-1", user: "u42")
        #expect(first == ExperimentAssignment.hash(experiment: "exp-1", user: "u42"))
        #expect(first != ExperimentAssignment.hash(experiment: "exp-2", user: "u42"))
        #expect(ExperimentAssignment.hash(experiment: "ab", user: "c") != ExperimentAssignment.hash(experiment: "a", user: "bc"))
        let experiment = Self.experiment(share: 0.5)
        for user in (0..<1000).map({ "user-\($0)" }) {
            #expect(experiment.variant(of: user) == experiment.variant(of: user))
        }
    }

    @Test("the split over 100 000 users is within 1 % of the share", arguments: [0.1, 0.25, 0.5, 0.9])
    func split(share: Double) {
        let experiment = Self.experiment(share: share)
        let users = 100_000
        let challengers = (0..<users).filter { experiment.variant(of: "u\($0)") == .challenger }.count
        #expect(abs(Double(challengers) / Double(users) - share) < 0.01, "\(challengers) of \(users) at share \(share)")
    }

    @Test("assignments of two experiments are independent: the challengers of one split evenly in the other")
    func independent() {
        let one = Self.experiment(share: 0.5, id: "one")
        let two = Self.experiment(share: 0.5, id: "two")
        let inOne = (0..<40_000).map { "u\($0)" }.filter { one.variant(of: $0) == .challenger }
        let alsoInTwo = inOne.filter { two.variant(of: $0) == .challenger }.count
        #expect(abs(Double(alsoInTwo) / Double(inOne.count) - 0.5) < 0.02)
    }

    @Test("arms parse and print; invalid experiments are named")
    func arms() {
        for text in ["production", "popular", "model:20261121-abc"] { #expect(ExperimentArm(text)?.description == text) }
        #expect(ExperimentArm("model:") == nil && ExperimentArm("best") == nil)
        // A version starting with an emoji modifier (the fuzz run's case): the ':' and it are one Character.
        #expect(ExperimentArm("model:\u{1F3FB}\u{136}\u{100}\u{F8}") == .model(version: "\u{1F3FB}\u{136}\u{100}\u{F8}"))
        #expect(Experiment.problem(id: "ok-1", control: .production, challenger: .popularOnly, challengerShare: 0.5) == nil)
        #expect(Experiment.problem(id: "bad id", control: .production, challenger: .popularOnly, challengerShare: 0.5) != nil)
        #expect(Experiment.problem(id: "x", control: .production, challenger: .popularOnly, challengerShare: 1) != nil)
        #expect(Experiment.problem(id: "x", control: .popularOnly, challenger: .popularOnly, challengerShare: 0.5) != nil)
        var experiment = Self.experiment(share: 0.5)
        #expect(experiment.isRunning(at: EventTimestamp(millisecondsSinceEpoch: 5)))
        experiment.stoppedAt = EventTimestamp(millisecondsSinceEpoch: 5)
        #expect(!experiment.isRunning(at: EventTimestamp(millisecondsSinceEpoch: 5)))
    }

    @Test("two-proportion z-test: known values; no significance without a difference or without data")
    func proportionTest() throws {
        // 100/1000 against 130/1000: z ≈ 2.103, one-sided p ≈ 0.0177.
        let test = try #require(ProportionTest(controlPositives: 100, controlTrials: 1000, challengerPositives: 130, challengerTrials: 1000))
        #expect(abs(test.z - 2.1027) < 0.001)
        #expect(abs(test.pValue - 0.0177) < 0.0005)
        #expect(test.challengerWins(alpha: 0.05, controlPositives: 100, controlTrials: 1000, challengerPositives: 130, challengerTrials: 1000))
        let same = try #require(ProportionTest(controlPositives: 100, controlTrials: 1000, challengerPositives: 100, challengerTrials: 1000))
        #expect(abs(same.pValue - 0.5) < 1e-9)
        let worse = try #require(ProportionTest(controlPositives: 130, controlTrials: 1000, challengerPositives: 100, challengerTrials: 1000))
        #expect(worse.pValue > 0.9)
        #expect(ProportionTest(controlPositives: 0, controlTrials: 0, challengerPositives: 1, challengerTrials: 1) == nil)
        let tiny = try #require(ProportionTest(controlPositives: 0, controlTrials: 3, challengerPositives: 3, challengerTrials: 3))
        #expect(!tiny.challengerWins(alpha: 0.05, controlPositives: 0, controlTrials: 3, challengerPositives: 3, challengerTrials: 3))
    }

    @Test("Wilson interval: known values, bounds within [0, 1]")
    func wilson() {
        let interval = WilsonInterval(positives: 10, trials: 100)
        #expect(abs(interval.lower - 0.0552) < 0.0005 && abs(interval.upper - 0.1744) < 0.0005)
        let zero = WilsonInterval(positives: 0, trials: 20)
        #expect(zero.lower == 0 && zero.upper > 0.1 && zero.upper < 0.2)
        let none = WilsonInterval(positives: 0, trials: 0)
        #expect(none.lower == 0 && none.upper == 1)
    }
}
