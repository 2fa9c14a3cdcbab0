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
        let figures = OutcomeFigures(fields: fields)
        #expect(figures.counts(.control)[.impressions] == 1000)
        #expect(figures.counts(.control).positiveRate == 0.1)
        #expect(figures.counts(.control).likeThroughRate == 0.07)
        #expect(figures.counts(.challenger).meanPositionOfPositives == 3.5)
        let comparison = figures.comparison()
        #expect(comparison.challengerWins)
        #expect(try #require(comparison.test).pValue < 0.001)
        // The last hour only.
        let recent = OutcomeFigures(fields: fields, sinceHour: 11)
        #expect(recent.counts(.control)[.impressions] == 400)
        // No difference: no promotion.
        let even = OutcomeFigures(
            fields: Self.fields("control", "p", hour: 1, [.impressions: 1000, .converted: 100]) + Self.fields("challenger", "p", hour: 1, [.impressions: 1000, .converted: 103])
        )
        #expect(!even.comparison().challengerWins)
        guard case .object(let members) = figures.jsonValue(), case .object(let comparisonMembers)? = members.first(where: { $0.key == "comparison" })?.value else {
            Issue.record("figures are a JSON object with a comparison")
            return
        }
        #expect(comparisonMembers.first { $0.key == "challenger_wins" }?.value == .bool(true))
    }
}
