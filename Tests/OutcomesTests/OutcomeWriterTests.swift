import Events
import Experiments
import Features
import Foundation
@testable import Outcomes
import Redis
import StackTestSupport
import Testing

/// The outcome writer against the real Redis: attribution with and without a recommendation id, the
/// window, credit once per (answer, item, type), and exactly once across replays and duplicates.
@Suite("Outcome counters in Redis")
struct OutcomeWriterTests {
    static let experiment = Experiment(
        id: "exp-1", domain: .movie, control: .production, challenger: .popularOnly, challengerShare: 0.5,
        startedAt: EventTimestamp(millisecondsSinceEpoch: 0)
    )

    struct Fixture {
        let redis: RedisClient
        let writer: OutcomeWriter
        let reader: OutcomeReader
        let prefix: String
        var impressionOffset: Int64 = 0
        var eventOffset: Int64 = 0

        init() throws {
            prefix = "sr:" + TestStack.uniqueName("outcomes")
            redis = RedisClient(configuration: try TestStack.redisConfiguration())
            writer = OutcomeWriter(configuration: OutcomeWriter.Configuration(), keyPrefix: prefix, redis: redis)
            reader = OutcomeReader(keyPrefix: prefix, redis: redis)
        }

        mutating func served(_ id: String, user: String, variant: ExperimentVariant, items: [String], at time: Int64, strategy: String = "personalised")
            -> OutcomeWriter.Record
        {
            defer { impressionOffset += 1 }
            return .impression(
                RecommendationServed(
                    recommendationID: id, userID: user, domain: .movie, strategy: strategy, modelVersion: "v1", experimentID: OutcomeWriterTests.experiment.id,
                    variant: variant.rawValue, items: items.enumerated().map { .init(itemID: $0.element, position: $0.offset + 1) },
                    servedAt: EventTimestamp(millisecondsSinceEpoch: time)
                ),
                RecordPosition(topic: "recommendation.served", partition: 0, offset: impressionOffset)
            )
        }

        mutating func interaction(
            _ type: EventType, user: String, item: String, at time: Int64, recommendation: String? = nil, payload: EventPayload = .none
        ) -> OutcomeWriter.Record {
            defer { eventOffset += 1 }
            return .interaction(
                Event(
                    eventID: UUID().uuidString.lowercased(), type: type, userID: user, subjectID: item, occurredAt: EventTimestamp(millisecondsSinceEpoch: time),
                    payload: payload, recommendationID: recommendation
                ),
                RecordPosition(topic: "movie-events", partition: 0, offset: eventOffset)
            )
        }

        /// Applies with the test's experiment known, as the processor does while it runs.
        func apply(_ records: [OutcomeWriter.Record]) async throws -> OutcomeWriter.Outcome {
            try await writer.apply(records, experiments: [.movie: [OutcomeWriterTests.experiment.id]])
        }

        func figures() async throws -> OutcomeFigures { try await reader.figures(OutcomeWriterTests.experiment) }

        func cleanUp() async throws {
            try await RedisSnapshot.delete(redis, prefix: prefix + ":")
            await redis.shutdown()
        }
    }

    @Test("an answer and the interactions that follow: counted per variant, attributed with and without an id, once per answer and item")
    func attribution() async throws {
        var fixture = try Fixture()
        let t = Int64(Date().timeIntervalSince1970 * 1000)
        let records = [
            fixture.served("a1", user: "u1", variant: .control, items: ["m1", "m2", "m3"], at: t),
            fixture.served("b1", user: "u2", variant: .challenger, items: ["m4", "m5"], at: t),
            fixture.served("b2", user: "u2", variant: .challenger, items: ["m5", "m6"], at: t + 1000, strategy: "fold-in"),
            // With the id: credited to a1 at position 2; the second like of the same item is not credited again.
            fixture.interaction(.movieLike, user: "u1", item: "m2", at: t + 5000, recommendation: "a1"),
            fixture.interaction(.movieLike, user: "u1", item: "m2", at: t + 6000, recommendation: "a1"),
            // A view is a click, not a positive.
            fixture.interaction(.movieView, user: "u1", item: "m3", at: t + 7000, payload: .view(watchSeconds: nil)),
            // Without an id: the newest answer that showed m5 is b2 (position 1), not b1.
            fixture.interaction(.movieRating, user: "u2", item: "m5", at: t + 8000, payload: .rating(4.5)),
            // A low rating counts as a rating, not as a positive.
            fixture.interaction(.movieRating, user: "u2", item: "m4", at: t + 9000, payload: .rating(2)),
            // Outside the window without an id: not attributed.
            fixture.interaction(.movieLike, user: "u2", item: "m6", at: t + 31 * 60_000),
            // An item no answer showed, and a user with no answers.
            fixture.interaction(.movieLike, user: "u1", item: "m9", at: t + 9000),
            fixture.interaction(.movieLike, user: "u3", item: "m1", at: t + 9000),
        ]
        let outcome = try await fixture.apply(records)
        #expect(outcome.replayed == 0)
        let figures = try await fixture.figures()
        let control = figures.counts(.control), challenger = figures.counts(.challenger)
        #expect(control[.impressions] == 1)
        #expect(control[.itemsShown] == 3)
        #expect(control[.movieLike] == 1)
        #expect(control[.movieView] == 1)
        #expect(control[.positives] == 1)
        #expect(control[.positionSum] == 2)
        #expect(control[.converted] == 1)
        #expect(challenger[.impressions] == 2)
        #expect(challenger[.movieRating] == 2)
        #expect(challenger[.positives] == 1)
        #expect(challenger[.positionSum] == 1, "m5 was first in b2, the newest answer showing it")
        #expect(challenger[.converted] == 1)
        #expect(challenger[.movieLike] == 0, "the like of m6 came after the window")
        #expect(control[.users] == 1 && control[.usersConverted] == 1)
        #expect(challenger[.users] == 1, "u2 saw two answers: one user exposed")
        #expect(challenger[.usersConverted] == 1)
        #expect(figures.strategies["challenger"]?["fold-in"]?[.converted] == 1)
        #expect(figures.strategies["challenger"]?["personalised"]?[.converted] == 0)
        #expect(figures.strategies["challenger"]?["personalised"]?[.movieRating] == 1)
        // The Prometheus deltas are what was counted.
        let counted = outcome.counted.filter { $0.metric == "impressions" }.reduce(Int64(0)) { $0 + $1.increment }
        #expect(counted == 3)
        try await fixture.cleanUp()
    }

