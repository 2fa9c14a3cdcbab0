import Events
import Experiments
@testable import Outcomes
import Testing

@Suite("Outcome figures")
struct OutcomeFiguresTests {
    static func fields(_ variant: String, _ strategy: String, hour: Int64, _ values: [OutcomeMetric: Int64]) -> [(String, Int64)] {
        values.map { ("\(variant)\u{1f}\(strategy)\u{1f}\($0.key.rawValue)\u{1f}\(hour)", $0.value) }
    }

    @Test("hours and strategies sum per variant; the comparison decides on answers with a positive")
    func sums() throws {
        let fields = Self.fields("control", "personalised", hour: 10, [.impressions: 600, .converted: 60, .movieLike: 70])
            + Self.fields("control", "fold-in", hour: 11, [.impressions: 400, .converted: 40])
            + Self.fields("challenger", "personalised", hour: 11, [.impressions: 1000, .converted: 160, .positives: 200, .positionSum: 700])
            + Self.fields("control", "*", hour: 10, [.users: 500, .usersConverted: 50]) + Self.fields("challenger", "*", hour: 11, [.users: 500, .usersConverted: 80])
        let figures = OutcomeFigures(fields: fields)
        #expect(figures.counts(.control)[.impressions] == 1000)
        #expect(figures.counts(.control).positiveRate == 0.1)
        #expect(figures.counts(.control).likeThroughRate == 0.07)
        #expect(figures.counts(.challenger).meanPositionOfPositives == 3.5)
        #expect(figures.counts(.challenger).userPositiveRate == 0.16)
        #expect(figures.strategies["control"]?["*"] == nil, "per-user counts are not a strategy")
        let comparison = figures.comparison()
        #expect(comparison.challengerWins)
        // 50/500 against 80/500 users: z ≈ 2.7.
        #expect(try #require(comparison.test).pValue < 0.01)
        // The test is on users: answers alone (many per user) decide nothing.
        #expect(!OutcomeFigures(fields: Self.fields("control", "p", hour: 1, [.impressions: 1000, .converted: 100])
            + Self.fields("challenger", "p", hour: 1, [.impressions: 1000, .converted: 300])).comparison().challengerWins)
        // No difference: no promotion.
        let even = OutcomeFigures(
            fields: Self.fields("control", "*", hour: 1, [.users: 1000, .usersConverted: 100]) + Self.fields("challenger", "*", hour: 1, [.users: 1000, .usersConverted: 103])
        )
        #expect(!even.comparison().challengerWins)
        guard case .object(let members) = figures.jsonValue(), case .object(let comparisonMembers)? = members.first(where: { $0.key == "comparison" })?.value else {
            Issue.record("figures are a JSON object with a comparison")
            return
        }
        #expect(comparisonMembers.first { $0.key == "challenger_wins" }?.value == .bool(true))
    }
}
