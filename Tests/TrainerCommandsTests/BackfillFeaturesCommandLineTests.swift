import ArgumentParser
import Events
import Testing
@testable import TrainerCommands

@Suite("trainer backfill-features command line")
struct BackfillFeaturesCommandLineTests {
    @Test("--since or an absolute --from/--to range; without either, the features' horizon; bad combinations refused")
    func parses() throws {
        let now: Int64 = 1_765_000_000_000
        let horizon: Int64 = (7 * 24 + 1) * 3_600_000
        let recent = try #require(try TrainerCommand.parseAsRoot(["backfill-features", "--domain", "movies", "--since", "7d"]) as? BackfillFeaturesCommand)
        let range = try #require(recent.range(now: now, horizon: horizon))
        #expect(range.domain == .movie && range.from.millisecondsSinceEpoch == now - 7 * 86_400_000 && range.to.millisecondsSinceEpoch == now)

        let absolute = try #require(
            try TrainerCommand.parseAsRoot(["backfill-features", "--domain", "polls", "--from", "2026-12-01T00:00:00Z", "--to", "2026-12-02T12:00:00Z"])
                as? BackfillFeaturesCommand)
        let fixed = try #require(absolute.range(now: now, horizon: horizon))
        #expect(fixed.domain == .poll && fixed.from == RFC3339.parse("2026-12-01T00:00:00Z") && fixed.to == RFC3339.parse("2026-12-02T12:00:00Z"))

        let everything = try #require(try TrainerCommand.parseAsRoot(["backfill-features", "--domain", "movies"]) as? BackfillFeaturesCommand)
        #expect(everything.range(now: now, horizon: horizon)?.from.millisecondsSinceEpoch == now - horizon)

        // Through the topics: off by default; the topics' names as the processor's configuration has them.
        #expect(!everything.throughTopics)
        let published = try #require(
            try TrainerCommand.parseAsRoot(["backfill-features", "--domain", "polls", "--through-topics", "--poll-topic", "prod.poll-events"]) as? BackfillFeaturesCommand)
        #expect(published.throughTopics && published.pollTopic == "prod.poll-events" && published.movieTopic == "streamrec.movie-events")

        for bad in [
            ["backfill-features"], ["backfill-features", "--domain", "books"], ["backfill-features", "--domain", "movies", "--since", "soon"],
            ["backfill-features", "--domain", "movies", "--since", "7d", "--from", "2026-12-01T00:00:00Z"],
            ["backfill-features", "--domain", "movies", "--from", "yesterday"],
            ["backfill-features", "--domain", "movies", "--from", "2026-12-02T00:00:00Z", "--to", "2026-12-01T00:00:00Z"],
        ] {
            #expect(throws: (any Error).self, "\(bad)") { try TrainerCommand.parseAsRoot(bad) }
        }
    }
}