    @Test("replaying the same records, in one call or split at another boundary, and a record written twice, change nothing")
    func exactlyOnce() async throws {
        var fixture = try Fixture()
        let t = Int64(Date().timeIntervalSince1970 * 1000)
        var records: [OutcomeWriter.Record] = []
        for user in 0..<40 {
            let variant: ExperimentVariant = user % 2 == 0 ? .control : .challenger
            records.append(fixture.served("r\(user)", user: "u\(user)", variant: variant, items: ["m\(user % 7)", "m\(user % 5 + 10)"], at: t + Int64(user)))
            if user % 3 == 0 { records.append(fixture.interaction(.movieLike, user: "u\(user)", item: "m\(user % 7)", at: t + 2000, recommendation: "r\(user)")) }
            if user % 4 == 0 { records.append(fixture.interaction(.movieView, user: "u\(user)", item: "m\(user % 5 + 10)", at: t + 3000)) }
        }
        _ = try await fixture.apply(Array(records[..<30]))
        _ = try await fixture.apply(Array(records[30...]))
        let first = try await fixture.figures()
        #expect(first.counts(.control)[.impressions] + first.counts(.challenger)[.impressions] == 40)

        // A replay from the start, at another batch boundary.
        let again = try await fixture.apply(Array(records[..<45]))
        _ = try await fixture.apply(Array(records[45...]))
        #expect(again.counted.isEmpty)
        #expect(again.replayed > 0)
        #expect(try await fixture.figures() == first)

        // The same answer and the same like written again by a producer, at new offsets.
        let duplicates = [
            fixture.served("r0", user: "u0", variant: .control, items: ["m0", "m10"], at: t),
            fixture.interaction(.movieLike, user: "u0", item: "m0", at: t + 2000, recommendation: "r0"),
        ]
        let duplicated = try await fixture.apply(duplicates)
        #expect(duplicated.counted.isEmpty)
        #expect(try await fixture.figures() == first)

        // An interaction read before its answer is not credited, and a replay of both does not credit it later.
        let early = fixture.interaction(.movieLike, user: "late-user", item: "m1", at: t + 5000)
        let late = fixture.served("late-answer", user: "late-user", variant: .control, items: ["m1"], at: t)
        _ = try await fixture.apply([early])
        _ = try await fixture.apply([late])
        let afterLate = try await fixture.figures()
        #expect(afterLate.counts(.control)[.movieLike] == first.counts(.control)[.movieLike])
        _ = try await fixture.apply([late, early])
        #expect(try await fixture.figures() == afterLate, "a replay decides as the first pass did")

        // A recreated topic (a new topic id) starts its offsets afresh: its first record counts.
        let recreated = fixture.served("after-recreation", user: "u99", variant: .challenger, items: ["m1"], at: t)
        guard case .impression(let served, var position) = recreated else { return }
        position.offset = 0
        let counted = try await fixture.writer.apply(
            [.impression(served, position)], experiments: [.movie: [OutcomeWriterTests.experiment.id]], topicIDs: [position.topic: "new-incarnation"]
        )
        #expect(counted.counted.contains { $0.metric == "impressions" })
        try await fixture.cleanUp()
    }

    @Test("answers outside an experiment are not kept, and interactions with nothing to answer write nothing")
    func nothingOutsideExperiments() async throws {
        var fixture = try Fixture()
        let t = Int64(Date().timeIntervalSince1970 * 1000)
        let plain = OutcomeWriter.Record.impression(
            RecommendationServed(
                recommendationID: "p1", userID: "u1", domain: .movie, strategy: "popular", modelVersion: nil,
                items: [.init(itemID: "m1", position: 1)], servedAt: EventTimestamp(millisecondsSinceEpoch: t)
            ),
            RecordPosition(topic: "recommendation.served", partition: 0, offset: 99)
        )
        #expect(!OutcomeWriter.takes(plain))
        // An experiment this deployment does not know (another schema's, say) is not kept either.
        let foreign = fixture.served("f1", user: "u1", variant: .control, items: ["m1"], at: t)
        _ = try await fixture.writer.apply([foreign], experiments: [.movie: ["another-experiment"]])
        _ = try await fixture.apply([plain, fixture.interaction(.movieLike, user: "u1", item: "m1", at: t + 10)])
        // Only the offsets moved: every fresh record moves them, whatever it changed.
        #expect(Set(try await RedisSnapshot.take(fixture.redis, prefix: fixture.prefix + ":").keys) == [fixture.writer.keys.appliedOffsets(.movie)])
        try await fixture.cleanUp()
    }
}
