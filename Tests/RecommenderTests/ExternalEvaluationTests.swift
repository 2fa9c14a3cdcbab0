import Recommender
import Testing

@Suite("trainer evaluate contract")
struct ExternalEvaluationTests {
    static func tsv(_ interactions: [Interaction], header: Bool) -> String {
        (header ? "user\titem\trating\ttimestamp\n" : "")
            + interactions.map { "u\($0.user)\ti\($0.item)\t\($0.value)\t\($0.timestamp)\n" }.joined()
    }

    @Test("one predicted rating per test pair (unknown ids included), k items per test user, none seen in train")
    func contract() throws {
        let all = ImplicitALSTests.plantedGroups().map { Interaction(user: $0.user, item: $0.item, value: 5, timestamp: 0) }
        let (train, test) = Splits.random(all, testFraction: 0.2, seed: 3)
        let testText = Self.tsv(test, header: false) + "stranger\ti3\t4\t0\nu1\tnovel\t2\t0\n"
        let output = try ExternalEvaluation(k: 3).run(train: Self.tsv(train, header: true), test: testText)

        let ratingRows = output.ratings.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        #expect(ratingRows.count == test.count + 2)
        #expect(ratingRows.allSatisfy { $0.count == 3 && Double($0[2]).map { (0.5...5).contains($0) } == true })
        #expect(ratingRows.contains { $0[0] == "stranger" && $0[1] == "i3" })
        #expect(ratingRows.contains { $0[0] == "u1" && $0[1] == "novel" })

        let topRows = output.topN.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        let byUser = Dictionary(grouping: topRows) { $0[0] }
        let testUsers = Set(test.map { "u\($0.user)" }).union(["stranger", "u1"])
        #expect(Set(byUser.keys) == testUsers)
        let trained = Set(train.map { "u\($0.user)|i\($0.item)" })
        for (user, rows) in byUser {
            #expect(rows.count == 3, "\(user)")
            #expect(rows.allSatisfy { !trained.contains("\($0[0])|\($0[1])") }, "\(user) got an item seen in train")
            let scores = rows.compactMap { Double($0[2]) }
            #expect(scores == scores.sorted(by: >), "scores descend")
        }
        #expect(output.report.contains("popularity"))
    }

    @Test("with a latest-held-out validation, ordered histories get their next item first")
    func latestValidation() throws {
        let walks = SequenceAwareEASETests.ringWalks(users: 80)
        let (train, test) = Splits.temporal(walks, testFraction: 1.0 / 6)
        let output = try ExternalEvaluation(k: 1, validation: .latest).run(train: Self.tsv(train, header: true), test: Self.tsv(test, header: false))
        let firsts = Set(output.topN.split(separator: "\n").map { $0.split(separator: "\t").prefix(2).joined(separator: "|") })
        let next = test.filter { firsts.contains("u\($0.user)|i\($0.item)") }.count
        #expect(next >= 76, "\(next) of 80 users got their next item first")
        #expect(output.report.contains("next-item transitions"))
    }

    @Test("an empty training file is an error, not a crash")
    func emptyTrain() {
        #expect(throws: DatasetError.self) { try ExternalEvaluation().run(train: "user\titem\trating\n", test: "u\ti\t3\n") }
    }
}
